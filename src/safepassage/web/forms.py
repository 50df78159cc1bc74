"""Turning a posted chat form into an engine Reply."""

from __future__ import annotations

from django import forms
from django.http import QueryDict

from safepassage.conversations.engine import Reply
from safepassage.conversations.text import clean_text

NAV_ACTIONS = {"back", "restart", "delete", "skip"}
LEAVE = "leave"  # handled by the channel: forget this browser's session, keep the application
MAX_FIELD_CHARS = 4000

__all__ = ["LEAVE", "MAX_FIELD_CHARS", "NAV_ACTIONS", "clean_text", "reply_from_post"]


def reply_from_post(post: QueryDict) -> Reply:
    nav = post.get("nav")
    if nav in NAV_ACTIONS:
        return Reply(action=nav)  # type: ignore[arg-type]
    choice = post.get("choice") or None
    return Reply(
        action="answer",
        choice=clean_text(choice),
        text=clean_text(post.get("text")),
        multi=tuple(v for v in post.getlist("multi") if isinstance(v, str)),
    )


class CleanText(forms.CharField):
    """Text with control characters, lone surrogates and NULs taken out (clean_text)."""

    def to_python(self, value: object) -> str | None:
        return super().to_python(clean_text(value) if isinstance(value, str) else value)


class ResumeForm(forms.Form):
    """Coming back with reference and passphrase. Only bounded here: a malformed pair is
    answered as a wrong one (cases.find_by_credentials), so the page tells nothing more."""

    reference = CleanText(max_length=64)
    passphrase = CleanText(max_length=64)
