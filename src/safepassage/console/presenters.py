"""Turning cases into what the console shows, in the operator's language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import translation

from safepassage.cases import triage
from safepassage.cases.models import Case
from safepassage.config import APPLICANT_LANGUAGES
from safepassage.conversations import catalog, flows

URGENCY_LABELS = {"now": "Ready now", "days": "Within days", "later": "Later"}


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


def row(case: Case) -> Row:
    level = triage.urgency_label(case.urgency)
    return Row(
        case,
        short_id(case),
        level,
        URGENCY_LABELS[level],
        APPLICANT_LANGUAGES.get(case.language, case.language),
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
