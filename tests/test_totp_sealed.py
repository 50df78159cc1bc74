"""Staff TOTP secrets are sealed at rest (console.models.SealedTOTPDevice).

A thief of the database reads the ``otp_totp_totpdevice`` table with raw SQL, as here: the
secret is in it neither as hex, nor as base32, nor as anything that decodes into it, and a
sealed value copied into another account's row opens for nobody. Runs on whichever database
the suite uses (SQLite, and PostgreSQL in CI).
"""

from __future__ import annotations

import base64
import binascii
import importlib
import re
import time
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from safepassage.console import auth
from safepassage.console.models import Role, SealedTOTPDevice
from tests.conftest import STAFF_PASSWORD, make_staff

pytestmark = pytest.mark.django_db

MIGRATION = "0002_sealed_totp_device"


def _code(secret: bytes, steps_ahead: int = 0) -> str:
    """What an authenticator app holding ``secret`` shows (now, or some periods later)."""
    totp = TOTP(secret)
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def _stored_rows(user: User) -> list[tuple[object, ...]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM otp_totp_totpdevice WHERE user_id = %s", [user.pk])
        return list(cursor.fetchall())


def _stored_key(user: User) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT key FROM otp_totp_totpdevice WHERE user_id = %s", [user.pk])
        (key,) = cursor.fetchone()
    return str(key)


def _set_stored_key(user: User, key: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE otp_totp_totpdevice SET key = %s WHERE user_id = %s", [key, user.pk])


def _enrol_over_the_web(username: str) -> tuple[User, bytes, Client]:
    """A new member's first login: the secret as the enrolment page shows it (the only place
    it is ever shown), confirmed with a code computed from it."""
    user = make_staff(username, Role.OPERATOR, totp=False)
    assert isinstance(user, User)
    client = Client()
    client.post("/console/login/", {"username": username, "password": STAFF_PASSWORD})
    page = client.get("/console/login/enrol/").content.decode()
    shown = re.search(r'id="totp-secret">([^<]+)<', page)
    uri = re.search(r"(otpauth://totp/[^<\s]+)", page)
    assert shown and uri
    raw = shown.group(1).replace(" ", "")
    secret = base64.b32decode(raw + "=" * (-len(raw) % 8))
    # The provisioning URI (what a QR code would carry) holds the same secret.
    assert parse_qs(urlsplit(unescape(uri.group(1))).query)["secret"] == [raw]
    response = client.post("/console/login/enrol/", {"code": _code(secret)})
    assert response.status_code == 302, response.content[:300]
    return user, secret, client


def _renderings(secret: bytes) -> list[str]:
    b32 = base64.b32encode(secret).decode().rstrip("=")
    return [secret.hex(), secret.hex().upper(), b32, b32.lower()]


def _assert_sealed(stored: str, secret: bytes) -> None:
    assert stored.startswith("sp1:")
    for rendering in _renderings(secret):
        assert rendering not in stored
    try:
        as_hex = binascii.unhexlify(stored)
    except (binascii.Error, ValueError):
        as_hex = b""  # not hex at all
    assert secret not in as_hex
    body = stored.removeprefix("sp1:")
    assert secret not in base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def test_the_stored_key_column_does_not_hold_the_secret() -> None:
    user, secret, client = _enrol_over_the_web("newop")
    assert client.get("/console/queue/").status_code == 200
    _assert_sealed(_stored_key(user), secret)
    # No other column of the row holds it either.
    for row in _stored_rows(user):
        for value in row:
            for rendering in _renderings(secret):
                assert rendering not in str(value)
    # The member's own pages never show it again.
    account = client.get("/console/account/").content.decode()
    for rendering in _renderings(secret):
        assert rendering not in account.replace(" ", "")
    # A later login with the code the app shows next still works, and that code only once.
    later = Client()
    later.post("/console/login/", {"username": "newop", "password": STAFF_PASSWORD})
    assert later.post("/console/login/verify/", {"code": _code(secret, 1)}).status_code == 302
    again = Client()
    again.post("/console/login/", {"username": "newop", "password": STAFF_PASSWORD})
    assert again.post("/console/login/verify/", {"code": _code(secret, 1)}).status_code == 400


def test_a_sealed_secret_copied_to_another_account_opens_for_nobody() -> None:
    victim, secret, _ = _enrol_over_the_web("victim")
    thief = make_staff("thief", Role.OPERATOR)
    assert isinstance(thief, User)
    # Someone who can write to the database copies the victim's sealed key into their own row,
    # hoping the login page will accept the victim's codes (or reveal the secret) for them.
    _set_stored_key(thief, _stored_key(victim))
    client = Client()
    client.post("/console/login/", {"username": "thief", "password": STAFF_PASSWORD})
    response = client.post("/console/login/verify/", {"code": _code(secret, 1)})
    assert response.status_code == 400
    assert client.get("/console/queue/").status_code == 302
    assert not auth.check_totp(thief, _code(secret, 1))
    # The same code still works on the account it belongs to: the copy, not the code, failed.
    assert auth.check_totp(victim, _code(secret, 1))


def test_a_clear_key_written_into_the_row_verifies_nothing() -> None:
    user = make_staff("op", Role.OPERATOR)
    assert isinstance(user, User)
    chosen = bytes(range(20))
    _set_stored_key(user, chosen.hex())  # django-otp's own format, with a secret of our choice
    client = Client()
    client.post("/console/login/", {"username": "op", "password": STAFF_PASSWORD})
    assert client.post("/console/login/verify/", {"code": _code(chosen)}).status_code == 400
    assert client.get("/console/queue/").status_code == 302


def test_the_migration_seals_clear_keys_and_leaves_sealed_ones_alone() -> None:
    migration = importlib.import_module(f"safepassage.console.migrations.{MIGRATION}")
    # The models as the migration sees them: django-otp's, without our sealing.
    historical = MigrationLoader(connection).project_state(("console", MIGRATION)).apps
    before = make_staff("before", Role.OPERATOR, totp=False)
    after = make_staff("after", Role.OPERATOR)
    assert isinstance(before, User) and isinstance(after, User)
    TOTPDevice.objects.create(user=before, name="TOTP", confirmed=True)  # as django-otp stored it
    clear = _stored_key(before)
    secret = bytes.fromhex(clear)
    already = _stored_key(after)

    migration.seal_clear_keys(historical, None)

    _assert_sealed(_stored_key(before), secret)
    assert _stored_key(after) == already
    sealed = _stored_key(before)
    migration.seal_clear_keys(historical, None)
    assert _stored_key(before) == sealed and _stored_key(after) == already
    # The member enrolled before the upgrade keeps the same authenticator.
    assert SealedTOTPDevice.objects.get(user=before).bin_key == secret
    assert auth.check_totp(before, _code(secret))
    # Undoing the migration gives django-otp its hex key back.
    migration.open_sealed_keys(historical, None)
    assert _stored_key(before) == clear


def test_an_unreadable_pending_enrolment_is_replaced_not_shown() -> None:
    user = make_staff("late", Role.OPERATOR, totp=False)
    assert isinstance(user, User)
    stale = TOTPDevice.objects.create(user=user, name="TOTP", confirmed=False)  # clear hex key
    client = Client()
    client.post("/console/login/", {"username": "late", "password": STAFF_PASSWORD})
    page = client.get("/console/login/enrol/")
    assert page.status_code == 200
    shown = base64.b32encode(bytes.fromhex(stale.key)).decode().rstrip("=")
    assert shown not in page.content.decode().replace(" ", "")
    assert not TOTPDevice.objects.filter(pk=stale.pk).exists()
    _assert_sealed(_stored_key(user), bytes.fromhex(stale.key))
