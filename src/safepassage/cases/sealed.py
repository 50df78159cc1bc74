"""A case's personal answers and message bodies, in two layers (privacy.staff_fields).

Answers are kept as a map of field → value blob, itself encrypted under the case's server key.
While the applicant still needs to see a value (the summary before confirming, an edit not yet
confirmed) it is *pending*; on confirmation it is *sealed* and only staff can read it. The
server-side view of the answers shows a sealed value as :data:`SEALED_ANSWER`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from safepassage.cases.markers import SEALED_ANSWER
from safepassage.cases.models import Case, Message
from safepassage.privacy import crypto, fields, staff_fields
from safepassage.privacy.keyring import Keyring

ANSWERS_MAP = "answers-map"
MESSAGE_FIELD = "message"
LOCKED_TEXT = "\U0001f512"  # shown where a reader holds no key; never personal data


def _answer_field(name: str) -> str:
    return f"answer:{name}"


def _load_map(case: Case) -> dict[str, bytes]:
    raw = fields.open_json(case, ANSWERS_MAP, case.sealed_answers)
    return {k: base64.b64decode(v) for k, v in raw.items()}


def _store_map(case: Case, blobs: dict[str, bytes]) -> None:
    case.sealed_answers = fields.seal_json(
        case, ANSWERS_MAP, {k: base64.b64encode(v).decode() for k, v in blobs.items()}
    )


def save_answers(case: Case, values: dict[str, Any]) -> None:
    """New values become pending; values shown as sealed stay as they were; missing ones go."""
    old = _load_map(case)
    blobs: dict[str, bytes] = {}
    for name, value in values.items():
        if value == SEALED_ANSWER and name in old:
            blobs[name] = old[name]
        else:
            blobs[name] = staff_fields.pending(case, _answer_field(name), str(value))
    _store_map(case, blobs)


def answers_for_server(case: Case) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, blob in _load_map(case).items():
        try:
            out[name] = staff_fields.open_for_server(case, _answer_field(name), blob)
        except staff_fields.Locked:
            out[name] = SEALED_ANSWER
    return out


def answers_for_staff(case: Case, ring: Keyring) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, blob in _load_map(case).items():
        try:
            out[name] = staff_fields.open_for_staff(case, _answer_field(name), blob, ring).text
        except staff_fields.Locked:
            out[name] = LOCKED_TEXT
    return out


def seal_answers(case: Case) -> None:
    blobs = _load_map(case)
    _store_map(
        case,
        {
            name: staff_fields.seal_pending(case, _answer_field(name), blob)
            for name, blob in blobs.items()
        },
    )


def has_pending_answers(case: Case) -> bool:
    return any(
        staff_fields.is_pending(case, _answer_field(n), b) for n, b in _load_map(case).items()
    )


def _message_field(message: Message) -> str:
    return f"{MESSAGE_FIELD}:{message.pk}"


def seal_message(case: Case, message: Message, text: str, *, pending: bool) -> bytes:
    field = _message_field(message)
    if pending:
        return staff_fields.pending(case, field, text)
    return staff_fields.seal(case, field, text)


@dataclass(frozen=True)
class OpenedMessage:
    text: str
    readable: bool


def open_message_for_staff(case: Case, message: Message, ring: Keyring) -> OpenedMessage:
    try:
        opened = staff_fields.open_for_staff(
            case, _message_field(message), message.body_sealed, ring
        )
    except staff_fields.Locked:
        return OpenedMessage(LOCKED_TEXT, readable=False)
    return OpenedMessage(opened.text, readable=True)


def open_message_for_server(case: Case, message: Message) -> str | None:
    """The text while it is pending (a reply the applicant has yet to read), else None."""
    try:
        return staff_fields.open_for_server(case, _message_field(message), message.body_sealed)
    except staff_fields.Locked:
        return None


def seal_message_now(case: Case, message: Message) -> None:
    message.body_sealed = staff_fields.seal_pending(
        case, _message_field(message), message.body_sealed
    )
    message.save(update_fields=["body_sealed"])


COPY_FIELD = "applicant-copy"


def _copy_aad(case: Case, message: Message) -> bytes:
    return f"{case.pk}:{COPY_FIELD}:{message.pk}".encode()


def seal_applicant_copy(case: Case, message: Message, text: str, browser_key: bytes) -> bytes:
    """The applicant's own words for their own thread: under a key only their browser holds,
    inside the case key (erasing the case shreds it). Neither the server nor staff open it."""
    inner = crypto.seal_for_browser(browser_key, text.encode("utf-8"), _copy_aad(case, message))
    return fields.seal_bytes(case, f"{COPY_FIELD}:{message.pk}", inner)


def open_applicant_copy(case: Case, message: Message, browser_key: bytes | None) -> str | None:
    """The copy, if this browser's key opens it; None otherwise (another visit, wiped)."""
    if browser_key is None or not message.applicant_copy:
        return None
    try:
        inner = fields.open_bytes(case, f"{COPY_FIELD}:{message.pk}", message.applicant_copy)
        return crypto.open_for_browser(browser_key, inner, _copy_aad(case, message)).decode()
    except (crypto.DecryptionError, UnicodeDecodeError):
        return None
