"""Property tests of every encryption helper: round trip, and any tampering is caught."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safepassage.privacy import crypto, fields, references

TEXT = st.text(max_size=2000)


@dataclass
class Holder:
    id: uuid.UUID
    wrapped_key: bytes


def _holder() -> Holder:
    case_id = uuid.uuid4()
    return Holder(case_id, fields.new_case_key(case_id))


@settings(max_examples=300, deadline=None)
@given(TEXT, st.text(min_size=1, max_size=40))
def test_seal_round_trip(plaintext: str, field: str) -> None:
    holder = _holder()
    blob = fields.seal_text(holder, field, plaintext)
    assert fields.open_text(holder, field, blob) == plaintext


@settings(max_examples=300, deadline=None)
@given(TEXT, st.data())
def test_any_single_bit_flip_is_caught(plaintext: str, data: st.DataObject) -> None:
    holder = _holder()
    blob = bytearray(fields.seal_text(holder, "f", plaintext))
    index = data.draw(st.integers(0, len(blob) - 1))
    bit = data.draw(st.integers(0, 7))
    blob[index] ^= 1 << bit
    with pytest.raises(crypto.DecryptionError):
        fields.open_text(holder, "f", bytes(blob))


@settings(max_examples=200, deadline=None)
@given(TEXT, st.integers(0, 60))
def test_truncation_is_caught(plaintext: str, cut: int) -> None:
    holder = _holder()
    blob = fields.seal_text(holder, "f", plaintext)
    with pytest.raises(crypto.DecryptionError):
        fields.open_text(holder, "f", blob[: max(0, len(blob) - 1 - cut)])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=20), st.one_of(TEXT, st.integers(), st.lists(TEXT))))
def test_json_round_trip(data: dict[str, object]) -> None:
    holder = _holder()
    assert fields.open_json(holder, "answers", fields.seal_json(holder, "answers", data)) == data


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_never_opens(garbage: bytes) -> None:
    holder = _holder()
    with pytest.raises(crypto.DecryptionError):
        fields.open_text(holder, "f", garbage)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=100))
def test_a_destroyed_or_foreign_key_opens_nothing(wrong_key: bytes) -> None:
    holder = _holder()
    blob = fields.seal_text(holder, "f", "DEMO secret")
    with pytest.raises(crypto.DecryptionError):
        fields.open_text(Holder(holder.id, wrong_key), "f", blob)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_reference_normalisation_is_total_and_idempotent(value: str) -> None:
    normal = references.normalise(value)
    assert normal == "" or (
        len(normal) == references.LENGTH and references.normalise(normal) == normal
    )
