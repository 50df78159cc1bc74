"""``{% t "msgid" %}``: an applicant text in the page's language (context variable ``lang``)."""

from __future__ import annotations

from typing import Any

from django import template

from safepassage.conversations import catalog

register = template.Library()


@register.simple_tag(takes_context=True)
def t(context: Any, msgid: str) -> str:
    return catalog.text(str(context["lang"]), msgid)
