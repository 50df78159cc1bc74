"""Signals of fake or provocation applications, and operators' marks (issue 12, flood defence).

A signal raises a case's ``fake_score`` (0-100); the score lowers the case in the queue (it is
folded into the stored ``urgency``, so the queue's index keeps its order) and the priority of
its automatic replies (channels' outboxes read :func:`suspect`). An operator's mark, "fake" or
"genuine", overrides the score either way and is recorded as a case event. Nothing is deleted
or refused on suspicion: a marked case stays in the queue, lower, and can be marked again.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from safepassage import fastsave
from safepassage.cases import triage
from safepassage.cases.models import Case, CaseEvent, ChannelIdentity, FakeMark

# What each signal adds; a case's score is capped at 100.
SIGNAL_POINTS = {
    "flooding": 30,  # the sender went over its own limit (parked)
    "campaign_burst": 20,  # many first contacts from one campaign code within seconds
    "repeated_text": 30,  # the same text from many senders within a minute
    "contradictory": 20,  # answers changed back and forth (note_answers)
    "marked_sender": 50,  # an earlier case of this sender was marked fake
}
# The reason each signal gives, in the operator's language (the queue's badge, the case page).
SIGNAL_REASONS: dict[str, Promise] = {
    "flooding": _("sent far more messages than a person writes"),
    "campaign_burst": _("one of many first contacts from one leaflet code within seconds"),
    "repeated_text": _("the same text came from many senders"),
    "contradictory": _("answered who applies, where he is or how urgent it is back and forth"),
    "marked_sender": _("an earlier case of this sender was marked fake"),
}
# Contradictory answers: the triage answers that say who applies and how urgent it is. A
# genuine applicant knows whether he is the soldier or a relative, where he is and whether he
# is ready; he may correct a slip once (A then B). Returning to an answer already left (A, B,
# then A again) or giving a field a third different value is how someone probing the service's
# reactions, or a script, answers; genuine applicants rarely do. Not watched: free texts (typos
# are corrected), the group size (counts are corrected), the language (applicants try several
# before they find theirs).
WATCHED_ANSWERS = ("who", "whereabouts", "readiness")
DISTINCT_VALUES = 3
SUSPECT_SCORE = 50  # from here on, automatic replies wait behind first contacts
MAX_SCORE = 100


def suspect(case: Case | None) -> bool:
    if case is None or case.fake_mark == FakeMark.GENUINE:
        return False
    return case.fake_mark == FakeMark.FAKE or case.fake_score >= SUSPECT_SCORE


def _restore_urgency(case: Case) -> None:
    case.urgency = triage.urgency(
        case.triage, case.ready_now_at is not None, case.fake_score, case.fake_mark
    )


def do_raise(case: Case, signal: str) -> None:
    """One signal seen for ``case`` (inside the caller's transaction). A case an operator
    marked genuine keeps its mark; the score still records what was seen."""
    points = SIGNAL_POINTS[signal]
    score = min(MAX_SCORE, case.fake_score + points)
    seen = list(case.fake_signals or [])
    if signal not in seen:
        seen.append(signal)
    if score == case.fake_score and seen == case.fake_signals:
        return
    case.fake_score = score
    case.fake_signals = seen
    _restore_urgency(case)
    fastsave.update_fields(case, ["fake_score", "fake_signals", "urgency"])


def reasons(case: Case) -> list[Promise]:
    """Why the case is suspected, one line a signal, in the active language."""
    return [SIGNAL_REASONS[name] for name in case.fake_signals or [] if name in SIGNAL_REASONS]


def note_answers(case: Case, before: dict[str, Any], after: dict[str, Any]) -> None:
    """Record the watched triage answers that changed (inside the caller's transaction) and
    raise "contradictory" once when one went back to a value it had left, or took
    ``DISTINCT_VALUES`` different values."""
    history: dict[str, list[str]] = dict(case.answer_history or {})
    contradictory = False
    changed = False
    for name in WATCHED_ANSWERS:
        if name not in after or after.get(name) == before.get(name):
            continue
        value = str(after[name])
        values = list(history.get(name) or ([str(before[name])] if name in before else []))
        if value in values and values[-1] != value:
            contradictory = True
        if value not in values:
            values.append(value)
            contradictory = contradictory or len(values) >= DISTINCT_VALUES
        else:
            values = [v for v in values if v != value] + [value]  # the latest last
        history[name] = values[-DISTINCT_VALUES:]
        changed = True
    if not changed:
        return
    case.answer_history = history
    fastsave.update_fields(case, ["answer_history"])
    if contradictory and "contradictory" not in (case.fake_signals or []):
        do_raise(case, "contradictory")


def marked_fake_before(pseudonym: str, channel: str) -> bool:
    """Whether an operator marked a case of this sender fake (the mark feeds back)."""
    identity = ChannelIdentity.objects.filter(channel=channel, pseudonym=pseudonym).first()
    if identity is None:
        return False
    return Case.objects.filter(contact_id=identity.contact_id, fake_mark=FakeMark.FAKE).exists()


def do_mark(case: Case, actor: User, mark: str, expected_version: int | None = None) -> Case:
    """An operator's verdict: "fake", "genuine", or "" (unmarked again). Recorded as a case
    event (who, when, which mark); the case is never closed or deleted by it."""
    from safepassage.cases import casework  # the workflow's locking helpers

    if mark not in FakeMark.values:
        raise ValueError("unknown mark")
    with transaction.atomic():
        fresh = casework._locked(case, expected_version)
        if fresh.fake_mark == mark:
            return fresh
        old = fresh.fake_mark or "none"
        fresh.fake_mark = mark
        if mark == FakeMark.GENUINE:
            fresh.fake_score = 0  # cleared: later signals start from nothing
            fresh.fake_signals = []
        _restore_urgency(fresh)
        casework._bump(fresh, ["fake_mark", "fake_score", "fake_signals", "urgency"])
        CaseEvent.objects.create(
            case=fresh,
            actor=actor,
            kind="fake_mark",
            from_status=fresh.status,
            to_status=fresh.status,
            detail=f"{old} -> {mark or 'none'}",
        )
    return fresh
