"""Public-key sealing: anyone with a public key can seal; only its private key opens.

A sealed value is ``0x02 | ephemeral public key (32) | nonce (12) | AES-256-GCM ciphertext``.
The AES key is HKDF-SHA256 of the X25519 shared secret, bound to both public keys; the caller's
context (case id, field name) is the associated data, so a value moved elsewhere fails to open.
This is libsodium's sealed box construction, built from `cryptography` primitives.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from safepassage.privacy.crypto import DecryptionError

FORMAT_SEALED = b"\x02"
_RAW = serialization.Encoding.Raw


def generate_keypair() -> tuple[bytes, bytes]:
    """(private, public), 32 raw bytes each."""
    private = X25519PrivateKey.generate()
    return (
        private.private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()),
        private.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw),
    )


def public_of(private: bytes) -> bytes:
    key = X25519PrivateKey.from_private_bytes(private)
    return key.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)


def _key(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"safepassage/sealed-v1" + ephemeral_public + recipient_public,
    ).derive(shared)


def seal(recipient_public: bytes, plaintext: bytes, context: bytes) -> bytes:
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_public))
    nonce = os.urandom(12)
    body = AESGCM(_key(shared, ephemeral_public, recipient_public)).encrypt(
        nonce, plaintext, context
    )
    return FORMAT_SEALED + ephemeral_public + nonce + body


def loaded(private: bytes) -> tuple[X25519PrivateKey, bytes]:
    """A private key ready for many :func:`open_sealed` calls, and its public half: loading
    one costs as much as opening a value with it, so a page opening many values with one key
    loads it once."""
    key = X25519PrivateKey.from_private_bytes(private)
    return key, key.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)


def open_sealed(
    recipient_private: bytes | X25519PrivateKey,
    blob: bytes,
    context: bytes,
    recipient_public: bytes | None = None,
) -> bytes:
    """``recipient_public``, when the caller knows it (:func:`loaded`), spares deriving it from
    the private key; a wrong one only makes the value fail to open."""
    blob = bytes(blob)
    if len(blob) < 1 + 32 + 12 + 16 or blob[:1] != FORMAT_SEALED:
        raise DecryptionError("not a sealed value")
    ephemeral_public, nonce, body = blob[1:33], blob[33:45], blob[45:]
    try:
        if isinstance(recipient_private, X25519PrivateKey):
            private = recipient_private
        else:
            private = X25519PrivateKey.from_private_bytes(recipient_private)
        shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
        public = recipient_public or private.public_key().public_bytes(
            _RAW, serialization.PublicFormat.Raw
        )
        key = _key(shared, ephemeral_public, public)
        return AESGCM(key).decrypt(nonce, body, context)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError("sealed value does not open with this key") from exc
