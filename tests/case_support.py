"""Cases as the console sees them in tests: submitted, with an unread applicant message."""

from __future__ import annotations

from safepassage.cases import services as cases
from safepassage.cases import triage
from safepassage.cases.models import Case, Channel, Direction


def waiting_case(text: str) -> Case:
    """A submitted web chat case whose applicant wrote ``text`` (sealed to its own key pair,
    unread by staff)."""
    case = cases.do_create_case(Channel.WEBCHAT, "ru", None)
    case.triage = {"readiness": "days", "company": "alone"}
    case.urgency = triage.urgency(case.triage, False)
    case.save()
    cases.do_submit(case)
    case.refresh_from_db()
    cases.do_add_message(case, Direction.INBOUND, text, Channel.WEBCHAT)
    case.refresh_from_db()
    return case
