"""Response headers for every page, and a calm answer when the database is away."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from django.http import HttpRequest, HttpResponse

from safepassage.web import assets, errors

log = structlog.get_logger("safepassage.web")

Handler = Callable[[HttpRequest], HttpResponse]


# On every response, Django's and the Telegram webhook lane's (channels/telegram/asgi_lane.py).
STRICT_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": (
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
    ),
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def _is_applicant_path(path: str) -> bool:
    return path.startswith("/chat/") or path == "/chat"


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        sheet = "chat" if _is_applicant_path(request.path) else "console"
        # Console pages run our own script (console/static/console.js) and nothing else;
        # applicant pages run none at all.
        console = request.path.startswith("/console/")
        scripts = " script-src 'self'; connect-src 'self';" if console else ""
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'none'; style-src {assets.csp_hash(sheet)}; img-src 'self';{scripts}"
            " form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        )
        for name, value in STRICT_HEADERS.items():
            response.headers[name] = value
        return response


class DatabaseUnavailableMiddleware:
    """A database that goes away gives a 503 page asking to try again, never a traceback.

    Whatever was committed before stays committed; what was not, was never acknowledged.
    Only a database that cannot be reached or used counts (errors.is_outage): an
    IntegrityError or DataError is a bug of ours, a 500. This catches what a view raised;
    what a middleware met reaches errors.server_error, which tells the two apart the same way.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not errors.is_outage(exception):
            return None
        log.error("database_unavailable", error=type(exception).__name__)
        return errors.unavailable(request)


class SameOriginNullOriginMiddleware:
    """Let CSRF protection work under ``Referrer-Policy: no-referrer``.

    With that policy browsers send ``Origin: null`` on form posts, which Django's CSRF check
    rejects. ``Sec-Fetch-Site`` is set by the browser alone (scripts cannot forge it): where it
    says ``cross-site`` or ``same-site`` the null origin stays and the post is refused; where it
    says ``same-origin``, or is absent (older phones' browsers), the null origin is replaced by
    this site's own. The CSRF token (form against its SameSite=Strict cookie) still stands
    between a forged post and any effect.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        fetch_site = meta.get("HTTP_SEC_FETCH_SITE", "same-origin")
        if meta.get("HTTP_ORIGIN") == "null" and fetch_site == "same-origin":
            meta["HTTP_ORIGIN"] = f"{request.scheme}://{request.get_host()}"
        return self.get_response(request)
