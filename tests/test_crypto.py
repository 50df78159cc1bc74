"""Field encryption and pseudonyms."""

from __future__ import annotations

import uuid

import pytest

from safepassage.privacy import crypto, references


def test_round_trip_and_binding_to_field_and_owner() -> None:
    owner = str(uuid.uuid4())
    key = crypto.new_wrapped_data_key(owner)
    blob = crypto.seal(key, owner, "name", "DEMO Ким Чол Су 김철수")
    assert "김철수".encode() not in blob
    assert crypto.unseal(key, owner, "name", blob) == "DEMO Ким Чол Су 김철수"
    with pytest.raises(crypto.DecryptionError):
        crypto.unseal(key, owner, "unit", blob)
    other = str(uuid.uuid4())
    with pytest.raises(crypto.DecryptionError):
        crypto.unseal(crypto.new_wrapped_data_key(other), other, "name", blob)


@pytest.mark.parametrize("position", [0, 5, 20, -1])
def test_any_flipped_byte_is_caught(position: int) -> None:
    owner = str(uuid.uuid4())
    key = crypto.new_wrapped_data_key(owner)
    blob = bytearray(crypto.seal(key, owner, "f", "secret"))
    blob[position] ^= 0x01
    with pytest.raises(crypto.DecryptionError):
        crypto.unseal(key, owner, "f", bytes(blob))


def test_same_plaintext_encrypts_differently() -> None:
    owner = str(uuid.uuid4())
    key = crypto.new_wrapped_data_key(owner)
    assert crypto.seal(key, owner, "f", "x") != crypto.seal(key, owner, "f", "x")


def test_pseudonyms_are_stable_keyed_and_separate_per_namespace() -> None:
    a = crypto.pseudonym("telegram", "123456789")
    assert a == crypto.pseudonym("telegram", "123456789")
    assert a != crypto.pseudonym("signal", "123456789")
    assert "123456789" not in a and len(a) == 64


def test_references_have_80_bits_and_forgiving_input() -> None:
    value = references.generate()
    assert len(value) == 16 and set(value) <= set(references.ALPHABET)
    shown = references.display(value)
    assert references.normalise(shown.lower().replace("-", " ")) == value
    assert references.normalise("too short") == ""
    hashed = references.hash_passphrase(value)
    assert references.check_passphrase(hashed, shown)
    assert not references.check_passphrase(hashed, references.generate())
