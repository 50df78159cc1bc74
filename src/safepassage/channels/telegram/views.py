"""The webhook: ``POST /tg/<bot-slug>/webhook``. Verify, parse, apply, commit, then answer 200."""

from __future__ import annotations

import hmac
import json

import structlog
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from safepassage import config
from safepassage.channels.telegram import bots, intake

log = structlog.get_logger(__name__)
MAX_BODY = 1024 * 1024
SECRET_HEADER = "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"  # noqa: S105 (a header name)


def _refuse(status: int, why: str, slug: str) -> HttpResponse:
    log.info("telegram.webhook_refused", status=status, why=why, bot=slug[:40])
    return HttpResponse(status=status)


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, slug: str) -> HttpResponse:
    if not bots.is_known(slug):
        return _refuse(404, "unknown bot", "?")
    secret = request.META.get(SECRET_HEADER, "")
    expected = config.get().telegram_webhook_secret
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        return _refuse(401, "bad secret", slug)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = MAX_BODY + 1
    if length > MAX_BODY:
        return _refuse(413, "too large", slug)
    body = request.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return _refuse(413, "too large", slug)
    try:
        update = intake.parse(slug, json.loads(body))
    except (ValueError, UnicodeDecodeError):
        return _refuse(400, "not an update", slug)
    intake.do_apply_from_webhook(slug, update)
    return HttpResponse(status=200)
