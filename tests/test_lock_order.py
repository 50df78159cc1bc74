"""The audit chain's lock is taken last: no write waits for a row while holding it.

PostgreSQL serialises appends to the audit chain with one advisory lock, held until the
transaction ends (privacy.audit). A transaction that holds it and then waits for a row, while
the row's holder waits for the audit lock, is a deadlock: PostgreSQL aborts one of them and
staff get an outage page. The row may be waited for explicitly (an UPDATE after the audit
record) or by a foreign key check at COMMIT (Django's are deferred): a row inserted that
references a case takes FOR KEY SHARE on the case, which a FOR UPDATE lock blocks and a
FOR NO KEY UPDATE lock does not.

Each test lines the two writes up on the audit lock deterministically: the test holds the
lock, the write that audits first is started and queues for it, then the write that locks the
case; the lock is released and PostgreSQL hands it to them in that order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import psycopg
import pytest
from django.contrib.auth.models import User
from django.db import connection, connections, transaction

from safepassage.cases import casework, handover_cards, services
from safepassage.cases.models import Caller, CallOutcome, Case, Channel, Direction, Status
from safepassage.console.models import Role
from safepassage.conversations.models import Conversation
from safepassage.privacy import audit, keyring, member_keys
from safepassage.privacy.models import AuditEvent
from tests.conftest import STAFF_PASSWORD, make_staff

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the audit chain's lock exists on PostgreSQL only")


def _other_connection() -> psycopg.Connection[tuple[object, ...]]:
    s = connection.settings_dict
    return psycopg.connect(
        dbname=s["NAME"],
        user=s["USER"] or "postgres",
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        autocommit=True,
    )


def _waits(watcher: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    """What the sessions of this database wait for: "advisory" (the audit chain's lock), or a
    row ("transactionid", "tuple": its holder's transaction)."""
    rows = watcher.execute(
        "SELECT l.locktype FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE NOT l.granted AND a.datname = current_database()"
    ).fetchall()
    return sorted(str(row[0]) for row in rows)


def _until_waiting(watcher: psycopg.Connection[tuple[object, ...]], count: int) -> list[str]:
    """What ``count`` waiting sessions wait for; fewer after 10 s: what those that do."""
    deadline = time.monotonic() + 10
    while len(waits := _waits(watcher)) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return waits


@contextmanager
def _audit_lock_held() -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with _other_connection() as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [audit._LOCK_ID])
        try:
            yield holder
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", [audit._LOCK_ID])


@dataclass
class Outcome:
    results: list[str]  # "ok" for each write that committed, else its exception
    waits: list[str]  # what the two waited for once both were queued (see _waits)


def _in_order(audits_first: Callable[[], object], locks_case: Callable[[], object]) -> Outcome:
    """Run ``audits_first`` and then ``locks_case`` on connections of their own, queued in that
    order for the audit lock (or ``locks_case`` waiting behind the first for the case's row).
    A deadlock is an OperationalError, "deadlock detected"."""
    results = ["unfinished", "unfinished"]

    def run(index: int, write: Callable[[], object]) -> None:
        try:
            write()
            results[index] = "ok"
        except Exception as exc:  # what went wrong is the test's finding
            results[index] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=(0, audits_first)),
        threading.Thread(target=run, args=(1, locks_case)),
    ]
    with _audit_lock_held() as holder:
        threads[0].start()
        _until_waiting(holder, 1)
        threads[1].start()
        waits = _until_waiting(holder, 2)
    for thread in threads:
        thread.join(timeout=30)
    return Outcome(results, waits)


def _submitted_case_with_a_message() -> Case:
    case = services.do_create_case(Channel.WEBCHAT, "ru", None)
    services.do_submit(case)
    case.refresh_from_db()
    services.do_add_message(case, Direction.INBOUND, "DEMO-PREVIEW we are two", Channel.WEBCHAT)
    case.refresh_from_db()
    return case


def _staff(name: str, role: str = Role.OPERATOR) -> User:
    user = make_staff(name, role)
    assert isinstance(user, User)
    return user


def _previews(reader: User, case: Case) -> Callable[[], object]:
    """The queue showing ``case``'s newest message to ``reader`` for the first time: a read
    mark (referencing the case) and its audit record, in one transaction."""
    ring = keyring.unlock(reader, STAFF_PASSWORD)

    def write() -> object:
        shown = casework.do_previews(reader, ring, [case])
        assert shown == {case.pk: "DEMO-PREVIEW we are two"}
        return shown

    return write


def _take_next(operator: User) -> object:
    return casework.do_take_next(operator)


def _assign(case: Case, supervisor: User, operator: User) -> object:
    return casework.do_assign(case, supervisor, operator, None)


def _transition(case: Case, supervisor: User) -> object:
    return casework.do_transition(
        case, supervisor, casework.workflow.Move(Status.IN_CONTACT), None, supervisor=True
    )


def _merge(case: Case, supervisor: User) -> object:
    other = services.do_create_case(Channel.TELEGRAM, "ru", None)
    Case.objects.filter(pk=other.pk).update(status=Status.NEW)
    return casework.do_merge(other, case, supervisor)


def _log_call(case: Case, operator: User) -> object:
    details = casework.CallDetails(
        "in",
        Caller.APPLICANT,
        casework.timezone.now(),
        60,
        "ru",
        CallOutcome.SPOKE,
        "DEMO-CALL short",
    )
    return casework.do_log_call(case, operator, details)


LOCKERS: dict[str, Callable[[Case, User, User], object]] = {
    "take next": lambda case, supervisor, operator: _take_next(operator),
    "assign": lambda case, supervisor, operator: _assign(case, supervisor, operator),
    "status move": lambda case, supervisor, operator: _transition(case, supervisor),
    "merge": lambda case, supervisor, operator: _merge(case, supervisor),
    "log a call": lambda case, supervisor, operator: _log_call(case, operator),
}


@pytest.mark.parametrize("locker", sorted(LOCKERS))
def test_a_preview_and_an_action_locking_the_same_case_both_go_through(locker: str) -> None:
    """The console benchmark's 503s: the queue's preview of a case held the audit lock and at
    COMMIT checked its read mark's reference to the case, while an action held the case's row
    and waited for the audit lock. Now both wait for the audit lock only: the action's lock on
    the case (FOR NO KEY UPDATE) lets the check of a reference through, and "take next" does
    not pass over a case just because a preview of it is being written."""
    case = _submitted_case_with_a_message()
    supervisor = _staff("lock_boss", Role.SUPERVISOR)
    operator = _staff("lock_op")
    reader = _staff("lock_reader")
    outcome = _in_order(
        _previews(reader, case), lambda: LOCKERS[locker](case, supervisor, operator)
    )
    assert outcome.waits == ["advisory", "advisory"]
    assert outcome.results == ["ok", "ok"]
    assert audit.verify().ok


def test_a_reply_and_an_assignment_of_the_same_case_both_go_through() -> None:
    """A reply updates the case it answers: before its audit record, so that it never holds
    the audit lock while waiting for a case row locked by an action that audits too."""
    case = _submitted_case_with_a_message()
    supervisor = _staff("lock_boss", Role.SUPERVISOR)
    operator = _staff("lock_op")

    def reply() -> object:
        return casework.do_reply(
            case, operator, "DEMO-REPLY we hear you", take=False, supervisor=False
        )

    assert _in_order(reply, lambda: _assign(case, supervisor, operator)).results == ["ok", "ok"]
    case.refresh_from_db()
    assert case.assigned_to_id == operator.pk and case.status == Status.IN_CONTACT


def test_two_first_replies_one_taking_its_case_both_go_through() -> None:
    """A first reply counts itself (a counter row shared by the day's first replies of one
    channel and language): the reply that also takes its case must not audit the take before
    counting, or it waits for the row while holding the audit lock."""
    first, second = _submitted_case_with_a_message(), _submitted_case_with_a_message()
    operator, other = _staff("lock_op"), _staff("lock_op2")

    def take_and_reply() -> object:
        return casework.do_reply(first, operator, "DEMO-REPLY taken", take=True, supervisor=False)

    def reply() -> object:
        return casework.do_reply(second, other, "DEMO-REPLY only", take=False, supervisor=False)

    assert _in_order(take_and_reply, reply).results == ["ok", "ok"]
    first.refresh_from_db()
    assert first.assigned_to_id == operator.pk and first.status == Status.IN_CONTACT
    taken = AuditEvent.objects.filter(case_id=first.pk, action__in=["case.take", "case.reply"])
    assert taken.count() == 2 and audit.verify().ok


def test_a_preview_waiting_for_the_applicants_row_does_not_hold_up_other_staff() -> None:
    """While the applicant's reply holds his conversation and case (FOR UPDATE: it may erase
    the case), a preview of that case waits to commit its read mark. It waits before taking
    the audit lock, so another operator's action on another case goes through meanwhile (and
    no third write can close a cycle through it)."""
    case = _submitted_case_with_a_message()
    Conversation.objects.create(case=case)
    elsewhere = _submitted_case_with_a_message()
    supervisor = _staff("lock_boss", Role.SUPERVISOR)
    operator = _staff("lock_op")
    reader = _staff("lock_reader")
    preview = _previews(reader, case)
    locked, release = threading.Event(), threading.Event()
    results: dict[str, str] = {}

    def applicant() -> None:
        # The lock conversations.actions.do_reply takes, held while the reply is applied.
        with transaction.atomic():
            list(Conversation.objects.select_for_update().select_related("case").filter(case=case))
            locked.set()
            release.wait(30)

    def run(name: str, write: Callable[[], object]) -> threading.Thread:
        def target() -> None:
            try:
                write()
                results[name] = "ok"
            except Exception as exc:  # the test's finding
                results[name] = type(exc).__name__
            finally:
                connections.close_all()

        thread = threading.Thread(target=target)
        thread.start()
        return thread

    with _other_connection() as watcher:
        holding = run("applicant", applicant)
        assert locked.wait(10)
        previewing = run("preview", preview)
        _until_waiting(watcher, 1)
        assigning = run("assign", lambda: _assign(elsewhere, supervisor, operator))
        assigning.join(timeout=5)
        finished_meanwhile = not assigning.is_alive()
        release.set()
        for thread in (holding, previewing, assigning):
            thread.join(timeout=30)
    assert finished_meanwhile, "the assignment waited for the applicant's reply to end"
    assert results == {"applicant": "ok", "preview": "ok", "assign": "ok"}


def _liaison(name: str) -> User:
    """A liaison of sector S1 who has logged in once (a member key to seal cards to)."""
    user = make_staff(name, Role.LIAISON, "S1")
    assert isinstance(user, User)
    member_keys.ensure_member_key(user, STAFF_PASSWORD)
    return user


def test_a_card_shared_while_the_liaison_records_the_outcome_both_go_through() -> None:
    """A card shared for a liaison who logged in since the handover references the handover
    while another liaison records its outcome, holding the handover's row."""
    boss = _staff("lock_boss", Role.SUPERVISOR)
    liaison = _liaison("lock_s1")
    case = services.do_create_case(Channel.WEBCHAT, "ru", None)
    Case.objects.filter(pk=case.pk).update(status=Status.READY)
    case.refresh_from_db()
    now = casework.timezone.now()
    plan = casework.HandoverPlan("S1", now, now + timedelta(hours=2), "DEMO meeting point")
    ring = keyring.unlock(boss, STAFF_PASSWORD)
    handover = casework.do_handover(case, boss, plan, None, ring=ring)
    newcomer = _liaison("lock_s1_new")
    assert handover_cards.waiting(handover) == [newcomer]

    outcome = _in_order(
        lambda: handover_cards.do_reshare(handover, boss, ring),
        lambda: casework.do_record_outcome(handover, liaison, "received"),
    )
    assert outcome.waits == ["advisory", "advisory"]  # the handover's lock lets the card by
    assert outcome.results == ["ok", "ok"]
    case.refresh_from_db()
    assert case.status == Status.SURRENDERED and not handover_cards.waiting(handover)
