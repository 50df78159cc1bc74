"""Showing a new one-time password after the redirect that follows its POST, without storing it
in clear anywhere (docs/threat-model.md, "One-time passwords on the admin's screen").

The action that makes the password (a new account, a reset password) answers with a redirect,
as every POST does. Before it, the password is sealed (AES-GCM) under a fresh random key: the
sealed box goes into the admin's session row, the key only into a cookie of the admin's browser
(HttpOnly, SameSite=Strict, limited to the staff pages, gone after ``DISPLAY_SECONDS``). The page
then opens the box with the cookie's key, so a reload shows the password again. Neither half
alone reveals it: a dump of the session table holds the box without its key, a copied cookie
the key without its box. After ``DISPLAY_SECONDS`` or "Hide it", the page says it is no longer
shown and offers to issue a new one (which voids the one before), so it is never lost silently.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.http import HttpRequest, HttpResponse

SESSION_BOX = "sp_otp_box"
COOKIE = "sp_otp"
COOKIE_PATH = "/console/staff/"
DISPLAY_SECONDS = 15 * 60


@dataclass(frozen=True)
class Shown:
    """What the member's page shows: the password, or that it is no longer shown."""

    user_id: int
    password: str | None  # None: sealed earlier, no longer shown (expired, hidden, other browser)


def _aad(admin_id: int, user_id: int, until: int) -> bytes:
    return f"one-time-display:{admin_id}:{user_id}:{until}".encode()


def _cookie_key(request: HttpRequest) -> bytes | None:
    try:
        key = base64.urlsafe_b64decode(request.COOKIES.get(COOKIE, ""))
    except (ValueError, binascii.Error):
        return None
    return key if len(key) == 32 else None


def _boxes(request: HttpRequest) -> dict[str, dict[str, object]]:
    stored = request.session.get(SESSION_BOX)
    return dict(stored) if isinstance(stored, dict) else {}


def seal(request: HttpRequest, response: HttpResponse, user_id: int, password: str) -> None:
    """Put ``password`` for ``user_id`` on display, for this admin's browser only. Several
    accounts made one after another each keep their own box (under the same cookie key)."""
    key = _cookie_key(request) or AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    now = int(time.time())
    until = now + DISPLAY_SECONDS
    box = nonce + AESGCM(key).encrypt(
        nonce, password.encode(), _aad(int(request.user.pk or 0), user_id, until)
    )
    # Boxes whose time is long past go; recent ones stay, to say "no longer shown".
    boxes = {k: v for k, v in _boxes(request).items() if int(str(v.get("until", 0))) > now - 86400}
    boxes[str(user_id)] = {"until": until, "box": base64.b64encode(box).decode()}
    request.session[SESSION_BOX] = boxes
    response.set_cookie(
        COOKIE,
        base64.urlsafe_b64encode(key).decode(),
        max_age=DISPLAY_SECONDS,
        path=COOKIE_PATH,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Strict",
    )


def shown(request: HttpRequest, user_id: int) -> Shown | None:
    """The display for ``user_id`` if one was made in this session (None otherwise)."""
    stored = _boxes(request).get(str(user_id))
    if not isinstance(stored, dict):
        return None
    until = int(str(stored.get("until") or 0))
    key = _cookie_key(request)
    if until < time.time() or key is None:
        return Shown(user_id, None)
    try:
        box = base64.b64decode(str(stored.get("box") or ""))
        password = AESGCM(key).decrypt(
            box[:12], box[12:], _aad(int(request.user.pk or 0), user_id, until)
        )
    except (ValueError, binascii.Error, InvalidTag):
        return Shown(user_id, None)
    return Shown(user_id, password.decode())


def hide(request: HttpRequest, response: HttpResponse, user_id: int) -> None:
    boxes = _boxes(request)
    boxes.pop(str(user_id), None)
    request.session[SESSION_BOX] = boxes
    if not boxes:
        response.delete_cookie(COOKIE, path=COOKIE_PATH, samesite="Strict")
