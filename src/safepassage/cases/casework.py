"""Staff writes on a case: workflow moves, assignment, merging, notes, calls, handovers.

Every function checks the case's ``version`` against the one the staff member's form was built
from, so a stale form is refused with :class:`Conflict` instead of overwriting someone else's
change. Access (who may call what) is the console's business (console.access).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db import models, transaction
from django.db.models import Count, F, Max, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext

from safepassage.analytics import counters
from safepassage.cases import handover_cards, queue, sealed, services, triage, workflow
from safepassage.cases.models import (
    Callback,
    CallLog,
    CallOutcome,
    Case,
    CaseEvent,
    Channel,
    Direction,
    Handover,
    HandoverOutcome,
    Message,
    Note,
    ReachBy,
    ReadMark,
    Status,
)
from safepassage.config import APPLICANT_LANGUAGES
from safepassage.privacy import audit, crypto, staff_fields
from safepassage.privacy.keyring import Keyring

NOTE_FIELD = "note"
CALL_FIELD = "call"
CALLBACK_FIELD = "callback"
MAX_REACH_CHARS = 200
PREVIEW_CHARS = 80
MEETING_FIELD = handover_cards.MEETING_FIELD
MAX_NOTE_CHARS = 4000


class Conflict(Exception):
    """Someone else changed the case after this form was loaded."""


def _locked(case: Case, expected_version: int | None) -> Case:
    """The case re-read under its row lock. FOR NO KEY UPDATE: it keeps out every other write
    of the case, but not the foreign-key checks of rows that reference it (a read mark, a note),
    so a queue preview never waits for an action that waits for the audit chain's lock
    (docs/architecture.md, "Lock order with the audit chain")."""
    fresh = Case.objects.select_for_update(no_key=True).get(pk=case.pk)
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
    if services.note_progress(fresh, move.target):
        changed.append("funnel_stage")
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


def do_take_next(operator: User, reads: Collection[str] = ()) -> Case | None:
    """Give ``operator`` the most urgent open unassigned case; never the same one to two people.
    Between cases of equal urgency, those in a language they read come first (queue.ordered:
    a case ready now is never held back for a reader).

    On PostgreSQL ``SKIP LOCKED`` lets parallel callers pass over a row another one is taking;
    the conditional UPDATE makes the claim itself atomic on every database.
    """
    for _ in range(5):
        with transaction.atomic():
            candidates = (
                queue.ordered(
                    Case.objects.filter(
                        status__in=workflow.OPEN_STATUSES,
                        assigned_to__isnull=True,
                    ),
                    reads,
                )
                .select_for_update(skip_locked=True, no_key=True)  # see _locked
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


def do_mark_needs_reader(
    case: Case, actor: User, language: str, expected_version: int | None
) -> Case:
    """Mark the case as needing a reader of ``language`` (an applicant language; "" clears
    the mark): the queue and take-next put it in front of those who read it."""
    if language and language not in APPLICANT_LANGUAGES:
        raise workflow.Refused(gettext("Choose one of the applicant languages."))
    with transaction.atomic():
        fresh = _locked(case, expected_version)
        fresh.needs_reader = language
        _bump(fresh, ["needs_reader"])
        _event(fresh, actor, "needs_reader", fresh.status, language or "none")
        audit.record(actor, "case.needs_reader", fresh.pk, language or "none")
        return fresh


def do_take(case: Case, actor: User, *, supervisor: bool) -> bool:
    """The case page's "Take": assign the case to ``actor``. True when it changed hands.

    A case already theirs stays as it is (a retried post changes nothing). An unassigned case is
    claimed with a conditional UPDATE, so of two people pressing Take at once one gets it and
    the other is told; a case someone else holds only a supervisor takes over."""
    with transaction.atomic():
        taken = _take(case, actor, supervisor=supervisor)
        if taken is not None:
            audit.record(actor, "case.take", case.pk, taken)
        return taken is not None


def _take(case: Case, actor: User, *, supervisor: bool) -> str | None:
    """do_take's writes without its audit record, which the caller writes after the rest of
    its transaction's row writes (the lock order, see _locked); the record's detail, or None
    when the case was already the actor's."""
    holder = Case.objects.filter(pk=case.pk).values_list("assigned_to", flat=True).first()
    if holder == actor.pk:
        return None
    claim = Case.objects.filter(pk=case.pk)
    if not supervisor:
        claim = claim.filter(assigned_to__isnull=True)
    if not claim.update(assigned_to=actor, version=F("version") + 1, updated_at=timezone.now()):
        raise workflow.Refused(gettext("Someone else took this case meanwhile."))
    fresh = Case.objects.get(pk=case.pk)
    detail = f"from user {holder}" if holder else ""
    _event(fresh, actor, "take", fresh.status, detail)
    return detail


def do_reply(case: Case, operator: User, text: str, *, take: bool, supervisor: bool) -> Message:
    """A reply from the case page. It assigns the case only when the staff member asked for it
    (``take``, the reply form's "take this case"): replying never assigns silently. The take is
    audited after the reply's writes: a first reply counts itself in a row every first reply
    of the day shares, which must not be waited for under the audit chain's lock."""
    with transaction.atomic():
        taken = None
        if take:
            taken = _take(case, operator, supervisor=supervisor)
            case.refresh_from_db()
        message = services.do_operator_reply(case, operator, text)
        if taken is not None:
            audit.record(operator, "case.take", case.pk, taken)
        return message


def head_count_of(case: Case) -> tuple[int | None, bool]:
    """The case's head count, and whether it comes from the application (the group size the
    applicant gave, or one when he comes alone) because staff have not set one."""
    if case.head_count:
        return case.head_count, False
    company = case.triage.get("company")
    size = case.triage.get("group_size")
    if company == "group" and str(size or "").isdigit() and 1 <= int(size) <= 200:
        return int(size), True
    if company == "alone":
        return 1, True
    return None, False


def _lock_cases(*pks: uuid.UUID) -> dict[uuid.UUID, Case]:
    """Lock the cases' rows one by one in primary-key order, the one order every write that
    locks several cases follows, so that two of them never wait for each other."""
    locked: dict[uuid.UUID, Case] = {}
    for pk in sorted(set(pks)):
        locked[pk] = Case.objects.select_for_update(no_key=True).get(pk=pk)  # see _locked
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


@dataclass(frozen=True)
class CallbackRequest:
    """A callback asked for: its window, and how to reach the person (sealed to the case)."""

    window_start: datetime
    window_end: datetime
    reach_by: str
    reach: str  # the number he gave, or which channel and account to write to
    language: str = ""


def _check_callback(request: CallbackRequest) -> None:
    if request.window_end <= request.window_start:
        raise workflow.Refused(gettext("The window must end after it starts."))
    if request.reach_by not in ReachBy.values:
        raise workflow.Refused(
            gettext("Say how to reach him: the number he gave, or a message through his channel.")
        )
    if request.reach_by == ReachBy.PHONE and not request.reach.strip():
        raise workflow.Refused(gettext("Write down the number he gave."))
    if len(request.reach) > MAX_REACH_CHARS:
        raise workflow.Refused(gettext("How to reach him fits in 200 characters."))


def _create_callback(
    case: Case, actor: User, request: CallbackRequest, call: CallLog | None = None
) -> Callback:
    callback = Callback.objects.create(
        case=case,
        window_start=request.window_start,
        window_end=request.window_end,
        requested_by=actor,
        call=call,
        language=request.language or case.language,
        reach_by=request.reach_by,
        reach_sealed=b"",
    )
    callback.reach_sealed = staff_fields.seal(
        case, f"{CALLBACK_FIELD}:{callback.pk}", request.reach.strip()
    )
    callback.save(update_fields=["reach_sealed"])
    audit.record(actor, "case.callback", case.pk)
    return callback


def do_log_call(
    case: Case, operator: User, details: CallDetails, callback: CallbackRequest | None = None
) -> CallLog:
    """Log a call; a call that ends with "callback requested" creates its callback at once, in
    the same transaction, and cannot be logged without one."""
    if details.outcome == CallOutcome.CALLBACK:
        if callback is None:
            raise workflow.Refused(
                gettext(
                    "A call that ends with a callback request needs the callback: "
                    "its window and how to reach him."
                )
            )
        _check_callback(callback)
    elif callback is not None:
        raise workflow.Refused('Only a call with the outcome "callback requested" sets one.')
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
        fresh = Case.objects.select_for_update(no_key=True).get(pk=case.pk)  # see _locked
        wrote = fresh.last_applicant_at
        if details.direction == "in" and (wrote is None or details.started_at > wrote):
            fresh.last_applicant_at = details.started_at
        fresh.last_operator_at = timezone.now()
        services.refresh_reply_due(fresh, waiting=False)  # a call is contact: nothing waits
        _bump(fresh, ["last_applicant_at", "last_operator_at", "reply_due_at"])
        audit.record(operator, "case.call", case.pk)
        if callback is not None:
            _create_callback(fresh, operator, callback, call)
        return call


def calls(case: Case, ring: Keyring) -> list[CallEntry]:
    return [
        CallEntry(c, _open(case, f"{CALL_FIELD}:{c.pk}", c.summary_sealed, ring))
        for c in case.calls.select_related("operator")
    ]


def do_create_case_from_call(
    operator: User, language: str, readiness: str, *, campaign_code: str = ""
) -> tuple[Case, services.Credentials]:
    """A caller without a case: one is opened on the hotline channel, assigned to the operator;
    the credentials are read out to the caller once and never stored in clear. A caller who
    says which leaflet he saw is attributed to its code."""
    from safepassage.campaigns import services as campaigns

    with transaction.atomic():
        code = campaigns.find_active(campaign_code) if campaign_code else None
        if code is not None:  # the call that names a leaflet is its visit (as a deep link)
            counters.count("visit", Channel.HOTLINE, language, code.code)
        case = services.do_create_case(Channel.HOTLINE, language, code)
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


def do_request_callback(case: Case, actor: User, request: CallbackRequest) -> Callback:
    _check_callback(request)
    with transaction.atomic():
        return _create_callback(case, actor, request)


def reach_of(callback: Callback, ring: Keyring) -> str:
    """How to reach the person, opened with a staff keyring (a lock otherwise). The caller
    audits the read."""
    if not callback.reach_sealed:
        return ""
    return _open(callback.case, f"{CALLBACK_FIELD}:{callback.pk}", callback.reach_sealed, ring)


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
        # The case first, then its handover: the order do_handover takes them in. Neither
        # FOR UPDATE (see _locked): a card shared meanwhile checks its reference to the
        # handover without waiting for this.
        case = Case.objects.select_for_update(no_key=True).get(pk=handover.case_id)
        fresh = Handover.objects.select_for_update(no_key=True).get(pk=handover.pk)
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
        changed = ["status", "reply_due_at"]
        if services.note_progress(case, target):  # "received": the funnel's last stage
            changed.append("funnel_stage")
        _bump(case, changed)
        _event(case, liaison, "outcome", old, outcome)
        audit.record(liaison, "handover.outcome", case.pk, outcome)


def do_mark_read(case: Case, reader: User, newest: int | None = None) -> int:
    """Note that ``reader`` has been shown the case's messages up to its newest; returns that
    message's id (0: none). ``newest``: that id as the caller already knows it (the case page,
    from the transcript it showed). Marks only move forward."""
    if newest is None:
        newest = int(
            Message.objects.filter(
                case_id__in=[case.pk, *case.merged_cases.values_list("pk", flat=True)]
            ).aggregate(newest=Max("id"))["newest"]
            or 0
        )
    marks = ReadMark.objects.filter(case=case, user=reader)
    if not marks.update(last_message_id=Greatest(F("last_message_id"), newest)):
        # One statement, no savepoint: a mark the reader's other tab made at the same moment
        # was made by a page shown at the same moment, and stands.
        ReadMark.objects.bulk_create(
            [ReadMark(case=case, user=reader, last_message_id=newest)], ignore_conflicts=True
        )
    return newest


def unread_counts(reader: User, case_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Per case, the applicant's messages after the newest one ``reader`` was shown."""
    mark = ReadMark.objects.filter(user=reader, case_id=OuterRef("case_id")).values(
        "last_message_id"
    )[:1]
    rows = (
        Message.objects.filter(case_id__in=case_ids, direction=Direction.INBOUND)
        .annotate(mark=Coalesce(Subquery(mark), Value(0)))
        .filter(id__gt=F("mark"))
        .values("case_id")
        .annotate(unread=Count("id"))
        .values_list("case_id", "unread")
    )
    return {case_id: int(unread) for case_id, unread in rows}


def do_previews(reader: User, ring: Keyring, cases: list[Case]) -> dict[uuid.UUID, str]:
    """One line of each case's newest applicant message, for a reader whose keyring opens it.

    Each preview is a read of personal data: audited (``case.preview``) the first time this
    reader is shown that message, not at every refresh of the queue."""
    if not ring or not cases:
        return {}
    by_id = {c.pk: c for c in cases}
    newest = dict(
        Message.objects.filter(case_id__in=by_id, direction=Direction.INBOUND)
        .values("case_id")
        .annotate(newest=Max("id"))
        .values_list("case_id", "newest")
    )
    if not newest:
        return {}
    seen = dict(
        ReadMark.objects.filter(user=reader, case_id__in=newest).values_list(
            "case_id", "previewed_message_id"
        )
    )
    out: dict[uuid.UUID, str] = {}
    staff_fields.open_case_keys(newest, ring)  # one query for every row's key pair
    first_seen: dict[uuid.UUID, int] = {}
    for message in Message.objects.filter(pk__in=newest.values()):
        case = by_id[message.case_id]
        opened = sealed.open_message_for_staff(case, message, ring)
        if not opened.readable:
            continue
        line = " ".join(opened.text.split())
        out[case.pk] = line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1] + "…"
        if seen.get(case.pk, 0) < message.pk:
            first_seen[case.pk] = message.pk
    if first_seen:
        with transaction.atomic():  # the marks and their audit records: a few statements
            _mark_previewed(reader, first_seen, set(seen))
            audit.record_many(
                reader,
                "case.preview",
                [(case_id, f"message {mid}") for case_id, mid in first_seen.items()],
            )
    return out


def _mark_previewed(reader: User, shown: dict[uuid.UUID, int], marked: set[uuid.UUID]) -> None:
    """Note, per case, the newest message ``reader`` was shown a preview of (``marked``: the
    cases where they already have a mark). Marks only move forward."""
    update = {case_id: mid for case_id, mid in shown.items() if case_id in marked}
    if update:
        newest = models.Case(
            *[models.When(case_id=case_id, then=Value(mid)) for case_id, mid in update.items()],
            default=F("previewed_message_id"),
            output_field=models.BigIntegerField(),
        )
        ReadMark.objects.filter(user=reader, case_id__in=update).update(
            previewed_message_id=Greatest(F("previewed_message_id"), newest)
        )
    new = [case_id for case_id in shown if case_id not in marked]
    if new:
        ReadMark.objects.bulk_create(
            [ReadMark(case_id=c, user=reader, previewed_message_id=shown[c]) for c in new],
            ignore_conflicts=True,  # made meanwhile by another tab: it showed the same
        )
