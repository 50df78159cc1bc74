"""Long polling survives updates it cannot read: a getUpdates answer nested beyond any real
update, or an update PTB cannot build, is skipped with one log line, and the updates around it
are applied (it used to end the bot's poller, or stop it at that update for good)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from safepassage.cases.models import Case
from safepassage.channels.models import TelegramUpdate
from safepassage.channels.telegram import batch, polling
from safepassage.testing.fake_telegram import FakeTelegram
from tests.telegram_support import TOKEN

# The poller commits on its own thread and connection.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def poller(fake: FakeTelegram) -> Iterator[threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=polling.poll, args=("main", stop, 1), daemon=True)
    yield thread
    stop.set()
    thread.join(timeout=15)
    batch.stop_applier()


def nested(levels: int) -> list[object]:
    value: list[object] = []
    for _ in range(levels):
        value = [value]
    return value


def test_unreadable_updates_are_skipped_and_the_poller_goes_on(
    fake: FakeTelegram, poller: threading.Thread
) -> None:
    first = FakeTelegram.applicant(5110000041, "en")
    second = FakeTelegram.applicant(5110000042, "ru")
    fake.send_text(TOKEN, first, "/start")
    fake.push(TOKEN, {"message": {"message_id": 3, "date": 1, "x": nested(200)}})
    fake.push(TOKEN, {"message": {"message_id": 4, "date": 1, "chat": "not a chat"}})
    fake.send_text(TOKEN, second, "/start")
    poller.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Case.objects.count() < 2:
        time.sleep(0.2)
    assert Case.objects.count() == 2
    assert poller.is_alive()
    assert TelegramUpdate.objects.count() == 2  # the two readable ones
