"""Urgency from the answers triage may read. Higher is more urgent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings

READINESS_POINTS = {"now": 60, "days": 30, "unknown": 10, "later": 0}
WHEREABOUTS_POINTS = {"front": 20, "rear": 5, "training": 0, "not_mobilised": 0}
READY_NOW_POINTS = 100


FAKE_MARK_PENALTY = 200  # an operator marked the case fake: below every unmarked case


def fake_penalty(fake_score: int, fake_mark: str) -> int:
    """How far suspicion lowers a case in the queue (cases.suspicion): an operator's mark
    decides; unmarked, the score (0-100) counts."""
    if fake_mark == "genuine":
        return 0
    if fake_mark == "fake":
        return FAKE_MARK_PENALTY
    return max(0, min(100, fake_score))


def urgency(
    triage: dict[str, Any], ready_now: bool, fake_score: int = 0, fake_mark: str = ""
) -> int:
    score = READINESS_POINTS.get(str(triage.get("readiness")), 0)
    score += WHEREABOUTS_POINTS.get(str(triage.get("whereabouts")), 0)
    if triage.get("company") == "group":
        score += 5
    if "medical" in (triage.get("wishes") or []):
        score += 15
    if ready_now:
        score += READY_NOW_POINTS
    return score - fake_penalty(fake_score, fake_mark)


def urgency_label(score: int) -> str:
    if score >= READY_NOW_POINTS or score >= 60:
        return "now"
    if score >= 30:
        return "days"
    return "later"


DEFAULT_TARGET_MINUTES = {"now": 5, "days": 60, "later": 24 * 60}


def response_target(score: int) -> timedelta:
    """How soon an applicant's message at this urgency must be answered (settings, minutes)."""
    targets = {**DEFAULT_TARGET_MINUTES, **getattr(settings, "CONSOLE_RESPONSE_TARGET_MINUTES", {})}
    return timedelta(minutes=targets[urgency_label(score)])
