"""What applicants send over Telegram is cleaned as the web chat's answers are, odd bodies and
shapes are refused without a traceback, and attachments are told their real outcome."""

from __future__ import annotations

import json
import logging
import unicodedata

import pytest
from django.test import Client

from safepassage.cases import services
from safepassage.cases.models import Case
from safepassage.channels.models import Attachment, OutboxMessage, TelegramChat, TelegramUpdate
from safepassage.conversations import catalog
from safepassage.privacy.keyring import Keyring
from safepassage.testing.fake_telegram import FakeTelegram
from tests.telegram_support import SECRET, Applicant, post_update, sample

pytestmark = pytest.mark.django_db

HANGUL_NFC = "김남일"
HANGUL_NFD = unicodedata.normalize("NFD", HANGUL_NFC)


def logged(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    """Everything logged so far: stdlib records and structlog's lines (printed)."""
    out, err = capsys.readouterr()
    return caplog.text + out + err


def nothing_stored() -> bool:
    return not (
        TelegramUpdate.objects.exists()
        or TelegramChat.objects.exists()
        or Case.objects.exists()
        or OutboxMessage.objects.exists()
    )


def nested(levels: int) -> bytes:
    return b'{"update_id": 810000001, "x": ' + b"[" * levels + b"]" * levels + b"}"


def test_a_deeply_nested_body_is_400_without_a_traceback(
    fake: FakeTelegram,
    client: Client,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    body = nested(1000)
    assert len(body) < 2100
    response = client.post(
        "/tg/main/webhook",
        body,
        "application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET,
    )
    assert response.status_code == 400
    assert nothing_stored()
    text = logged(caplog, capsys)
    assert "Traceback" not in text and "RecursionError" not in text


def test_brackets_inside_strings_do_not_count_as_nesting(
    fake: FakeTelegram, client: Client
) -> None:
    update = sample("message")
    update["message"]["text"] = "/start " + "[{" * 200 + '\\"'
    assert post_update(client, update) == 200
    assert Case.objects.count() == 1


def to_unit_step(person: Applicant) -> None:
    person.text("/start")
    person.press("self")
    person.press("front")
    person.press("now")
    person.location(48.287312, 37.181265)
    assert person.last()["text"].endswith(catalog.text("en", "apply.unit.prompt"))


def test_telegram_text_is_cleaned_as_the_web_chats(
    fake: FakeTelegram, client: Client, ring: Keyring
) -> None:
    person = Applicant(fake, client, FakeTelegram.applicant(5110000031, "en"))
    to_unit_step(person)
    person.text("DEMO-UNIT\x00 12\u202e34")
    person.text(f"DEMO {HANGUL_NFD}")
    answers = services.answers_for_staff(Case.objects.get(), ring)
    assert answers["unit"] == "DEMO-UNIT 1234"
    assert answers["name"] == f"DEMO {HANGUL_NFC}"
    person.press("skip")
    person.press("group")
    person.text("3")
    person.press("record_as_captured")
    person.press("")
    summary = person.last()["text"]
    assert "DEMO-UNIT 1234" in summary and f"DEMO {HANGUL_NFC}" in summary
    assert "\x00" not in summary and "\u202e" not in summary and HANGUL_NFD not in summary


def test_a_lone_surrogate_gets_an_answer_and_the_next_text_answers_the_right_step(
    fake: FakeTelegram, client: Client, ring: Keyring
) -> None:
    person = Applicant(fake, client, FakeTelegram.applicant(5110000032, "en"))
    to_unit_step(person)
    before = len(person.messages())
    person.text("\ud800")
    assert len(person.messages()) == before + 1  # a calm re-ask, not silence
    assert catalog.text("en", "reask.required") in person.last()["text"]
    assert person.last()["text"].endswith(catalog.text("en", "apply.unit.prompt"))
    person.text("DEMO-UNIT 77")
    assert person.last()["text"].endswith(catalog.text("en", "apply.name.prompt"))
    assert services.answers_for_staff(Case.objects.get(), ring)["unit"] == "DEMO-UNIT 77"


@pytest.mark.parametrize("invisible", ["\u3164", "\u200b\u200b", " \u3164\u200d\ufeff "])
def test_an_answer_of_invisible_characters_is_asked_again(
    fake: FakeTelegram, client: Client, invisible: str
) -> None:
    person = Applicant(fake, client, FakeTelegram.applicant(5110000033, "en"))
    to_unit_step(person)
    person.text(invisible)
    assert catalog.text("en", "reask.required") in person.last()["text"]
    assert person.last()["text"].endswith(catalog.text("en", "apply.unit.prompt"))


# -- shapes (finding 14) ---------------------------------------------------------------------


def refused_shapes() -> list[tuple[str, dict[str, object]]]:
    huge_chat = sample("message")
    huge_chat["message"]["chat"]["id"] = 2**70
    huge_user = sample("message")
    huge_user["message"]["from"]["id"] = -(2**60)
    text_list = sample("message")
    text_list["message"]["text"] = ["/start"]
    no_new_member = sample("my_chat_member")
    del no_new_member["my_chat_member"]["new_chat_member"]
    no_from = sample("message")
    del no_from["message"]["from"]
    big_message_id = sample("message")
    big_message_id["message"]["message_id"] = 2**40
    bad_data = sample("callback_query")
    bad_data["callback_query"]["data"] = {"x": 1}
    big_update_id = sample("message")
    big_update_id["update_id"] = 2**40
    return [
        ("chat id 2**70", huge_chat),
        ("user id beyond 52 bits", huge_user),
        ("text a list", text_list),
        ("partial my_chat_member", no_new_member),
        ("private message without from", no_from),
        ("message id beyond int32", big_message_id),
        ("callback data an object", bad_data),
        ("update id beyond int32", big_update_id),
    ]


@pytest.mark.parametrize(("name", "update"), refused_shapes())
def test_wrong_shapes_are_ignored_with_one_log_line(
    fake: FakeTelegram,
    client: Client,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    name: str,
    update: dict[str, object],
) -> None:
    caplog.set_level(logging.DEBUG)
    assert post_update(client, update) == 200, name
    assert not Case.objects.exists() and not TelegramChat.objects.exists(), name
    assert not OutboxMessage.objects.exists(), name
    text = logged(caplog, capsys)
    assert "telegram_update_refused" in text, name
    assert "Traceback" not in text and "AttributeError" not in text, name
    assert "telegram.update_failed" not in text, name
    assert "DEMO" not in text and "Sentinel" not in text  # nothing of the payload
    assert post_update(client, update) == 200  # a redelivery is dropped, not refused again


def test_a_blocked_chat_is_still_marked_by_a_whole_my_chat_member(
    fake: FakeTelegram, client: Client
) -> None:
    person = Applicant(fake, client, FakeTelegram.applicant(5110000001, "ru"))
    person.text("/start")
    assert post_update(client, sample("my_chat_member")) == 200
    assert TelegramChat.objects.get().blocked_at is not None


def test_the_largest_real_ids_are_accepted(fake: FakeTelegram, client: Client) -> None:
    update = sample("message")
    update["message"]["chat"]["id"] = update["message"]["from"]["id"] = 2**52 - 1
    assert post_update(client, update) == 200
    assert Case.objects.count() == 1


# -- attachments (finding 13) ----------------------------------------------------------------


def test_a_file_is_received_only_once_fetched_and_a_sizeless_one_is_capped(
    fake: FakeTelegram, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from safepassage import config

    cfg = dataclasses.replace(config.get(), telegram_max_file_bytes=1024 * 1024)
    monkeypatch.setattr(config, "get", lambda: cfg)
    person = Applicant(fake, client, FakeTelegram.applicant(5110000034, "en"))
    person.text("/start")
    bot = fake.bots[person.token]
    big = b"%PDF-1.4 DEMO " + b"0" * (30 * 1024 * 1024)
    update_id = fake.send_file(person.token, person.user, "document", big, state_size=False)
    update = next(u for u in bot.updates if u["update_id"] == update_id)
    bot.updates.remove(update)
    assert post_update(client, update) == 200
    # Nothing is claimed before the file was fetched and judged.
    texts = [m["text"] for m in person.messages()]
    assert not any(catalog.text("en", "chat.tg.file_received") in t for t in texts)
    person.flush()
    assert Attachment.objects.get().status == "refused"
    assert person.last()["text"] == catalog.text("en", "chat.tg.file_refused")
    # The download stopped near the cap instead of reading all 30 MB.
    assert bot.file_bytes_sent < 12 * 1024 * 1024, bot.file_bytes_sent
    person.file("document", b"%PDF-1.4 DEMO small")
    assert person.last()["text"] == catalog.text("en", "chat.tg.file_received")
    assert Attachment.objects.filter(status="stored").count() == 1


def test_a_file_that_cannot_be_fetched_is_told(fake: FakeTelegram, client: Client) -> None:
    person = Applicant(fake, client, FakeTelegram.applicant(5110000035, "en"))
    person.text("/start")
    bot = fake.bots[person.token]
    update_id = fake.send_file(person.token, person.user, "document", b"%PDF-1.4 DEMO")
    update = next(u for u in bot.updates if u["update_id"] == update_id)
    bot.updates.remove(update)
    bot.files.clear()  # gone from Telegram's servers: getFile answers 400
    assert post_update(client, update) == 200
    person.flush()
    assert Attachment.objects.get().status == "refused"
    assert person.last()["text"] == catalog.text("en", "chat.tg.file_failed")


def test_the_web_chat_and_telegram_share_one_cleaning() -> None:
    from safepassage.conversations.text import clean_text
    from safepassage.web import forms

    assert forms.clean_text is clean_text
    assert clean_text("a\x00b\u202ec\r\nd") == "abc\nd"
    assert clean_text("\ud800") == ""
    assert clean_text("\u3164 \u200b") == ""
    assert clean_text(HANGUL_NFD) == HANGUL_NFC
    assert json.dumps(clean_text("👍\u200d")) == json.dumps("👍\u200d")  # joiners inside text stay


def test_no_message_is_erased_before_its_time(
    fake: FakeTelegram, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Erase times are stored to the minute: rounded up, a one-minute delay never becomes
    seconds (it used to be floored, deleting a message up to a minute early)."""
    import dataclasses
    from datetime import timedelta

    from django.utils import timezone

    from safepassage import config
    from safepassage.channels.models import ChatTrace
    from safepassage.channels.telegram import outbox

    cfg = dataclasses.replace(config.get(), telegram_erase_after_seconds=60)
    monkeypatch.setattr(config, "get", lambda: cfg)
    person = Applicant(fake, client, FakeTelegram.applicant(5110000036, "en"))
    started = timezone.now()
    person.text("/start")
    traces = ChatTrace.objects.count()
    assert traces == 2  # the applicant's /start and our first question
    assert outbox.do_erase_due(started + timedelta(seconds=59.9)) == 0
    assert ChatTrace.objects.count() == traces
    assert outbox.do_erase_due(started + timedelta(seconds=125)) == traces
