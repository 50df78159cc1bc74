"""Every console URL × every role (and anonymous), compared with the table below.

The URL list comes from the URL configuration itself: a new console URL without a row here
fails the test, so nothing becomes reachable by accident. Deny by default.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, reverse
from django.utils import timezone

from safepassage import config
from safepassage.campaigns import services as campaigns
from safepassage.cases import casework, services
from safepassage.cases.models import Callback, Case, Direction, Status
from safepassage.console import access, urls
from safepassage.console.models import Role
from safepassage.privacy import keyring, member_keys
from safepassage.replies.models import VettedReply
from tests.conftest import STAFF_PASSWORD, ChatDriver, latest_case, make_staff, staff_login

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "operator", "supervisor", "liaison", "analyst", "admin"]
# A = allowed (the view ran), D = denied (403, or 404 for an object not theirs),
# L = sent to the login page.
ALL_STAFF = "L A A A A A"
CASE_WORK = "L A A D D D"
SUPERVISOR = "L D A D D D"
LIAISON = "L D D A D D"
ADMIN = "L D D D D A"
CAMPAIGNS = "L D A D D A"  # supervisors and admins: campaign material, no applicant data
REPORTS = "L D A D A D"  # analysts and supervisors: aggregate counts only
EXPECTED: dict[str, str] = {
    "home": ALL_STAFF,
    "script": "A A A A A A",
    "login": "A A A A A A",
    "verify": ALL_STAFF,
    "enrol": ALL_STAFF,
    "key_login_options": "D A A A A A",
    "key_login": "D A A A A A",
    "key_register_options": "D A A A A A",
    "key_register": "D A A A A A",
    "logout": "L L L L L L",  # always ends on the login page
    "account": ALL_STAFF,
    "account_language": ALL_STAFF,
    "account_password": ALL_STAFF,
    "account_time_zone": ALL_STAFF,
    "staff": ADMIN,
    "staff_new": ADMIN,
    "staff_reset": ADMIN,
    "staff_reset_password": ADMIN,
    "staff_member": ADMIN,
    "staff_hide_password": ADMIN,
    "staff_deactivate": ADMIN,
    "staff_reactivate": ADMIN,
    "service": ADMIN,
    "overview": "L D D D A D",
    "choose_password": ALL_STAFF,
    "program_key": "L D A D D A",
    "grant": "L D A D D A",
    "inbox": CASE_WORK,
    "inbox_rows": CASE_WORK,
    "take_next": CASE_WORK,
    "find_case": CASE_WORK,
    "workload": SUPERVISOR,
    "health": "L D A D D A",
    "case": CASE_WORK,
    "take": CASE_WORK,
    "case_live": CASE_WORK,
    "conversation": CASE_WORK,
    "reply": CASE_WORK,
    "transition": CASE_WORK,
    "head_count": CASE_WORK,
    "fake_mark": CASE_WORK,
    "assign": SUPERVISOR,
    "note": CASE_WORK,
    "merge": SUPERVISOR,
    "unmerge": SUPERVISOR,
    "handover": SUPERVISOR,
    "handover_share": SUPERVISOR,
    "call": CASE_WORK,
    "callback": CASE_WORK,
    "audit": SUPERVISOR,
    "needs_reader": CASE_WORK,
    "message_translation": CASE_WORK,
    "replies": SUPERVISOR,
    "reply_new": SUPERVISOR,
    "reply_edit": SUPERVISOR,
    "reply_review": SUPERVISOR,
    "staff_reads": ADMIN,
    "hotline": CASE_WORK,
    "identify": CASE_WORK,
    "call_new_case": CASE_WORK,
    "callback_done": CASE_WORK,
    "field": LIAISON,
    "field_detail": LIAISON,
    "field_confirm": LIAISON,
    "field_outcome": LIAISON,
    "campaigns": CAMPAIGNS,
    "campaign_new": CAMPAIGNS,
    "campaign": CAMPAIGNS,
    "campaign_codes": CAMPAIGNS,
    "campaign_code_revoke": CAMPAIGNS,
    "leaflets": CAMPAIGNS,
    "code_qr": CAMPAIGNS,
    "endcard": CAMPAIGNS,
    "reports": REPORTS,
    "report_csv": REPORTS,
}


def _outcome(response: object) -> str:
    status = response.status_code  # type: ignore[attr-defined]
    location = response.get("Location", "")  # type: ignore[attr-defined]
    if status in (403, 404):
        return "D"
    second_factor = "/verify/" in location or "/enrol/" in location
    if status == 302 and location.startswith("/console/login/") and not second_factor:
        return "L"
    if status == 405:
        return "?"
    return "A"


@pytest.fixture
def world(client: Client, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """One ready case handed to sector S1, one pending callback, staff of every role; a
    translation server configured (nobody listens there: the page says it did not answer)."""
    cfg = dataclasses.replace(config.get(), libretranslate_url="http://127.0.0.1:9")
    monkeypatch.setattr(config, "get", lambda: cfg)
    ChatDriver(client, "ru").apply(readiness="now")
    case = latest_case()
    supervisor_user = make_staff("boss", Role.SUPERVISOR)
    assert isinstance(supervisor_user, User)
    # A liaison of S1 who has logged in once (a member key): someone the handover can reach.
    member_keys.do_create_member_key(make_staff("field_s1", Role.LIAISON, "S1"), STAFF_PASSWORD)
    Case.objects.filter(pk=case.pk).update(status=Status.READY)
    now = timezone.now()
    handover = casework.do_handover(
        case,
        supervisor_user,
        casework.HandoverPlan("S1", now, now + timedelta(hours=2), "DEMO: meeting point"),
        None,
        ring=keyring.unlock(supervisor_user, STAFF_PASSWORD),
    )
    Case.objects.filter(pk=case.pk).update(status=Status.READY)  # so the handover form runs
    callback = Callback.objects.create(
        case=case, window_start=now, window_end=now + timedelta(hours=1)
    )
    message = services.do_add_message(case, Direction.INBOUND, "DEMO: a message", case.channel)
    campaign = campaigns.do_create_campaign("DEMO campaign", languages=("ru",))
    (code,) = campaigns.do_add_codes(campaign)
    return {
        "case_id": case.pk,
        "handover_id": handover.pk,
        "callback_id": callback.pk,
        "user_id": supervisor_user.pk,
        "message_id": message.pk,
        "reply_id": VettedReply.objects.order_by("pk").values_list("pk", flat=True)[0],
        "campaign_id": campaign.pk,
        "code_id": code.pk,
        "kind": "png",
        "key": "funnel",
    }


def _clients() -> dict[str, Client]:
    clients = {"anonymous": Client()}
    for role in ROLES[1:]:
        make_staff(f"m_{role}", role, "S1" if role == Role.LIAISON else "")
        clients[role] = staff_login(f"m_{role}")
    return clients


def _patterns() -> list[URLPattern]:
    found = [p for p in urls.urlpatterns if isinstance(p, URLPattern)]
    # Logging out ends the session: it goes last.
    return sorted(found, key=lambda p: p.name == "logout")


def test_every_console_url_for_every_role_matches_the_table(world: dict[str, object]) -> None:
    names = {p.name for p in _patterns()}
    assert names == set(EXPECTED), "every console URL needs a row in EXPECTED"
    clients = _clients()
    actual: dict[str, str] = {}
    for pattern in _patterns():
        assert pattern.name is not None
        kwargs = {k: world[k] for k in pattern.pattern.converters}
        url = reverse(f"console:{pattern.name}", kwargs=kwargs)
        outcomes = []
        for role in ROLES:
            client = clients[role]
            response = client.get(url)
            if response.status_code == 405:
                response = client.post(url, {})
            outcomes.append(_outcome(response))
        actual[pattern.name] = " ".join(outcomes)
        # "Take" assigns the case: every URL meets the same unassigned case.
        Case.objects.filter(pk=str(world["case_id"])).update(assigned_to=None)
    mismatches = {
        name: f"expected {EXPECTED[name]} got {got}"
        for name, got in actual.items()
        if got != EXPECTED[name]
    }
    assert mismatches == {}


def test_operator_cannot_open_another_operators_case(client: Client) -> None:
    ChatDriver(client, "ru").apply()
    case = latest_case()
    other = make_staff("other_op", Role.OPERATOR)
    Case.objects.filter(pk=case.pk).update(assigned_to=other)
    make_staff("me_op", Role.OPERATOR)
    me = staff_login("me_op")
    assert me.get(f"/console/cases/{case.pk}/").status_code == 404
    assert me.post(f"/console/cases/{case.pk}/reply/", {"text": "x"}).status_code == 404
    assert str(case.pk)[:8] not in me.get("/console/queue/").content.decode()
    assert staff_login("other_op").get(f"/console/cases/{case.pk}/").status_code == 200


def test_analyst_and_admin_see_no_case(world: dict[str, object]) -> None:
    for role in (Role.ANALYST, Role.ADMIN, Role.LIAISON):
        user = make_staff(f"x_{role}", role, "S1")
        assert not access.visible_cases(user).exists()


def test_first_admin_from_serve_is_an_admin_without_case_access(db: None) -> None:
    admin = User.objects.create_superuser("admin", "", "correct horse battery staple")
    assert access.role_of(admin) == Role.ADMIN
    assert not access.can(admin, "case.read")
