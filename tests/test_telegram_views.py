"""The webhook refuses what is not a genuine update, stores nothing then, and applies each
update exactly once."""

from __future__ import annotations

import dataclasses
import json

import pytest
from django.test import Client

from safepassage import config
from safepassage.cases.models import Case
from safepassage.channels.models import OutboxMessage, TelegramChat, TelegramUpdate
from safepassage.channels.telegram import batch
from safepassage.privacy import staff_fields
from safepassage.privacy.keyring import Keyring
from safepassage.testing.fake_telegram import FakeTelegram
from tests.telegram_support import SECRET, Applicant, post_update, sample

pytestmark = pytest.mark.django_db


def nothing_stored() -> bool:
    return not (
        TelegramUpdate.objects.exists()
        or TelegramChat.objects.exists()
        or Case.objects.exists()
        or OutboxMessage.objects.exists()
    )


@pytest.mark.parametrize("secret", [None, "", "wrong-secret-0123456789"])
def test_missing_or_wrong_secret_is_401(fake: FakeTelegram, client: Client, secret: str) -> None:
    headers = {} if secret is None else {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret}
    response = client.post(
        "/tg/main/webhook", json.dumps(sample("message")), "application/json", **headers
    )
    assert response.status_code == 401
    assert nothing_stored()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json at all", 400),
        (b'{"message": {"text": "no update_id"}}', 400),
        (b'["a", "list"]', 400),
        (b'{"update_id": "12"}', 400),
        (b'{"update_id": 1, "message": {"message_id": "x"}}', 400),
        (b'{"update_id": 1, "pad": "' + b"x" * (1024 * 1024) + b'"}', 413),
    ],
)
def test_bad_bodies_get_4xx_and_store_nothing(
    fake: FakeTelegram, client: Client, body: bytes, status: int
) -> None:
    response = client.post(
        "/tg/main/webhook",
        body,
        "application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="demo-webhook-secret-0123456789",
    )
    assert response.status_code == status
    assert nothing_stored()


def test_unknown_bot_is_404_and_get_is_405(fake: FakeTelegram, client: Client) -> None:
    assert post_update(client, sample("message"), slug="nobot") == 404
    assert client.get("/tg/main/webhook").status_code == 405
    assert nothing_stored()


def test_a_replayed_update_has_no_second_effect(fake: FakeTelegram, client: Client) -> None:
    update = sample("message")
    assert post_update(client, update) == 200
    assert post_update(client, update) == 200
    assert TelegramUpdate.objects.count() == 1
    assert Case.objects.count() == 1
    assert OutboxMessage.objects.count() == 1  # one first question, not two


@pytest.mark.parametrize(
    "name",
    ["edited_message", "channel_post", "group_message", "my_chat_member", "sticker", "voice"],
)
def test_every_kind_of_update_is_taken_calmly(
    fake: FakeTelegram, client: Client, name: str
) -> None:
    assert post_update(client, sample("message")) == 200  # the applicant began
    assert post_update(client, sample(name)) == 200
    assert TelegramUpdate.objects.count() == 2
    if name in {"channel_post", "group_message"}:
        assert OutboxMessage.objects.count() == 1  # ignored: no reply into a group or channel
    if name == "my_chat_member":
        assert TelegramChat.objects.get().blocked_at is not None  # the user blocked the bot


def test_spare_bot_leads_to_the_same_case(fake: FakeTelegram, client: Client) -> None:
    user = FakeTelegram.applicant(5110000009, "ru")
    main = Applicant(fake, client, user)
    main.text("/start")
    main.press("self")
    spare = Applicant(fake, client, user, token=fake_token(fake, 1), slug="spare")
    spare.text("/start")
    assert Case.objects.count() == 1
    assert spare.buttons() and "front" in spare.buttons()  # the next question, same case


def fake_token(fake: FakeTelegram, index: int) -> str:
    return list(fake.bots)[index]


def test_photos_are_stored_encrypted_without_metadata(
    fake: FakeTelegram, client: Client, ring: Keyring
) -> None:
    import io

    from PIL import Image

    from safepassage.channels.models import Attachment
    from safepassage.channels.telegram import attachments

    person = Applicant(fake, client, FakeTelegram.applicant(5110000010, "en"))
    person.text("/start")
    image = Image.new("RGB", (32, 32), (200, 10, 10))
    exif = Image.Exif()
    exif[0x010F] = "DEMO-CAMERA-SENTINEL"  # Make
    raw = io.BytesIO()
    image.save(raw, format="JPEG", exif=exif)
    assert b"DEMO-CAMERA-SENTINEL" in raw.getvalue()
    person.file("photo", raw.getvalue())
    person.file("document", b"%PDF-1.4 DEMO", mime="application/x-msdownload")
    stored = Attachment.objects.get(kind="photo")
    assert stored.status == "stored"
    assert b"DEMO-CAMERA-SENTINEL" not in bytes(stored.file_sealed or b"")
    with pytest.raises(staff_fields.Locked):  # the server alone cannot open it
        attachments.content_of(stored, Keyring())
    content = attachments.content_of(stored, ring)
    assert b"DEMO-CAMERA-SENTINEL" not in content
    assert Image.open(io.BytesIO(content)).size == (32, 32)
    texts = [m["text"] for m in person.messages()]
    assert any("too large or of a kind" in t for t in texts)  # the .exe-typed document


def test_update_ids_are_counted_per_bot(fake: FakeTelegram, client: Client) -> None:
    """Two bots number their updates independently: the same update_id from another bot is a
    new update, not a replay (dedupe is keyed by the bot's id, not by the slug's name)."""
    first = sample("message")
    second = {**sample("message"), "message": {**first["message"], "text": "/start"}}
    second["message"]["from"] = {**first["message"]["from"], "id": 5110000077}
    second["message"]["chat"] = {**first["message"]["chat"], "id": 5110000077}
    assert post_update(client, first, slug="main") == 200
    assert post_update(client, second, slug="spare") == 200
    assert TelegramUpdate.objects.count() == 2
    assert Case.objects.count() == 2


@pytest.mark.django_db(transaction=True)  # the applier commits on its own connection
def test_a_press_through_the_django_view_is_answered_in_its_200(
    fake: FakeTelegram, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The view (WSGI, other deployments) carries the answer as the ASGI lane does, as JSON,
    and a redelivery answers nothing twice."""
    threaded = dataclasses.replace(config.get(), telegram_intake_threads=1)
    monkeypatch.setattr(config, "get", lambda: threaded)
    update = sample("callback_query")
    headers = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": SECRET}
    try:
        response = client.post(
            "/tg/main/webhook", json.dumps(update), "application/json", **headers
        )
        again = client.post("/tg/main/webhook", json.dumps(update), "application/json", **headers)
    finally:
        batch.stop_applier()  # its connection closes before the test database goes
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {
        "method": "answerCallbackQuery",
        "callback_query_id": update["callback_query"]["id"],
    }
    assert not OutboxMessage.objects.filter(method="answerCallbackQuery").exists()
    assert again.status_code == 200 and again.content == b""
