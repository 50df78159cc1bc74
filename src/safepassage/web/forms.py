"""Turning a posted chat form into an engine Reply."""

from __future__ import annotations

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
