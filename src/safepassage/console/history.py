"""A case's history and audit trail as sentences in the staff member's language.

Case events (cases.models.CaseEvent) and audit records (privacy.models.AuditEvent) store codes
(``status``, ``case.view``, ``new``→``in_contact``, ``first reply``); this module is the one
place that turns them into words. Every code the action layer writes has a phrase here:
``tests/test_console_catalog.py`` scans the code for event kinds and audit actions and fails on
one without. Repeated views of a case by the same person are shown as one line ("viewed the
case 5 times between 02:10 and 02:40").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from safepassage.cases.models import CaseEvent, CloseReason, HandoverOutcome, Status
from safepassage.privacy.models import AuditEvent

# CaseEvent.kind → what happened (the status move, when there is one, follows it).
EVENT_KINDS = {
    "status": gettext_lazy("status changed"),
    "head_count": gettext_lazy("head count set"),
    "assign": gettext_lazy("assigned"),
    "take": gettext_lazy("taken from the queue"),
    "merge": gettext_lazy("merged"),
    "unmerge": gettext_lazy("merge undone"),
    "created_from_call": gettext_lazy("case opened from a hotline call"),
    "handover": gettext_lazy("handed over to the field"),
    "outcome": gettext_lazy("liaison's outcome recorded"),
    "needs_reader": gettext_lazy("marked as needing a reader of a language"),
    "fake_mark": gettext_lazy("marked as fake or genuine"),
    "escalated": gettext_lazy("raised to supervisors: past its reply target"),
}

# AuditEvent.action → what the staff member did.
AUDIT_ACTIONS = {
    "case.view": gettext_lazy("viewed the case"),
    "case.audit_view": gettext_lazy("read the audit trail"),
    "case.status": gettext_lazy("changed the status"),
    "case.assign": gettext_lazy("assigned the case"),
    "case.take": gettext_lazy("took the case from the queue"),
    "case.merge": gettext_lazy("merged a case into this one"),
    "case.unmerge": gettext_lazy("undid a merge"),
    "case.note": gettext_lazy("added a note"),
    "case.call": gettext_lazy("logged a call"),
    "case.create_from_call": gettext_lazy("opened the case from a hotline call"),
    "case.callback": gettext_lazy("requested a callback"),
    "case.callback_done": gettext_lazy("marked a callback done"),
    "case.reply": gettext_lazy("sent a reply"),
    "case.identify_caller": gettext_lazy("identified a caller by reference and passphrase"),
    "handover.view": gettext_lazy("read the handover card"),
    "handover.confirm": gettext_lazy("confirmed receipt of the handover"),
    "handover.outcome": gettext_lazy("recorded the handover's outcome"),
    "handover.share": gettext_lazy("shared the handover with the sector's liaisons"),
    "keys.create": gettext_lazy("created a program key"),
    "keys.grant": gettext_lazy("granted the program key"),
    "keys.grant_accepted": gettext_lazy("received a granted program key"),
    "keys.revoke": gettext_lazy("revoked a member's keys"),
    "keys.rewrap": gettext_lazy("re-wrapped their keys under a new password"),
    "keys.rotate.start": gettext_lazy("started a program key rotation"),
    "keys.rotate.finish": gettext_lazy("finished a program key rotation"),
    "keys.rotate.rewrap": gettext_lazy("re-sealed case keys to the new program key"),
    "keys.alarm": gettext_lazy("raised a program key alarm"),
    "keys.admin_released": gettext_lazy("the first admin's program key was released"),
    "staff.create": gettext_lazy("created a staff account"),
    "staff.reset_access": gettext_lazy("reset a member's second factors"),
    "staff.reset_password": gettext_lazy("reset a member's password"),
    "staff.password_changed": gettext_lazy("changed their password"),
    "staff.password_chosen": gettext_lazy("chose their own password"),
    "staff.login": gettext_lazy("logged in"),
    "staff.logout": gettext_lazy("logged out"),
    "staff.second_factor": gettext_lazy("passed the second factor"),
    "staff.factor_added": gettext_lazy("added a second factor"),
    "campaign.codes": gettext_lazy("added campaign codes"),
    "campaign.create": gettext_lazy("created a campaign"),
    "campaign.revoke_code": gettext_lazy("revoked a campaign code"),
    "case.callback_view": gettext_lazy("read how to reach the person for a callback"),
    "case.needs_reader": gettext_lazy("marked the case as needing a reader"),
    "case.preview": gettext_lazy("read a message's preview in the queue"),
    "case.translate": gettext_lazy("asked for a machine translation"),
    "reply.edit": gettext_lazy("edited a vetted reply"),
    "reply.review": gettext_lazy("reviewed a vetted reply"),
    "staff.deactivate": gettext_lazy("deactivated an account"),
    "staff.reactivate": gettext_lazy("reactivated an account"),
    "staff.reads": gettext_lazy("set the languages a member reads"),
    "case.fake_mark": gettext_lazy("marked the case as fake or genuine"),
}

# Actions shown once per run of repeats by the same person, with a count and a time span.
COLLAPSED = frozenset({"case.view", "handover.view", "case.audit_view"})

_USER = re.compile(r"^(?:to )?user (\d+)")
_CASE = re.compile(r"^(into|from|out) ([0-9a-f-]{36})$")
_NUMBER = re.compile(r"(\d+)")


# Actions whose detail names a staff member ("user 12"): shown by username.
_ABOUT_A_MEMBER = frozenset(
    {
        "case.assign",
        "keys.grant",
        "keys.revoke",
        "staff.create",
        "staff.reset_access",
        "staff.reset_password",
    }
)


def _status(code: str) -> str:
    try:
        return str(Status(code).label)
    except ValueError:
        return "—"


def _username(pk: str, names: dict[int, str]) -> str:
    return names.get(int(pk), "—")


def _short(case_id: str) -> str:
    return case_id[:8]


@dataclass(frozen=True)
class Line:
    at: datetime
    actor: str
    text: str


def _move(old: str, new: str) -> str:
    return _("%(old)s → %(new)s") % {"old": _status(old), "new": _status(new)}


def _event_text(event: CaseEvent, names: dict[int, str]) -> str:
    kind, detail = event.kind, event.detail
    what = str(EVENT_KINDS.get(kind, gettext_lazy("changed")))
    moved = event.from_status and event.to_status and event.from_status != event.to_status
    parts = [what]
    if kind == "status" or (kind in ("handover", "outcome") and moved):
        parts.append(_move(event.from_status, event.to_status))
    if kind == "status" and detail == "first reply":
        parts.append(_("(first reply)"))
    elif kind == "status" and detail in CloseReason.values:
        parts.append(f"({CloseReason(detail).label})")
    elif kind == "head_count" and detail.isdigit():
        parts.append(_("to %(count)s") % {"count": detail})
    elif kind == "assign":
        match = _USER.match(detail)
        parts.append(
            _("to %(name)s") % {"name": _username(match.group(1), names)}
            if match
            else _("to nobody")
        )
    elif kind in ("merge", "unmerge") and (found := _CASE.match(detail)):
        direction, other = found.groups()
        phrase = {
            "into": _("into case %(case)s"),
            "from": _("with case %(case)s"),
            "out": _("case %(case)s taken out of this one"),
        }[direction]
        parts.append(phrase % {"case": _short(other)})
    elif kind == "handover" and (number := _NUMBER.search(detail)):
        parts.append(_("(handover #%(number)s)") % {"number": number.group(1)})
    elif kind == "outcome" and detail in HandoverOutcome.values:
        parts.append(f"({HandoverOutcome(detail).label})")
    return " ".join(parts)


def _names(user_ids: Iterable[int]) -> dict[int, str]:
    wanted = set(user_ids)
    if not wanted:
        return {}
    return dict(User.objects.filter(pk__in=wanted).values_list("pk", "username"))


def _mentioned(details: Iterable[str]) -> set[int]:
    return {int(m.group(1)) for d in details if (m := _USER.match(d))}


def case_history(events: Iterable[CaseEvent]) -> list[Line]:
    rows = list(events)
    names = _names(_mentioned(e.detail for e in rows if e.kind == "assign"))
    return [
        Line(e.at, e.actor.get_username() if e.actor else "—", _event_text(e, names)) for e in rows
    ]


def _audit_detail(event: AuditEvent, names: dict[int, str]) -> str:
    action, detail = event.action, event.detail
    if action == "case.status" and "->" in detail:
        old, _sep, new = detail.partition("->")
        return _move(old, new)
    if action == "handover.outcome" and detail in HandoverOutcome.values:
        return str(HandoverOutcome(detail).label)
    if action in _ABOUT_A_MEMBER:
        match = _USER.match(detail)
        if match:
            return _username(match.group(1), names)
        if detail == "none":
            return _("nobody")
    if action in ("case.merge", "case.unmerge") and (found := _CASE.match(detail)):
        return _("case %(case)s") % {"case": _short(found.group(2))}
    if action == "handover.share" and (number := _NUMBER.search(detail)):
        count = int(number.group(1))
        return ngettext("%(count)s liaison", "%(count)s liaisons", count) % {"count": count}
    return ""


@dataclass(frozen=True)
class AuditLine:
    start: datetime
    end: datetime
    actor: str
    text: str
    detail: str
    count: int


def _span(start: datetime, end: datetime) -> tuple[str, str]:
    """Both ends as clock times in the staff member's zone; with dates if they differ."""
    first, last = timezone.localtime(start), timezone.localtime(end)
    if first.date() == last.date():
        return date_format(first, "H:i"), date_format(last, "H:i")
    return date_format(first, "Y-m-d H:i"), date_format(last, "Y-m-d H:i")


def audit_trail(events: Iterable[AuditEvent]) -> list[AuditLine]:
    """The records in order; a run of the same person's views of the same thing is one line."""
    rows = list(events)
    names = _names(_mentioned(e.detail for e in rows))
    lines: list[AuditLine] = []
    for event in rows:
        actor = event.actor.get_username() if event.actor else "—"
        last = lines[-1] if lines else None
        if (
            last is not None
            and event.action in COLLAPSED
            and last.actor == actor
            and last.text == str(AUDIT_ACTIONS[event.action])
        ):
            lines[-1] = AuditLine(last.start, event.at, actor, last.text, "", last.count + 1)
            continue
        text = str(AUDIT_ACTIONS.get(event.action, gettext_lazy("other action")))
        lines.append(AuditLine(event.at, event.at, actor, text, _audit_detail(event, names), 1))
    return [_with_count(line) for line in lines]


def _with_count(line: AuditLine) -> AuditLine:
    if line.count == 1:
        return line
    start, end = _span(line.start, line.end)
    text = ngettext(
        "%(what)s %(count)s time between %(start)s and %(end)s",
        "%(what)s %(count)s times between %(start)s and %(end)s",
        line.count,
    ) % {"what": line.text, "count": line.count, "start": start, "end": end}
    return AuditLine(line.start, line.end, line.actor, text, line.detail, line.count)
