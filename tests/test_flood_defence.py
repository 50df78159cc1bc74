"""Flood defence (issue 12): outbound capacity (30 messages/s per bot) is spent fairly. Each rule
its own test: a cap per chat, repeats merged, chats served round-robin, priorities (the
credentials message before deletions, operators' replies first), parking a flooding sender
without dropping what it wrote, and the fake score with operators' marks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.utils import timezone

from safepassage.cases import services
from safepassage.cases.models import Case, CaseEvent
from safepassage.channels.models import ChatTrace, OutboxMessage, TelegramChat, TelegramUpdate
from safepassage.channels.telegram import claims, outbox
from safepassage.channels.telegram.sender import Sender
from safepassage.testing.fake_telegram import FakeTelegram
from tests.conftest import demo_campaign_code
from tests.telegram_support import TOKEN, Applicant, post_update

pytestmark = pytest.mark.django_db


def _chats(count: int, first: int) -> list[TelegramChat]:
    return TelegramChat.objects.bulk_create(
        TelegramChat(
            bot="main", pseudonym=f"DEMO-{first + n}", chat_sealed=outbox.seal_chat_id(first + n)
        )
        for n in range(count)
    )


def _texts(fake: FakeTelegram, chat: TelegramChat) -> list[str]:
    return [m.get("text", "") for m in fake.chat(TOKEN, outbox.chat_id_of(chat))]


def _send(rows: list[OutboxMessage]) -> None:
    sender = Sender("main")
    try:
        sender.send_batch(rows)
    finally:
        sender.close()


def test_a_chat_keeps_at_most_a_few_automatic_replies_waiting(fake: FakeTelegram) -> None:
    """Ten different automatic replies to one chat behind an operator's reply: the newest
    CHAT_CAP automatic ones stay; the operator's reply is never dropped."""
    (chat,) = _chats(1, 5200000000)
    operator = User.objects.create_user("op-cap", password="x" * 16, is_staff=True)
    case = services.do_create_case("telegram", "en", None)
    with transaction.atomic():
        message = services.do_add_message(case, "out", "DEMO operator", "telegram", operator)
        outbox.do_send_text(chat, "DEMO operator", case=case, message=message)
    with transaction.atomic(), outbox.deferred():
        for n in range(10):
            outbox.do_send_text(chat, f"DEMO automatic {n}")
    automatic = OutboxMessage.objects.filter(chat=chat, message__isnull=True).order_by("id")
    assert automatic.count() == outbox.CHAT_CAP
    Sender("main").run_until_idle()
    assert _texts(fake, chat) == [
        "DEMO operator",
        "DEMO automatic 7",
        "DEMO automatic 8",
        "DEMO automatic 9",
    ]


def test_repeats_of_the_same_automatic_reply_are_merged(fake: FakeTelegram, client: Client) -> None:
    """Five texts at a question that wants a button: the "use the buttons" reply, while it
    still waits, is not queued again; the applicant gets it once."""
    person = Applicant(fake, client, FakeTelegram.applicant(5200000100, "en"))
    person.text("/start")
    before = len(person.messages())
    bot = fake.bots[TOKEN]
    for n in range(5):
        fake.send_text(TOKEN, person.user, f"DEMO text {n}")
    for update in list(bot.updates):
        assert post_update(client, update) == 200
    bot.updates.clear()
    assert TelegramUpdate.objects.count() == 6  # every text applied
    person.flush()
    replies = [m for m in person.messages()[before:] if m["from"]["is_bot"]]
    assert len(replies) == 1


def test_chats_are_served_round_robin(fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chat A queued three messages before B and C queued one each. Two per claim: A's second
    message waits for its turn behind C's, instead of going first because it is older."""
    monkeypatch.setattr(claims, "BATCH", 2)
    a, b, c = _chats(3, 5200000200)
    with transaction.atomic(), outbox.deferred():
        for n in range(3):
            outbox.do_send_text(a, f"DEMO a{n}")
        outbox.do_send_text(b, "DEMO b0")
        outbox.do_send_text(c, "DEMO c0")
    first = claims.claim("main", timezone.now())
    assert [row.chat_id for row in first] == [a.pk, b.pk]
    _send(first)
    later = timezone.now() + timedelta(seconds=2)  # every chat's one-second gap has passed
    assert [row.chat_id for row in claims.claim("main", later)] == [c.pk, a.pk]


def test_the_credentials_message_goes_before_the_deletions_queued_ahead_of_it(
    fake: FakeTelegram,
) -> None:
    """On confirmation the bot deletes the conversation's 13 messages and sends the reference
    and passphrase: that message is the first call, the deletions follow."""
    (chat,) = _chats(1, 5200000300)
    ChatTrace.objects.bulk_create(
        ChatTrace(chat=chat, message_id=n, erase_due=timezone.now()) for n in range(1, 14)
    )
    with transaction.atomic(), outbox.deferred():
        outbox.do_erase_traces(chat)
        outbox.do_send_text(chat, "DEMO reference and passphrase", urgent=True)
    Sender("main").run_until_idle()
    calls = sorted(
        fake.calls(TOKEN, "sendMessage") + fake.calls(TOKEN, "deleteMessage"),
        key=lambda call: call.at,
    )
    assert calls[0].method == "sendMessage"
    assert calls[0].params["text"] == "DEMO reference and passphrase"
    assert [call.method for call in calls[1:]] == ["deleteMessage"] * 13


def test_deletions_keep_a_share_however_busy_the_bot_is() -> None:
    """A bot with more messages waiting than a claim takes still deletes some messages in each
    claim: housekeeping is last, never starved."""
    busy = _chats(100, 5200000400)
    (done,) = _chats(1, 5200000500)
    ChatTrace.objects.bulk_create(
        ChatTrace(chat=done, message_id=n, erase_due=timezone.now()) for n in range(1, 21)
    )
    with transaction.atomic(), outbox.deferred():
        outbox.do_erase_traces(done)
        for chat in busy:
            outbox.do_send_text(chat, "DEMO busy")
    claimed = claims.claim("main", timezone.now())
    methods = [row.method for row in claimed]
    assert len(claimed) == claims.BATCH
    assert methods.count(outbox.DELETE) == claims.HOUSEKEEPING_SHARE
    assert methods[-1] == outbox.DELETE  # and they go last in the batch


def test_an_operator_reply_overtakes_automatic_ones(
    fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sixty chats have automatic replies waiting; an operator answers one applicant whose
    chat also waits for two automatic replies: the operator's reply is the first call."""
    monkeypatch.setattr(claims, "BATCH", 5)
    crowd = _chats(60, 5200000600)
    (mine,) = _chats(1, 5200000700)
    with transaction.atomic(), outbox.deferred():
        for chat in crowd:
            outbox.do_send_text(chat, "DEMO automatic")
        outbox.do_send_text(mine, "DEMO automatic one")
        outbox.do_send_text(mine, "DEMO automatic two")
    operator = User.objects.create_user("op-first", password="x" * 16, is_staff=True)
    case = services.do_create_case("telegram", "en", None)
    with transaction.atomic():
        message = services.do_add_message(case, "out", "DEMO from staff", "telegram", operator)
        outbox.do_send_text(mine, "DEMO from staff", case=case, message=message)
    claimed = claims.claim("main", timezone.now())
    assert claimed[0].chat_id == mine.pk and claimed[0].message_id == message.pk
    _send(claimed)
    assert _texts(fake, mine) == ["DEMO from staff"]


def _flood(fake: FakeTelegram, client: Client, person: Applicant, count: int) -> None:
    bot = fake.bots[TOKEN]
    for n in range(count):
        fake.send_text(TOKEN, person.user, f"DEMO flood {n}")
    for update in list(bot.updates):
        assert post_update(client, update) == 200
    bot.updates.clear()


def test_a_flooding_sender_is_parked_and_a_genuine_applicant_goes_first(
    fake: FakeTelegram, client: Client
) -> None:
    """A sender over its limit is parked: everything it wrote was applied, its case carries the
    "flooding" signal, and its replies wait behind a genuine applicant who wrote later."""
    hostile = Applicant(fake, client, FakeTelegram.applicant(5200000800, "en"))
    hostile.text("/start")
    _flood(fake, client, hostile, 30)
    assert TelegramUpdate.objects.count() == 31  # nothing it wrote was dropped
    chat = TelegramChat.objects.get()
    assert chat.parked_until is not None and chat.parked_until > timezone.now()
    case = Case.objects.get()
    assert case.fake_score > 0
    genuine = Applicant(fake, client, FakeTelegram.applicant(5200000801, "en"))
    bot = fake.bots[TOKEN]
    update_id = fake.send_text(TOKEN, genuine.user, "/start")
    update = next(u for u in bot.updates if u["update_id"] == update_id)
    bot.updates.remove(update)
    assert post_update(client, update) == 200
    claimed = claims.claim("main", timezone.now() + timedelta(seconds=2))
    genuine_chat = TelegramChat.objects.exclude(pk=chat.pk).get()
    assert claimed[0].chat_id == genuine_chat.pk
    assert {row.priority for row in claimed if row.chat_id == chat.pk} <= {outbox.SUSPECT}


def test_many_first_contacts_from_one_code_raise_the_fake_score(
    fake: FakeTelegram, client: Client
) -> None:
    demo_campaign_code("leafletx")
    bot = fake.bots[TOKEN]
    for n in range(15):
        fake.send_text(TOKEN, FakeTelegram.applicant(5200000900 + n, "en"), "/start leafletx")
    for update in list(bot.updates):
        assert post_update(client, update) == 200
    bot.updates.clear()
    scores = sorted(Case.objects.values_list("fake_score", flat=True))
    assert scores[:10] == [0] * 10  # the first ten of the burst look like anyone else
    assert all(score > 0 for score in scores[10:])


def test_operators_marks_feed_back(staff: Any, fake: FakeTelegram, client: Client) -> None:
    """A suspicious case sits lower in the queue with a badge; an operator's "genuine" clears
    the score and restores its place, "fake" lowers it below all others and its automatic
    replies wait behind everyone's. Each mark is a case event; nothing is deleted."""
    person = Applicant(fake, client, FakeTelegram.applicant(5200001000, "en"))
    person.text("/start")
    case = Case.objects.get()
    case.triage = {"readiness": "now", "whereabouts": "front"}
    case.status = "new"
    case.fake_score = 60
    case.urgency = 80 - 60
    case.save()
    operator = staff("operator")
    rows = operator.get("/console/queue/rows/").content.decode()
    assert "fake? 60" in rows
    response = operator.post(f"/console/cases/{case.pk}/fake-mark/", {"mark": "nonsense"})
    assert response.status_code == 400
    response = operator.post(
        f"/console/cases/{case.pk}/fake-mark/", {"mark": "genuine", "version": case.version}
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.fake_mark, case.fake_score, case.urgency) == ("genuine", 0, 80)
    assert "fake?" not in operator.get("/console/queue/rows/").content.decode()
    response = operator.post(
        f"/console/cases/{case.pk}/fake-mark/", {"mark": "fake", "version": case.version}
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.urgency < 0 and Case.objects.filter(pk=case.pk).exists()
    assert "marked fake" in operator.get("/console/queue/rows/").content.decode()
    events = list(CaseEvent.objects.filter(case=case, kind="fake_mark").values_list("detail"))
    assert events == [("none -> genuine",), ("genuine -> fake",)]
    chat = TelegramChat.objects.get()
    outbox.do_send_text(chat, "DEMO next question", case=case)
    assert OutboxMessage.objects.filter(chat=chat).order_by("-id")[0].priority == outbox.SUSPECT


def test_texts_where_a_button_is_wanted_park_a_slow_sender(
    fake: FakeTelegram, client: Client
) -> None:
    """A hostile crowd need not write fast: four texts in a minute where the question wants a
    button park the sender too, and the repeated question waits behind first contacts."""
    person = Applicant(fake, client, FakeTelegram.applicant(5200001100, "en"))
    person.text("/start")
    for n in range(3):
        person.text(f"DEMO not a button {n}")
    chat = TelegramChat.objects.get()
    assert chat.parked_until is None  # three are a confused applicant, not a flood
    notice = OutboxMessage.objects.filter(chat=chat).order_by("-id")[0]
    assert notice.priority == outbox.NOTICE
    person.text("DEMO not a button 3")
    chat.refresh_from_db()
    assert chat.parked_until is not None and chat.parked_until > timezone.now()
    assert OutboxMessage.objects.filter(chat=chat).order_by("-id")[0].priority == outbox.SUSPECT
