"""``POST /tg/<bot-slug>/webhook`` answered before Django's request stack.

Telegram posts every update here, at whatever rate applicants (or a flood) produce. Django's
ASGI handler runs each request's middleware on a thread it starts for that request, and every
middleware (sessions, CSRF, locale, authentication, the staff unlock cookie) is irrelevant to a
machine endpoint that authenticates by a secret header. The lane does only what the webhook
needs, with the same checks as the Django view (webhook.py), and waits for the update's commit
on the group-commit applier (batch.py) before it answers 200. Any other request goes to Django.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from django.db import Error

from safepassage.channels.telegram import batch, webhook
from safepassage.web.middleware import STRICT_HEADERS

log = structlog.get_logger(__name__)
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PATH = re.compile(r"/tg/([-a-zA-Z0-9_]+)/webhook")
SECRET_HEADER = b"x-telegram-bot-api-secret-token"
# Telegram gives up on a webhook call after about a minute; answer before it does. An update
# committed after this answer is recognised when Telegram delivers it again.
COMMIT_WAIT_SECONDS = 50.0
HEADERS = [
    (b"content-length", b"0"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    *((name.lower().encode(), value.encode()) for name, value in STRICT_HEADERS.items()),
]


def wrap(django_app: ASGIApp) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = PATH.fullmatch(scope["path"])
            if match:
                status, body = await answer(match.group(1), scope, receive)
                await send_status(send, status, body)
                return
        await django_app(scope, receive, send)

    return app


async def answer(slug: str, scope: Scope, receive: Receive) -> tuple[int, bytes]:
    """The status, and with a 200 the Bot API call it carries (a callback query's answer,
    batch.Pending.answer) or nothing."""
    headers = dict(scope["headers"])
    refusal = webhook.check_request(
        slug,
        headers.get(SECRET_HEADER, b"").decode("latin-1"),
        headers.get(b"content-length", b"").decode("latin-1") or None,
    )
    if refusal is not None:
        return refusal.status, b""
    body = await read_body(receive, webhook.MAX_BODY + 1)
    if body is None:
        return 400, b""  # the client went away
    update = webhook.parse_body(slug, body)
    if isinstance(update, webhook.Refusal):
        return update.status, b""
    item = batch.applier().enqueue(slug, update, in_reply=True)
    try:
        async with asyncio.timeout(COMMIT_WAIT_SECONDS):
            await asyncio.wrap_future(item.done)
    except (Error, TimeoutError) as exc:
        log.error("telegram.webhook_unavailable", error=type(exc).__name__)
        # Not known to be committed, not acknowledged: Telegram delivers it again.
        return 503, b""
    return 200, webhook.reply_body(item.answer)


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """At most ``limit`` bytes (a longer body is cut there and then refused as too large)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk[: limit - size])
        size += len(chunks[-1])
        if size >= limit or not message.get("more_body", False):
            return b"".join(chunks)


async def send_status(send: Send, status: int, body: bytes = b"") -> None:
    headers = HEADERS
    if body:
        headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
            *HEADERS[1:],
        ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
