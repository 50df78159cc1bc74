"""/official/: the program's official channels, signed (campaigns.official), in every
applicant language on one page, without JavaScript; /official/list.json is the document that
``safepassage campaigns verify`` checks offline."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from safepassage import config
from safepassage.campaigns import official
from safepassage.conversations import catalog


@require_GET
def page(request: HttpRequest) -> HttpResponse:
    cfg = config.get()
    published = official.published(cfg)
    fingerprint = ""
    if published.signed:
        fingerprint = official.fingerprint(published.public_key)
    return render(
        request,
        "webchat/official.html",
        {
            "lang": "en",
            "languages": catalog.languages(),
            "channels": published.channels,
            "signed": published.signed,
            "fingerprint": fingerprint,
            "signature": published.signature if published.signed else "",
        },
    )


@require_GET
def document(request: HttpRequest) -> HttpResponse:
    published = official.published(config.get())
    if not published.signed:
        return JsonResponse({"error": "the list is not signed"}, status=503)
    response = JsonResponse(published.document(), json_dumps_params={"ensure_ascii": False})
    response["Content-Disposition"] = 'attachment; filename="official-channels.json"'
    return response
