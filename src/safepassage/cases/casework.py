"""Staff writes on a case: workflow moves, assignment, merging, notes, calls, handovers.

Every function checks the case's ``version`` against the one the staff member's form was built
from, so a stale form is refused with :class:`Conflict` instead of overwriting someone else's
change. Access (who may call what) is the console's business (console.access).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from safepassage.cases import handover_cards, sealed, services, triage, workflow
from safepassage.cases.models import (
    Callback,
    CallLog,
    Case,
    CaseEvent,
    Channel,
    Handover,
    HandoverOutcome,
    Note,
    Status,
)
from safepassage.privacy import audit, crypto, staff_fields
from safepassage.privacy.keyring import Keyring

NOTE_FIELD = "note"
CALL_FIELD = "call"
MEETING_FIELD = handover_cards.MEETING_FIELD
MAX_NOTE_CHARS = 4000


class Conflict(Exception):
    """Someone else changed the case after this form was loaded."""


def _locked(case: Case, expected_version: int | None) -> Case:
    fresh = Case.objects.select_for_update().get(pk=case.pk)
    if expected_version is not None and fresh.version != expected_version:
        raise Conflict
    return fresh


def _bump(case: Case, fields_: list[str]) -> None:
    case.version += 1
    case.save(update_fields=[*fields_, "version", "updated_at"])


def _event(case: Case, actor: User | None, kind: str, old: str = "", detail: str = "") -> None:
    CaseEvent.objects.create(
        case=case, actor=actor, kind=kind, from_status=old, to_status=case.status, detail=detail
    )


def do_transition(
    case: Case, actor: User, move: workflow.Move, expected_version: int | None, *, supervisor: bool
) -> Case:
    """A move made with the case page's status form. Moves that need more (handing over, a
    handover's outcome) are refused here: they have actions of their own (workflow.TRANSITIONS).
    """
    with transaction.atomic():
        fresh = _locked(case, expected_version)
        return _move(fresh, actor, move, workflow.Via.STATUS, supervisor=supervisor)


def _move(
    fresh: Case, actor: User, move: workflow.Move, via: workflow.Via, *, supervisor: bool
) -> Case:
    """Apply a move to a case locked by the caller, if the table gives it to ``via``."""
    workflow.check(fresh.status, move, is_supervisor=supervisor, via=via)
    old = fresh.status
    fresh.status = move.target
    changed = ["status", "reply_due_at"]
    if move.target == Status.WAITING:
        fresh.next_check_in = move.next_check_in
        changed.append("next_check_in")
    if move.target == Status.CLOSED:
        fresh.close_reason = move.close_reason
        changed.append("close_reason")
    if old == Status.HANDED_OVER and via == workflow.Via.STATUS:
        # Taken back: the liaison no longer sees the handover and cannot record its outcome.
        Handover.objects.filter(case=fresh, active=True).update(active=False)
    services.refresh_reply_due(fresh)
    _bump(fresh, changed)
    _event(fresh, actor, "status", old, move.close_reason)
    audit.record(actor, "case.status", fresh.pk, f"{old}->{move.target}")
    return fresh


def do_set_head_count(case: Case, actor: User, count: int, expected_version: int | None) -> Case:
    if not 1 <= count <= 200:
        raise workflow.Refused(gettext("A group has between 1 and 200 people."))
    with transaction.atomic():
        fresh = _locked(case, expected_version)
        fresh.head_count = count
        _bump(fresh, ["head_count"])
        _event(fresh, actor, "head_count", fresh.status, str(count))
        return fresh


def do_assign(case: Case, actor: User, assignee: User | None, expected_version: int | None) -> Case:
    with transaction.atomic():
        fresh = _locked(case, expected_version)
        fresh.assigned_to = assignee
        _bump(fresh, ["assigned_to"])
        _event(fresh, actor, "assign", fresh.status, f"user {assignee.pk}" if assignee else "none")
        audit.record(actor, "case.assign", fresh.pk, f"user {assignee.pk}" if assignee else "none")
        return fresh


def do_take_next(operator: User) -> Case | None:
    """Give ``operator`` the most urgent open unassigned case; never the same one to two people.

    On PostgreSQL ``SKIP LOCKED`` lets parallel callers pass over a row another one is taking;
    the conditional UPDATE makes the claim itself atomic on every database.
    """
    for _ in range(5):
        with transaction.atomic():
            candidates = (
                Case.objects.filter(
                    status__in=workflow.OPEN_STATUSES,
                    assigned_to__isnull=True,
                    merged_into__isnull=True,
                )
                .order_by("-urgency", "last_applicant_at", "id")
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)[:1]
            )
            case_id = next(iter(candidates), None)
            if case_id is None:
                return None
            claimed = Case.objects.filter(pk=case_id, assigned_to__isnull=True).update(
                assigned_to=operator, version=F("version") + 1, updated_at=timezone.now()
            )
            if claimed:
                case = Case.objects.get(pk=case_id)
                _event(case, operator, "take", case.status)
                audit.record(operator, "case.take", case.pk)
                return case
    return None


def _lock_cases(*pks: uuid.UUID) -> dict[uuid.UUID, Case]:
    """Lock the cases' rows one by one in primary-key order, the one order every write that
    locks several cases follows, so that two of them never wait for each other."""
    locked: dict[uuid.UUID, Case] = {}
    for pk in sorted(set(pks)):
        locked[pk] = Case.objects.select_for_update().get(pk=pk)
    return locked


def do_merge(duplicate: Case, into: Case, actor: User) -> None:
    """Fold ``duplicate`` (the same person on another channel) into ``into``; reversible.

    Both rows are locked and checked under the lock: two opposite merges at once would otherwise
    each see the other case unmerged and leave each merged into the other."""
    if duplicate.pk == into.pk:
        raise workflow.Refused(
            gettext("A case cannot be merged into itself or into a merged case.")
        )
    with transaction.atomic():
        locked = _lock_cases(duplicate.pk, into.pk)
        fresh, target = locked[duplicate.pk], locked[into.pk]
        if target.merged_into_id is not None:
            raise workflow.Refused(
                gettext("A case cannot be merged into itself or into a merged case.")
            )
        if fresh.merged_into_id is not None:
            raise workflow.Refused(gettext("That case is already merged into another one."))
        if fresh.merged_cases.exists():
            raise workflow.Refused(gettext("Unmerge the cases merged into this one first."))
        fresh.merged_into = target
        _bump(fresh, ["merged_into"])
        _event(fresh, actor, "merge", fresh.status, f"into {target.pk}")
        _event(target, actor, "merge", target.status, f"from {fresh.pk}")
        audit.record(actor, "case.merge", target.pk, f"from {fresh.pk}")


def do_unmerge(duplicate: Case, actor: User) -> None:
    """Undo a merge. Both cases are locked, in key order (see do_merge): the events written on
    the main case wait for its row, so locking only the duplicate could deadlock with a merge."""
    into_id = Case.objects.filter(pk=duplicate.pk).values_list("merged_into", flat=True).first()
    if into_id is None:
        raise workflow.Refused(gettext("This case is not merged."))
    with transaction.atomic():
        locked = _lock_cases(duplicate.pk, into_id)
        fresh, into = locked[duplicate.pk], locked[into_id]
        if fresh.merged_into_id != into.pk:  # unmerged (or merged elsewhere) meanwhile
            raise workflow.Refused(gettext("This case is not merged."))
        fresh.merged_into = None
        _bump(fresh, ["merged_into"])
        _event(fresh, actor, "unmerge", fresh.status, f"from {into.pk}")
        _event(into, actor, "unmerge", into.status, f"out {fresh.pk}")
        audit.record(actor, "case.unmerge", into.pk, f"out {fresh.pk}")


@dataclass(frozen=True)
class NoteEntry:
    author: str
    at: datetime
    text: str


def do_add_note(case: Case, author: User, text: str) -> Note:
    if not text.strip() or len(text) > MAX_NOTE_CHARS:
        raise workflow.Refused(gettext("A note has 1 to 4,000 characters."))
    with transaction.atomic():
        note = Note.objects.create(case=case, author=author, body_sealed=b"")
        note.body_sealed = staff_fields.seal(case, f"{NOTE_FIELD}:{note.pk}", text)
        note.save(update_fields=["body_sealed"])
        audit.record(author, "case.note", case.pk)
        return note


def _open(case: Case, field: str, blob: bytes | memoryview, ring: Keyring) -> str:
    """Staff-sealed text, or a lock where this reader holds no key."""
    try:
        return staff_fields.open_for_staff(case, field, blob, ring).text
    except staff_fields.Locked:
        return sealed.LOCKED_TEXT


def notes(case: Case, ring: Keyring) -> list[NoteEntry]:
    return [
        NoteEntry(
            n.author.get_username() if n.author else "—",
            n.at,
            _open(case, f"{NOTE_FIELD}:{n.pk}", n.body_sealed, ring),
        )
        for n in case.notes.select_related("author").order_by("at", "id")
    ]


@dataclass(frozen=True)
class CallDetails:
    direction: str
    caller: str
    started_at: datetime
    duration_seconds: int
    language: str
    outcome: str
    summary: str


@dataclass(frozen=True)
class CallEntry:
    call: CallLog
    summary: str


def do_log_call(case: Case, operator: User, details: CallDetails) -> CallLog:
    with transaction.atomic():
        call = CallLog.objects.create(
            case=case,
            operator=operator,
            direction=details.direction,
            caller=details.caller,
            started_at=details.started_at,
            duration_seconds=details.duration_seconds,
            language=details.language,
            outcome=details.outcome,
            summary_sealed=b"",
        )
        call.summary_sealed = staff_fields.seal(case, f"{CALL_FIELD}:{call.pk}", details.summary)
        call.save(update_fields=["summary_sealed"])
        fresh = Case.objects.select_for_update().get(pk=case.pk)
        wrote = fresh.last_applicant_at
        if details.direction == "in" and (wrote is None or details.started_at > wrote):
            fresh.last_applicant_at = details.started_at
        fresh.last_operator_at = timezone.now()
        services.refresh_reply_due(fresh, waiting=False)  # a call is contact: nothing waits
        _bump(fresh, ["last_applicant_at", "last_operator_at", "reply_due_at"])
        audit.record(operator, "case.call", case.pk)
        return call


def calls(case: Case, ring: Keyring) -> list[CallEntry]:
    return [
        CallEntry(c, _open(case, f"{CALL_FIELD}:{c.pk}", c.summary_sealed, ring))
        for c in case.calls.select_related("operator")
    ]


def do_create_case_from_call(
    operator: User, language: str, readiness: str
) -> tuple[Case, services.Credentials]:
    """A caller without a case: one is opened on the hotline channel, assigned to the operator;
    the credentials are read out to the caller once and never stored in clear."""
    with transaction.atomic():
        case = services.do_create_case(Channel.HOTLINE, language, None)
        case.triage = {"readiness": readiness} if readiness else {}
        case.urgency = triage.urgency(case.triage, False)
        case.assigned_to = operator
        case.save(update_fields=["triage", "urgency", "assigned_to"])
        credentials = services.do_submit(case)
        if credentials is None:  # a new case is always a draft until here
            raise RuntimeError("case created from a call was already submitted")
        _event(case, operator, "created_from_call", "", "")
        audit.record(operator, "case.create_from_call", case.pk)
        return case, credentials


def do_request_callback(case: Case, actor: User, start: datetime, end: datetime) -> Callback:
    if end <= start:
        raise workflow.Refused(gettext("The window must end after it starts."))
    callback = Callback.objects.create(
        case=case, window_start=start, window_end=end, requested_by=actor
    )
    audit.record(actor, "case.callback", case.pk)
    return callback


def do_callback_done(callback: Callback, actor: User) -> None:
    Callback.objects.filter(pk=callback.pk, done_at__isnull=True).update(done_at=timezone.now())
    audit.record(actor, "case.callback_done", callback.case_id)


@dataclass(frozen=True)
class HandoverPlan:
    sector: str
    window_start: datetime
    window_end: datetime
    meeting: str


def do_handover(
    case: Case,
    supervisor: User,
    plan: HandoverPlan,
    expected_version: int | None,
    *,
    ring: Keyring,
) -> Handover:
    """Hand the case to ``plan.sector``'s liaisons: each gets a card sealed to their own key
    (cases.handover_cards), built with ``ring``, the supervisor's keyring. Refused when no
    liaison of the sector can receive it yet."""
    if plan.window_end <= plan.window_start:
        raise workflow.Refused(gettext("The window must end after it starts."))
    if not plan.sector.strip() or not plan.meeting.strip():
        raise workflow.Refused(gettext("A handover needs a sector and meeting instructions."))
    if not ring:
        raise workflow.Refused(
            gettext("Your session holds no program key: log in again to hand over.")
        )
    index = crypto.sector_index(plan.sector)
    if not any(handover_cards.can_receive(u) for u in handover_cards.liaisons_of(index)):
        raise workflow.Refused(
            gettext(
                "No liaison of this sector can receive a handover yet: each must log in once first."
            )
        )
    with transaction.atomic():
        fresh = _locked(case, expected_version)
        moved = _move(
            fresh,
            supervisor,
            workflow.Move(Status.HANDED_OVER),
            workflow.Via.HANDOVER,
            supervisor=True,
        )
        Handover.objects.filter(case=moved, active=True).update(active=False)
        handover = Handover.objects.create(
            case=moved, sector_index=index, meeting_sealed=b"", created_by=supervisor
        )
        sealed_plan = handover_cards.Plan(plan.sector.strip(), plan.window_start, plan.window_end)
        handover.plan_sealed = handover_cards.seal_plan(moved, handover.pk, sealed_plan)
        handover.meeting_sealed = staff_fields.seal(
            moved, f"{MEETING_FIELD}:{handover.pk}", plan.meeting
        )
        handover.save(update_fields=["plan_sealed", "meeting_sealed"])
        handover_cards.do_share(
            handover, handover_cards.card_payload(moved, sealed_plan, plan.meeting, ring)
        )
        _event(moved, supervisor, "handover", Status.READY, f"handover {handover.pk}")
        return handover


def meeting_of(handover: Handover, ring: Keyring) -> str:
    opened = handover_cards.meeting_of(handover, ring)
    return sealed.LOCKED_TEXT if opened is None else opened


def do_confirm_receipt(handover: Handover, liaison: User) -> None:
    Handover.objects.filter(pk=handover.pk, confirmed_at__isnull=True).update(
        confirmed_at=timezone.now(), confirmed_by=liaison
    )
    audit.record(liaison, "handover.confirm", handover.case_id)


OUTCOME_STATUS = {
    HandoverOutcome.RECEIVED: Status.SURRENDERED,
    HandoverOutcome.DID_NOT_COME: Status.READY,
    HandoverOutcome.POSTPONED: Status.READY,
}


def do_record_outcome(handover: Handover, liaison: User, outcome: str) -> None:
    """The liaison's word on a handover: the only way a case becomes surrendered."""
    if outcome not in OUTCOME_STATUS:
        raise workflow.Refused(gettext("Choose received, did not come or postponed."))
    with transaction.atomic():
        # The case first, then its handover: the order do_handover takes them in.
        case = Case.objects.select_for_update().get(pk=handover.case_id)
        fresh = Handover.objects.select_for_update().get(pk=handover.pk)
        if not fresh.active or fresh.outcome:  # a new handover replaces this one
            raise workflow.Refused(gettext("The outcome of this handover is already recorded."))
        old = case.status
        target = OUTCOME_STATUS[HandoverOutcome(outcome)]
        workflow.check(old, workflow.Move(target), is_supervisor=False, via=workflow.Via.OUTCOME)
        fresh.outcome = outcome
        fresh.outcome_at = timezone.now()
        fresh.confirmed_at = fresh.confirmed_at or fresh.outcome_at
        fresh.confirmed_by = fresh.confirmed_by or liaison
        fresh.save()
        case.status = target
        services.refresh_reply_due(case)
        _bump(case, ["status", "reply_due_at"])
        _event(case, liaison, "outcome", old, outcome)
        audit.record(liaison, "handover.outcome", case.pk, outcome)
