"""Encryption of personal fields and keyed pseudonyms. The only module that touches key bytes.

Scheme (docs/threat-model.md):
- the master key (32 bytes, from the environment or the data dir) never encrypts data itself;
  HKDF-SHA256 derives from it a key-encryption key (KEK) and separate HMAC keys;
- every case has its own random 256-bit data key, stored only wrapped (AES-256-GCM under the
  KEK); destroying the wrapped key destroys the case's data (crypto-shredding);
- a field is AES-256-GCM under the case's data key, with the field's name and the case id as
  associated data, so a ciphertext moved to another field or case fails to open;
- channel identifiers and references are stored as HMAC-SHA256 under derived keys;
- staff TOTP secrets are AES-256-GCM under their own derived key, bound to the device and its
  user, so a copy of the database without the master key cannot mint second-factor codes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from safepassage import config

FORMAT_V1 = b"\x01"
NONCE_BYTES = 12
KEY_BYTES = 32


class DecryptionError(Exception):
    """A ciphertext was tampered with, moved, or belongs to a destroyed key."""


def _derive(master: bytes, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=None,
        info=f"safepassage/{purpose}".encode(),
    ).derive(master)


@lru_cache(maxsize=4)
def _keys(master: bytes) -> dict[str, bytes]:
    purposes = (
        "kek-v1",
        "pseudonym-v1",
        "reference-v1",
        "passphrase-v1",
        "audit-v1",
        "channel-address-v1",
        "totp-secret-v1",
        "session-key-v1",
        "sector-index-v1",
        "sector-label-v1",
        "form-token-v1",
    )
    return {p: _derive(master, p) for p in purposes}


def _master() -> bytes:
    return config.get().master_key


def _encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return FORMAT_V1 + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != FORMAT_V1:
        raise DecryptionError("not a Safe Passage ciphertext")
    try:
        return AESGCM(key).decrypt(blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], aad)
    except InvalidTag as exc:
        raise DecryptionError("ciphertext does not authenticate") from exc


def new_wrapped_data_key(owner: str) -> bytes:
    """A fresh data key for ``owner`` (a case id), returned wrapped under the KEK."""
    return _encrypt(_keys(_master())["kek-v1"], os.urandom(KEY_BYTES), f"dek:{owner}".encode())


def _unwrap(wrapped: bytes, owner: str) -> bytes:
    return _decrypt(_keys(_master())["kek-v1"], bytes(wrapped), f"dek:{owner}".encode())


def seal_bytes(wrapped_key: bytes, owner: str, field: str, data: bytes) -> bytes:
    return _encrypt(_unwrap(wrapped_key, owner), data, f"{owner}:{field}".encode())


def unseal_bytes(wrapped_key: bytes, owner: str, field: str, blob: bytes) -> bytes:
    return _decrypt(_unwrap(wrapped_key, owner), bytes(blob), f"{owner}:{field}".encode())


def seal(wrapped_key: bytes, owner: str, field: str, plaintext: str) -> bytes:
    return seal_bytes(wrapped_key, owner, field, plaintext.encode("utf-8"))


def unseal(wrapped_key: bytes, owner: str, field: str, blob: bytes) -> str:
    return unseal_bytes(wrapped_key, owner, field, blob).decode("utf-8")


def pseudonym(namespace: str, value: str) -> str:
    """A stable keyed hash: equal inputs match, but the table reveals no identifier."""
    key = _keys(_master())["pseudonym-v1"]
    return hmac.new(key, f"{namespace}\x00{value}".encode(), hashlib.sha256).hexdigest()


def passphrase_digest(normalised_passphrase: str) -> str:
    key = _keys(_master())["passphrase-v1"]
    return hmac.new(key, normalised_passphrase.encode(), hashlib.sha256).hexdigest()


def audit_mac(body: bytes) -> str:
    return hmac.new(_keys(_master())["audit-v1"], body, hashlib.sha256).hexdigest()


# Django's session_key column holds 40 characters: 160 bits of the HMAC, in hex. That is as
# many bits as the cookie carries, and finding a cookie for a stored digest needs the master key.
SESSION_DIGEST_CHARS = 40


def session_key_digest(cookie_value: str) -> str:
    """What the session table stores for a session cookie: a keyed hash, so a copy of the table
    (a dump, a backup) holds no value that works as a cookie."""
    key = _keys(_master())["session-key-v1"]
    digest = hmac.new(key, cookie_value.encode(), hashlib.sha256).hexdigest()
    return digest[:SESSION_DIGEST_CHARS]


def form_token(conversation_id: str, turn: int) -> str:
    """The token a web chat form carries for one turn of one conversation: a keyed hash, so a
    form of another conversation, or of another turn, never matches (conversations.actions)."""
    key = _keys(_master())["form-token-v1"]
    return hmac.new(key, f"{conversation_id}:{turn}".encode(), hashlib.sha256).hexdigest()[:32]


def form_signature(purpose: str, value: str) -> str:
    """A keyed hash of ``value`` that a form carries back unchanged (the web chat's deferred
    first answer): the turn tokens' key, with ``purpose`` apart from any turn token's text."""
    key = _keys(_master())["form-token-v1"]
    return hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()[:32]


def new_browser_key() -> bytes:
    """A random key that only the applicant's browser keeps (a cookie ending with it)."""
    return os.urandom(KEY_BYTES)


def seal_for_browser(browser_key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Ciphertext only the holder of ``browser_key`` opens: neither the master key nor any
    staff key does (privacy.browser)."""
    return _encrypt(browser_key, plaintext, aad)


def open_for_browser(browser_key: bytes, blob: bytes, aad: bytes) -> bytes:
    return _decrypt(browser_key, bytes(blob), aad)


def reference_digest(normalised_reference: str) -> str:
    key = _keys(_master())["reference-v1"]
    return hmac.new(key, normalised_reference.encode(), hashlib.sha256).hexdigest()


def seal_channel_address(purpose: str, plaintext: str) -> bytes:
    """Encrypt what a push channel needs to reach an applicant (a Telegram chat id, an outbox
    payload) under its own derived key, read only by that channel's sender."""
    key = _keys(_master())["channel-address-v1"]
    return _encrypt(key, plaintext.encode("utf-8"), f"channel:{purpose}".encode())


def open_channel_address(purpose: str, blob: bytes) -> str:
    key = _keys(_master())["channel-address-v1"]
    return _decrypt(key, bytes(blob), f"channel:{purpose}".encode()).decode("utf-8")


# The marker of a sealed TOTP secret in django-otp's ``key`` column (a CharField of 80 that
# django-otp fills with hex): the marker, then URL-safe base64 of version + nonce + ciphertext.
TOTP_SEALED_PREFIX = "sp1:"
TOTP_KEY_COLUMN_LENGTH = 80


def _totp_aad(device_id: int, user_id: int) -> bytes:
    return f"totp:{device_id}:{user_id}".encode()


def seal_totp_secret(secret: bytes, device_id: int, user_id: int) -> str:
    """The stored form of a staff member's TOTP secret; it opens only for this device row of
    this user, so a ciphertext copied to another account's row is refused."""
    blob = _encrypt(_keys(_master())["totp-secret-v1"], secret, _totp_aad(device_id, user_id))
    stored = TOTP_SEALED_PREFIX + base64.urlsafe_b64encode(blob).decode("ascii")
    if len(stored) > TOTP_KEY_COLUMN_LENGTH:
        raise ValueError("TOTP secret too long for the key column (at most 28 bytes)")
    return stored


def open_totp_secret(stored: str, device_id: int, user_id: int) -> bytes:
    """The secret behind ``seal_totp_secret``. A clear (hex) key is refused like a tampered one:
    whoever could write one into the row must not choose the secret."""
    if not is_sealed_totp_secret(stored):
        raise DecryptionError("not a sealed TOTP secret")
    try:
        blob = base64.urlsafe_b64decode(stored[len(TOTP_SEALED_PREFIX) :].encode("ascii"))
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise DecryptionError("not a sealed TOTP secret") from exc
    return _decrypt(_keys(_master())["totp-secret-v1"], blob, _totp_aad(device_id, user_id))


def is_sealed_totp_secret(stored: str) -> bool:
    return stored.startswith(TOTP_SEALED_PREFIX)


def normalise_sector(name: str) -> str:
    return " ".join(name.split()).casefold()


def sector_index(name: str) -> str:
    """The keyed index a sector is routed and filtered by: equal names match, yet a copy of the
    database without the master key names no sector (docs/threat-model.md)."""
    key = _keys(_master())["sector-index-v1"]
    return hmac.new(key, normalise_sector(name).encode(), hashlib.sha256).hexdigest()


def seal_sector_label(label: str, user_id: int) -> bytes:
    """A liaison's sector name as staff pages show it, sealed under a master-derived key: the
    server reads it, a dump alone does not. Bound to the member, so it cannot be moved."""
    key = _keys(_master())["sector-label-v1"]
    return _encrypt(key, label.encode("utf-8"), f"sector-label:{user_id}".encode())


def open_sector_label(blob: bytes, user_id: int) -> str:
    key = _keys(_master())["sector-label-v1"]
    return _decrypt(key, bytes(blob), f"sector-label:{user_id}".encode()).decode("utf-8")
