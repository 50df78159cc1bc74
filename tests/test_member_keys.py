"""Each member's own key pair: sealed to without a secret, opened only with their password."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from safepassage.console.models import Role
from safepassage.console.staff import do_change_password
from safepassage.privacy import member_keys
from safepassage.privacy.crypto import DecryptionError
from safepassage.privacy.models import MemberKey
from safepassage.privacy.sealing import open_sealed
from safepassage.privacy.session import keyring_of
from tests.conftest import STAFF_PASSWORD, make_staff, staff_login

pytestmark = pytest.mark.django_db

SECRET = b"SENTINEL handover meeting point"


def _session_keyring(client: object) -> object:
    """The keyring a console request of this client would see."""
    from django.http import HttpRequest

    request = HttpRequest()
    request.session = client.session  # type: ignore[attr-defined]
    request.COOKIES = {k: v.value for k, v in client.cookies.items()}  # type: ignore[attr-defined]
    return keyring_of(request)


def test_first_login_creates_the_pair_and_the_session_holds_its_private_half() -> None:
    user = make_staff("liaison_m", Role.LIAISON, "DEMO-SECTOR")
    assert member_keys.public_key_of(user) is None  # nothing before the first login
    client = staff_login("liaison_m")
    row = MemberKey.objects.get(user=user)
    blob = member_keys.seal_to_member(user, SECRET, b"demo")
    ring = _session_keyring(client)
    assert ring.member_private is not None  # type: ignore[attr-defined]
    assert open_sealed(ring.member_private, blob, b"demo") == SECRET  # type: ignore[attr-defined]
    # The stored row holds the private half only wrapped: the password is needed.
    assert ring.member_private not in bytes(row.wrapped_private_key)  # type: ignore[attr-defined]
    assert member_keys.unlock_member_key(user, "wrong password") is None
    assert member_keys.unlock_member_key(user, STAFF_PASSWORD) == ring.member_private  # type: ignore[attr-defined]


def test_a_password_change_keeps_what_was_sealed_to_the_member_readable() -> None:
    user = make_staff("operator_m", Role.OPERATOR)
    client = staff_login("operator_m")
    blob = member_keys.seal_to_member(user, SECRET, b"demo")
    do_change_password(user, "DEMO a new long passphrase", _session_keyring(client))  # type: ignore[arg-type]
    private = member_keys.unlock_member_key(
        User.objects.get(pk=user.pk), "DEMO a new long passphrase"
    )
    assert private is not None and open_sealed(private, blob, b"demo") == SECRET
    assert member_keys.unlock_member_key(user, STAFF_PASSWORD) is None
    with pytest.raises(DecryptionError):
        open_sealed(private, blob, b"another context")


def test_sealing_to_a_member_without_a_pair_is_refused() -> None:
    user = make_staff("analyst_m", Role.ANALYST)
    with pytest.raises(LookupError):
        member_keys.seal_to_member(user, SECRET, b"demo")
