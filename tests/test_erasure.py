"""Erasing a case is real: its keys are gone, and what is left of it anywhere opens with no key
the server or staff still hold."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from safepassage.cases.models import Case, Message
from safepassage.privacy import crypto, fields, staff_fields
from safepassage.privacy.keyring import Keyring
from safepassage.privacy.models import CaseKey
from tests.conftest import ChatDriver

VICTIM = {
    "sector": "ERASEME-sector",
    "unit": "ERASEME-unit",
    "name": "ERASEME name",
    "birth_date": "ERASEME-1990",
}


@dataclass
class Holder:
    id: uuid.UUID
    wrapped_key: bytes


KEEPER = {
    "sector": "KEEP-sector",
    "unit": "KEEP-unit",
    "name": "KEEP name",
    "birth_date": "KEEP-1991",
}


@pytest.mark.django_db(transaction=True)
def test_erased_case_leaves_nothing_that_opens(ring: Keyring) -> None:
    kept = ChatDriver(Client(), "ru")
    kept.apply(applicant=KEEPER)
    victim = ChatDriver(Client(), "ko")
    victim.apply(applicant=VICTIM)
    victim.choose("continue")
    victim.say("ERASEME message")
    case = Case.objects.get(language="ko")
    # A thief's copy, taken before the erasure (an old backup, a freed page).
    copy_case_key = bytes(case.wrapped_key)
    copy_reference = bytes(case.reference_sealed or b"")
    assert fields.open_bytes(case, "reference", copy_reference)  # opens while the case exists
    copy_answers = bytes(case.sealed_answers or b"")
    copy_messages = [(m.pk, bytes(m.body_sealed)) for m in Message.objects.filter(case=case)]
    copy_private = bytes(CaseKey.objects.get(case_id=case.pk).sealed_private_key)
    case_id = case.pk

    victim.choose("delete")
    victim.choose("erase")
    assert not Case.objects.filter(pk=case_id).exists()
    assert not CaseKey.objects.filter(case_id=case_id).exists()

    # Every key the server and staff still hold: the master key (through each remaining case's
    # wrapped data key), every remaining case key pair, and the staff keyring. The erased case's
    # own wrapped data key is gone, so its outer layer opens under none of them.
    for other in Case.objects.all():
        as_other = Holder(case_id, bytes(other.wrapped_key))
        for field, blob in [
            ("answers-map", copy_answers),
            ("reference", copy_reference),
            *((f"message:{pk}", b) for pk, b in copy_messages),
        ]:
            with pytest.raises(crypto.DecryptionError):
                fields.open_bytes(as_other, field, blob)
            with pytest.raises(crypto.DecryptionError):
                staff_fields.open_for_staff(as_other, field, blob, ring)

    if connection.vendor == "sqlite":
        path = Path(connection.settings_dict["NAME"])
        raw = b"".join(p.read_bytes() for p in [path, Path(f"{path}-wal")] if p.exists())
        for blob in [
            copy_case_key,
            copy_answers,
            copy_reference,
            copy_private,
            *(b for _, b in copy_messages),
        ]:
            assert blob[:48] not in raw  # zeroed on erasure, not just unlinked
        assert b"KEEP" not in raw and b"ERASEME" not in raw
