"""Every (from status, to status, role) through the console's own URLs, against the table below.

The rules live in the action layer (cases.workflow.TRANSITIONS, enforced by cases.casework), not
in which buttons the case page shows: a hand-made POST to the status URL cannot hand a case over
without a handover (sector, meeting point), nor make it surrendered without the liaison's word.
The expectations are written out here, not read from that table, so that a change to the rules
shows up as a change to this file.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone

from safepassage.cases import casework, services
from safepassage.cases.models import Case, Channel, Handover, Status
from safepassage.console.models import Role
from safepassage.privacy import crypto, keyring, member_keys
from tests.conftest import STAFF_PASSWORD, make_staff, staff_login

pytestmark = pytest.mark.django_db

ROLES = [Role.OPERATOR, Role.SUPERVISOR, Role.LIAISON, Role.ANALYST, Role.ADMIN]
SOURCES = [s.value for s in Status]
TARGETS = [*SOURCES, "bogus"]
OPEN = ["new", "in_contact", "verified", "waiting", "ready", "handed_over"]

# Through the status form: (from, to) → who may. Anything not listed is refused for everyone.
CASE_STAFF = {Role.OPERATOR, Role.SUPERVISOR}
STATUS_FORM: dict[tuple[str, str], set[Role]] = {
    ("new", "in_contact"): CASE_STAFF,
    ("in_contact", "verified"): CASE_STAFF,
    ("in_contact", "waiting"): CASE_STAFF,
    ("in_contact", "ready"): CASE_STAFF,
    ("verified", "waiting"): CASE_STAFF,
    ("verified", "ready"): CASE_STAFF,
    ("waiting", "in_contact"): CASE_STAFF,
    ("waiting", "verified"): CASE_STAFF,
    ("waiting", "ready"): CASE_STAFF,
    ("ready", "waiting"): CASE_STAFF,
    ("handed_over", "ready"): CASE_STAFF,  # taken back: the handover is withdrawn
    ("handed_over", "waiting"): CASE_STAFF,
    **{(source, "closed"): {Role.SUPERVISOR} for source in OPEN},
}
# Only through their own forms: handing over (supervisor, from ready) and the outcome of a
# handover (the liaison of its sector, from handed over).
HANDOVER_FORM = {("ready", Role.SUPERVISOR)}
OUTCOME_FORM = {("handed_over", Role.LIAISON)}


def _client(role: Role) -> Client:
    make_staff(f"wf_{role}", role, "S1" if role == Role.LIAISON else "")
    return staff_login(f"wf_{role}")


def _s1_liaison() -> None:
    """A liaison of sector S1 who has logged in once (so has a member key to seal cards to)."""
    if not User.objects.filter(username="wf_s1").exists():
        user = make_staff("wf_s1", Role.LIAISON, "S1")
        assert isinstance(user, User)
        member_keys.ensure_member_key(user, STAFF_PASSWORD)


def _case(status: str) -> Case:
    case = services.do_create_case(Channel.WEBCHAT, "ru", None)
    Case.objects.filter(pk=case.pk).update(status=status)
    case.refresh_from_db()
    return case


def _handed_over_case(status: str) -> tuple[Case, Handover]:
    """A case with a live handover to sector S1 (made by the handover action), then put in
    ``status`` the way an older version of this code could leave it."""
    boss = User.objects.filter(username="wf_boss").first() or make_staff("wf_boss", Role.SUPERVISOR)
    assert isinstance(boss, User)
    _s1_liaison()
    case = _case(Status.READY)
    now = timezone.now()
    plan = casework.HandoverPlan("S1", now, now + timedelta(hours=2), "DEMO meeting point")
    ring = keyring.unlock(boss, STAFF_PASSWORD)
    handover = casework.do_handover(case, boss, plan, None, ring=ring)
    Case.objects.filter(pk=case.pk).update(status=status)
    case.refresh_from_db()
    return case, handover


def _code(response: HttpResponse) -> object:
    code = response.status_code
    return code if code == 302 else "4xx" if 400 <= code < 500 else code


@pytest.mark.parametrize("role", ROLES)
def test_the_status_url_moves_only_what_the_table_allows(role: Role) -> None:
    client = _client(role)
    mismatches = []
    for source in SOURCES:
        for target in TARGETS:
            case = _case(source)
            response = client.post(
                f"/console/cases/{case.pk}/status/",
                {
                    "target": target,
                    "version": str(case.version),
                    "next_check_in": "2026-12-24",
                    "close_reason": "declined",
                    "confirm_close": "on",
                },
            )
            case.refresh_from_db()
            allowed = role in STATUS_FORM.get((source, target), set())
            expected = (302, target) if allowed else ("4xx", source)
            got = (_code(response), case.status)
            if got != expected:
                mismatches.append(f"{source}->{target} as {role}: expected {expected} got {got}")
    assert mismatches == []


@pytest.mark.parametrize("role", ROLES)
def test_only_the_handover_form_hands_over_and_it_leaves_a_handover(role: Role) -> None:
    client = _client(role)
    _s1_liaison()
    mismatches = []
    start = timezone.now() + timedelta(hours=2)
    for source in SOURCES:
        case = _case(source)
        response = client.post(
            f"/console/cases/{case.pk}/handover/",
            {
                "version": str(case.version),
                "sector": "S1",
                "window_start": start.strftime("%Y-%m-%dT%H:%M"),
                "window_end": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
                "meeting": "DEMO meeting point",
                "confirm": "on",
            },
        )
        case.refresh_from_db()
        handovers = Handover.objects.filter(
            case=case, active=True, sector_index=crypto.sector_index("S1")
        ).count()
        if (source, role) in HANDOVER_FORM:
            expected: tuple[object, ...] = (302, Status.HANDED_OVER, 1)
        else:
            expected = ("4xx", source, 0)
        got = (_code(response), case.status, handovers)
        if got != expected:
            mismatches.append(f"{source} handed over by {role}: expected {expected} got {got}")
    assert mismatches == []


@pytest.mark.parametrize("role", ROLES)
def test_only_the_liaisons_outcome_of_a_live_handover_moves_a_handed_over_case(
    role: Role,
) -> None:
    client = _client(role)
    mismatches = []
    for source, outcome in [(s, o) for s in SOURCES for o in ("received", "did_not_come")]:
        case, handover = _handed_over_case(source)
        response = client.post(
            f"/console/field/{handover.pk}/outcome/", {"outcome": outcome, "confirm": "on"}
        )
        case.refresh_from_db()
        handover.refresh_from_db()
        if (source, role) in OUTCOME_FORM:
            after = Status.SURRENDERED if outcome == "received" else Status.READY
            expected: tuple[object, ...] = (302, after, outcome)
        else:
            expected = ("4xx", source, "")
        got = (_code(response), case.status, handover.outcome)
        if got != expected:
            mismatches.append(f"{source} {outcome} by {role}: expected {expected} got {got}")
    assert mismatches == []


def test_taking_a_handed_over_case_back_withdraws_its_handover() -> None:
    liaison, operator = _client(Role.LIAISON), _client(Role.OPERATOR)
    case, handover = _handed_over_case(Status.HANDED_OVER)
    assert liaison.get(f"/console/field/{handover.pk}/").status_code == 200
    response = operator.post(
        f"/console/cases/{case.pk}/status/", {"target": "ready", "version": str(case.version)}
    )
    assert response.status_code == 302
    assert liaison.get(f"/console/field/{handover.pk}/").status_code == 404
    refused = liaison.post(
        f"/console/field/{handover.pk}/outcome/", {"outcome": "received", "confirm": "on"}
    )
    assert refused.status_code == 404
    case.refresh_from_db()
    assert case.status == Status.READY


def test_the_case_page_offers_only_what_the_status_url_accepts() -> None:
    supervisor, operator = _client(Role.SUPERVISOR), _client(Role.OPERATOR)
    ready = _case("ready")
    page = supervisor.get(f"/console/cases/{ready.pk}/").content.decode()
    assert 'value="handed_over"' not in page and "Hand over" in page
    handed = _case("handed_over")
    page = operator.get(f"/console/cases/{handed.pk}/").content.decode()
    assert 'value="surrendered"' not in page and 'value="ready"' in page
