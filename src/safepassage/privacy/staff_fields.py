"""Two-layer protection of a case's personal fields.

    outer: AES-256-GCM under the case's server data key (privacy.fields): erasing the case
           destroys that key, so nothing left anywhere opens again (crypto-shredding);
    inner: either the text itself, tagged ``P`` ("pending": readable by the server while the
           workflow needs it, at most 24 hours), or a value sealed to the case's public key,
           tagged ``S``, which only a staff member's unlocked keyring opens.

The server can always write and seal; it can read only what is still pending.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from safepassage.privacy import fields, key_checks, keyring, sealing
from safepassage.privacy.crypto import DecryptionError
from safepassage.privacy.models import CaseKey, ProgramKey

PENDING = b"P"
SEALED = b"S"


class Locked(Exception):
    """The value is sealed and this reader holds no key that opens it."""


class Damaged(Locked, DecryptionError):
    """The stored value's outer layer does not authenticate (damaged, planted, moved from
    another field or case, or its case's data key erased): nobody reads it. Pages treat it as
    Locked; it is a DecryptionError all the same."""


@dataclass(frozen=True)
class Opened:
    text: str
    pending: bool


def _context(case_id: uuid.UUID, field: str) -> bytes:
    return f"{case_id}:{field}".encode()


def case_key(case_id: uuid.UUID) -> CaseKey | None:
    """The case's key pair, made on first use while a program key exists."""
    existing = CaseKey.objects.filter(case_id=case_id).first()
    if existing is not None:
        return existing
    # Only a key a holder confirmed: a row planted in the database must not receive new cases.
    program = key_checks.sealing_key()
    if program is None:
        return None
    private, public = sealing.generate_keypair()
    with transaction.atomic():
        key, _ = CaseKey.objects.get_or_create(
            case_id=case_id,
            defaults={
                "public_key": public,
                "program_key": program,
                "sealed_private_key": sealing.seal(
                    bytes(program.public_key), private, f"case-key:{case_id}".encode()
                ),
            },
        )
    return key


def _inner_seal(case_id: uuid.UUID, field: str, text: str) -> bytes:
    key = case_key(case_id)
    if key is None:
        # No program key yet (a database made before `safepassage keys init`): keep the value
        # pending rather than lose an applicant's words.
        return PENDING + text.encode("utf-8")
    return _sealed_inner(case_id, field, text, bytes(key.public_key))


def _sealed_inner(case_id: uuid.UUID, field: str, text: str, case_public_key: bytes) -> bytes:
    return SEALED + sealing.seal(case_public_key, text.encode("utf-8"), _context(case_id, field))


def seal_with_public_key(
    holder: fields.KeyHolder, field: str, text: str, case_public_key: bytes
) -> bytes:
    """:func:`seal` for a caller that already holds the case's public key (bulk loading)."""
    return fields.seal_bytes(holder, field, _sealed_inner(holder.id, field, text, case_public_key))


def new_case_key(case_id: uuid.UUID, program: ProgramKey) -> tuple[CaseKey, bytes]:
    """An unsaved case key pair under ``program``, and its public half (bulk loading)."""
    private, public = sealing.generate_keypair()
    sealed_private = sealing.seal(
        bytes(program.public_key), private, f"case-key:{case_id}".encode()
    )
    case_key = CaseKey(
        case_id=case_id,
        public_key=public,
        sealed_private_key=sealed_private,
        program_key=program,
    )
    return case_key, public


def seal(holder: fields.KeyHolder, field: str, text: str) -> bytes:
    """Sealed for staff: the server can no longer read it."""
    return fields.seal_bytes(holder, field, _inner_seal(holder.id, field, text))


def pending(holder: fields.KeyHolder, field: str, text: str) -> bytes:
    """Readable by the server until :func:`seal_pending` runs."""
    return fields.seal_bytes(holder, field, PENDING + text.encode("utf-8"))


def is_pending(holder: fields.KeyHolder, field: str, blob: bytes | memoryview) -> bool:
    return fields.open_bytes(holder, field, blob)[:1] == PENDING


def open_for_server(holder: fields.KeyHolder, field: str, blob: bytes | memoryview) -> str:
    inner = fields.open_bytes(holder, field, blob)
    if inner[:1] != PENDING:
        raise Locked(field)
    return inner[1:].decode("utf-8")


def open_for_staff(
    holder: fields.KeyHolder, field: str, blob: bytes | memoryview, ring: keyring.Keyring
) -> Opened:
    # A row that does not open (damaged, or planted by someone with database access) is
    # Locked, as a field sealed to a key the reader lacks: one bad row must not turn the
    # queue or the case page into an error for every member of staff.
    try:
        inner = fields.open_bytes(holder, field, blob)
    except DecryptionError as exc:
        raise Damaged(field) from exc
    if inner[:1] == PENDING:
        return Opened(inner[1:].decode("utf-8"), pending=True)
    try:
        key, public = _opened_case_key(holder.id, ring, field)
        text = sealing.open_sealed(key, inner[1:], _context(holder.id, field), public)
    except DecryptionError as exc:
        raise Locked(field) from exc
    return Opened(text.decode("utf-8"), pending=False)


def open_case_keys(case_ids: Collection[uuid.UUID], ring: keyring.Keyring) -> None:
    """Open the key pairs of many cases at once (one query), for a page that reads a field of
    each (the queue's previews): the fields then open without asking the database again."""
    wanted = {str(c) for c in case_ids} - set(ring.opened_cases) - ring.unopened_cases
    if not wanted or not ring:
        return
    found = {str(k.case_id): k for k in CaseKey.objects.filter(case_id__in=wanted)}
    for case_id in wanted:
        _remember(case_id, found.get(case_id), ring)


def _remember(case_id: str, key: CaseKey | None, ring: keyring.Keyring) -> None:
    """Open ``key`` (the case's key pair) with ``ring`` into its cache, or note it unopened."""
    if key is None or key.program_key_id not in ring.private_keys:
        ring.unopened_cases.add(case_id)
        return
    public = bytes(key.public_key)
    try:
        private = ring.open(
            key.program_key_id, bytes(key.sealed_private_key), f"case-key:{case_id}".encode()
        )
    except DecryptionError:
        ring.unopened_cases.add(case_id)
        return
    loaded, derived = sealing.loaded(private)
    if derived != public:
        ring.unopened_cases.add(case_id)  # the case's public key was swapped: refuse, not guess
        return
    ring.opened_cases[case_id] = (loaded, public)


def _opened_case_key(case_id: uuid.UUID, ring: keyring.Keyring, field: str) -> tuple[Any, bytes]:
    """The case's loaded private key and its public half, opened once per request."""
    key_id = str(case_id)
    if key_id not in ring.opened_cases and key_id not in ring.unopened_cases:
        _remember(key_id, CaseKey.objects.filter(case_id=case_id).first(), ring)
    opened = ring.opened_cases.get(key_id)
    if opened is None:
        raise Locked(field)
    return opened


def seal_pending(holder: fields.KeyHolder, field: str, blob: bytes | memoryview) -> bytes:
    """The same value, now sealed for staff (a no-op for a value already sealed)."""
    inner = fields.open_bytes(holder, field, blob)
    if inner[:1] != PENDING:
        return bytes(blob)
    return seal(holder, field, inner[1:].decode("utf-8"))


def forget_case_key(case_id: uuid.UUID) -> None:
    CaseKey.objects.filter(case_id=case_id).delete()
