"""Turning cases into what the console shows, in the operator's language."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from safepassage.cases import escalation, sealed, triage
from safepassage.cases.delivery import DeliveryState
from safepassage.cases.models import Callback, Case, Channel, Status
from safepassage.cases.services import TranscriptEntry
from safepassage.config import APPLICANT_LANGUAGES
from safepassage.conversations import catalog, flows
from safepassage.privacy.keyring import Keyring
from safepassage.replies import services as replies

URGENCY_LABELS = {
    "now": gettext_lazy("Ready now"),
    "days": gettext_lazy("Within days"),
    "later": gettext_lazy("Later"),
}


# The applicant's wishes as staff read them: about the person, in the third person, whoever
# wrote them (the applicant's own buttons say "me" or "him", conversations' flow voices).
WISH_LABELS = {
    "record_as_captured": gettext_lazy("Wants to be recorded as captured"),
    "no_exchange": gettext_lazy("Does not want to be exchanged back"),
    "medical": gettext_lazy("Needs medical help"),
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
    needs_reader: str = ""  # the language's name, when staff marked it needing a reader
    unread: int = 0  # the applicant's messages since this staff member last opened the case
    preview: str = ""  # one line of the newest, for a reader whose keyring opens it
    escalated: bool = False  # past its deadline and raised to supervisors (cases.escalation)
    # Worked out once per row here, not looked up cell by cell in the template: the queue's
    # hundred rows are rendered again at every refresh of every operator's queue.
    status_label: str = ""
    channel_name: str = ""
    assignee: str = "—"
    last_applicant_at: str = ""


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


def _span(delta: timedelta) -> str:
    return duration(int(abs(delta).total_seconds() // 60))


@dataclass(frozen=True)
class CallbackRow:
    callback: Callback
    short_id: str
    urgency: str
    urgency_label: str
    language: str
    reach_by: str
    reach: str
    reach_readable: bool
    state: str  # "upcoming", "due" (inside its window) or "overdue" (the window has passed)
    timing: str


def callback_timing(start: datetime, end: datetime, now: datetime) -> tuple[str, str]:
    """A callback's own response-time target is its window: (state, words)."""
    if now < start:
        return "upcoming", _("due in %(span)s") % {"span": _span(start - now)}
    if now <= end:
        return "due", _("due now, %(span)s left") % {"span": _span(end - now)}
    return "overdue", _("overdue %(span)s") % {"span": _span(now - end)}


def callback_row(callback: Callback, reach: str, now: datetime) -> CallbackRow:
    case = callback.case
    level = triage.urgency_label(case.urgency)
    state, timing = callback_timing(callback.window_start, callback.window_end, now)
    language = callback.language or case.language
    return CallbackRow(
        callback,
        short_id(case),
        level,
        str(URGENCY_LABELS[level]),
        APPLICANT_LANGUAGES.get(language, language),
        callback.get_reach_by_display() if callback.reach_by else "—",
        reach,
        bool(reach) and reach != sealed.LOCKED_TEXT,
        state,
        timing,
    )


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
        needs_reader=APPLICANT_LANGUAGES.get(case.needs_reader, case.needs_reader),
        escalated=escalation.is_escalated(case),
        status_label=str(STATUS_LABELS.get(case.status, case.status)),
        channel_name=str(CHANNEL_LABELS.get(case.channel, case.channel)),
        assignee=_assignee(case),
        last_applicant_at=(
            timezone.localtime(case.last_applicant_at).strftime("%Y-%m-%d %H:%M")
            if case.last_applicant_at
            else ""
        ),
    )


def _assignee(case: Case) -> str:
    holder = case.assigned_to if case.assigned_to_id else None
    return holder.get_username() if holder is not None else "—"


STATUS_LABELS = dict(Status.choices)
CHANNEL_LABELS = dict(Channel.choices)


def short_id(case: Case) -> str:
    return str(case.pk)[:8]


def answer_lines(
    answers: dict[str, Any], applicant_language: str = ""
) -> list[tuple[str, str, str]]:
    """(label, value, lang) for every answered step, in flow order, in the operator's language;
    ``lang`` is the applicant's language for what they wrote themselves ("" for a choice)."""
    lang = operator_language()
    lines = []
    for step in flows.get().answer_steps():
        if step.field not in answers or not step.summary_label:
            continue
        value = answers[step.field]
        labels = {c.value: c.label for c in step.choices}
        written = ""
        if step.field == "wishes":
            shown = "; ".join(wish_badges(answers)) or "—"
        elif isinstance(value, list):
            shown = "; ".join(catalog.text(lang, labels[v]) for v in value if v in labels) or "—"
        elif str(value) in labels:
            shown = catalog.text(lang, labels[str(value)])
        else:
            shown = str(value) if value != "" else "—"
            written = applicant_language if value != "" else ""
        lines.append((catalog.text(lang, step.summary_label), shown, written))
    return lines


def wish_badges(answers: dict[str, Any]) -> list[str]:
    """The wishes in the operator's language, in the third person (WISH_LABELS); a wish the
    flow gained later and this table lacks falls back to the applicant's own label."""
    lang = operator_language()
    step = flows.get().step("wishes")
    labels = {c.value: c.label for c in step.choices}
    return [
        str(WISH_LABELS[v]) if v in WISH_LABELS else catalog.text(lang, labels[v])
        for v in answers.get("wishes") or []
        if v in labels
    ]


@dataclass(frozen=True)
class VettedEntry(TranscriptEntry):
    """A sent vetted reply: as the applicant received it, and in the operator's language."""

    vetted_title: str = ""
    vetted_text: str = ""
    vetted_language: str = ""


def with_vetted(case: Case, entries: list[TranscriptEntry], ring: Keyring) -> list[TranscriptEntry]:
    """The transcript with each sent vetted reply carrying its title and text in the operator's
    language (as they were when it was sent), so a colleague reads what was said."""
    holders = {case.pk: case, **{c.pk: c for c in case.merged_cases.all()}}
    ids = [e.message_id for e in entries if e.direction == "out" and e.message_id]
    sent = replies.sent_replies(holders, ids, ring)
    mine = operator_language()
    result: list[TranscriptEntry] = []
    for entry in entries:
        found = sent.get(entry.message_id or 0)
        if found is None:
            result.append(entry)
            continue
        result.append(
            VettedEntry(
                **{f.name: getattr(entry, f.name) for f in fields(TranscriptEntry)},
                vetted_title=found.titles.get(mine, ""),
                vetted_text=found.texts.get(mine, ""),
                vetted_language=mine,
            )
        )
    return result


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
