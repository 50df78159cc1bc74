"""Machine translation of an applicant's text, for staff only, by a self-hosted LibreTranslate.

The deployment may name a LibreTranslate server (``SAFEPASSAGE_LIBRETRANSLATE_URL``, and
``SAFEPASSAGE_LIBRETRANSLATE_API_KEY`` if it requires a key); without one nothing is offered.
The text goes to that URL and nowhere else: no proxy from the environment (``trust_env``
off), no redirect followed, and neither the text nor the translation is logged or stored.
Only what applicants wrote is ever translated, never what is sent to them: a reply to an
applicant is a vetted text reviewed by a reader of the language, or the operator's own
words (../shared/terminology.md).
"""

from __future__ import annotations

import httpx

from safepassage import config

TIMEOUT_SECONDS = 15.0


class Unavailable(Exception):
    """No translation: none configured, the server unreachable, or it refused. ``str()`` says
    which in a few words, never with the text."""


def enabled() -> bool:
    return bool(config.get().libretranslate_url)


def translate(text: str, source: str, target: str) -> str:
    """``text`` from language ``source`` into ``target`` (LibreTranslate codes: ru, ko, uk,
    en), as LibreTranslate's ``POST /translate`` answers it."""
    cfg = config.get()
    if not cfg.libretranslate_url:
        raise Unavailable("not configured")
    payload = {"q": text, "source": source, "target": target, "format": "text"}
    if cfg.libretranslate_api_key:
        payload["api_key"] = cfg.libretranslate_api_key
    try:
        with httpx.Client(
            timeout=TIMEOUT_SECONDS, trust_env=False, follow_redirects=False
        ) as client:
            response = client.post(f"{cfg.libretranslate_url}/translate", json=payload)
    except httpx.HTTPError:
        raise Unavailable("unreachable") from None
    if response.status_code != 200:
        raise Unavailable(f"refused ({response.status_code})")
    try:
        translated = response.json().get("translatedText")
    except (ValueError, AttributeError):
        translated = None
    if not isinstance(translated, str):
        raise Unavailable("unreadable answer")
    return translated
