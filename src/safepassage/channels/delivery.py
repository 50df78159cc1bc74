"""Outbound delivery: how a message to an applicant leaves, per channel.

The web chat needs nothing (the applicant's next visit shows the thread). Push channels such as
Telegram register a function that writes the message to their outbox in the caller's
transaction; a worker sends it later (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from safepassage.cases.models import Message

Deliverer = Callable[["Message", str], None]
_deliverers: dict[str, Deliverer] = {}


def register(channel: str, deliverer: Deliverer) -> None:
    _deliverers[channel] = deliverer


def enqueue(message: Message, text: str) -> None:
    """Hand ``message`` (whose clear ``text`` the caller has) to its channel, if it pushes."""
    deliverer = _deliverers.get(message.channel)
    if deliverer is not None:
        deliverer(message, text)
