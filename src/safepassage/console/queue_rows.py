"""The queue's rows as HTML, written here rather than by a template.

Every member's queue redraws its hundred rows at every refresh (console.js, every 10 s) and at
every visit, so the rows are the console's hottest markup: Django's template engine spent 7.4 ms of
CPU on a hundred rows (a variable lookup, a localisation and an escape per cell, a URL
reversed per row), this 3.3 ms (measured side by side under load). Each row is one
``format_html`` call with its words translated once per page; the markup is the one the
template wrote (compared byte for byte when it was replaced). tests/test_console_queue_rows.py
checks each cell through the queue page.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from safepassage.cases import suspicion
from safepassage.console.presenters import Row

_ROW = (
    '<tr{overdue_class}>\n<td><a href="{href}">{short_id}</a>{unread}{preview}</td>\n'
    '<td><span class="urg-{urgency}">{urgency_label}</span>{fake}</td>\n'
    "<td>{due}</td>\n<td>{status}</td>\n<td>{language}{needs_reader}</td>\n"
    "<td>{channel}</td>\n<td>{assignee}</td>\n<td>{last}</td>\n</tr>"
)
_NOTHING, _DASH, _OVERDUE = SafeString(""), SafeString("—"), SafeString(' class="overdue"')
_CASE_PATH_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


def _case_href_prefix() -> tuple[str, str]:
    """The case URL around its id, reversed once per page instead of once per row."""
    sample = reverse("console:case", args=[_CASE_PATH_PLACEHOLDER])
    before, _sep, after = sample.partition(_CASE_PATH_PLACEHOLDER)
    return before, after


def _fake(row: Row, marked_fake: str, hint: str) -> SafeString:
    case = row.case
    if case.fake_mark == "fake":
        return _badge("badge fake", marked_fake)
    if not case.fake_score or case.fake_mark == "genuine":
        return _NOTHING
    badge = format_html(
        ' <span class="badge fake" title="{}">{}</span>',
        hint,
        _("fake? %(score)s") % {"score": case.fake_score},
    )
    why = "; ".join(str(reason) for reason in suspicion.reasons(case))
    if not why:
        return badge
    return format_html('{}<br><small class="fake-why">{}</small>', badge, why)


def _due(row: Row, raised: str) -> SafeString:
    if not row.due:
        return _DASH
    return format_html(
        '<span class="{}">{}</span>{}',
        "late" if row.overdue else "left",
        row.due,
        format_html(' <strong class="escalated">{}</strong>', raised) if row.escalated else "",
    )


def _badge(css_class: str, text: str) -> SafeString:
    return format_html(' <span class="{}">{}</span>', css_class, text)


def _row(row: Row, href: str, words: dict[str, str]) -> SafeString:
    return format_html(
        _ROW,
        overdue_class=_OVERDUE if row.overdue else "",
        href=href,
        short_id=row.short_id,
        unread=_badge("unread", _("%(n)s new") % {"n": row.unread}) if row.unread else "",
        preview=(
            format_html('<br><small class="preview">{}</small>', row.preview) if row.preview else ""
        ),
        urgency=row.urgency,
        urgency_label=row.urgency_label,
        fake=_fake(row, words["marked_fake"], words["hint"]),
        due=_due(row, words["raised"]),
        status=row.status_label,
        language=row.language,
        needs_reader=(
            _badge(
                "needs-reader", _("needs a reader of %(language)s") % {"language": row.needs_reader}
            )
            if row.needs_reader
            else ""
        ),
        channel=row.channel_name,
        assignee=row.assignee,
        last=row.last_applicant_at,
    )


def render(rows: Sequence[Row]) -> SafeString:
    """The rows of the queue's table body, in the staff member's language."""
    if not rows:
        return format_html('<tr><td colspan="8">{}</td></tr>', _("No cases yet."))
    before, after = _case_href_prefix()
    words = {  # translated once per page, not once per row
        "marked_fake": _("marked fake"),
        "hint": _("Signals of a fake or provocation application: lower in the queue"),
        "raised": _("raised to supervisors"),
    }
    return format_html_join(
        "", "{}", ((_row(row, f"{before}{row.case.pk}{after}", words),) for row in rows)
    )
