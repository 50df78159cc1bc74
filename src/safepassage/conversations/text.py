"""Cleaning what applicants type, the same way for every channel (web chat, Telegram).

What is stored, shown to operators and echoed back in a summary must be text a person can read
and a database can store: no control characters (NUL among them), no lone surrogates (which
cannot be encoded, so an update carrying one used to fail), no bidirectional overrides (which
make an answer read differently in the console than it was typed), and composed (NFC), so that
the same Hangul or Cyrillic answer is the same string whichever keyboard produced it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import overload

# C0 and C1 controls except tab and newline, lone surrogates, non-characters, and U+FFFD
# (what Django puts where the bytes were not UTF-8).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffd\ufffe\uffff]")
# Bidirectional embeddings, overrides and isolates: U+202A–U+202E, U+2066–U+2069 (and the
# marks U+200E/U+200F, which only steer the display).
_BIDI = re.compile(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Characters that show nothing: Hangul fillers, zero-width spaces and joiners, word joiner, BOM.
_INVISIBLE = "\u115f\u1160\u3164\uffa0\u180e\u200b\u200c\u200d\u2060\ufeff"


@overload
def clean_text(value: str) -> str: ...
@overload
def clean_text(value: None) -> None: ...
def clean_text(value: str | None) -> str | None:
    """The text as it is kept; an answer made only of invisible characters becomes ""."""
    if value is None:
        return None
    if not isinstance(value, str):
        return ""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    # Surrogates go before normalising: NFC cannot work on a string that is not valid Unicode.
    value = _BIDI.sub("", _CONTROL.sub("", value))
    value = unicodedata.normalize("NFC", value)
    if all(char.isspace() or char in _INVISIBLE for char in value):
        return ""
    return value
