"""Case references and passphrases: 80 random bits each, in Crockford base32 groups.

Both are made of digits and capital Latin letters without look-alikes, read out on the hotline
in any language. Input is forgiving: case, spaces, dashes and O/I/L confusions are ignored.
"""

from __future__ import annotations

import hmac
import secrets

from safepassage.privacy import crypto

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 16  # 16 symbols x 5 bits = 80 bits
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


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
    """A keyed hash: the passphrase has 80 random bits, so no slow hash is needed to resist
    guessing, and a cheap one cannot be turned against the server's memory by a flood."""
    return crypto.passphrase_digest(normalise(passphrase))


def check_passphrase(stored_hash: str, passphrase: str) -> bool:
    """Constant-time comparison; a malformed passphrase never matches."""
    normal = normalise(passphrase)
    candidate = crypto.passphrase_digest(normal) if normal else ""
    return bool(normal) and hmac.compare_digest(stored_hash.encode(), candidate.encode())
