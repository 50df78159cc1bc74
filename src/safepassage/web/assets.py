"""Inline stylesheets and their CSP hashes: pages load nothing, not even from us."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=4)
def stylesheet(name: str) -> str:
    paths = {
        "chat": _ROOT / "channels/templates/webchat/chat.css",
        "console": _ROOT / "console/templates/console/console.css",
    }
    return paths[name].read_text(encoding="utf-8").strip()


@lru_cache(maxsize=4)
def csp_hash(name: str) -> str:
    digest = hashlib.sha256(stylesheet(name).encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"
