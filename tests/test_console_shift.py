"""Ready for a real shift: calls and callbacks, Take, the live case page, unread marks.

Calls that end with "callback requested" create their callback with how to reach the person
(sealed to the case); the callback queue shows it to a keyring that opens it (audited), with
the language, the case's urgency and the window as its target. The case page takes a case on
request only, fills the head count from the application, learns of new messages and of the
other staff on it; the queue marks what is unread and previews it (audited once).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
import redis
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.utils import timezone

from safepassage.cases import casework, triage, workflow
from safepassage.cases import services as cases
from safepassage.cases.models import Callback, CallLog, Case, CaseEvent, Channel, Direction
from safepassage.console import presence, views_queue
from safepassage.console.models import CasePresence, Role
from safepassage.privacy.models import AuditEvent, StaffKey
from tests.conftest import ChatDriver, make_staff, staff_login
from tests.redis_support import CONSOLE, redis_url

pytestmark = pytest.mark.django_db

REDIS_URL = redis_url(CONSOLE)
PHONE = "DEMO-PHONE +380 00 000 0000"


def _case(lang: str = "ru", readiness: str = "now") -> Case:
    """A submitted case, made through the same actions the chat uses (no chat round trips)."""
    case = cases.do_create_case(Channel.WEBCHAT, lang, None)
    case.triage = {"readiness": readiness, "company": "alone"}
    case.urgency = triage.urgency(case.triage, False)
    case.save()
    cases.do_submit(case)
    case.refresh_from_db()
    return case


def _applicant_writes(case: Case, text: str) -> None:
    cases.do_add_message(case, Direction.INBOUND, text, Channel.WEBCHAT)


def _user(username: str) -> User:
    return User.objects.get(username=username)


def _keyless(username: str, role: str = Role.OPERATOR) -> Client:
    """A staff member whose account holds no program key (not granted yet)."""
    make_staff(username, role)
    StaffKey.objects.filter(user__username=username).delete()
    return staff_login(username)


def _call(**extra: str) -> dict[str, str]:
    return {
        "direction": "in",
        "caller": "relative",
        "started_at": "2026-11-23T10:15",
        "duration_minutes": "4",
        "language": "uk",
        "outcome": "callback",
        "summary": "DEMO-CALL sister asks to be called back tonight",
        **extra,
    }


# --- 9. Calls and callbacks ---


def test_a_call_ending_in_callback_requested_creates_the_callback_with_a_sealed_number(
    staff: Callable[..., Client],
) -> None:
    operator = staff(Role.OPERATOR)
    case = _case()
    response = operator.post(
        f"/console/cases/{case.pk}/call/",
        _call(
            callback_start="2026-11-23T18:00",
            callback_end="2026-11-23T20:00",
            reach_by="phone",
            reach=PHONE,
        ),
    )
    assert response.status_code == 302
    call = CallLog.objects.get(case=case)
    callback = Callback.objects.get(case=case)
    assert callback.call_id == call.pk and callback.reach_by == "phone"
    assert callback.language == "uk"  # the call's language, to call back in
    assert (callback.window_end - callback.window_start) == timedelta(hours=2)
    assert PHONE.encode() not in bytes(callback.reach_sealed or b"")
    assert "DEMO-PHONE".encode("utf-16-le") not in bytes(callback.reach_sealed or b"")
    page = operator.get(f"/console/cases/{case.pk}/").content.decode()
    assert PHONE in page and "Call the number he gave" in page


def test_a_callback_call_without_its_window_or_number_is_refused_and_keeps_the_input(
    staff: Callable[..., Client],
) -> None:
    operator = staff(Role.OPERATOR)
    case = _case()
    response = operator.post(
        f"/console/cases/{case.pk}/call/",
        _call(callback_start="2026-11-23T18:00", reach_by="phone"),
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Needed for a callback." in page  # the missing end of the window
    assert "Write down the number he gave." in page
    assert "DEMO-CALL sister asks" in page and 'value="2026-11-23T18:00"' in page
    assert not CallLog.objects.exists() and not Callback.objects.exists()
    # Any other outcome needs none of it.
    assert (
        operator.post(f"/console/cases/{case.pk}/call/", _call(outcome="spoke")).status_code == 302
    )
    assert CallLog.objects.count() == 1 and not Callback.objects.exists()


def test_the_action_layer_refuses_a_callback_outcome_without_its_callback(db: None) -> None:
    user = make_staff("desk_op", Role.OPERATOR)
    assert isinstance(user, User)
    case = _case()
    details = casework.CallDetails(
        "in", "applicant", timezone.now(), 60, "ru", "callback", "DEMO summary"
    )
    with pytest.raises(workflow.Refused):
        casework.do_log_call(case, user, details)
    assert not CallLog.objects.exists()


def test_the_callback_queue_shows_how_to_reach_language_urgency_and_the_window_as_target(
    staff: Callable[..., Client],
) -> None:
    operator = staff(Role.OPERATOR)
    urgent, later = _case("ko", "now"), _case("ru", "later")
    now = timezone.now()
    for case, start, reach_by, reach in (
        (urgent, now - timedelta(hours=3), "phone", PHONE),
        (later, now - timedelta(minutes=30), "message", "DEMO-CHANNEL same Telegram account"),
    ):
        casework.do_request_callback(
            case,
            _user("operator0"),
            casework.CallbackRequest(start, start + timedelta(hours=1), reach_by, reach),
        )
    before = AuditEvent.objects.filter(action="case.callback_view").count()
    desk = operator.get("/console/hotline/").content.decode()
    rows = re.findall(r'<tr class="callback-(\w+)">(.*?)</tr>', desk, re.S)
    assert [state for state, _ in rows] == ["overdue", "due"]
    overdue, due = rows[0][1], rows[1][1]
    assert PHONE in overdue and "조선말" in overdue and "Ready now" in overdue
    assert "overdue 2 h" in overdue
    assert "DEMO-CHANNEL same Telegram account" in due and "Русский" in due
    assert "Later" in due and re.search(r"due now, (29|30) min left", due)
    audited = AuditEvent.objects.filter(action="case.callback_view").order_by("id")[before:]
    assert {e.case_id for e in audited} == {urgent.pk, later.pk}


def test_the_callback_queue_shows_a_lock_to_a_member_without_the_program_key(
    db: None,
) -> None:
    case = _case()
    writer = make_staff("writer_op", Role.OPERATOR)
    assert isinstance(writer, User)
    now = timezone.now()
    casework.do_request_callback(
        case, writer, casework.CallbackRequest(now, now + timedelta(hours=1), "phone", PHONE)
    )
    desk = _keyless("new_op").get("/console/hotline/").content.decode()
    assert PHONE not in desk and "\U0001f512" in desk
    assert not AuditEvent.objects.filter(action="case.callback_view").exists()


# --- 10. The case page ---


def test_take_assigns_the_case_to_me_is_audited_and_a_retry_changes_nothing(
    staff: Callable[..., Client],
) -> None:
    operator = staff(Role.OPERATOR)
    case = _case()
    page = operator.get(f"/console/cases/{case.pk}/").content.decode()
    assert 'id="take"' in page
    assert operator.post(f"/console/cases/{case.pk}/take/").status_code == 302
    case.refresh_from_db()
    assert case.assigned_to == _user("operator0")
    assert AuditEvent.objects.filter(action="case.take", case_id=case.pk).count() == 1
    assert operator.post(f"/console/cases/{case.pk}/take/").status_code == 302  # retried
    assert CaseEvent.objects.filter(case=case, kind="take").count() == 1
    assert 'id="take"' not in operator.get(f"/console/cases/{case.pk}/").content.decode()


def test_only_a_supervisor_takes_a_case_someone_else_holds(db: None) -> None:
    holder = make_staff("holder_op", Role.OPERATOR)
    other = make_staff("other_op2", Role.OPERATOR)
    make_staff("boss2", Role.SUPERVISOR)
    assert isinstance(holder, User) and isinstance(other, User)
    case = _case()
    casework.do_take(case, holder, supervisor=False)
    with pytest.raises(workflow.Refused, match="Someone else took this case"):
        casework.do_take(case, other, supervisor=False)
    boss = staff_login("boss2")
    assert boss.post(f"/console/cases/{case.pk}/take/").status_code == 302
    case.refresh_from_db()
    assert case.assigned_to == _user("boss2")


def test_replying_assigns_the_case_only_when_asked(staff: Callable[..., Client]) -> None:
    operator = staff(Role.OPERATOR)
    case = _case()
    page = operator.get(f"/console/cases/{case.pk}/").content.decode()
    assert 'id="unassigned-note"' in page and 'name="take"' in page
    assert (
        operator.post(f"/console/cases/{case.pk}/reply/", {"text": "DEMO one"}).status_code == 302
    )
    case.refresh_from_db()
    assert case.assigned_to is None
    asked = operator.post(f"/console/cases/{case.pk}/reply/", {"text": "DEMO two", "take": "on"})
    assert asked.status_code == 302
    case.refresh_from_db()
    assert case.assigned_to == _user("operator0")
    assert AuditEvent.objects.filter(action="case.take", case_id=case.pk).exists()


def test_the_group_size_from_the_application_fills_the_head_count(
    staff: Callable[..., Client],
) -> None:
    chat = ChatDriver(Client(), "ru")
    chat.apply(group=3)
    case = chat.case()
    operator = staff(Role.OPERATOR)
    page = operator.get(f"/console/cases/{case.pk}/").content.decode()
    assert re.search(r'id="head-count">3 \(from the application\)<', page)
    assert re.search(r'name="head_count" id="head_count" value="3"', page)
    operator.post(f"/console/cases/{case.pk}/head-count/", {"head_count": "4"})
    page = operator.get(f"/console/cases/{case.pk}/").content.decode()
    assert re.search(r'id="head-count">4<', page)


def _live(client: Client, case: Case, writing: bool = False) -> dict[str, object]:
    response = client.get(f"/console/cases/{case.pk}/live/", {"writing": "1" if writing else "0"})
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    data: dict[str, object] = json.loads(response.content)
    return data


def test_a_new_applicant_message_changes_the_live_marker_and_the_conversation_shows_it(
    staff: Callable[..., Client],
) -> None:
    operator = staff(Role.OPERATOR)
    case = _case()
    page = operator.get(f"/console/cases/{case.pk}/").content.decode()
    marker = re.search(r'data-last="(\d+)"', page)
    assert marker and 'data-live="' in page and ">Refresh</a>" in page
    assert str(_live(operator, case)["last"]) == marker.group(1)
    _applicant_writes(case, "DEMO-LIVE are you there?")
    assert str(_live(operator, case)["last"]) != marker.group(1)
    views = AuditEvent.objects.filter(action="case.view", case_id=case.pk).count()
    fragment = operator.get(f"/console/cases/{case.pk}/conversation/").content.decode()
    assert "DEMO-LIVE are you there?" in fragment and "<html" not in fragment
    assert AuditEvent.objects.filter(action="case.view", case_id=case.pk).count() == views + 1
    assert "DEMO-LIVE" not in json.dumps(_live(operator, case))


def test_another_staff_member_viewing_or_writing_is_shown_and_goes_away(
    staff: Callable[..., Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    operator, supervisor = staff(Role.OPERATOR), staff(Role.SUPERVISOR)
    case = _case()
    assert _live(operator, case)["presence"] == ""
    supervisor.get(f"/console/cases/{case.pk}/")
    assert _live(operator, case)["presence"] == "supervisor1 also has this case open."
    _live(supervisor, case, writing=True)
    assert _live(operator, case)["presence"] == "supervisor1 is writing a reply."
    page = supervisor.get(f"/console/cases/{case.pk}/").content.decode()
    assert "operator0 also has this case open." in page  # shown without JavaScript too
    CasePresence.objects.update(until=timezone.now() - timedelta(seconds=1))  # time ran out
    assert _live(operator, case)["presence"] == ""
    monkeypatch.setattr(presence, "_next_sweep", 0.0)  # this process's sweep is due
    operator.get(f"/console/cases/{case.pk}/")  # a page load sweeps what ran out
    assert list(CasePresence.objects.values_list("user__username", flat=True)) == ["operator0"]


def test_presences_that_ran_out_are_swept_once_a_minute_and_never_shown_meanwhile(
    staff: Callable[..., Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep of the presence table at every case page cost a transaction each: it runs once
    every SWEEP_SECONDS per process, and until then a presence that ran out is only skipped."""
    operator, supervisor = staff(Role.OPERATOR), staff(Role.SUPERVISOR)
    case = _case()
    monkeypatch.setattr(presence, "_next_sweep", 0.0)
    supervisor.get(f"/console/cases/{case.pk}/")  # sweeps (nothing yet); the next one in a minute
    CasePresence.objects.update(until=timezone.now() - timedelta(seconds=1))  # supervisor left
    page = operator.get(f"/console/cases/{case.pk}/").content.decode()
    assert "supervisor1" not in page  # skipped at once
    assert _live(operator, case)["presence"] == ""
    names = set(CasePresence.objects.values_list("user__username", flat=True))
    assert names == {"operator0", "supervisor1"}  # but not deleted within the minute
    monkeypatch.setattr(presence, "_next_sweep", time.monotonic() - 1)  # the minute is over
    operator.get(f"/console/cases/{case.pk}/")
    assert list(CasePresence.objects.values_list("user__username", flat=True)) == ["operator0"]


@override_settings(SAFEPASSAGE_REDIS_URL=REDIS_URL)
def test_presence_lives_in_redis_when_configured_and_holds_no_content(
    staff: Callable[..., Client],
) -> None:
    store = redis.Redis.from_url(REDIS_URL)
    operator, supervisor = staff(Role.OPERATOR), staff(Role.SUPERVISOR)
    case = _case()
    _applicant_writes(case, "DEMO-SECRET where do we meet")
    supervisor.post(f"/console/cases/{case.pk}/reply/", {"text": "DEMO-SECRET-REPLY"})
    _live(supervisor, case, writing=True)
    assert _live(operator, case)["presence"] == "supervisor1 is writing a reply."
    assert not CasePresence.objects.exists()  # not in the database
    key = f"sp:presence:{case.pk}"
    assert 0 < store.ttl(key) <= 8
    raw: dict[bytes, bytes] = store.hgetall(key)  # type: ignore[assignment]
    stored = b"".join(k + v for k, v in raw.items())
    assert b"DEMO" not in stored
    store.delete(key)


def test_the_queue_marks_unread_messages_and_previews_them_audited_once(
    staff: Callable[..., Client],
) -> None:
    operator = staff(Role.OPERATOR)
    case = _case()
    operator.get(f"/console/cases/{case.pk}/")  # read up to now
    _applicant_writes(case, "DEMO-PREVIEW first line\nsecond line")
    _applicant_writes(case, "DEMO-PREVIEW we are three now")
    queue = operator.get("/console/queue/").content.decode()
    assert '<span class="unread">2 new</span>' in queue
    assert '<small class="preview">DEMO-PREVIEW we are three now</small>' in queue
    assert AuditEvent.objects.filter(action="case.preview", case_id=case.pk).count() == 1
    operator.get("/console/queue/rows/")  # the self-refresh shows it again: no second record
    assert AuditEvent.objects.filter(action="case.preview", case_id=case.pk).count() == 1
    operator.get(f"/console/cases/{case.pk}/")
    queue = operator.get("/console/queue/").content.decode()
    assert 'class="unread"' not in queue and "DEMO-PREVIEW" not in queue


def test_no_preview_for_a_member_whose_keyring_does_not_open_it(db: None) -> None:
    case = _case()
    _applicant_writes(case, "DEMO-PREVIEW sealed from the keyless")
    queue = _keyless("keyless_op").get("/console/queue/").content.decode()
    assert '<span class="unread">1 new</span>' in queue and "DEMO-PREVIEW" not in queue
    assert not AuditEvent.objects.filter(action="case.preview").exists()


def test_the_queue_says_it_shows_only_the_most_urgent_only_when_there_are_more(
    staff: Callable[..., Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    operator = staff(Role.OPERATOR)
    monkeypatch.setattr(views_queue, "QUEUE_LIMIT", 2)
    _case(), _case()
    assert 'id="queue-more"' not in operator.get("/console/queue/").content.decode()
    _case()
    queue = operator.get("/console/queue/").content.decode()
    assert 'id="queue-more"' in queue and "Showing the 2 most urgent cases" in queue
    assert len(re.findall(r'href="/console/cases/[0-9a-f-]{36}/"', queue)) == 2
