"""Case references and passphrases: 80 random bits each, in Crockford base32 groups.

Both are made of digits and capital Latin letters without look-alikes, read out on the hotline
in any language. Input is forgiving: case, spaces, dashes and O/I/L confusions are ignored.
"""

from __future__ import annotations

import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from safepassage.privacy import crypto

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 16  # 16 symbols x 5 bits = 80 bits
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})
# Passphrases are short-lived secrets checked rarely: argon2id with modest cost is plenty here.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def generate() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise(value: str) -> str:
    cleaned = "".join(ch for ch in value.upper() if ch.isalnum()).translate(_CONFUSABLE)
    return cleaned if len(cleaned) == LENGTH and all(c in ALPHABET for c in cleaned) else ""


def display(value: str) -> str:
    return "-".join(value[i : i + 4] for i in range(0, len(value), 4))


def reference_digest(reference: str) -> str:
    return crypto.reference_digest(normalise(reference))


def hash_passphrase(passphrase: str) -> str:
    return _HASHER.hash(normalise(passphrase))


@lru_cache(maxsize=1)
def decoy_hash() -> str:
    return _HASHER.hash(generate())


def check_passphrase(stored_hash: str, passphrase: str) -> bool:
    """Constant-time comparison inside argon2's verify."""
    try:
        return _HASHER.verify(stored_hash, normalise(passphrase) or "-")
    except (VerificationError, InvalidHashError):
        return False
