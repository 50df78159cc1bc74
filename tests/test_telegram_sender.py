"""The outbox worker: messages wait while the Bot API is unreachable and go out when it
returns; a blocked chat is marked and its messages fail with the reason; limits are kept."""

from __future__ import annotations

import importlib
import time
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from telegram.error import BadRequest

from safepassage.cases import services
from safepassage.cases.models import Case
from safepassage.channels.models import OutboxMessage, TelegramChat
from safepassage.channels.telegram import outbox as outbox_module
from safepassage.channels.telegram.outbox import CHAT_CAP, outbox_states, seal_chat_id
from safepassage.channels.telegram.sender import BATCH, CHAT_GAP, Sender, plan_claims
from safepassage.conversations import catalog
from safepassage.privacy.fields import channel_pseudonym
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
    # Waiting: queued, or set aside behind the answer to the press that waits too.
    assert row is not None and row.status in {"queued", "behind"} and row.attempts >= 0
    fake.up()
    OutboxMessage.objects.update(not_before=row.created_at)  # skip the backoff wait
    sender.run_until_idle()
    sender.close()
    # He pressed "for myself": the question speaks to him (the flow's voices).
    assert person.last()["text"] == catalog.text("en", "apply.whereabouts.prompt.self")


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


def test_a_chats_gap_starts_when_its_message_was_answered_not_when_the_batch_was_written(
    fake: FakeTelegram, client: Client
) -> None:
    """The one-second gap between two messages to a chat counts from Telegram's answer: a
    reply to the first chat of a batch may follow a second after it, not a second after the
    batch's last call (up to a third of a second later, every time during a flood)."""
    for i in range(BATCH):
        fake.send_text(TOKEN, FakeTelegram.applicant(5145000000 + i, "en"), "/start")
    bot = fake.bots[TOKEN]
    for update in list(bot.updates):
        assert post_update(client, update) == 200
    bot.updates.clear()
    sender = Sender("main")
    sender.next_slot = time.monotonic() + 1.0  # a busy sender: its calls go 1/30 s apart
    assert sender.run_once() == BATCH
    sender.close()
    calls = sorted(fake.calls(TOKEN, "sendMessage"), key=lambda call: call.at)
    assert len(calls) == BATCH and calls[-1].at - calls[0].at > 0.2
    first = TelegramChat.objects.get(
        pseudonym=channel_pseudonym("telegram", str(calls[0].params["chat_id"]))
    )
    assert first.next_send_at is not None
    assert first.next_send_at.timestamp() - calls[0].at < CHAT_GAP.total_seconds() + 0.1


def test_replay_keys_are_forgotten_after_48_hours(fake: FakeTelegram, client: Client) -> None:
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


@pytest.mark.postgres_only
def test_a_claim_walks_the_oldest_queued_rows_however_large_the_backlog() -> None:
    """A flood leaves thousands of replies waiting for the 30/s limit, on tables PostgreSQL has
    no statistics for yet. The claim must read the oldest queued rows and stop after a batch,
    not read and sort the whole backlog every time it runs."""
    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    now = timezone.now()
    with connection.cursor() as cursor:  # statistics from before the flood: the tables empty
        cursor.execute("ANALYZE channels_outboxmessage, channels_telegramchat")
    chats = TelegramChat.objects.bulk_create(
        TelegramChat(bot="main", pseudonym=f"DEMO-{n}", chat_sealed=b"DEMO") for n in range(300)
    )
    OutboxMessage.objects.bulk_create(
        OutboxMessage(
            chat=chat, bot="main", method="sendMessage", payload_sealed=b"DEMO", not_before=now
        )
        for _ in range(4)
        for chat in chats
    )
    sender = Sender("main")
    with transaction.atomic():
        plan_claims()
        plan = sender.due(now).select_for_update(skip_locked=True)[:240].explain()
    assert "Index Scan using outbox_queued_turn" in plan
    assert "Sort" not in plan and "channels_telegramchat" not in plan  # no join, no sort
    # The oldest row of each of the first chats: one per chat, the batch full.
    assert [row.chat_id for row in sender.claim(now)] == [chat.pk for chat in chats[:BATCH]]


def _queued(bot: str, count: int, **chat: object) -> list[TelegramChat]:
    first = TelegramChat.objects.count()
    chats = TelegramChat.objects.bulk_create(
        TelegramChat(bot=bot, pseudonym=f"DEMO-{first + n}", chat_sealed=b"DEMO", **chat)
        for n in range(count)
    )
    OutboxMessage.objects.bulk_create(
        OutboxMessage(chat=c, bot=bot, method="sendMessage", payload_sealed=b"DEMO", not_before=NOW)
        for c in chats
    )
    return chats


NOW = timezone.now()


def test_a_claim_looks_past_chats_in_their_gap_and_other_bots_rows() -> None:
    """The oldest 300 rows wait for their chats' one-second gap; behind them, another bot's
    rows and this bot's rows that may go now."""
    _queued("main", 300, next_send_at=NOW + timedelta(seconds=1))
    spare = _queued("spare", 3)
    ready = _queued("main", 5)
    assert [row.chat_id for row in Sender("main").claim(NOW)] == [c.pk for c in ready]
    assert [row.chat_id for row in Sender("spare").claim(NOW)] == [c.pk for c in spare]


def test_rows_of_chats_that_blocked_the_bot_never_fill_a_claim() -> None:
    """More rows of blocked chats than a claim reads (4 pages) wait ahead of a ready one."""
    blocked = _queued("main", 0)
    for _ in range(5):
        blocked += _queued("main", 200, blocked_at=NOW)
    ready = _queued("main", 2)
    sender = Sender("main")
    claimed = sender.claim(NOW) or sender.claim(NOW)  # the first may only set them aside
    assert [row.chat_id for row in claimed] == [c.pk for c in ready]
    assert OutboxMessage.objects.filter(status="held").count() == 1000
    assert sender.claim(NOW) == []  # and held rows are not read again


def test_a_reply_held_while_the_chat_blocked_the_bot_arrives_when_the_applicant_returns(
    fake: FakeTelegram, client: Client
) -> None:
    person = begin(fake, client, 5130000003)
    case = Case.objects.get()
    operator = User.objects.create_user("op3", password="x" * 16, is_staff=True)
    message = services.do_operator_reply(case, operator, "DEMO reply while blocked")
    # Before it went out, the applicant blocked the bot (a "kicked" my_chat_member does this).
    TelegramChat.objects.update(blocked_at=timezone.now())
    person.flush()
    assert OutboxMessage.objects.get(message=message).status == "held"
    assert outbox_states(case)[message.pk].status == "queued"  # waiting, for the operator
    assert "DEMO reply while blocked" not in [m.get("text") for m in person.messages()]
    person.text("DEMO I am back")
    assert "DEMO reply while blocked" in [m.get("text") for m in person.messages()]
    assert outbox_states(case)[message.pk].status == "sent"


def test_rows_queued_without_a_bot_get_their_chats_bot(fake: FakeTelegram) -> None:
    """A process of the previous version, still running during an upgrade, queues rows that
    name no bot; the migration fills them in for rows already there, the sender for later."""
    chats = _queued("main", 2) + _queued("spare", 1)
    OutboxMessage.objects.update(bot="")
    migration = importlib.import_module("safepassage.channels.migrations.0004_outbox_bot_queued")
    migration.bot_of_each_row(apps, None)
    assert [r.bot for r in OutboxMessage.objects.order_by("chat_id")] == [c.bot for c in chats]
    OutboxMessage.objects.update(bot="")
    Sender("main").housekeeping()
    assert [r.bot for r in OutboxMessage.objects.order_by("chat_id")] == [c.bot for c in chats]


def _backlog(chats: int, rows: int, first_id: int) -> list[TelegramChat]:
    """``rows`` real messages for each of ``chats`` new chats, queued round-robin."""
    made = TelegramChat.objects.bulk_create(
        TelegramChat(
            bot="main", pseudonym=f"DEMO-{first_id + n}", chat_sealed=seal_chat_id(first_id + n)
        )
        for n in range(chats)
    )
    with transaction.atomic(), outbox_module.deferred():
        for m in range(rows):
            for chat in made:
                outbox_module.do_send_text(chat, f"DEMO {chat.pk} {m}")
    return made


def test_chats_stuck_behind_a_lease_never_stop_the_other_chats(fake: FakeTelegram) -> None:
    """2,000 rows of 500 chats whose oldest row is still `sending` under a long lease (a
    worker died mid-call, or its result waits for the database) come before the messages of
    20 other chats: those go out at once, not when the leases run out."""
    stuck = _backlog(500, 4, 5150000000)
    ready = _backlog(20, 1, 5160000000)
    heads = [
        OutboxMessage.objects.filter(chat=chat).order_by("id").values_list("id", flat=True)[0]
        for chat in stuck
    ]
    OutboxMessage.objects.filter(pk__in=heads).update(
        status="sending", lease_until=timezone.now() + timedelta(hours=1)
    )
    sender = Sender("main")
    deadline = time.monotonic() + 5
    waiting = {int(outbox_module.chat_id_of(chat)) for chat in ready}
    while waiting and time.monotonic() < deadline:
        sender.run_once()
        waiting = {chat_id for chat_id in waiting if not fake.chat(TOKEN, chat_id)}
    sender.close()
    assert not waiting, f"{len(waiting)} of 20 ready chats got nothing in 5 s"
    assert len(fake.calls(TOKEN, "sendMessage")) == 20  # and nothing of the stuck chats
    # Each stuck chat's rows wait behind its oldest, in order; they go when it is done. (Of its
    # four automatic replies, one made room: a chat keeps at most CHAT_CAP waiting.)
    assert OutboxMessage.objects.filter(status="behind").count() == 500 * (CHAT_CAP - 1)


def _stuck_head_then_one_claim(chat: TelegramChat) -> tuple[OutboxMessage, Sender]:
    """The chat's oldest row held by a live-looking lease for an hour, then one claim, which
    sets the chat's other rows aside behind it."""
    head = OutboxMessage.objects.filter(chat=chat).order_by("id").first()
    assert head is not None
    OutboxMessage.objects.filter(pk=head.pk).update(
        status="sending", lease_until=timezone.now() + timedelta(hours=1)
    )
    sender = Sender("main")
    sender.run_once()
    return head, sender


def test_a_chat_set_aside_behind_its_oldest_row_goes_on_in_order(fake: FakeTelegram) -> None:
    """Once the stuck row's lease ran out it is sent, then the rows behind it, in order."""
    (chat,) = _backlog(1, 3, 5170000000)
    head, sender = _stuck_head_then_one_claim(chat)
    assert OutboxMessage.objects.filter(status="behind").count() == 2
    OutboxMessage.objects.filter(pk=head.pk).update(lease_until=timezone.now())
    sender.run_until_idle()
    sender.close()
    texts = [m["text"] for m in fake.chat(TOKEN, 5170000000)]
    assert texts == [f"DEMO {chat.pk} {m}" for m in range(3)]


def test_rows_behind_a_row_deleted_meanwhile_go_out(fake: FakeTelegram) -> None:
    """/delete drops a chat's queued replies: what was set aside behind them goes on."""
    (chat,) = _backlog(1, 3, 5172000000)
    head, sender = _stuck_head_then_one_claim(chat)
    OutboxMessage.objects.filter(pk=head.pk).delete()
    sender.last_sweep = sender.last_orphan_sweep = 0.0  # the sweep's time has come
    sender.run_until_idle()
    sender.close()
    texts = [m["text"] for m in fake.chat(TOKEN, 5172000000)]
    assert texts == [f"DEMO {chat.pk} {m}" for m in (1, 2)]


def test_a_result_held_past_a_lease_another_claim_took_over_is_dropped(
    fake: FakeTelegram,
) -> None:
    """Results are written only under the claim's lease: a second write, or one after another
    claim took the row over, changes nothing."""
    _backlog(1, 1, 5173000000)
    sender = Sender("main")
    (row,) = sender.claim()
    taken_over = timezone.now() + timedelta(minutes=5)
    OutboxMessage.objects.filter(pk=row.pk).update(lease_until=taken_over)
    sender.unrecorded = [(row, BadRequest("DEMO refused"))]
    assert sender.record_held() and not sender.unrecorded
    assert OutboxMessage.objects.get(pk=row.pk).status == "sending"
    sender.close()


def test_a_sender_held_up_past_its_lease_leaves_the_row_to_the_one_that_took_it_over(
    fake: FakeTelegram,
) -> None:
    """A sender held up until its claim's lease ran out (a long 429 pause, the shared window)
    while another sender took the row over: the message goes out once."""
    chat = TelegramChat.objects.create(
        bot="main", pseudonym="DEMO-late", chat_sealed=outbox_module.seal_chat_id(5130000099)
    )
    outbox_module.do_send_text(chat, "DEMO once", urgent=True)
    late, other = Sender("main"), Sender("main")
    held_up = late.claim()
    ran_out = timezone.now() - timedelta(seconds=1)
    OutboxMessage.objects.update(lease_until=ran_out)
    for row in held_up:
        row.lease_until = ran_out
    taken = other.claim()
    assert [row.pk for row in taken] == [row.pk for row in held_up]
    late.send_batch(held_up)
    other.send_batch(taken)
    late.close()
    other.close()
    assert [c.params.get("text") for c in fake.calls(TOKEN, "sendMessage")] == ["DEMO once"]
    assert OutboxMessage.objects.get().status == "sent"
