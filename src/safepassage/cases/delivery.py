"""Outbound delivery: how a message to an applicant leaves, per channel.

The web chat needs nothing (the applicant's next visit shows the thread). Push channels such as
Telegram register a function that writes the message to their outbox in the caller's
transaction; a worker sends it later (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from safepassage.cases.models import Case, Message


@dataclass(frozen=True)
class DeliveryState:
    """How far an operator's reply got in a push channel: what the console shows beside it."""

    message_id: int
    status: str
    reason: str
    queued_at: datetime
    sent_at: datetime | None


Deliverer = Callable[["Message", str], None]
StateReader = Callable[["Case"], dict[int, DeliveryState]]
_deliverers: dict[str, Deliverer] = {}
_state_readers: dict[str, StateReader] = {}


def register(channel: str, deliverer: Deliverer, states: StateReader | None = None) -> None:
    """Called by a channel app at start-up: cases and the console never import channels."""
    _deliverers[channel] = deliverer
    if states is not None:
        _state_readers[channel] = states


def states(case: Case, channels: Collection[str] | None = None) -> dict[int, DeliveryState]:
    """The delivery state of each operator reply of ``case`` sent through a push channel, keyed
    by Message id. ``channels``: those its replies went out on, when the caller knows them (a
    channel no reply used is not asked)."""
    found: dict[int, DeliveryState] = {}
    for channel, reader in _state_readers.items():
        if channels is None or channel in channels:
            found.update(reader(case))
    return found


def enqueue(message: Message, text: str) -> None:
    """Hand ``message`` (whose clear ``text`` the caller has) to its channel, if it pushes."""
    deliverer = _deliverers.get(message.channel)
    if deliverer is not None:
        deliverer(message, text)
