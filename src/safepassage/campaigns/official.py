"""The program's official channels, signed: so that a soldier, a relative or a journalist can
tell our bots, numbers and addresses from lookalikes.

The signing key is Ed25519 and separate from the sealing keys. Its private half is made and
kept offline (``safepassage campaigns keygen``, ``sign``); the server holds only the public key
and the signature of the list its own configuration yields (``SAFEPASSAGE_OFFICIAL_PUBLIC_KEY``,
``SAFEPASSAGE_OFFICIAL_SIGNATURE``). The list is built from the same settings the Telegram
adapter and the web chat use, so a changed setting voids the signature until it is signed
again: the page says so rather than showing a list nobody signed.

A page can be spoofed along with its "verification", so the key's fingerprint is printed on
leaflets and video end cards; ``verify`` checks a name against a published document offline.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from safepassage.config import Config

FORMAT = "safepassage-official-channels/1"


class OfficialError(ValueError):
    """A key, signature or document that cannot be used (the message says which)."""


def channels(cfg: Config) -> dict[str, Any]:
    """The list as data, from the configuration: bots, numbers, web addresses, onion."""
    web = [url for url in cfg.public_urls if not _host(url).endswith(".onion")]
    onion = [url for url in cfg.public_urls if _host(url).endswith(".onion")]
    return {
        "format": FORMAT,
        "telegram": [f"@{name}" for _slug, name in cfg.telegram_usernames],
        "hotline": list(cfg.hotline_numbers),
        "web": web,
        "onion": onion,
    }


def canonical(data: dict[str, Any]) -> bytes:
    """The exact bytes that are signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise OfficialError(f"{what} is not base64") from None


def public_key(value: str) -> Ed25519PublicKey:
    raw = _b64decode(value, "the public key")
    if len(raw) != 32:
        raise OfficialError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def fingerprint(public_b64: str) -> str:
    """What leaflets print: 128 bits of SHA-256 of the raw public key, as 8 groups of 4."""
    raw = public_key(public_b64).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    digest = hashlib.sha256(raw).hexdigest()[:32].upper()
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


def same_fingerprint(given: str, public_b64: str) -> bool:
    return re.sub(r"[^0-9A-F]", "", given.upper()) == fingerprint(public_b64).replace(" ", "")


def generate() -> tuple[bytes, str]:
    """A new key pair: the private key as PEM (for the offline machine) and the public key."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return pem, base64.b64encode(raw).decode()


def sign(private_pem: bytes, data: dict[str, Any]) -> str:
    try:
        private = serialization.load_pem_private_key(private_pem, password=None)
    except ValueError:
        raise OfficialError("the private key file is not a PEM key") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise OfficialError("the private key is not an Ed25519 key")
    return base64.b64encode(private.sign(canonical(data))).decode()


def is_signed(data: dict[str, Any], public_b64: str, signature_b64: str) -> bool:
    if not public_b64 or not signature_b64:
        return False
    try:
        key = public_key(public_b64)
        key.verify(_b64decode(signature_b64, "the signature"), canonical(data))
    except (OfficialError, InvalidSignature):
        return False
    return True


@dataclass(frozen=True)
class Published:
    """What /official/list.json serves: the list, the public key and the signature."""

    channels: dict[str, Any]
    public_key: str
    signature: str
    signed: bool

    def document(self) -> dict[str, Any]:
        return {
            "channels": self.channels,
            "public_key": self.public_key,
            "signature": self.signature,
        }


def published(cfg: Config) -> Published:
    data = channels(cfg)
    signed = is_signed(data, cfg.official_public_key, cfg.official_signature)
    return Published(data, cfg.official_public_key, cfg.official_signature, signed)


def _host(url: str) -> str:
    """The host a browser would open for ``url``; "" when the address carries a userinfo part
    (``https://our.host:443@other.host/`` opens other.host)."""
    authority = re.split(r"[/?#\\]", url.strip().split("://", 1)[-1], maxsplit=1)[0]
    if "@" in authority:
        return ""
    return authority.split(":", 1)[0].lower()


def _digits(value: str) -> str:
    return re.sub(r"[^0-9]", "", value)


def _bot(value: str) -> str | None:
    """``@Name``, ``t.me/Name``, ``https://t.me/Name?start=x`` → ``name``."""
    value = value.strip()
    if re.match(r"^(?:https?://)?(?:t\.me|telegram\.me)/", value) or value.startswith("@"):
        # The whole name, ASCII only: nothing after it that could lead elsewhere (a path such
        # as /../OtherBot, a letter from another script); "" matches no entry.
        match = re.fullmatch(
            r"(?:(?:https?://)?(?:t\.me|telegram\.me)/|@)([A-Za-z0-9_]+)/?(?:\?[A-Za-z0-9_=&-]*)?",
            value,
        )
        return match.group(1).lower() if match else ""
    return None


def matches(name: str, data: dict[str, Any]) -> str | None:
    """Which entry of the list ``name`` is (a bot, a number, an address), or None."""
    bot = _bot(name)
    if bot is not None:
        for entry in data.get("telegram", []):
            if str(entry).lstrip("@").lower() == bot:
                return str(entry)
        return None
    if re.fullmatch(r"[+0-9 ()./-]{6,}", name.strip()):
        wanted = _digits(name)
        for entry in data.get("hotline", []):
            if _digits(entry) == wanted:
                return str(entry)
        return None
    host = _host(name)
    if not host:
        return None
    for entry in [*data.get("web", []), *data.get("onion", [])]:
        if _host(entry) == host:
            return str(entry)
    return None


def verify_document(document: dict[str, Any], given_fingerprint: str) -> dict[str, Any]:
    """The list of a published document, after checking its key against the fingerprint
    printed on a leaflet and its signature against that key."""
    try:
        data, key, signature = document["channels"], document["public_key"], document["signature"]
    except (KeyError, TypeError):
        raise OfficialError("not an official-channels document") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise OfficialError("not an official-channels document")
    if not same_fingerprint(given_fingerprint, key):
        raise OfficialError("the document's key does not have the fingerprint you gave")
    if not is_signed(data, key, signature):
        raise OfficialError("the signature does not match the list: do not trust it")
    return data
