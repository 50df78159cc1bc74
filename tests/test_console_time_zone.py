"""Times in the staff member's own time zone, and durations in one form.

Stored times are UTC. The console shows and reads them in the zone on the staff member's
profile, or the deployment's default (SAFEPASSAGE_TIME_ZONE); the applicant chat stays UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from safepassage import config
from safepassage.cases.models import Callback, CallLog, Case
from safepassage.console.models import Role, StaffProfile
from tests.conftest import ChatDriver, latest_case

pytestmark = pytest.mark.django_db


def test_the_deployment_default_is_read_and_checked(tmp_path: Path) -> None:
    base = {"SAFEPASSAGE_DATA_DIR": str(tmp_path)}
    assert config.load(base).time_zone == "UTC"
    assert config.load({**base, "SAFEPASSAGE_TIME_ZONE": "Europe/Kyiv"}).time_zone == "Europe/Kyiv"
    with pytest.raises(SystemExit, match="SAFEPASSAGE_TIME_ZONE"):
        config.load({**base, "SAFEPASSAGE_TIME_ZONE": "Europe/Atlantis"})


def _case() -> Case:
    ChatDriver(Client(), "ru").apply()
    return latest_case()


def test_times_are_entered_and_shown_in_the_staff_members_zone(
    staff: Callable[..., Client],
) -> None:
    case = _case()
    operator = staff(Role.OPERATOR)
    # The account page offers the zones; a zone nobody knows is refused with the page again.
    page = operator.get("/console/account/").content.decode()
    assert 'value="Europe/Kyiv"' in page and "Default of this installation (UTC)" in page
    wrong = operator.post("/console/account/time-zone/", {"time_zone": "Mars/Olympus"})
    assert (
        wrong.status_code == 400 and "Choose one of the values offered." in wrong.content.decode()
    )
    assert (
        operator.post("/console/account/time-zone/", {"time_zone": "Europe/Kyiv"}).status_code
        == 302
    )
    assert StaffProfile.objects.get(role=Role.OPERATOR).time_zone == "Europe/Kyiv"
    # A call typed as 10:15 in Kyiv (summer: UTC+3) happened at 07:15 UTC, and is shown as 10:15.
    call = {
        "direction": "in",
        "caller": "applicant",
        "started_at": "2026-07-01T10:15",
        "duration_minutes": "95",
        "language": "ru",
        "outcome": "spoke",
        "summary": "DEMO",
    }
    assert operator.post(f"/console/cases/{case.pk}/call/", call).status_code == 302
    logged = CallLog.objects.get(case=case)
    assert logged.started_at == datetime(2026, 7, 1, 7, 15, tzinfo=UTC)
    window = {
        "window_start": "2026-12-01T09:00",
        "window_end": "2026-12-01T11:30",
        "reach_by": "phone",
        "reach": "+380 DEMO",
    }
    assert operator.post(f"/console/cases/{case.pk}/callback/", window).status_code == 302
    callback = Callback.objects.get(case=case)
    assert callback.window_start == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # winter: UTC+2
    page = operator.get(f"/console/cases/{case.pk}/").content.decode()
    assert "2026-07-01 10:15" in page and "2026-12-01 09:00 – 11:30 Europe/Kyiv" in page
    assert "When (Europe/Kyiv)" in page
    # Durations in one form: entered in minutes, shown in hours and minutes.
    assert "1 h 35 min" in page
    hotline = operator.get("/console/hotline/").content.decode()
    assert "2026-12-01 09:00 – 11:30" in hotline and "Window (Europe/Kyiv)" in hotline


@override_settings(CONSOLE_DEFAULT_TIME_ZONE="Asia/Seoul")
def test_without_a_choice_the_deployments_zone_is_used(staff: Callable[..., Client]) -> None:
    case = _case()
    operator = staff(Role.OPERATOR)
    user = User.objects.get(staff_profile__role=Role.OPERATOR)
    assert StaffProfile.objects.get(user=user).time_zone == ""
    Callback.objects.create(
        case=case,
        window_start=datetime(2026, 12, 1, 0, 0, tzinfo=UTC),
        window_end=datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
    )
    page = operator.get(f"/console/cases/{case.pk}/").content.decode()
    assert "2026-12-01 09:00 – 10:00 Asia/Seoul" in page  # UTC+9
    assert (
        "Default of this installation (Asia/Seoul)"
        in operator.get("/console/account/").content.decode()
    )
    # A typed time is read in that zone too.
    window = {
        "window_start": "2026-12-02T09:00",
        "window_end": "2026-12-02T10:00",
        "reach_by": "message",
    }
    assert operator.post(f"/console/cases/{case.pk}/callback/", window).status_code == 302
    assert Callback.objects.order_by("-id").first().window_start == datetime(  # type: ignore[union-attr]
        2026, 12, 2, 0, 0, tzinfo=UTC
    )
