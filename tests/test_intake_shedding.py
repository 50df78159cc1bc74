"""Intake shedding (issue 12): under overload a parked sender's updates are acknowledged after a
sealed write and applied later, in order, while genuine updates of the same batch are applied at
once; and the "contradictory answers" signal of fake applications, with its reason shown to
operators."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from safepassage.cases.models import Case
from safepassage.channels.models import DeferredUpdate, OutboxMessage, TelegramChat, TelegramUpdate
from safepassage.channels.telegram import batch, deferral
from safepassage.console.models import Role, StaffProfile
from safepassage.conversations import catalog
from safepassage.testing.fake_telegram import FakeTelegram
from tests.conftest import make_staff, staff_login
from tests.telegram_support import TOKEN, Applicant, post_update
from tests.test_telegram_batch import pending, take

pytestmark = pytest.mark.django_db


def _park(person: Applicant) -> None:
    """As dialogue._park does for a sender over its limits (tested in test_flood_defence)."""
    parked = TelegramChat.objects.filter(pk=_chat(person).pk)
    assert parked.update(parked_until=timezone.now() + timedelta(seconds=60)) == 1


def _chat(person: Applicant) -> TelegramChat:
    return TelegramChat.objects.get(conversation__case__in=_cases(person))


def _cases(person: Applicant) -> Any:
    from safepassage.cases.models import ChannelIdentity
    from safepassage.privacy.fields import channel_pseudonym

    identity = ChannelIdentity.objects.get(
        channel="telegram", pseudonym=channel_pseudonym("telegram", str(person.user["id"]))
    )
    return Case.objects.filter(contact_id=identity.contact_id)


def _press(fake: FakeTelegram, person: Applicant, step: str, value: str) -> dict[str, Any]:
    question = person.last()
    return take(fake, person, fake.press(TOKEN, person.user, question, f"c|{step}|{value}"))


def _text(fake: FakeTelegram, person: Applicant, text: str) -> dict[str, Any]:
    return take(fake, person, fake.send_text(TOKEN, person.user, text))


def _drain() -> None:
    while deferral.drain():
        pass


def test_a_parked_senders_updates_wait_sealed_and_follow_in_order(
    fake: FakeTelegram, client: Client
) -> None:
    """A parked sender's 20 updates in an overloaded batch: each acknowledged and stored sealed,
    none applied yet; a new applicant and an applicant in progress (parked too) in the same
    batch are answered at once; a redelivery of a deferred update is dropped; a later update of
    the sender, alone, waits behind the others; drained, the updates are applied in the order
    written (three presses, then texts that answer the text questions) with their replies."""
    hostile = Applicant(fake, client, FakeTelegram.applicant(5300000001, "en"))
    hostile.text("/start")
    _park(hostile)
    busy = Applicant(fake, client, FakeTelegram.applicant(5300000003, "en"))
    busy.text("/start")
    busy.press("self")  # in progress: never deferred, parked or not
    _park(busy)
    before = len(hostile.messages())

    updates = [
        _press(fake, hostile, "who", "relative"),
        _press(fake, hostile, "whereabouts", "rear"),
        _press(fake, hostile, "readiness", "days"),
    ]
    updates += [_text(fake, hostile, f"DEMO hostile words {n}") for n in range(17)]
    genuine = Applicant(fake, client, FakeTelegram.applicant(5300000002, "en"))
    items = [pending(update) for update in updates]
    items.insert(10, pending(_text(fake, genuine, "/start")))
    items.insert(12, pending(_press(fake, busy, "whereabouts", "front")))
    batch.apply_all(items)

    assert all(item.done.result() is True for item in items)  # acknowledged
    assert TelegramUpdate.objects.count() == 1 + 2 + 22  # every update id recorded
    rows = list(DeferredUpdate.objects.order_by("id"))
    assert [row.update_id for row in rows] == [u["update_id"] for u in updates]
    for row in rows:  # sealed: neither the words, the button nor the sender's id in the clear
        stored = bytes(row.update_sealed)
        assert b"DEMO" not in stored and b"relative" not in stored
        assert str(hostile.user["id"]).encode() not in stored

    hostile.flush()
    assert catalog.text("en", "apply.who.prompt") in genuine.last()["text"]
    assert catalog.text("en", "apply.readiness.prompt") in busy.last()["text"]
    assert len(hostile.messages()) == before  # nothing applied for the parked sender yet
    hostile_case = _cases(hostile).get()
    assert hostile_case.triage == {}

    replay = [pending(updates[0])]
    batch.apply_all(replay)
    assert replay[0].done.result() is False
    late = fake.send_text(TOKEN, hostile.user, "DEMO hostile late")
    late_update = take(fake, hostile, late)
    assert post_update(client, late_update) == 200  # alone, not overloaded: still behind
    assert DeferredUpdate.objects.count() == 21

    _drain()
    hostile.flush()
    assert not DeferredUpdate.objects.exists()
    hostile_case.refresh_from_db()
    # In the order written: had any press come out of order it would have been refused.
    assert hostile_case.triage == {"who": "relative", "whereabouts": "rear", "readiness": "days"}
    assert catalog.text("en", "apply.company.prompt") in hostile.last()["text"]
    assert TelegramUpdate.objects.count() == 26
    texts = [m.get("text", "") for m in hostile.messages()[before:] if m["from"]["is_bot"]]
    assert texts  # the replies went out (the parked sender's, capped per chat)


def test_a_chat_in_progress_with_deferred_updates_gets_them_first(
    fake: FakeTelegram, client: Client
) -> None:
    """Deferred updates of a chat that an operator then marked genuine are applied before its
    next update, in the same transaction: the chat is never deferred again."""
    person = Applicant(fake, client, FakeTelegram.applicant(5300000100, "en"))
    person.text("/start")
    _park(person)
    first = _press(fake, person, "who", "self")
    noise = [
        pending(_text(fake, Applicant(fake, client, FakeTelegram.applicant(5300000200 + n)), "hi"))
        for n in range(deferral.OVERLOAD_WAITING)
    ]
    batch.apply_all([pending(first), *noise])
    assert DeferredUpdate.objects.count() == 1
    Case.objects.filter(pk__in=_cases(person)).update(fake_mark="genuine")
    second = take(fake, person, fake.press(TOKEN, person.user, person.last(), "c|whereabouts|rear"))
    assert post_update(client, second) == 200
    assert not DeferredUpdate.objects.exists()
    assert _cases(person).get().triage == {"who": "self", "whereabouts": "rear"}
    assert OutboxMessage.objects.filter(chat=_chat(person)).exists()


def test_answers_changed_back_and_forth_raise_the_fake_score_with_a_reason(
    fake: FakeTelegram, client: Client, staff: Any
) -> None:
    """ "Self", then "a relative", then "self" again: the contradictory signal raises the score
    once, and the queue and the case page say why, in the operator's language. One correction
    (self, then relative) is what genuine applicants do: no signal."""
    once = Applicant(fake, client, FakeTelegram.applicant(5300000300, "en"))
    once.text("/start")
    once.press("self")
    once.press("back")
    once.press("relative")
    assert _cases(once).get().fake_score == 0

    person = Applicant(fake, client, FakeTelegram.applicant(5300000301, "en"))
    person.text("/start")
    for value in ("self", "back", "relative", "back", "self", "back", "relative"):
        person.press(value)
    case = _cases(person).get()
    assert case.fake_signals == ["contradictory"]
    assert case.fake_score == 20  # raised once, however often it flips
    Case.objects.filter(pk=case.pk).update(status="new")

    operator = staff("operator")
    rows = operator.get("/console/queue/rows/").content.decode()
    assert "fake? 20" in rows
    assert "answered who applies, where he is or how urgent it is back and forth" in rows
    make_staff("oksana-shed", Role.OPERATOR)
    StaffProfile.objects.filter(user__username="oksana-shed").update(language="uk")
    page = staff_login("oksana-shed").get(f"/console/cases/{case.pk}/").content.decode()
    assert "Помічені ознаки" in page and "туди й назад" in page
