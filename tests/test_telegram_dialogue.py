"""The application flow over Telegram, through the real webhook view, the real outbox worker,
python-telegram-bot and the local fake Bot API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from safepassage.cases import sealed, services
from safepassage.cases.models import Case, ChannelIdentity, Status
from safepassage.channels.models import ChatTrace, TelegramChat
from safepassage.channels.telegram import outbox
from safepassage.channels.telegram.outbox import outbox_states
from safepassage.conversations import catalog
from safepassage.privacy.keyring import Keyring
from safepassage.testing.fake_telegram import FakeTelegram
from tests.conftest import DEMO_APPLICANT, demo_campaign_code
from tests.telegram_support import Applicant

pytestmark = pytest.mark.django_db


def apply(person: Applicant, lang: str) -> None:
    person.press("self")
    person.press("front")
    person.press("now")
    person.location(48.287312, 37.181265)  # the sector, as a shared location
    person.text(DEMO_APPLICANT["unit"])
    person.text(DEMO_APPLICANT["name"])
    person.press("skip")
    person.press("group")
    person.text("3")
    person.press("record_as_captured")
    assert person.last()["reply_markup"]["inline_keyboard"][0][0]["text"].startswith("☑")
    person.press("no_exchange")
    person.press("no_exchange")  # ticked and unticked again
    person.press("")  # continue
    summary = person.last()["text"]
    assert catalog.text(lang, "apply.summary.prompt") in summary
    assert DEMO_APPLICANT["name"] in summary
    person.press("confirm")


def test_korean_application_over_telegram(
    fake: FakeTelegram, client: Client, ring: Keyring
) -> None:
    person = Applicant(fake, client, FakeTelegram.applicant(5110000001, "ko"))
    person.text("/start")
    assert person.last()["text"] == catalog.text("ko", "apply.who.prompt")
    apply(person, "ko")
    case = Case.objects.get()
    assert case.status == Status.NEW and case.language == "ko" and case.channel == "telegram"
    assert case.triage["readiness"] == "now" and case.triage["group_size"] == 3
    assert case.triage["wishes"] == ["record_as_captured"]
    answers = services.answers_for_staff(case, ring)
    assert answers["sector"] == "48.3, 37.2"  # coarse, and sealed
    assert answers["unit"] == DEMO_APPLICANT["unit"] and answers["birth_date"] == ""
    texts = [m["text"] for m in person.messages()]
    # Confirmed: the questions and answers are gone from the chat, the confirmation stays.
    assert not any(catalog.text("ko", "apply.who.prompt") in t for t in texts)
    assert catalog.text("ko", "apply.done.prompt") in texts[0]
    assert services.reference_of(case, ring) in texts[0]
    assert catalog.text("ko", "chat.tg.erase_hint") in texts[0]
    assert texts[-1].startswith(catalog.text("ko", "menu.prompt"))
    # The raw Telegram id is nowhere: the identity is a keyed hash, the chat id ciphertext.
    identity = ChannelIdentity.objects.get()
    assert "5110000001" not in identity.pseudonym
    assert b"5110000001" not in bytes(TelegramChat.objects.get().chat_sealed)
    # The precise location message was deleted from the chat right away.
    assert (5110000001, 5) in fake.bots[person.token].deleted or any(
        d[0] == 5110000001 for d in fake.bots[person.token].deleted
    )


def test_russian_deep_link_operator_reply_and_returning_applicant(
    fake: FakeTelegram, client: Client, ring: Keyring
) -> None:
    demo_campaign_code("leaflet7")
    person = Applicant(fake, client, FakeTelegram.applicant(5110000002, "en"))
    person.text("/start ru_leaflet7")
    assert person.last()["text"] == catalog.text("ru", "apply.who.prompt")
    apply(person, "ru")
    case = Case.objects.get()
    assert case.language == "ru" and case.contact.campaign is not None
    person.text("DEMO вопрос оператору")
    assert services.transcript(case, ring)[-1].text == "DEMO вопрос оператору"

    operator = User.objects.create_user("op", password="x" * 16, is_staff=True)
    message = services.do_operator_reply(case, operator, "DEMO ответ оператора")
    assert outbox_states(case)[message.pk].status == "queued"
    person.flush()
    assert person.last()["text"] == "DEMO ответ оператора"
    assert outbox_states(case)[message.pk].status == "sent"
    message.refresh_from_db()
    assert sealed.open_message_for_server(case, message) is None  # delivered, so sealed

    person.text("/start")  # the same chat later: the menu, not a new application
    assert person.last()["text"].startswith(catalog.text("ru", "menu.prompt"))
    assert Case.objects.count() == 1


def test_delete_asks_first_then_erases_case_and_chat(fake: FakeTelegram, client: Client) -> None:
    person = Applicant(fake, client, FakeTelegram.applicant(5110000003, "uk"))
    person.text("/start")
    person.press("relative")
    person.text("/delete")
    assert person.last()["text"] == catalog.text("uk", "delete.confirm.prompt")
    person.press("keep")
    assert Case.objects.count() == 1
    person.text("/delete")
    person.press("erase")
    assert Case.objects.count() == 0 and ChannelIdentity.objects.count() == 0
    remaining = person.messages()
    assert [m["text"] for m in remaining] == [catalog.text("uk", "chat.tg.deleted")]
    assert ChatTrace.objects.count() == 1  # the last message, deleted after the set time
    assert outbox.do_erase_due(timezone.now() + timedelta(hours=25)) == 1
    person.flush()
    assert person.messages() == []
    assert TelegramChat.objects.count() == 0  # nothing of this chat is left


def test_language_is_asked_when_unknown_and_lang_changes_it(
    fake: FakeTelegram, client: Client
) -> None:
    person = Applicant(fake, client, FakeTelegram.applicant(5110000004, "de"))
    person.text("hello")
    assert set(person.buttons()) == set(catalog.languages())
    person.press("ko")
    assert person.last()["text"] == catalog.text("ko", "apply.who.prompt")
    person.text("/lang")
    person.press("ru")
    assert person.last()["text"] == catalog.text("ru", "apply.who.prompt")
    person.text("free text where a button is expected")
    assert catalog.text("ru", "chat.tg.use_buttons") in person.last()["text"]
    assert Case.objects.get().language == "ru"


def test_an_old_button_gets_a_calm_answer(fake: FakeTelegram, client: Client) -> None:
    person = Applicant(fake, client, FakeTelegram.applicant(5110000005, "en"))
    person.text("/start")
    first = person.last()
    person.press("self")
    person.press("front", message=None)
    person.press("self", message=first)  # a press on the first question again
    answers = [c.params for c in fake.calls(person.token, "answerCallbackQuery")]
    assert answers[-1].get("text") == catalog.text("en", "chat.tg.use_buttons")
    assert Case.objects.get().triage == {"who": "self", "whereabouts": "front"}


def test_restart_begins_again_without_the_old_answers(fake: FakeTelegram, client: Client) -> None:
    person = Applicant(fake, client, FakeTelegram.applicant(5110000006, "ru"))
    person.text("/start")
    person.press("relative")
    person.press("rear")
    person.text("/restart")
    assert person.last()["text"] == catalog.text("ru", "apply.who.prompt")
    assert Case.objects.get().triage == {}
    assert "back" not in person.buttons()  # nothing to go back to
