"""``{% t "msgid" %}``: an applicant text in the page's language (context variable ``lang``)."""

from __future__ import annotations

from typing import Any

from django import template

from safepassage.conversations import catalog

register = template.Library()


@register.simple_tag(takes_context=True)
def t(context: Any, msgid: str) -> str:
    return catalog.text(str(context["lang"]), msgid)


@register.simple_tag
def tl(lang: str, msgid: str) -> str:
    """``{% tl "ko" "msgid" %}``: an applicant text in a given language (pages in several)."""
    return catalog.text(lang, msgid)
