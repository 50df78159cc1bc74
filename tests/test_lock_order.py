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
from datetime import timedelta

import psycopg
import pytest
from django.contrib.auth.models import User
from django.db import connection, connections

from safepassage.cases import casework, handover_cards, services
from safepassage.cases.models import Caller, CallOutcome, Case, Channel, Direction, Status
from safepassage.console.models import Role
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


def _waiting(watcher: psycopg.Connection[tuple[object, ...]]) -> int:
    """How many sessions of this database wait for a lock (a row's, or the audit chain's)."""
    row = watcher.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


def _until_waiting(watcher: psycopg.Connection[tuple[object, ...]], count: int) -> None:
    deadline = time.monotonic() + 10
    while _waiting(watcher) < count:
        assert time.monotonic() < deadline, f"fewer than {count} writes waiting for a lock"
        time.sleep(0.01)


@contextmanager
def _audit_lock_held() -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with _other_connection() as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [audit._LOCK_ID])
        try:
            yield holder
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", [audit._LOCK_ID])


def _in_order(audits_first: Callable[[], object], locks_case: Callable[[], object]) -> list[str]:
    """Run ``audits_first`` and then ``locks_case`` on connections of their own, queued in that
    order for the audit lock (or ``locks_case`` waiting behind the first for the case's row);
    "ok" for each that committed, else its exception ("deadlock detected": PostgreSQL's)."""
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
        _until_waiting(holder, 2)
    for thread in threads:
        thread.join(timeout=30)
    return results


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
    """The console benchmark's 503s: the queue's preview of a case holds the audit lock and at
    COMMIT checks its read mark's reference to the case, while an action holds the case's row
    and waits for the audit lock."""
    case = _submitted_case_with_a_message()
    supervisor = _staff("lock_boss", Role.SUPERVISOR)
    operator = _staff("lock_op")
    reader = _staff("lock_reader")
    results = _in_order(
        _previews(reader, case), lambda: LOCKERS[locker](case, supervisor, operator)
    )
    assert results == ["ok", "ok"]
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

    results = _in_order(reply, lambda: _assign(case, supervisor, operator))
    assert results == ["ok", "ok"]
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

    results = _in_order(take_and_reply, reply)
    assert results == ["ok", "ok"]
    first.refresh_from_db()
    assert first.assigned_to_id == operator.pk and first.status == Status.IN_CONTACT
    taken = AuditEvent.objects.filter(case_id=first.pk, action__in=["case.take", "case.reply"])
    assert taken.count() == 2 and audit.verify().ok


def _liaison(name: str) -> User:
    """A liaison of sector S1 who has logged in once (a member key to seal cards to)."""
    user = make_staff(name, Role.LIAISON, "S1")
    assert isinstance(user, User)
    member_keys.ensure_member_key(user, STAFF_PASSWORD)
    return user


def test_a_card_shared_while_the_liaison_records_the_outcome_both_go_through() -> None:
    """A card shared for a liaison who logged in since the handover references the handover
    (checked at COMMIT, under the audit lock) while another liaison records its outcome."""
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

    results = _in_order(
        lambda: handover_cards.do_reshare(handover, boss, ring),
        lambda: casework.do_record_outcome(handover, liaison, "received"),
    )
    assert results == ["ok", "ok"]
    case.refresh_from_db()
    assert case.status == Status.SURRENDERED and not handover_cards.waiting(handover)
