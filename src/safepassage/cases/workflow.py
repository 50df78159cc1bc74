"""The case workflow as data: which status may follow which, and what each move needs.

new → in contact → verified → waiting (next check-in) → ready → handed over → surrendered,
and closed (with a reason) from any open status. Pure: no database, no request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

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

# Moves an operator makes on the case page. Handing over and recording the outcome have their
# own forms (handover, field outcome); closing needs a supervisor.
ALLOWED: dict[str, tuple[str, ...]] = {
    Status.NEW: (Status.IN_CONTACT, Status.CLOSED),
    Status.IN_CONTACT: (Status.VERIFIED, Status.WAITING, Status.READY, Status.CLOSED),
    Status.VERIFIED: (Status.WAITING, Status.READY, Status.CLOSED),
    Status.WAITING: (Status.IN_CONTACT, Status.VERIFIED, Status.READY, Status.CLOSED),
    Status.READY: (Status.WAITING, Status.HANDED_OVER, Status.CLOSED),
    Status.HANDED_OVER: (Status.READY, Status.WAITING, Status.SURRENDERED, Status.CLOSED),
    Status.SURRENDERED: (),
    Status.CLOSED: (),
}
SUPERVISOR_ONLY = frozenset({Status.CLOSED, Status.HANDED_OVER})


@dataclass(frozen=True)
class Move:
    target: str
    next_check_in: date | None = None
    close_reason: str = ""


class Refused(Exception):
    """A move that is not allowed; ``str()`` says why, in plain words."""


def check(current: str, move: Move, *, is_supervisor: bool) -> None:
    if move.target not in dict(Status.choices) or move.target == Status.DRAFT:
        raise Refused(f"'{move.target}' is not a case status.")
    if move.target not in ALLOWED.get(current, ()):
        raise Refused(
            f"A case that is {Status(current).label.lower()} cannot become "
            f"{Status(move.target).label.lower()}."
        )
    if move.target in SUPERVISOR_ONLY and not is_supervisor:
        raise Refused(f"Only a supervisor can make a case {Status(move.target).label.lower()}.")
    if move.target == Status.WAITING and move.next_check_in is None:
        raise Refused("A waiting case needs the date of the next check-in.")
    if move.target == Status.CLOSED and move.close_reason not in dict(CloseReason.choices):
        raise Refused("Closing a case needs a reason.")


def targets(current: str, *, is_supervisor: bool) -> list[str]:
    return [t for t in ALLOWED.get(current, ()) if is_supervisor or t not in SUPERVISOR_ONLY]
