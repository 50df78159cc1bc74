"""The one way to write and read a case's personal fields.

Callers pass the case (its id and wrapped data key); the scheme behind it can change here
without touching them. Reading is not audited here: the console audits each view of a case.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Protocol

from safepassage.privacy import crypto


class KeyHolder(Protocol):
    id: uuid.UUID
    wrapped_key: bytes | memoryview


def new_case_key(case_id: uuid.UUID) -> bytes:
    return crypto.new_wrapped_data_key(str(case_id))


def seal_bytes(holder: KeyHolder, field: str, data: bytes) -> bytes:
    return crypto.seal_bytes(bytes(holder.wrapped_key), str(holder.id), field, data)


def open_bytes(holder: KeyHolder, field: str, blob: bytes | memoryview) -> bytes:
    return crypto.unseal_bytes(bytes(holder.wrapped_key), str(holder.id), field, bytes(blob))


def seal_text(holder: KeyHolder, field: str, text: str) -> bytes:
    return crypto.seal(bytes(holder.wrapped_key), str(holder.id), field, text)


def open_text(holder: KeyHolder, field: str, blob: bytes | memoryview) -> str:
    return crypto.unseal(bytes(holder.wrapped_key), str(holder.id), field, bytes(blob))


def seal_json(holder: KeyHolder, field: str, data: dict[str, Any]) -> bytes:
    return seal_text(holder, field, json.dumps(data, ensure_ascii=False, sort_keys=True))


def open_json(holder: KeyHolder, field: str, blob: bytes | memoryview | None) -> dict[str, Any]:
    if not blob:
        return {}
    value = json.loads(open_text(holder, field, blob))
    return value if isinstance(value, dict) else {}


def channel_pseudonym(channel: str, user_id: str) -> str:
    return crypto.pseudonym(f"channel:{channel}", user_id)
