"""A database writer plants a program key row marked confirmed, without the HMAC a holder of its
predecessor would have made, and a wrap of it for an account of their own."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from safepassage.privacy import key_checks, keyring, sealing
from safepassage.privacy.keyring import wrap_secret
from safepassage.privacy.models import CaseKey, ProgramKey, StaffKey
from tests.conftest import KEYHOLDER_PASSWORD, ChatDriver


@pytest.mark.django_db
def test_a_planted_key_marked_confirmed_without_its_hmac_receives_no_case(
    client: Client,
) -> None:
    genuine = keyring.active_key()
    assert genuine is not None
    private, public = sealing.generate_keypair()
    planted = ProgramKey.objects.create(public_key=public, confirmed_at=timezone.now())
    planter = User.objects.create_user("planter", password="DEMO planter pass")
    salt, time_cost, memory_kib, parallelism, wrapped = wrap_secret(
        "DEMO planter pass", private, b"anything"
    )
    StaffKey.objects.create(  # "held through a wrap": a wrap the writer made for themselves
        user=planter,
        program_key=planted,
        salt=salt,
        time_cost=time_cost,
        memory_cost_kib=memory_kib,
        parallelism=parallelism,
        wrapped_private_key=wrapped,
    )
    chat = ChatDriver(client, "ko")
    chat.apply()
    assert CaseKey.objects.get(case_id=chat.case().pk).program_key_id == genuine.pk
    assert key_checks.alarms()


@pytest.mark.django_db
def test_a_rotated_key_carries_its_hmac_and_receives_new_cases(client: Client) -> None:
    new, _private, _old = keyring.do_rotate(
        User.objects.get(username="keyholder"), KEYHOLDER_PASSWORD
    )
    chat = ChatDriver(client, "ko")
    chat.apply()
    assert CaseKey.objects.get(case_id=chat.case().pk).program_key_id == new.pk
    assert not key_checks.alarms()
