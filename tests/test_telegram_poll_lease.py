"""Long polling runs once per bot however many processes start it (jobs.leases): a second
poller waits, takes over at once when the first stops, and once the lease of one that died
runs out. The fake Bot API ends a waiting getUpdates with 409 when another one arrives, as
Telegram does when two instances of a bot poll at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from safepassage.cases.models import Case
from safepassage.channels.telegram import batch, polling
from safepassage.jobs import leases
from safepassage.jobs.models import Lease
from safepassage.testing.fake_telegram import FakeTelegram
from tests.telegram_support import TOKEN

pytestmark = pytest.mark.django_db(transaction=True)  # pollers commit on their own threads


@pytest.fixture
def start_poller(fake: FakeTelegram) -> Iterator[Callable[[], threading.Event]]:
    started: list[tuple[threading.Event, threading.Thread]] = []

    def start() -> threading.Event:
        stop = threading.Event()
        thread = threading.Thread(target=polling.poll, args=("main", stop, 1), daemon=True)
        thread.start()
        started.append((stop, thread))
        return stop

    yield start
    for stop, _ in started:
        stop.set()
    for _, thread in started:
        thread.join(timeout=15)
    batch.stop_applier()


def polls(fake: FakeTelegram, status: int | None = None) -> int:
    with fake.lock:
        return sum(
            1
            for call in fake.bots[TOKEN].calls
            if call.method == "getUpdates" and (status is None or call.status == status)
        )


def wait_for(condition: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_two_pollers_for_one_bot_only_one_polls_and_the_other_takes_over(
    fake: FakeTelegram, start_poller: Callable[[], threading.Event]
) -> None:
    first = start_poller()
    assert wait_for(lambda: polls(fake) >= 1)
    holder = leases.holder_of(polling.lease_name("main"))
    start_poller()
    fake.send_text(TOKEN, FakeTelegram.applicant(5110000051, "en"), "/start")
    assert wait_for(lambda: Case.objects.count() == 1)
    time.sleep(3)  # three more long polls of a second each: the second poller must not join
    assert polls(fake, 409) == 0, "two getUpdates at once: both pollers polled"
    assert leases.holder_of(polling.lease_name("main")) == holder

    first.set()  # a clean stop gives the lease up: the other poller takes over at once
    assert wait_for(lambda: leases.holder_of(polling.lease_name("main")) not in (None, holder))
    fake.send_text(TOKEN, FakeTelegram.applicant(5110000052, "ru"), "/start")
    assert wait_for(lambda: Case.objects.count() == 2)
    assert polls(fake, 409) == 0


def test_a_poller_waits_for_a_dead_holders_lease_to_run_out(
    fake: FakeTelegram, start_poller: Callable[[], threading.Event]
) -> None:
    # A process that held the lease and died (kill -9): nobody renews it.
    Lease.objects.create(
        name=polling.lease_name("main"),
        holder="DEMO-dead-process",
        expires_at=timezone.now() + timedelta(seconds=3),
    )
    start_poller()
    fake.send_text(TOKEN, FakeTelegram.applicant(5110000053, "en"), "/start")
    time.sleep(1.5)
    assert polls(fake) == 0 and Case.objects.count() == 0
    assert wait_for(lambda: Case.objects.count() == 1, seconds=15)
    assert leases.holder_of(polling.lease_name("main")) != "DEMO-dead-process"
