"""The web chat's front under ASGI: counts its requests in flight, and defers an anonymous
first answer of an overloaded process before Django's request stack (admission.py).

Django's ASGI handler starts a thread for each request and runs every middleware on it; in a
flood of first answers that alone costs several times what the deferral page needs. So, while
first answers may wait (over the limit, or under pressure: admission.rationing), a POST to
``/chat/<lang>/`` from a browser with no session cookie (no conversation: nothing to keep
flowing) is decided here: admitted (admission.admit_new_case, spent here and marked in the
scope so that the view does not spend another) and handed to Django, or deferred on the event
loop: the same page and headers as the view's deferral (views._deferred), no thread, no
database. The page echoes the form's own CSRF token, which Django checks when "continue" is
pressed: a post whose token is wrong gets a page whose "continue" is refused, and nothing is
written either way. Anything else, or anything this lane is unsure of, goes to Django as it
came.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from functools import lru_cache
from http.cookies import CookieError, SimpleCookie
from typing import Any

from django.conf import settings
from django.http import QueryDict
from django.template import loader
from django.utils.html import escape

from safepassage import metrics
from safepassage.channels.webchat import admission
from safepassage.conversations import actions, catalog
from safepassage.conversations.engine import Reply
from safepassage.web import assets, forms
from safepassage.web.middleware import STRICT_HEADERS

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PATH = re.compile(r"/chat/([a-z]{2,3})/")
COUNTED = "safepassage.webchat_counted"  # in the scope: the middleware does not count again
ADMITTED = "safepassage.webchat_admitted"  # in the scope: the view does not ask again
MAX_BODY = 16 * 1024  # a first answer's form; anything longer goes to Django
CSRF_FIELD = "csrfmiddlewaretoken"
_CSRF_MARK = "csrfmark7f3a"
_KEPT_MARK = "keptmark7f3a"


@lru_cache(maxsize=64)
def _page(lang: str, chosen: str | None) -> str:
    """The deferral page of one language and answer, with marks where the CSRF token and the
    kept answer go: rendered once per process, so that a flood of deferrals costs little."""
    # The marks are placeholders, replaced per request by the visitor's own token and answer.
    context = {  # nosemgrep: python-hardcoded-secret — a placeholder, not a secret
        "lang": lang,
        "chosen": chosen,
        "kept": _KEPT_MARK,
        "csrf_token": _CSRF_MARK,
        "chat_css": assets.stylesheet("chat"),
    }
    return loader.render_to_string("webchat/deferred.html", context)


def deferral_html(lang: str, reply: Reply, given: str | None, csrf_token: str) -> str:
    """The page for a deferred first answer: the question's chosen label shown back, the
    answer kept in the form (admission.keep) for "continue"."""
    step = actions.first_prompt(lang).step
    chosen = next((c.label for c in step.choices if c.value == reply.choice), None)
    html = _page(lang, chosen).replace(_CSRF_MARK, escape(csrf_token), 1)
    metrics.WEBCHAT_DEFERRED.inc()
    return html.replace(_KEPT_MARK, escape(admission.keep(reply, given)), 1)


def _headers() -> list[tuple[bytes, bytes]]:
    """What SecurityHeadersMiddleware and Django's own middleware give an applicant page."""
    policy = (
        f"default-src 'none'; style-src {assets.csp_hash('chat')}; img-src 'self';"
        " form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Retry-After": str(admission.RETRY_AFTER_SECONDS),
        "Content-Security-Policy": policy,
        "X-Frame-Options": settings.X_FRAME_OPTIONS,
        **STRICT_HEADERS,
    }
    if settings.SECURE_HSTS_SECONDS:
        headers["Strict-Transport-Security"] = f"max-age={settings.SECURE_HSTS_SECONDS}"
    return [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()]


def _cookies(scope: Scope) -> SimpleCookie:
    raw = b"; ".join(v for k, v in scope["headers"] if k == b"cookie").decode("latin-1")
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        jar = SimpleCookie()
    return jar


def _candidate(scope: Scope) -> str | None:
    """The language, when this request may be an anonymous first answer to defer now."""
    if scope["type"] != "http" or scope["method"] != "POST" or not admission.rationing():
        return None
    match = PATH.fullmatch(scope["path"])
    if match is None or not catalog.is_language(match.group(1)):
        return None
    headers = dict(scope["headers"])
    if not headers.get(b"content-type", b"").startswith(b"application/x-www-form-urlencoded"):
        return None
    try:
        if int(headers.get(b"content-length", b"")) > MAX_BODY:
            return None
    except ValueError:
        return None
    jar = _cookies(scope)
    if settings.SESSION_COOKIE_NAME in jar or settings.CSRF_COOKIE_NAME not in jar:
        return None  # maybe a conversation in progress; or a post Django refuses anyway
    return match.group(1)


def _first_answer(lang: str, body: bytes) -> tuple[Reply, str | None, str] | None:
    """The answer, campaign code and CSRF token when ``body`` is a first answer that fits;
    None: Django decides."""
    post = QueryDict(body, encoding="utf-8")
    token = post.get(CSRF_FIELD)
    if not token or post.get("nav"):
        return None
    reply, given = forms.reply_from_post(post), post.get("c")
    kept = admission.kept(post.get(admission.KEPT_FIELD))
    if kept is not None:
        reply, given = kept.reply, kept.campaign
    if actions.check_first_reply(lang, reply):
        return None
    return reply, given, token


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def _read(receive: Receive) -> bytes | None:
    """The whole body (its Content-Length is at most MAX_BODY: _candidate), so that Django
    can be handed all of it again (_replay)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def wrap(app: ASGIApp) -> ASGIApp:
    async def lane(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/chat/"):
            await app(scope, receive, send)
            return
        # In flight until the last byte of the response is sent (not through Django's
        # clean-up after it: the visitor has his page by then).
        leave = admission.enter()

        async def sent(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                leave()

        try:
            await _serve({**scope, COUNTED: True}, receive, sent)
        finally:
            leave()

    async def _serve(scope: Scope, receive: Receive, send: Send) -> None:
        lang = _candidate(scope)
        if lang is None:
            await app(scope, receive, send)
            return
        body = await _read(receive)
        if body is None:
            return  # the visitor went away
        answer = _first_answer(lang, body) if len(body) <= MAX_BODY else None
        if answer is None:
            await app(scope, _replay(body, receive), send)
            return
        if admission.admit_new_case():
            await app({**scope, ADMITTED: True}, _replay(body, receive), send)
            return
        html = deferral_html(lang, *answer)
        start = {"type": "http.response.start", "status": 503, "headers": _headers()}
        await send(start)
        await send({"type": "http.response.body", "body": html.encode()})

    return lane
