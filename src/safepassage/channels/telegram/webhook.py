"""What a webhook request must show before its update is applied, for both entry points: the
Django view (``views.webhook``) and the ASGI lane in front of Django (``asgi_lane``)."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any

import structlog
from telegram import Update

from safepassage import config, metrics
from safepassage.channels.telegram import bots, intake, shape

log = structlog.get_logger(__name__)
MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class Refusal:
    status: int
    why: str


def refuse(status: int, why: str, slug: str) -> Refusal:
    log.info("telegram.webhook_refused", status=status, why=why, bot=slug[:40])
    metrics.UPDATES_REFUSED.labels(slug[:40], why).inc()
    return Refusal(status, why)


def check_request(slug: str, secret: str, content_length: str | None) -> Refusal | None:
    """Before the body is read: the bot, the secret header and the announced size."""
    if not bots.is_known(slug):
        return refuse(404, "unknown bot", "?")
    expected = config.get().telegram_webhook_secret
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        return refuse(401, "bad secret", slug)
    try:
        length = int(content_length or 0)
    except ValueError:
        length = MAX_BODY + 1
    if length > MAX_BODY:
        return refuse(413, "too large", slug)
    return None


def parse_body(slug: str, body: bytes) -> Update | Refusal:
    if len(body) > MAX_BODY:
        return refuse(413, "too large", slug)
    if shape.too_deep(body):
        return refuse(400, "nested too deep", slug)
    try:
        return intake.parse(slug, json.loads(body))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return refuse(400, "not an update", slug)


def reply_body(call: dict[str, Any] | None) -> bytes:
    """A 200's body: the one Bot API call Telegram makes for us when it reads the answer
    (a callback query's answer: outbox.answers_in_reply), or nothing."""
    return json.dumps(call, ensure_ascii=False).encode() if call else b""
