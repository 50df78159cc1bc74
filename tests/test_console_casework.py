"""Working a case: workflow, stale forms, merging, notes, calls, handover (vetted replies:
test_vetted_replies.py)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client
from django.utils.html import escape

from safepassage.analytics.models import DailyCount
from safepassage.cases.models import CallLog, Case, CaseEvent, Note, Status
from safepassage.console.models import Role
from safepassage.privacy.models import AuditEvent
from safepassage.replies.services import starter_entries
from tests.conftest import DEMO_APPLICANT, ChatDriver, latest_case, make_staff, staff_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(staff: Callable[..., Client]) -> Client:
    return staff(Role.OPERATOR)


@pytest.fixture
def supervisor(staff: Callable[..., Client]) -> Client:
    return staff(Role.SUPERVISOR)


def _case(lang: str = "ru", **kwargs: object) -> Case:
    chat = ChatDriver(Client(), lang)
    chat.apply(**kwargs)  # type: ignore[arg-type]
    return chat.case()


def _move(client: Client, case: Case, target: str, **extra: str) -> object:
    case.refresh_from_db()
    data = {"target": target, "version": str(case.version), "confirm_close": "on", **extra}
    return client.post(f"/console/cases/{case.pk}/status/", data)


def test_the_workflow_from_new_to_ready_is_recorded_with_who_and_when(operator: Client) -> None:
    case = _case()
    assert _move(operator, case, "in_contact").status_code == 302  # type: ignore[attr-defined]
    assert _move(operator, case, "verified").status_code == 302  # type: ignore[attr-defined]
    response = _move(operator, case, "waiting")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "needs the date of the next check-in" in response.content.decode()  # type: ignore[attr-defined]
    assert _move(operator, case, "waiting", next_check_in="2026-12-24").status_code == 302  # type: ignore[attr-defined]
    assert _move(operator, case, "ready").status_code == 302  # type: ignore[attr-defined]
    case.refresh_from_db()
    assert case.status == Status.READY and str(case.next_check_in) == "2026-12-24"
    moves = list(CaseEvent.objects.filter(case=case, kind="status").order_by("id"))
    assert [(e.from_status, e.to_status) for e in moves] == [
        ("new", "in_contact"),
        ("in_contact", "verified"),
        ("verified", "waiting"),
        ("waiting", "ready"),
    ]
    assert all(e.actor is not None and e.at for e in moves)


def test_a_refused_transition_says_why(operator: Client) -> None:
    case = _case()
    response = _move(operator, case, "surrendered")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "A case that is new cannot become surrendered." in response.content.decode()  # type: ignore[attr-defined]
    closing = _move(operator, case, "closed", close_reason="fake")
    assert "Only a supervisor can make a case closed" in closing.content.decode()  # type: ignore[attr-defined]
    case.refresh_from_db()
    assert case.status == Status.NEW


def test_supervisor_closes_with_a_reason(supervisor: Client) -> None:
    case = _case()
    assert "needs a reason" in _move(supervisor, case, "closed").content.decode()  # type: ignore[attr-defined]
    assert _move(supervisor, case, "closed", close_reason="fake").status_code == 302  # type: ignore[attr-defined]
    case.refresh_from_db()
    assert case.status == Status.CLOSED and case.close_reason == "fake"


def test_a_stale_form_gets_a_conflict_not_an_overwrite(
    operator: Client, supervisor: Client
) -> None:
    case = _case()
    stale_version = case.version
    assert _move(supervisor, case, "in_contact").status_code == 302  # type: ignore[attr-defined]
    response = operator.post(
        f"/console/cases/{case.pk}/status/",
        {
            "target": "closed",
            "close_reason": "fake",
            "confirm_close": "on",
            "version": str(stale_version),
        },
    )
    assert response.status_code == 409
    assert "Someone else changed this case" in response.content.decode()
    count = operator.post(
        f"/console/cases/{case.pk}/head-count/", {"head_count": "4", "version": stale_version}
    )
    assert count.status_code == 409
    case.refresh_from_db()
    assert case.status == Status.IN_CONTACT and case.head_count is None


def test_group_head_count(operator: Client) -> None:
    case = _case(group=3)
    bad = operator.post(
        f"/console/cases/{case.pk}/head-count/", {"head_count": "0", "version": case.version}
    )
    assert bad.status_code == 400 and "from 1 to 200" in bad.content.decode()
    ok = operator.post(
        f"/console/cases/{case.pk}/head-count/", {"head_count": "4", "version": case.version}
    )
    assert ok.status_code == 302
    case.refresh_from_db()
    assert case.head_count == 4


def test_merging_two_cases_of_one_person_is_recorded_and_reversible(
    supervisor: Client, operator: Client
) -> None:
    first = _case("ru")
    chat = ChatDriver(Client(), "ru")
    second_ref, _ = chat.apply()
    second = chat.case()
    chat.choose("continue")
    chat.say("DEMO: second channel message")
    assert (
        operator.post(f"/console/cases/{first.pk}/merge/", {"reference": second_ref}).status_code
        == 403
    )
    assert (
        supervisor.post(f"/console/cases/{first.pk}/merge/", {"reference": second_ref}).status_code
        == 302
    )
    second.refresh_from_db()
    assert second.merged_into_id == first.pk
    page = supervisor.get(f"/console/cases/{first.pk}/").content.decode()
    assert "DEMO: second channel message" in page  # one timeline across both cases
    queue = supervisor.get("/console/queue/").content.decode()
    assert str(second.pk) not in queue
    assert supervisor.post(f"/console/cases/{second.pk}/unmerge/").status_code == 302
    second.refresh_from_db()
    assert second.merged_into_id is None
    kinds = list(CaseEvent.objects.filter(case=first).values_list("kind", flat=True))
    assert "merge" in kinds and "unmerge" in kinds
    assert AuditEvent.objects.filter(action="case.merge", case_id=first.pk).exists()


def test_free_text_to_a_korean_speaker_carries_a_warning(operator: Client) -> None:
    case = _case("ko")
    page = operator.get(f"/console/cases/{case.pk}/").content.decode()
    assert 'id="korean-warning"' in page and "no vetted translation" in page


def test_no_korean_warning_for_a_russian_speaker(operator: Client) -> None:
    case = _case("ru")
    page = operator.get(f"/console/cases/{case.pk}/").content.decode()
    assert 'id="korean-warning"' not in page
    assert "waiting for the applicant" not in page  # no reply yet
    operator.post(f"/console/cases/{case.pk}/reply/", {"text": "DEMO: мы на связи"})
    page = operator.get(f"/console/cases/{case.pk}/").content.decode()
    assert "waiting for the applicant" in page


def test_console_follows_the_operators_language(db: None) -> None:
    user = make_staff("oksana", Role.OPERATOR)
    user.staff_profile.language = "uk"  # type: ignore[attr-defined]
    user.staff_profile.save()  # type: ignore[attr-defined]
    case = _case("ko")
    client = staff_login("oksana")
    page = client.get(f"/console/cases/{case.pk}/").content.decode()
    phone = {e["key"]: e for e in starter_entries()}["phone"]["text"]
    assert escape(phone["uk"]) in page  # a vetted reply in the operator's language
    assert "Черга" in page  # "Queue" in the Ukrainian console catalog


def test_notes_are_sealed_and_never_reach_the_applicant(operator: Client) -> None:
    chat = ChatDriver(Client(), "ru")
    chat.apply()
    case = latest_case()
    assert (
        operator.post(f"/console/cases/{case.pk}/note/", {"note": "DEMO-NOTE sentinel"}).status_code
        == 302
    )
    note = Note.objects.get(case=case)
    assert b"DEMO-NOTE" not in bytes(note.body_sealed)
    assert "DEMO-NOTE sentinel" in operator.get(f"/console/cases/{case.pk}/").content.decode()
    assert "DEMO-NOTE" not in chat.open()
    assert operator.post(f"/console/cases/{case.pk}/note/", {"note": " "}).status_code == 400


def test_supervisor_sees_the_audit_trail(supervisor: Client, operator: Client) -> None:
    case = _case()
    operator.get(f"/console/cases/{case.pk}/")
    assert operator.get(f"/console/cases/{case.pk}/audit/").status_code == 403
    trail = supervisor.get(f"/console/cases/{case.pk}/audit/").content.decode()
    assert trail.count("viewed the case") >= 1 and "operator" in trail
    assert re.search(r"case\.audit_view", str(list(AuditEvent.objects.values_list("action"))))


def test_a_logged_call_is_sealed_and_shown(operator: Client) -> None:
    case = _case()
    response = operator.post(
        f"/console/cases/{case.pk}/call/",
        {
            "direction": "in",
            "caller": "relative",
            "started_at": "2026-11-23T10:15",
            "duration_minutes": "7",
            "language": "ru",
            "outcome": "spoke",
            "summary": "DEMO-CALL mother says he is ready next week",
        },
    )
    assert response.status_code == 302
    call = CallLog.objects.get(case=case)
    assert call.caller == "relative" and call.duration_seconds == 420
    assert b"DEMO-CALL" not in bytes(call.summary_sealed)
    page = operator.get(f"/console/cases/{case.pk}/").content.decode()
    assert "DEMO-CALL mother says" in page and "A relative" in page
    bad = operator.post(f"/console/cases/{case.pk}/call/", {"direction": "sideways"})
    assert bad.status_code == 400 and CallLog.objects.count() == 1


def test_hotline_new_case_identify_and_callback_queue(operator: Client) -> None:
    created = operator.post("/console/hotline/new-case/", {"language": "ru", "readiness": "now"})
    html = created.content.decode()
    reference = re.search(r'id="new-reference">([^<]+)<', html)
    passphrase = re.search(r'id="new-passphrase">([^<]+)<', html)
    assert reference and passphrase
    case = Case.objects.get(channel="hotline")
    assert case.status == Status.NEW and case.urgency >= 60
    wrong = operator.post(
        "/console/hotline/identify/", {"reference": reference.group(1), "passphrase": "x"}
    )
    assert wrong.status_code == 400
    right = operator.post(
        "/console/hotline/identify/",
        {"reference": reference.group(1), "passphrase": passphrase.group(1)},
    )
    assert right["Location"] == f"/console/cases/{case.pk}/#calls"
    operator.post(
        f"/console/cases/{case.pk}/callback/",
        {
            "window_start": "2026-11-24T18:00",
            "window_end": "2026-11-24T20:00",
            "reach_by": "message",
        },
    )
    desk = operator.get("/console/hotline/").content.decode()
    assert "2026-11-24 18:00 – 20:00" in desk
    callback = case.callbacks.get()
    operator.post(f"/console/hotline/callbacks/{callback.pk}/done/")
    assert "No callbacks waiting" in operator.get("/console/hotline/").content.decode()


def test_handover_to_a_liaison_who_sees_only_what_receiving_needs(
    supervisor: Client, db: None
) -> None:
    make_staff("liaison_a", Role.LIAISON, "S-NORTH")
    make_staff("liaison_b", Role.LIAISON, "S-SOUTH")
    liaison = staff_login("liaison_a")  # once logged in, a handover can be sealed to them
    case = _case("ko", group=3, wishes=("record_as_captured", "no_exchange", "medical"))
    Case.objects.filter(pk=case.pk).update(status=Status.READY)
    case.refresh_from_db()
    response = supervisor.post(
        f"/console/cases/{case.pk}/handover/",
        {
            "version": case.version,
            "sector": "S-NORTH",
            "window_start": "2026-11-25T04:00",
            "window_end": "2026-11-25T06:00",
            "meeting": "DEMO-MEET crossroads by the red barn",
            "confirm": "on",
        },
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == Status.HANDED_OVER
    handover = case.handovers.get()

    listing = liaison.get("/console/field/").content.decode()
    assert f"/console/field/{handover.pk}/" in listing
    card = liaison.get(f"/console/field/{handover.pk}/").content.decode()
    for shown in ("DEMO-MEET crossroads", "2026-11-25 04:00", "조선말", "needs medical care"):
        assert shown in card
    assert re.search(r'id="group-size">3<', card)
    assert "Wants to be recorded as captured" in card
    assert "Does not want to be exchanged back" in card
    for hidden in DEMO_APPLICANT.values():
        assert hidden not in card
    assert liaison.get(f"/console/cases/{case.pk}/").status_code == 403
    assert staff_login("liaison_b").get(f"/console/field/{handover.pk}/").status_code == 404

    liaison.post(f"/console/field/{handover.pk}/outcome/", {"outcome": "received", "confirm": "on"})
    case.refresh_from_db()
    assert case.status == Status.SURRENDERED
    # Counted for the overview and the reports' funnel (it was not: the count stayed at 0).
    counted = DailyCount.objects.filter(event="surrendered").values_list("count", flat=True)
    assert sum(counted) == 1
    again = liaison.post(
        f"/console/field/{handover.pk}/outcome/", {"outcome": "postponed", "confirm": "on"}
    )
    assert again.status_code == 400 and "already recorded" in again.content.decode()
    page = supervisor.get(f"/console/cases/{case.pk}/").content.decode()
    assert 'class="wishes"' in page and "Received" in page


def test_a_reply_on_a_hotline_only_case_says_it_was_not_sent(operator: Client) -> None:
    operator.post("/console/hotline/new-case/", {"language": "ru", "readiness": "days"})
    case = Case.objects.get(channel="hotline")
    operator.post(f"/console/cases/{case.pk}/reply/", {"text": "DEMO: перезвоним"})
    page = operator.get(f"/console/cases/{case.pk}/").content.decode()
    assert "read it out on the next call" in page
