"""The outbox worker: messages wait while the Bot API is unreachable and go out when it
returns; a blocked chat is marked and its messages fail with the reason; limits are kept."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from safepassage.cases import services
from safepassage.cases.models import Case
from safepassage.channels.models import OutboxMessage, TelegramChat
from safepassage.channels.telegram.outbox import outbox_states
from safepassage.channels.telegram.sender import Sender
from safepassage.testing.fake_telegram import FakeTelegram
from tests.telegram_support import TOKEN, Applicant, post_update

pytestmark = pytest.mark.django_db


def begin(fake: FakeTelegram, client: Client, user_id: int) -> Applicant:
    person = Applicant(fake, client, FakeTelegram.applicant(user_id, "en"))
    person.text("/start")
    return person


def test_unreachable_bot_api_messages_wait_then_go_out(fake: FakeTelegram, client: Client) -> None:
    person = begin(fake, client, 5130000001)
    fake.down()
    update = fake.bots[person.token]
    fake.press(person.token, person.user, person.last(), "c|who|self")
    queued = update.updates.pop()
    assert post_update(client, queued) == 200  # intake does not need Telegram
    sender = Sender("main")
    sender.run_once()
    row = OutboxMessage.objects.filter(method="sendMessage").order_by("-id").first()
    assert row is not None and row.status == "queued" and row.attempts >= 0
    fake.up()
    OutboxMessage.objects.update(not_before=row.created_at)  # skip the backoff wait
    sender.run_until_idle()
    sender.close()
    assert (
        person.last()["text"]
        == "Where is he now? (If you are writing for yourself: where are you now?)"
    )


def test_blocked_chat_is_marked_and_the_reply_fails_with_the_reason(
    fake: FakeTelegram, client: Client
) -> None:
    person = begin(fake, client, 5130000002)
    fake.block(person.token, person.chat_id)
    case = Case.objects.get()
    operator = User.objects.create_user("op2", password="x" * 16, is_staff=True)
    message = services.do_operator_reply(case, operator, "DEMO reply")
    person.flush()
    state = outbox_states(case)[message.pk]
    assert state.status == "failed" and state.reason == "blocked by the user"
    assert TelegramChat.objects.get().blocked_at is not None


def test_burst_to_many_chats_gets_no_429(fake: FakeTelegram, client: Client) -> None:
    for i in range(40):
        fake.send_text(TOKEN, FakeTelegram.applicant(5140000000 + i, "en"), "/start")
    bot = fake.bots[TOKEN]
    for update in list(bot.updates):
        assert post_update(client, update) == 200
    bot.updates.clear()
    sender = Sender("main")
    sender.run_until_idle()
    sender.close()
    assert bot.rate_limited == 0
    assert len(fake.calls(bot.token, "sendMessage")) == 40


def test_replay_keys_are_forgotten_after_48_hours(fake: FakeTelegram, client: Client) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from safepassage.channels.models import TelegramUpdate

    begin(fake, client, 5130000003)
    old = TelegramUpdate.objects.create(bot=TOKEN.split(":")[0], update_id=1)
    TelegramUpdate.objects.filter(pk=old.pk).update(
        received_at=timezone.now() - timedelta(hours=49)
    )
    sender = Sender("main")
    sender.housekeeping()
    sender.close()
    assert not TelegramUpdate.objects.filter(pk=old.pk).exists()
    assert TelegramUpdate.objects.count() == 1  # the recent one stays
