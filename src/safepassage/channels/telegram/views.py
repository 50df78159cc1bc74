"""The webhook through Django: ``POST /tg/<bot-slug>/webhook``. Verify, parse, apply, commit,
then answer 200. ``safepassage serve`` answers the same path in its ASGI lane (asgi_lane.py)
before Django; this view serves other deployments (WSGI, Django's test client)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from safepassage.channels.telegram import batch
from safepassage.channels.telegram import webhook as checks

SECRET_HEADER = "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"  # noqa: S105 (a header name)


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, slug: str) -> HttpResponse:
    refusal = checks.check_request(
        slug, request.META.get(SECRET_HEADER, ""), request.META.get("CONTENT_LENGTH")
    )
    if refusal is not None:
        return HttpResponse(status=refusal.status)
    update = checks.parse_body(slug, request.read(checks.MAX_BODY + 1))
    if isinstance(update, checks.Refusal):
        return HttpResponse(status=update.status)
    call = batch.do_apply_from_webhook(slug, update)
    if call:  # a callback query's answer, made by Telegram when it reads this 200
        return JsonResponse(call, json_dumps_params={"ensure_ascii": False})
    return HttpResponse(status=200)
