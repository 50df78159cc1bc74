"""Filters that show stored codes and numbers in the staff member's words (console.presenters)."""

from __future__ import annotations

from django import template
from django.conf import settings

from safepassage.cases import suspicion
from safepassage.cases.models import Case
from safepassage.config import APPLICANT_LANGUAGES
from safepassage.console import presenters

register = template.Library()


@register.filter
def call_duration(seconds: int | None) -> str:
    return presenters.call_duration(seconds or 0)


@register.filter
def channel_label(code: str) -> str:
    return presenters.channel_label(code)


@register.filter
def applicant_language(code: str) -> str:
    """An applicant language by its own name (조선말, Русский), as the queue shows it."""
    return APPLICANT_LANGUAGES.get(code, code)


@register.filter
def console_language(code: str) -> str:
    return str(dict(settings.LANGUAGES).get(code, code))


@register.filter
def fake_reasons(case: Case) -> str:
    """Why a case is suspected, in the staff member's language ("" when no signal was seen)."""
    return "; ".join(str(reason) for reason in suspicion.reasons(case))
