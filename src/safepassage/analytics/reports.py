"""The analyst's reports, from aggregate counters only (``DailyCount``): no case is read,
nothing sealed is opened, and the figures survive every purge.

Small numbers can identify people (five men from one drop zone), so every figure shown is
*rounded to a multiple of 5*, and 1–4 is shown as "<5". Totals are rounded from the exact sum
on their own, so subtracting shown cells from a shown total never recovers a suppressed one
(``shown``). Charts draw the shown values, never the exact ones; CSV exports carry them too.
Combining the bounds that shown figures set can still pin a count now and then: see
docs/threat-model.md, "Campaigns and reports: a hostile review".
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from django.db.models import Sum
from django.utils.html import escape

from safepassage.analytics.models import DailyCount

ROUND_TO = 5
FUNNEL = ("visit", "started", "submitted", "verified", "handed_over", "surrendered")
REPLY_BUCKETS = ("le_5m", "le_15m", "le_1h", "le_4h", "gt_4h")
WAITING = ("now", "days", "later")


def shown(count: int) -> str:
    """What a report prints for an exact ``count``."""
    if count <= 0:
        return "0"
    if count < ROUND_TO:
        return f"<{ROUND_TO}"
    return str(ROUND_TO * round(count / ROUND_TO))


def shown_value(count: int) -> int:
    """The number a chart draws for ``count`` (suppressed counts draw nothing)."""
    return 0 if count < ROUND_TO else ROUND_TO * round(count / ROUND_TO)


@dataclass
class Report:
    """One table (with its chart): a label column, then exact counts that are only ever
    displayed through ``shown``."""

    key: str
    columns: list[str]
    rows: list[tuple[str, list[int]]] = field(default_factory=list)
    total: list[int] | None = None

    def shown_rows(self) -> list[tuple[str, list[str]]]:
        return [(label, [shown(v) for v in values]) for label, values in self.rows]

    def shown_total(self) -> list[str] | None:
        return [shown(v) for v in self.total] if self.total is not None else None

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["", *self.columns])
        for label, values in self.shown_rows():
            writer.writerow([_cell(label), *values])
        total = self.shown_total()
        if total is not None:
            writer.writerow(["total", *total])
        return out.getvalue()


def _cell(label: str) -> str:
    """A label a spreadsheet will not run as a formula (a campaign's name is typed by staff)."""
    return f"'{label}" if label[:1] in {"=", "+", "-", "@", "\t", "\r"} and label != "-" else label


def _rows(since: dt.date, until: dt.date, events: Iterable[str]) -> list[dict[str, object]]:
    rows = (
        DailyCount.objects.filter(day__gte=since, day__lte=until, event__in=list(events))
        .values("day", "event", "channel", "language", "campaign")
        .annotate(n=Sum("count"))
    )
    return [dict(row) for row in rows]


def _totals(rows: Sequence[tuple[str, list[int]]], width: int) -> list[int]:
    return [sum(values[i] for _label, values in rows) for i in range(width)]


def volumes(since: dt.date, until: dt.date, dimension: str) -> Report:
    """Contacts started and applications submitted, by day, channel, language or code."""
    if dimension not in {"day", "channel", "language", "campaign"}:
        raise ValueError(f"no such dimension {dimension}")
    events = ("started", "submitted")
    grouped: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in _rows(since, until, events):
        label = str(row[dimension] or "-")
        grouped[label][events.index(str(row["event"]))] += int(str(row["n"]))
    if dimension == "day":  # every day, empty ones too: a gap is information
        day = since
        while day <= until:
            grouped.setdefault(day.isoformat(), [0, 0])
            day += dt.timedelta(days=1)
    rows = sorted(grouped.items())
    return Report(f"volume-{dimension}", list(events), rows, _totals(rows, 2))


def funnel(
    since: dt.date, until: dt.date, campaign_of_code: Mapping[str, str], *, by_code: bool
) -> Report:
    """Per campaign (or per code): visits → starts → applications → verified → handed over →
    surrendered. ``campaign_of_code`` names each code's campaign; other codes are left out."""
    grouped: dict[str, list[int]] = defaultdict(lambda: [0] * len(FUNNEL))
    for row in _rows(since, until, FUNNEL):
        code = str(row["campaign"])
        if code not in campaign_of_code:
            continue
        label = f"{campaign_of_code[code]} / {code}" if by_code else campaign_of_code[code]
        grouped[label][FUNNEL.index(str(row["event"]))] += int(str(row["n"]))
    rows = sorted(grouped.items())
    return Report("funnel-codes" if by_code else "funnel", list(FUNNEL), rows, _totals(rows, 6))


def unknown_codes(since: dt.date, until: dt.date) -> Report:
    """Contacts that came with a code that is unknown, revoked or malformed (a forged or an
    old leaflet), by channel: they started normally, attributed to nothing."""
    grouped: dict[str, list[int]] = defaultdict(lambda: [0])
    for row in _rows(since, until, ("unknown_code",)):
        grouped[str(row["channel"])][0] += int(str(row["n"]))
    rows = sorted(grouped.items())
    return Report("unknown-codes", ["unknown_code"], rows, _totals(rows, 1))


def reply_times(since: dt.date, until: dt.date) -> Report:
    """First human replies: on time or late against the response-time target, and how long."""
    columns = ["first_reply_on_time", "first_reply_late"] + [
        f"first_reply_{b}" for b in REPLY_BUCKETS
    ]
    grouped: dict[str, list[int]] = defaultdict(lambda: [0] * len(columns))
    for row in _rows(since, until, columns):
        grouped[str(row["language"])][columns.index(str(row["event"]))] += int(str(row["n"]))
    rows = sorted(grouped.items())
    return Report("reply-times", columns, rows, _totals(rows, len(columns)))


def waiting(since: dt.date, until: dt.date) -> Report:
    """The day's peak of cases waiting for a reply, by urgency (no total: peaks do not add)."""
    columns = [f"waiting_{label}" for label in WAITING]
    grouped: dict[str, list[int]] = {}
    day = since
    while day <= until:
        grouped[day.isoformat()] = [0, 0, 0]
        day += dt.timedelta(days=1)
    for row in _rows(since, until, columns):
        grouped[str(row["day"])][columns.index(str(row["event"]))] = int(str(row["n"]))
    return Report("waiting", columns, sorted(grouped.items()))


def _short(label: str) -> str:
    """A chart's axis label: a long "campaign / code" keeps its code whole."""
    if len(label) <= 24:
        return label
    return label.rsplit(" / ", 1)[-1][:24]


def svg_bars(report: Report, labels: Mapping[str, str], title: str) -> str:
    """A grouped bar chart of the shown values, drawn on the server (no script, no third
    party), with a title for screen readers; the table under it carries the same figures."""
    palette = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2e75b6", "#a5a5a5")
    series = len(report.columns)
    groups = report.rows or [("-", [0] * series)]
    bar, gap, height, left, bottom = 10, 14, 180, 44, 60
    width = left + len(groups) * (series * bar + gap) + 10
    peak = max([shown_value(v) for _label, values in groups for v in values] + [ROUND_TO])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{height + bottom + 30}" viewBox="0 0 {width} {height + bottom + 30}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{height}" x2="{width}" y2="{height}" stroke="#333"/>',
        f'<text x="{left - 4}" y="12" text-anchor="end" font-size="10">{peak}</text>',
        f'<text x="{left - 4}" y="{height}" text-anchor="end" font-size="10">0</text>',
    ]
    for index, (label, values) in enumerate(groups):
        x0 = left + index * (series * bar + gap)
        for position, value in enumerate(values):
            drawn = shown_value(value)
            h = round(drawn / peak * (height - 10))
            parts.append(
                f'<rect x="{x0 + position * bar}" y="{height - h}" width="{bar - 1}" '
                f'height="{h}" fill="{palette[position % len(palette)]}"/>'
            )
        parts.append(
            f'<text x="{x0}" y="{height + 12}" font-size="9" '
            f'transform="rotate(40 {x0} {height + 12})">{escape(_short(label))}</text>'
        )
    for position, column in enumerate(report.columns):
        x = left + position * 110
        y = height + bottom + 20
        parts.append(
            f'<rect x="{x}" y="{y - 9}" width="9" height="9" '
            f'fill="{palette[position % len(palette)]}"/>'
            f'<text x="{x + 12}" y="{y}" font-size="10">{escape(labels.get(column, column))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
