"""Campaign codes: what a leaflet, a video or a post carries in its links and QR code.

A generated code is ten characters of lower-case letters and digits (about 51 bits): short
enough for a QR code that scans from a muddy leaflet, too many to guess, and it names no
campaign. Letters and digits only, so it is a valid Telegram start parameter and can never be
read as a language prefix such as ``ko_`` (channels.telegram.dialogue).
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: a code may be typed from paper
LENGTH = 10
# What a link may carry: Telegram's start parameter rules (letters, digits, _ and -, at most 64).
ACCEPTED = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# "ko_…" preselects a language, and "/start ko" alone is read as a language, never a code.
_LANGUAGE_PREFIX = re.compile(r"^[a-z]{2}(_|$)", re.IGNORECASE)


class CodeError(ValueError):
    """A code given by hand that cannot be used."""


def generate() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def check_manual(code: str) -> str:
    """A code chosen by hand (kept for leaflets already printed): Telegram's rules, and no
    language prefix. Returns it lower-cased."""
    if not ACCEPTED.match(code):
        raise CodeError("a code is 1-64 letters, digits, '_' or '-'")
    if _LANGUAGE_PREFIX.match(code):
        raise CodeError("a code must not be or begin like a language, such as 'ko' or 'ko_'")
    return code.lower()


def looks_valid(code: str | None) -> bool:
    return bool(code) and ACCEPTED.match(code or "") is not None
