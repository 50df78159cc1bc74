"""Group commit: updates applied together in one transaction have the same effect as one by one,
replays inside and across batches are dropped, and one failing update does not cost its
neighbours their effect."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from safepassage.cases.models import Case, ChannelIdentity, Status
from safepassage.channels.models import OutboxMessage, TelegramUpdate
from safepassage.channels.telegram import batch, dialogue, intake
from safepassage.conversations import catalog
from safepassage.testing.fake_telegram import FakeTelegram
from tests.telegram_support import SPARE_TOKEN, Applicant
from tests.test_telegram_dialogue import apply

pytestmark = pytest.mark.django_db


def take(fake: FakeTelegram, person: Applicant, update_id: int) -> dict[str, Any]:
    bot = fake.bots[person.token]
    update = next(u for u in bot.updates if u["update_id"] == update_id)
    bot.updates.remove(update)
    return update


def pending(update: dict[str, Any]) -> batch.Pending:
    return batch.Pending("main", intake.parse("main", update))


@dataclass
class Crowded(Applicant):
    """An applicant whose every update is applied in one batch with a neighbour's update and a
    replay of itself, as happens when Telegram redelivers while other chats are busy."""

    neighbour: Applicant | None = None

    def _deliver(self, update_id: int) -> None:
        assert self.neighbour is not None
        mine = take(self.fake, self, update_id)
        noise_id = self.fake.send_text(self.token, self.neighbour.user, "DEMO neighbour")
        noise = take(self.fake, self.neighbour, noise_id)
        items = [pending(mine), pending(noise), pending(mine)]
        batch.apply_all(items)
        assert [item.done.result() for item in items] == [True, True, False]
        self.flush()


def test_a_whole_application_through_crowded_batches(fake: FakeTelegram, client: Client) -> None:
    neighbour = Applicant(fake, client, FakeTelegram.applicant(5120000002, "ru"))
    person = Crowded(fake, client, FakeTelegram.applicant(5120000001, "ko"), neighbour=neighbour)
    person.text("/start")
    assert person.last()["text"] == catalog.text("ko", "apply.who.prompt")
    apply(person, "ko")
    mine = Case.objects.get(language="ko")
    assert mine.status == Status.NEW and mine.triage["group_size"] == 3
    # The neighbour's chat went on in parallel: it was asked its first question once, then
    # reminded to use the buttons, and it has a case of its own.
    texts = [m["text"] for m in neighbour.messages()]
    assert texts[0] == catalog.text("ru", "apply.who.prompt")
    assert Case.objects.count() == 2


def test_one_chat_twice_in_a_batch_is_applied_in_order(fake: FakeTelegram, client: Client) -> None:
    person = Applicant(fake, client, FakeTelegram.applicant(5120000003, "ru"))
    person.text("/start")
    question = person.last()
    first = take(fake, person, fake.press(person.token, person.user, question, "c|who|self"))
    early = take(fake, person, fake.send_text(person.token, person.user, "/start"))
    items = [pending(first), pending(early)]
    batch.apply_all(items)
    assert [item.done.result() for item in items] == [True, True]
    person.flush()
    # The press moved the conversation to the second question, which /start then repeated:
    # the same automatic reply, still waiting, is sent once (outbox._make_room).
    second = catalog.text("ru", "apply.whereabouts.prompt.self")
    texts = [m["text"] for m in person.messages()]
    assert texts[-1] == second and texts.count(second) == 1
    replayed = [pending(first), pending(early)]
    batch.apply_all(replayed)
    assert [item.done.result() for item in replayed] == [False, False]


def test_replays_across_batches_change_nothing(fake: FakeTelegram, client: Client) -> None:
    person = Applicant(fake, client, FakeTelegram.applicant(5120000004, "ru"))
    start = take(fake, person, fake.send_text(person.token, person.user, "/start"))
    batch.apply_all([pending(start)])
    queued = OutboxMessage.objects.count()
    again = [pending(start), pending(start)]
    batch.apply_all(again)
    assert [item.done.result() for item in again] == [False, False]
    assert OutboxMessage.objects.count() == queued and TelegramUpdate.objects.count() == 1


def test_a_failing_update_does_not_cost_its_neighbours(
    fake: FakeTelegram, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = [
        Applicant(fake, client, FakeTelegram.applicant(5120000010 + n, "ru")) for n in (0, 1, 2)
    ]
    updates = [take(fake, p, fake.send_text(p.token, p.user, "/start")) for p in people]
    broken = updates[1]["update_id"]
    real_handle = dialogue.handle

    def handle_with_a_bug(slug: str, update: Any) -> None:
        if update.update_id == broken:
            raise RuntimeError("DEMO bug")
        real_handle(slug, update)

    monkeypatch.setattr(dialogue, "handle", handle_with_a_bug)
    items = [pending(u) for u in updates]
    batch.apply_all(items)
    # Every update is settled and remembered (Telegram stops redelivering the broken one) ...
    assert [item.done.result() for item in items] == [True, True, True]
    assert TelegramUpdate.objects.count() == 3
    # ... and the two sound ones took effect: two cases, two first questions.
    assert Case.objects.count() == 2
    for n in (0, 2):
        people[n].flush()
        assert people[n].last()["text"] == catalog.text("ru", "apply.who.prompt")
    assert people[1].messages() == []


def test_a_spare_bot_in_a_batch_leads_to_the_same_case(fake: FakeTelegram, client: Client) -> None:
    person = Applicant(fake, client, FakeTelegram.applicant(5120000020, "ru"))
    start = take(fake, person, fake.send_text(person.token, person.user, "/start"))
    batch.apply_all([pending(start)])
    person.flush()
    person.press("self")  # through the webhook: the case now has its first answer
    spare = Applicant(fake, client, person.user, token=SPARE_TOKEN, slug="spare")
    stranger = Applicant(fake, client, FakeTelegram.applicant(5120000021, "ru"))
    again = take(fake, spare, fake.send_text(SPARE_TOKEN, person.user, "/start"))
    new = take(fake, stranger, fake.send_text(stranger.token, stranger.user, "/start"))
    items = [batch.Pending("spare", intake.parse("spare", again)), pending(new)]
    batch.apply_all(items)
    assert [item.done.result() for item in items] == [True, True]
    # The known applicant is found through the other bot; the stranger gets a case of their own.
    assert Case.objects.count() == 2 and ChannelIdentity.objects.count() == 2
    spare.flush()
    assert "front" in spare.buttons()  # the next question of the same case


def earlier_question(person: Applicant) -> dict[str, Any]:
    """A bot message with buttons, as the applicant's app holds it (its text is not read)."""
    return {
        "message_id": 900,
        "date": 1_790_000_000,
        "chat": {"id": person.chat_id, "type": "private", "first_name": "DEMO"},
        "text": "DEMO question",
    }


def presses(person: Applicant, token: str, *data: str) -> list[dict[str, Any]]:
    question = earlier_question(person)
    fake = person.fake
    return [take(fake, person, fake.press(token, person.user, question, d)) for d in data]


def test_a_conversation_begun_in_a_batch_goes_on_in_it(fake: FakeTelegram, client: Client) -> None:
    # A backlog (polling after an outage, or a burst Telegram delivers at once): the first
    # message and the next two answers arrive in one batch.
    person = Applicant(fake, client, FakeTelegram.applicant(5120000030, "ru"))
    start = take(fake, person, fake.send_text(person.token, person.user, "/start"))
    answers = presses(person, person.token, "c|who|self", "c|whereabouts|front")
    items = [pending(u) for u in (start, *answers)]
    batch.apply_all(items)
    assert [item.done.result() for item in items] == [True, True, True]
    assert Case.objects.get().triage == {"who": "self", "whereabouts": "front"}


def test_a_conversation_found_through_a_spare_bot_goes_on_in_the_batch(
    fake: FakeTelegram, client: Client
) -> None:
    person = Applicant(fake, client, FakeTelegram.applicant(5120000031, "ru"))
    person.text("/start")
    person.press("self")
    spare = Applicant(fake, client, person.user, token=SPARE_TOKEN, slug="spare")
    start = take(fake, spare, fake.send_text(SPARE_TOKEN, person.user, "/start"))
    answers = presses(spare, SPARE_TOKEN, "c|whereabouts|front", "c|readiness|days")
    items = [batch.Pending("spare", intake.parse("spare", u)) for u in (start, *answers)]
    batch.apply_all(items)
    assert [item.done.result() for item in items] == [True, True, True]
    case = Case.objects.get()
    assert case.triage["whereabouts"] == "front" and case.triage["readiness"] == "days"


def test_a_waiter_that_gave_up_does_not_fail_its_batch(fake: FakeTelegram, client: Client) -> None:
    # A webhook request cancelled while it waited (its client went away, or the lane's time
    # limit): its update is still applied, and its neighbours are answered.
    people = [Applicant(fake, client, FakeTelegram.applicant(5120000040 + n, "ru")) for n in (0, 1)]
    items = [pending(take(fake, p, fake.send_text(p.token, p.user, "/start"))) for p in people]
    assert items[0].done.cancel()
    batch.apply_all(items)
    assert items[1].done.result() is True
    assert Case.objects.count() == 2 and TelegramUpdate.objects.count() == 2
