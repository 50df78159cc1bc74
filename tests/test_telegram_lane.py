"""The webhook's ASGI lane (what ``safepassage serve`` answers before Django): the same refusals
as the Django view, nothing stored for them, an update committed before its 200, and every
other request handed to Django."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from safepassage.asgi import application
from safepassage.cases.models import Case
from safepassage.channels.models import OutboxMessage, TelegramChat, TelegramUpdate
from safepassage.channels.telegram import batch
from safepassage.testing.fake_telegram import FakeTelegram
from tests.telegram_support import SECRET, sample

# The applier commits on its own thread and connection: the test cannot hold it in a transaction.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lane(fake: FakeTelegram) -> Iterator[None]:
    yield
    batch.stop_applier()  # closes the applier's connection before the test database goes


def post(
    path: str = "/tg/main/webhook",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.request(method, path, content=body, headers=headers)

    return asyncio.run(go())


def update_body(update: dict[str, Any]) -> bytes:
    return json.dumps(update).encode()


def stored() -> int:
    return sum(
        model.objects.count() for model in (TelegramUpdate, TelegramChat, Case, OutboxMessage)
    )


GOOD = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("path", "body", "headers", "status"),
    [
        ("/tg/main/webhook", None, {}, 401),
        ("/tg/main/webhook", None, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}, 401),
        ("/tg/nobot/webhook", None, GOOD, 404),
        ("/tg/main/webhook", b"{not json", GOOD, 400),
        ("/tg/main/webhook", b'{"message": {"text": "no update id"}}', GOOD, 400),
        ("/tg/main/webhook", b"\xff\xfe binary", GOOD, 400),
        ("/tg/main/webhook", b"[" * (1024 * 1024 + 10), GOOD, 413),
        # 1,000 levels in about 2 KB: refused before the parser recurses (it answered 500)
        (
            "/tg/main/webhook",
            b'{"update_id": 1, "x": ' + b"[" * 1000 + b"]" * 1000 + b"}",
            GOOD,
            400,
        ),
    ],
)
def test_refusals_store_nothing(
    lane: None, path: str, body: bytes | None, headers: dict[str, str], status: int
) -> None:
    response = post(path, body if body is not None else update_body(sample("message")), headers)
    assert response.status_code == status
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert stored() == 0


def test_an_update_is_committed_before_its_200_and_once_only(lane: None) -> None:
    update = update_body(sample("message"))
    assert post(body=update, headers=GOOD).status_code == 200
    # The 200 came after the commit: another connection sees the update and its reply now.
    assert TelegramUpdate.objects.count() == 1 and Case.objects.count() == 1
    queued = OutboxMessage.objects.count()
    assert queued >= 1
    assert post(body=update, headers=GOOD).status_code == 200  # Telegram redelivers
    assert TelegramUpdate.objects.count() == 1 and OutboxMessage.objects.count() == queued


def test_other_requests_go_to_django(lane: None) -> None:
    assert post(method="GET").status_code == 405  # the Django view's answer to a GET
    health = post("/healthz", method="GET")
    assert health.status_code == 200
    assert stored() == 0


def test_a_press_is_answered_in_the_200_not_by_a_queued_call(lane: None) -> None:
    """Telegram makes the call a webhook's 200 carries: the button's spinner stops with the
    acknowledgement, and the answer takes none of the bot's 30 calls a second from the replies
    (a flood's genuine applicants waited for theirs)."""
    update = sample("callback_query")
    response = post(body=update_body(update), headers=GOOD)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.content) == {
        "method": "answerCallbackQuery",
        "callback_query_id": update["callback_query"]["id"],
    }
    assert not OutboxMessage.objects.filter(method="answerCallbackQuery").exists()
    assert OutboxMessage.objects.filter(method="sendMessage").count() == 1  # the first question
    again = post(body=update_body(update), headers=GOOD)  # a redelivery answers nothing twice
    assert again.status_code == 200 and again.content == b""
