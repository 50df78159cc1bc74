"""Two-layer fields: the server writes and seals, only a staff keyring reads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User

from safepassage.privacy import fields, keyring, staff_fields
from safepassage.privacy.crypto import DecryptionError

pytestmark = [pytest.mark.django_db, pytest.mark.no_program_key]
PW = "DEMO staff passphrase 9"


@dataclass
class Holder:
    id: uuid.UUID
    wrapped_key: bytes


@pytest.fixture
def ring() -> keyring.Keyring:
    user = User.objects.create_user("holder", password=PW, is_staff=True)
    keyring.do_create_program_key(user, PW)
    return keyring.unlock(user, PW)


def _holder() -> Holder:
    case_id = uuid.uuid4()
    return Holder(case_id, fields.new_case_key(case_id))


def test_sealed_value_opens_only_with_a_staff_keyring(ring: keyring.Keyring) -> None:
    holder = _holder()
    blob = staff_fields.seal(holder, "name", "DEMO Пётр")
    with pytest.raises(staff_fields.Locked):
        staff_fields.open_for_server(holder, "name", blob)
    with pytest.raises(staff_fields.Locked):
        staff_fields.open_for_staff(holder, "name", blob, keyring.Keyring())
    opened = staff_fields.open_for_staff(holder, "name", blob, ring)
    assert opened == staff_fields.Opened("DEMO Пётр", pending=False)
    with pytest.raises(DecryptionError):
        staff_fields.open_for_staff(holder, "unit", blob, ring)  # moved to another field


def test_pending_value_is_readable_until_sealed(ring: keyring.Keyring) -> None:
    holder = _holder()
    blob = staff_fields.pending(holder, "sector", "DEMO sector")
    assert staff_fields.open_for_server(holder, "sector", blob) == "DEMO sector"
    assert staff_fields.is_pending(holder, "sector", blob)
    sealed = staff_fields.seal_pending(holder, "sector", blob)
    assert not staff_fields.is_pending(holder, "sector", sealed)
    with pytest.raises(staff_fields.Locked):
        staff_fields.open_for_server(holder, "sector", sealed)
    assert staff_fields.open_for_staff(holder, "sector", sealed, ring).text == "DEMO sector"


def test_erasing_the_case_keys_leaves_nothing_that_opens(ring: keyring.Keyring) -> None:
    holder = _holder()
    blob = staff_fields.seal(holder, "name", "DEMO name")
    staff_fields.forget_case_key(holder.id)
    with pytest.raises(staff_fields.Locked):
        staff_fields.open_for_staff(holder, "name", blob, ring)
    with pytest.raises(DecryptionError):  # and without the server data key, not even the outer
        staff_fields.open_for_staff(Holder(holder.id, b""), "name", blob, ring)


def test_without_a_program_key_values_stay_pending() -> None:
    holder = _holder()
    blob = staff_fields.seal(holder, "name", "DEMO")
    assert staff_fields.is_pending(holder, "name", blob)
