"""Keeping a staff member's unlocked keyring between requests without storing it in clear.

At login the keyring is encrypted under a fresh random key; the ciphertext goes into the
server-side session and the key into an HttpOnly cookie of the browser alone. A stolen
database or session table holds only ciphertext; a stolen cookie alone holds no data.
Logging out deletes both halves.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.contrib.auth import user_logged_in, user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from safepassage.privacy.keyring import Keyring

SESSION_KEY = "sp_keyring"
COOKIE = "sp_unlock"
_PENDING = "_safepassage_unlocked"
_NEW_COOKIE = "_safepassage_unlock_cookie"


def _serialise(keyring: Keyring) -> bytes:
    member = keyring.member_private
    return json.dumps(
        {
            "program": {
                str(k): base64.b64encode(v).decode() for k, v in keyring.private_keys.items()
            },
            "member": base64.b64encode(member).decode() if member else None,
        }
    ).encode()


def _deserialise(data: bytes) -> Keyring:
    raw = json.loads(data)
    member = raw.get("member")
    return Keyring(
        {int(k): base64.b64decode(v) for k, v in raw["program"].items()},
        member_private=base64.b64decode(member) if member else None,
    )


def _aad(request: HttpRequest) -> bytes:
    """Bound to the member: a blob copied into another member's session does not open."""
    return f"keyring:{request.session.get('_auth_user_id', '')}".encode()


def store(request: HttpRequest, keyring: Keyring) -> None:
    unlock_key = os.urandom(32)
    nonce = os.urandom(12)
    blob = nonce + AESGCM(unlock_key).encrypt(nonce, _serialise(keyring), _aad(request))
    request.session[SESSION_KEY] = base64.b64encode(blob).decode()
    setattr(request, _NEW_COOKIE, base64.urlsafe_b64encode(unlock_key).decode())


def keyring_of(request: HttpRequest) -> Keyring:
    """The keyring of this request's staff member, or an empty one."""
    cookie = request.COOKIES.get(COOKIE) or getattr(request, _NEW_COOKIE, None)
    blob = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    if not cookie or not blob:
        return Keyring()
    try:
        key = base64.urlsafe_b64decode(cookie)
        data = base64.b64decode(blob)
        return _deserialise(AESGCM(key).decrypt(data[:12], data[12:], _aad(request)))
    except (InvalidTag, ValueError, TypeError, KeyError):
        return Keyring()


def hold_for_login(request: HttpRequest, keyring: Keyring) -> None:
    """Called by the authentication backend, the one place that has the password: the keyring
    goes into the session once the login completes (:func:`_store_on_login`)."""
    setattr(request, _PENDING, keyring)


@receiver(user_logged_in)
def _store_on_login(sender: object, request: HttpRequest | None, user: Any, **_: Any) -> None:
    if request is not None and hasattr(request, _PENDING):
        store(request, getattr(request, _PENDING))
        delattr(request, _PENDING)


@receiver(user_logged_out)
def _forget_on_logout(sender: object, request: HttpRequest | None, **_: Any) -> None:
    if request is not None:
        setattr(request, _NEW_COOKIE, "")


class UnlockCookieMiddleware:
    """Sets or deletes the browser half of the keyring after login or logout."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        value = getattr(request, _NEW_COOKIE, None)
        if value:
            response.set_cookie(
                COOKIE,
                value,
                httponly=True,
                samesite="Strict",
                secure=settings.SESSION_COOKIE_SECURE,
                path="/",
            )
        elif value == "":
            response.delete_cookie(COOKIE, path="/", samesite="Strict")
        return response
