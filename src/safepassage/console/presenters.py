"""Turning cases into what the console shows, in the operator's language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from safepassage.cases import triage
from safepassage.cases.delivery import DeliveryState
from safepassage.cases.models import Case, Channel
from safepassage.config import APPLICANT_LANGUAGES
from safepassage.conversations import catalog, flows

URGENCY_LABELS = {
    "now": gettext_lazy("Ready now"),
    "days": gettext_lazy("Within days"),
    "later": gettext_lazy("Later"),
}
# Vetted replies: ids in the applicant catalogs (all four languages), titles for operators.
CANNED_REPLIES = {
    "canned.safety": gettext_lazy("Safety advice"),
    "canned.bring": gettext_lazy("What to bring"),
    "canned.signal": gettext_lazy("How to signal"),
    "canned.after": gettext_lazy("What happens after"),
}


def operator_language() -> str:
    lang = (translation.get_language() or "en").split("-")[0]
    return lang if catalog.is_language(lang) else "en"


@dataclass(frozen=True)
class Row:
    case: Case
    short_id: str
    urgency: str
    urgency_label: str
    language: str
    due: str
    overdue: bool


def time_left(due_at: datetime | None, now: datetime | None = None) -> tuple[str, bool]:
    """'12 min left' / 'overdue 3 h' for a reply deadline; ('', False) when none is due."""
    if due_at is None:
        return "", False
    delta = due_at - (now or timezone.now())
    overdue = delta < timedelta(0)
    span = duration(int(abs(delta).total_seconds() // 60))
    if overdue:
        return _("overdue %(span)s") % {"span": span}, True
    return _("%(span)s left") % {"span": span}, False


def duration(minutes: int) -> str:
    """Every duration the console shows, in one form: minutes, then hours and minutes from an
    hour on ("45 min", "2 h 5 min", "24 h"). Durations are entered in minutes."""
    hours, rest = divmod(max(minutes, 0), 60)
    if not hours:
        return _("%(minutes)s min") % {"minutes": rest}
    if not rest:
        return _("%(hours)s h") % {"hours": hours}
    return _("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": rest}


def call_duration(seconds: int) -> str:
    """A call's length as entered (whole minutes)."""
    return duration(int(seconds) // 60)


def channel_label(channel: str) -> str:
    try:
        return str(Channel(channel).label)
    except ValueError:
        return "—"


def row(case: Case, now: datetime | None = None) -> Row:
    level = triage.urgency_label(case.urgency)
    due, overdue = time_left(case.reply_due_at, now)
    return Row(
        case,
        short_id(case),
        level,
        str(URGENCY_LABELS[level]),
        APPLICANT_LANGUAGES.get(case.language, case.language),
        due,
        overdue,
    )


def short_id(case: Case) -> str:
    return str(case.pk)[:8]


def answer_lines(answers: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) for every answered step, in flow order, in the operator's language."""
    lang = operator_language()
    lines = []
    for step in flows.get().answer_steps():
        if step.field not in answers or not step.summary_label:
            continue
        value = answers[step.field]
        labels = {c.value: c.label for c in step.choices}
        if isinstance(value, list):
            shown = "; ".join(catalog.text(lang, labels[v]) for v in value if v in labels) or "—"
        elif str(value) in labels:
            shown = catalog.text(lang, labels[str(value)])
        else:
            shown = str(value) if value != "" else "—"
        lines.append((catalog.text(lang, step.summary_label), shown))
    return lines


def wish_badges(answers: dict[str, Any]) -> list[str]:
    lang = operator_language()
    step = flows.get().step("wishes")
    labels = {c.value: c.label for c in step.choices}
    return [catalog.text(lang, labels[v]) for v in answers.get("wishes") or [] if v in labels]


@dataclass(frozen=True)
class Canned:
    msgid: str
    title: str
    operator_text: str
    applicant_text: str


def canned_replies(applicant_language: str) -> list[Canned]:
    mine = operator_language()
    theirs = applicant_language if catalog.is_language(applicant_language) else "en"
    return [
        Canned(msgid, str(title), catalog.text(mine, msgid), catalog.text(theirs, msgid))
        for msgid, title in CANNED_REPLIES.items()
    ]


def reply_delivery(channel: str, state: DeliveryState | None, shown: bool) -> str:
    """One reply's delivery, as the operator needs to know it."""
    if state is not None:
        status, reason = state.status, state.reason
        if status == "sent":
            return str(_("delivered"))
        if status == "failed":
            return str(_("failed: %(reason)s") % {"reason": reason or _("unknown")})
        return str(_("queued for delivery"))
    if channel == Channel.WEBCHAT and shown:
        return str(_("read in the web chat"))
    return str(delivery_state(channel))


def delivery_state(channel: str) -> str:
    """How a reply reaches the applicant on ``channel``; push channels fill this in later."""
    if channel == Channel.WEBCHAT:
        return _("waiting for the applicant's next visit")
    if channel == Channel.HOTLINE:
        return _("not sent: this applicant has only called; read it out on the next call")
    return _("queued for delivery")
