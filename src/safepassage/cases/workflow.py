"""The case workflow as data: which status may follow which, through which action, for whom.

new → in contact → verified → waiting (next check-in) → ready → handed over → surrendered,
and closed (with a reason) from any open status. Pure: no database, no request.

:data:`TRANSITIONS` is the one table of the rules. The action layer (cases.casework) refuses
any move that is not in it for the action making it, and the case page offers exactly the moves
the table gives the status form: the template follows the rules, it does not make them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from django.utils.translation import gettext, gettext_lazy

from safepassage.cases.models import CloseReason, Status

OPEN_STATUSES = (
    Status.NEW,
    Status.IN_CONTACT,
    Status.VERIFIED,
    Status.WAITING,
    Status.READY,
    Status.HANDED_OVER,
)
FINAL_STATUSES = (Status.SURRENDERED, Status.CLOSED)


class Via(StrEnum):
    """The action that makes a move. A move that needs more than a status (a handover needs a
    sector, window and meeting point; a surrender needs the liaison's word) has its own."""

    STATUS = "status"  # the case page's status form (casework.do_transition)
    HANDOVER = "handover"  # the handover form (casework.do_handover): creates the Handover row
    OUTCOME = "outcome"  # the liaison's outcome of a handover (casework.do_record_outcome)


class Who(StrEnum):
    CASE_STAFF = "case staff"  # operators and supervisors
    SUPERVISOR = "supervisor"
    LIAISON = "liaison"  # of the handover's sector


@dataclass(frozen=True)
class Transition:
    source: str
    target: str
    via: Via
    who: Who


def _status_moves(source: str, *targets: str) -> list[Transition]:
    return [Transition(source, t, Via.STATUS, Who.CASE_STAFF) for t in targets]


def _closing(*sources: str) -> list[Transition]:
    return [Transition(s, Status.CLOSED, Via.STATUS, Who.SUPERVISOR) for s in sources]


TRANSITIONS: tuple[Transition, ...] = (
    *_status_moves(Status.NEW, Status.IN_CONTACT),
    *_status_moves(Status.IN_CONTACT, Status.VERIFIED, Status.WAITING, Status.READY),
    *_status_moves(Status.VERIFIED, Status.WAITING, Status.READY),
    *_status_moves(Status.WAITING, Status.IN_CONTACT, Status.VERIFIED, Status.READY),
    *_status_moves(Status.READY, Status.WAITING),
    Transition(Status.READY, Status.HANDED_OVER, Via.HANDOVER, Who.SUPERVISOR),
    # Taking a handed-over case back (the applicant cannot come) withdraws the handover.
    *_status_moves(Status.HANDED_OVER, Status.READY, Status.WAITING),
    Transition(Status.HANDED_OVER, Status.SURRENDERED, Via.OUTCOME, Who.LIAISON),
    Transition(Status.HANDED_OVER, Status.READY, Via.OUTCOME, Who.LIAISON),
    *_closing(*OPEN_STATUSES),
)

_OWN_FORM = {
    Via.HANDOVER: gettext_lazy(
        "Handing a case over needs the handover form (sector, window, meeting point)."
    ),
    Via.OUTCOME: gettext_lazy("Only the liaison who received the handover records its outcome."),
}


@dataclass(frozen=True)
class Move:
    target: str
    next_check_in: date | None = None
    close_reason: str = ""


class Refused(Exception):
    """A move that is not allowed; ``str()`` says why, in plain words."""


def _label(status: str) -> str:
    return Status(status).label.lower()


def rule(current: str, target: str, via: Via) -> Transition:
    """The table's row for this move through this action, or :class:`Refused` saying why."""
    if target not in dict(Status.choices) or target == Status.DRAFT:
        raise Refused(gettext("That is not a case status."))
    rows = [t for t in TRANSITIONS if t.source == current and t.target == target]
    if not rows:
        raise Refused(
            gettext("A case that is %(old)s cannot become %(new)s.")
            % {"old": _label(current), "new": _label(target)}
        )
    for row in rows:
        if row.via == via:
            return row
    raise Refused(str(_OWN_FORM.get(rows[0].via, gettext("This move has its own form."))))


def allowed(row: Transition, *, is_supervisor: bool) -> bool:
    """Supervisor rows need a supervisor. Which staff reach an action at all (a liaison only the
    outcome of a handover to their sector) is console.access's business."""
    return row.who != Who.SUPERVISOR or is_supervisor


def check(current: str, move: Move, *, is_supervisor: bool, via: Via = Via.STATUS) -> None:
    """Refuse a move the table does not give this action and this staff member."""
    row = rule(current, move.target, via)
    if not allowed(row, is_supervisor=is_supervisor):
        raise Refused(
            gettext("Only a supervisor can make a case %(status)s.")
            % {"status": _label(move.target)}
        )
    if move.target == Status.WAITING and move.next_check_in is None:
        raise Refused(gettext("A waiting case needs the date of the next check-in."))
    if move.target == Status.CLOSED and move.close_reason not in dict(CloseReason.choices):
        raise Refused(gettext("Closing a case needs a reason."))


def targets(current: str, *, is_supervisor: bool, via: Via = Via.STATUS) -> list[str]:
    """What the case page offers for ``via``: derived from the table, in its order."""
    return [
        t.target
        for t in TRANSITIONS
        if t.source == current and t.via == via and allowed(t, is_supervisor=is_supervisor)
    ]
