from __future__ import annotations

from django.http import HttpRequest

from safepassage.web import assets


def stylesheets(request: HttpRequest) -> dict[str, str]:
    return {"chat_css": assets.stylesheet("chat"), "console_css": assets.stylesheet("console")}
