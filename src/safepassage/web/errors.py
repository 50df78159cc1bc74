"""Error pages an applicant may see: calm, in their language, never a traceback."""

from __future__ import annotations

import sys

import structlog
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader

from safepassage.config import APPLICANT_LANGUAGES
from safepassage.conversations import catalog

log = structlog.get_logger("safepassage.web")


def language_of(request: HttpRequest) -> str | None:
    parts = request.path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "chat" and catalog.is_language(parts[1]):
        return parts[1]
    return None


def _applicant_message(request: HttpRequest, msgid: str, status: int) -> HttpResponse:
    lang = language_of(request)
    context = {
        "lang": lang or "en",
        "title_id": msgid,
        "show_languages": lang is None,
        "languages": [(c, APPLICANT_LANGUAGES.get(c, c)) for c in catalog.languages()],
    }
    # Rendered without a request context: no session or database is touched.
    html = loader.render_to_string("webchat/message.html", {**context, **_css()})
    return HttpResponse(html, status=status)


def _css() -> dict[str, str]:
    from safepassage.web import assets

    return {"chat_css": assets.stylesheet("chat")}


def unavailable(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/chat"):
        response = _applicant_message(request, "chat.unavailable", 503)
    else:
        response = HttpResponse(
            "Service unavailable; try again shortly.",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    response["Retry-After"] = "30"
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if request.path.startswith("/chat"):
        return _applicant_message(request, "chat.expired", 403)
    return render(
        request,
        "console/message.html",
        {"message": "This form has expired. Go back, reload the page and try again."},
        status=403,
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/chat"):
        return _applicant_message(request, "chat.not_found", 404)
    return HttpResponse("Not found.", status=404, content_type="text/plain; charset=utf-8")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/chat"):
        return _applicant_message(request, "reask.too_long", 400)
    return HttpResponse("Bad request.", status=400, content_type="text/plain; charset=utf-8")


def is_outage(exc: BaseException | None) -> bool:
    """The database cannot be reached or used (refused, lost, locked, shutting down).
    An IntegrityError or DataError is not an outage but a bug of ours."""
    return isinstance(exc, (OperationalError, InterfaceError))


def server_error(request: HttpRequest) -> HttpResponse:
    """An unhandled exception: 503 if the database is away, else a bug: 500 and a calm page,
    without Retry-After. Answering 503 to every bug made it look like an outage (monitoring
    waited for it to pass, a form's mistake told the operator to try again later).

    Django calls this inside its ``except`` block, so the exception is at hand; it comes here,
    rather than to a middleware, when a middleware (sessions, authentication) met it.
    """
    if is_outage(sys.exc_info()[1]):
        log.error("database_unavailable", error=type(sys.exc_info()[1]).__name__)
        return unavailable(request)
    if request.path.startswith("/chat"):
        return _applicant_message(request, "chat.error", 500)
    return HttpResponse(
        "Internal error: this is a fault in Safe Passage, not in what you typed. "
        "Go back and try again; if it happens again, tell an administrator.",
        status=500,
        content_type="text/plain; charset=utf-8",
    )
