"""Finding 9 of the hardening issue: Django's security messages reach the server's output as one
scrubbed line naming their kind, without the path, the Host value or a traceback."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.http_client import FormClient
from tests.server import running_platform

pytestmark = pytest.mark.django_db
HOSTILE_HOST = "sntnlhost-evil.example"


def test_hostile_host_and_refused_post_leave_one_line_each(tmp_path: Path) -> None:
    with running_platform(tmp_path, None, {"SAFEPASSAGE_LOG_LEVEL": "DEBUG"}) as platform:
        request = urllib.request.Request(platform.url + "/chat/ru/", headers={"Host": HOSTILE_HOST})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=15)
        assert refused.value.code == 400
        client = FormClient(platform.url)
        client.get("/chat/ru/")
        status, _ = client.post("/chat/ru/", {"choice": "self"}, token=False)
        assert status == 403
        output = platform.output.read_text()
    assert HOSTILE_HOST not in output.lower()
    assert "/chat/ru" not in output and "Traceback" not in output
    events = [line for line in output.splitlines() if "security_event" in line]
    assert len(events) == 2, events
    assert "DisallowedHost" in events[0] and '"csrf"' in events[1]
