"""Admission to the web chat under overload (issue 12, flood defence).

Overload is read from one number per web process: how many web chat requests it is serving
right now (counted by webchat.lane from the moment the request reaches the process until the
last byte of its response is sent; by :class:`InFlightMiddleware` where there is no lane).
A process that keeps up serves a few at a time; when arrivals outrun it, requests queue and
the count climbs, whatever their cause. That costs one lock and one integer per request: no
database, no Redis, and nothing an attacker can raise from another process. Each web process
judges its own load, which is the load its own requests wait behind.

While the count is above ``SAFEPASSAGE_WEBCHAT_MAX_IN_FLIGHT`` the cheapest work is shed
first: a first answer from a visitor with no conversation (creating a case is the most
expensive page of the chat, and nobody is waiting on it yet) is *deferred*: answered with a
page that writes nothing and carries the answer back in its form (:func:`keep`), signed like
the turn tokens, so that pressing "continue" a moment later sends it again. Nothing a person
wrote is dropped, and a visitor with a conversation in progress is never deferred.

The limit alone does not bound what new cases cost: first answers taken one after another, each
under the limit, still fill a core (a case, its keys, a conversation: milliseconds of CPU each)
and genuine pages wait behind them. So while the process is *under pressure* (more than
:data:`PRESSURE_IN_FLIGHT` requests in flight, or was so in the last
:data:`PRESSURE_HOLD_SECONDS`), new cases are also rationed: a token bucket of
``SAFEPASSAGE_WEBCHAT_NEW_CASES_PER_SECOND`` per process (holding :data:`BURST_SECONDS` of
them) admits that many first answers a second and defers the rest the same way. A process
that is not under pressure takes every first answer, whatever the bucket holds; the bucket
refills with time alone, so a flood cannot empty it for longer than it lasts.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from safepassage.conversations.engine import Reply
from safepassage.privacy import crypto

_lock = threading.Lock()
_in_flight = 0
# More web chat requests in flight than this: the process is under pressure (a process that
# keeps up with genuine visitors serves one or two at a time), and stays so for a moment, so
# that the gaps of a flood do not let first answers through unrationed.
PRESSURE_IN_FLIGHT = 2
PRESSURE_HOLD_SECONDS = 2.0
BURST_SECONDS = 2.0  # the bucket holds this many seconds' worth of new cases
_clock = time.monotonic  # a function, so that tests can move time on
_pressed_at = float("-inf")  # _clock() when it last was under pressure
_tokens: float | None = None  # None: full
_refilled_at = 0.0
_PURPOSE = "webchat-deferred-v1"
KEPT_FIELD = "k"  # the deferral page's hidden field: the kept answer and its signature
RETRY_AFTER_SECONDS = 5


def in_flight() -> int:
    """Web chat requests this process is serving now (the one asking included)."""
    return _in_flight


def enter() -> Callable[[], None]:
    """One more web chat request in flight; the function returned ends it (once, however
    often it is called)."""
    global _in_flight, _pressed_at
    with _lock:
        _in_flight += 1
        pressed = _in_flight > PRESSURE_IN_FLIGHT
    if pressed:
        _pressed_at = _clock()
    done = False

    def leave() -> None:
        global _in_flight
        nonlocal done
        with _lock:
            if not done:
                done = True
                _in_flight -= 1

    return leave


@contextmanager
def counted() -> Iterator[None]:
    """One web chat request in flight for as long as the block runs."""
    leave = enter()
    try:
        yield
    finally:
        leave()


def busy() -> bool:
    """Whether this process is over its limit (0: never), so that new cases wait."""
    limit: int = getattr(settings, "SAFEPASSAGE_WEBCHAT_MAX_IN_FLIGHT", 0)
    return limit > 0 and _in_flight > limit


def _rate() -> float:
    """New cases a second under pressure; 0: no ration (also when the limit turns shedding
    off)."""
    if not getattr(settings, "SAFEPASSAGE_WEBCHAT_MAX_IN_FLIGHT", 0):
        return 0.0
    rate: float = getattr(settings, "SAFEPASSAGE_WEBCHAT_NEW_CASES_PER_SECOND", 0.0)
    return rate


def rationing() -> bool:
    """Whether a first answer may have to wait now (over the limit, or new cases rationed
    under pressure): when not, it is taken without asking :func:`admit_new_case`."""
    if busy():
        return True
    return _rate() > 0 and _clock() - _pressed_at < PRESSURE_HOLD_SECONDS


def admit_new_case() -> bool:
    """Whether a first answer may create its case now; False: defer it. Under pressure it
    spends one of the bucket's new cases (none left: False)."""
    global _tokens, _refilled_at
    if busy():
        return False
    rate = _rate()
    now = _clock()
    if rate <= 0 or now - _pressed_at >= PRESSURE_HOLD_SECONDS:
        return True
    burst = max(1.0, rate * BURST_SECONDS)
    with _lock:
        held = burst if _tokens is None else min(burst, _tokens + (now - _refilled_at) * rate)
        _refilled_at = now
        if held < 1:
            _tokens = held
            return False
        _tokens = held - 1
        return True


def reset() -> None:
    """No pressure remembered and a full bucket (tests: each starts from a calm process)."""
    global _pressed_at, _tokens
    with _lock:
        _pressed_at = float("-inf")
        _tokens = None


def _is_chat(path: str) -> bool:
    return path.startswith("/chat/")


def _counted_by_lane(request: HttpRequest) -> bool:
    """Under ``safepassage serve`` the ASGI lane (webchat.lane) counts, from an earlier point."""
    return bool(getattr(request, "scope", {}).get("safepassage.webchat_counted"))


def admitted_by_lane(request: HttpRequest) -> bool:
    """Whether webchat.lane already admitted this first answer (:func:`admit_new_case`), so
    that the view does not spend a second new case on it."""
    return bool(getattr(request, "scope", {}).get("safepassage.webchat_admitted"))


class InFlightMiddleware:
    """Counts web chat requests in flight (:func:`counted`) where webchat.lane does not (WSGI,
    Django's test client). First in ``MIDDLEWARE`` and able to run on the event loop."""

    sync_capable = True
    async_capable = True

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]
    ) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self.is_async:
            return self._acall(request)
        if not _is_chat(request.path) or _counted_by_lane(request):
            return self.get_response(request)
        with counted():
            return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not _is_chat(request.path) or _counted_by_lane(request):
            return await response  # type: ignore[misc,no-any-return]
        with counted():
            return await response  # type: ignore[misc,no-any-return]


@dataclass(frozen=True)
class Kept:
    """A deferred first answer, as its form carries it back."""

    reply: Reply
    campaign: str | None


def keep(reply: Reply, campaign: str | None) -> str:
    """The hidden field's value for a deferred first answer: the answer and the campaign code
    as they were posted (the code is checked when the answer is taken), then a signature."""
    data = {"ch": reply.choice, "tx": reply.text, "m": list(reply.multi), "c": campaign}
    payload = base64.urlsafe_b64encode(json.dumps(data).encode()).decode()
    return f"{payload}.{crypto.form_signature(_PURPOSE, payload)}"


def kept(value: str | None) -> Kept | None:
    """The answer in a deferral page's field, or None when it is missing or not ours."""
    if not value or "." not in value:
        return None
    payload, _, signature = value.rpartition(".")
    expected = crypto.form_signature(_PURPOSE, payload)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload))
        choice, text, multi, code = data["ch"], data["tx"], data["m"], data["c"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    reply = Reply(
        action="answer",
        choice=choice if isinstance(choice, str) else None,
        text=text if isinstance(text, str) else None,
        multi=tuple(v for v in multi if isinstance(v, str)) if isinstance(multi, list) else (),
    )
    return Kept(reply, code if isinstance(code, str) else None)
