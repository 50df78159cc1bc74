"""Flood every applicant endpoint of a running platform with sentinel values; find none in its
logs (at DEBUG level), in error pages, or anywhere but ciphertext."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.db import connection

from tests.http_client import FormClient
from tests.server import fresh_postgres_database, running_platform

SENTINEL = "SNTNL7Q"


def _flood(base: str) -> None:
    for lang in ("ru", "ko"):
        client = FormClient(base)
        client.get(f"/chat/{lang}/?c={SENTINEL}-campaign")
        client.post(f"/chat/{lang}/", {"choice": f"{SENTINEL}-bad-choice"})
        for choice in ("self", "front", "now"):
            client.post(f"/chat/{lang}/", {"choice": choice})
        for field in ("sector", "unit", "name", "birth"):
            client.post(f"/chat/{lang}/", {"text": f"{SENTINEL}-{field}"})
        client.post(f"/chat/{lang}/", {"choice": "alone"})
        client.post(f"/chat/{lang}/", {"choice": "", "multi": "medical"})
        status, page = client.post(f"/chat/{lang}/", {"choice": "confirm"})
        assert status == 200 and 'id="passphrase"' in page  # the application went through
        client.post(f"/chat/{lang}/", {"choice": "continue"})
        client.post(f"/chat/{lang}/", {"text": f"{SENTINEL}-message"})
        client.post(f"/chat/{lang}/", {"text": f"{SENTINEL}-" + "x" * 5000})
        client.post(f"/chat/{lang}/", {"text": f"{SENTINEL}-no-csrf"}, token=False)
        client.post(f"/chat/{lang}/", f"text={SENTINEL}%FF%FE%00".encode())
        client.post(
            f"/chat/{lang}/return/",
            {"reference": f"{SENTINEL}-ref", "passphrase": f"{SENTINEL}-pass"},
        )
    client = FormClient(base)
    client.get(f"/chat/{SENTINEL}/")
    client.get(f"/console/cases/{SENTINEL}/")
    client.post("/console/login/", {"username": f"{SENTINEL}-user", "password": SENTINEL})


@pytest.mark.django_db
def test_no_sentinel_in_logs(tmp_path: Path) -> None:
    env = {"SAFEPASSAGE_LOG_LEVEL": "DEBUG"}
    if connection.vendor == "postgresql":
        with fresh_postgres_database() as url, running_platform(tmp_path, url, env) as platform:
            _flood(platform.url)
            log = platform.output.read_text()
    else:
        with running_platform(tmp_path, None, env) as platform:
            _flood(platform.url)
            log = platform.output.read_text()
    assert "First admin account written to" in log  # the log was captured
    password = re.search(r"password: (\S+)", (tmp_path / "var" / "first-admin.txt").read_text())
    assert password and password.group(1) not in log  # the password never reaches a log
    assert SENTINEL not in log
    assert SENTINEL.lower() not in log.lower()


@pytest.mark.django_db
def test_a_seized_data_directory_and_environment_reveal_no_applicant(tmp_path: Path) -> None:
    """Everything a seizure of the (SQLite) server yields: its data directory (database, WAL,
    master key, secrets), its environment and its output. No sentinel appears in any of it."""
    if connection.vendor == "postgresql":
        pytest.skip("the SQLite run holds the database inside the data directory")
    with running_platform(tmp_path, None, {"SAFEPASSAGE_LOG_LEVEL": "DEBUG"}) as platform:
        _flood(platform.url)
        seized = [platform.output.read_bytes()]
    seized += [p.read_bytes() for p in (tmp_path / "var").rglob("*") if p.is_file()]
    seized.append("\n".join(f"{k}={v}" for k, v in os.environ.items()).encode())
    assert len(seized) >= 4 and sum(map(len, seized)) > 50_000
    for blob in seized:
        for needle in (SENTINEL.encode(), SENTINEL.encode("utf-16-le"), SENTINEL.lower().encode()):
            assert needle not in blob
