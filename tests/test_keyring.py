"""Staff-held program keys: sealing needs no secret, opening needs a staff password."""

from __future__ import annotations

import base64

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.http import HttpRequest
from django.test import Client

from safepassage.privacy import keyring, sealing, session
from safepassage.privacy.crypto import DecryptionError
from safepassage.privacy.models import AuditEvent, StaffKey
from safepassage.privacy.session_store import SessionStore

pytestmark = [pytest.mark.django_db, pytest.mark.no_program_key]
ADMIN_PW = "DEMO admin passphrase 1"
OP_PW = "DEMO operator passphrase 2"


@pytest.fixture
def admin() -> User:
    return User.objects.create_user("admin1", password=ADMIN_PW, is_staff=True)


@pytest.fixture
def operator() -> User:
    return User.objects.create_user("operator1", password=OP_PW, is_staff=True)


def test_seal_without_secret_open_only_with_password(admin: User) -> None:
    key = keyring.do_create_program_key(admin, ADMIN_PW)
    blob = sealing.seal(bytes(key.public_key), "DEMO 김철수".encode(), b"case:1:name")
    assert keyring.unlock(admin, ADMIN_PW).open(key.pk, blob, b"case:1:name").decode() == (
        "DEMO 김철수"
    )
    assert not keyring.unlock(admin, "wrong password")
    with pytest.raises(DecryptionError):
        keyring.unlock(admin, "wrong password").open(key.pk, blob, b"case:1:name")
    with pytest.raises(DecryptionError):
        keyring.unlock(admin, ADMIN_PW).open(key.pk, blob, b"case:2:name")
    wrap = StaffKey.objects.get(user=admin)
    assert wrap.memory_cost_kib >= 64 * 1024
    assert keyring.unlock(admin, ADMIN_PW).private_keys[key.pk] not in bytes(
        wrap.wrapped_private_key
    )


def test_only_one_program_key_is_created(admin: User) -> None:
    keyring.do_create_program_key(admin, ADMIN_PW)
    with pytest.raises(keyring.KeyringError):
        keyring.do_create_program_key(admin, ADMIN_PW)


def test_grant_revoke_and_password_change(admin: User, operator: User) -> None:
    key = keyring.do_create_program_key(admin, ADMIN_PW)
    assert not keyring.unlock(operator, OP_PW)
    with pytest.raises(keyring.KeyringError):
        keyring.do_grant(admin, "not the password", operator, OP_PW)
    assert keyring.do_grant(admin, ADMIN_PW, operator, OP_PW) == 1
    assert key.pk in keyring.unlock(operator, OP_PW).private_keys
    keyring.do_change_password(operator, OP_PW, "DEMO new operator passphrase")
    assert not keyring.unlock(operator, OP_PW)
    assert keyring.unlock(operator, "DEMO new operator passphrase")
    keyring.do_revoke(admin, operator)
    assert not keyring.unlock(operator, "DEMO new operator passphrase")
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert actions == ["keys.create", "keys.grant", "keys.rewrap", "keys.revoke"]


def test_rotation_starts_a_new_key_and_retires_the_old(admin: User) -> None:
    old = keyring.do_create_program_key(admin, ADMIN_PW)
    new, private, old_ring = keyring.do_rotate(admin, ADMIN_PW)
    assert old.pk in old_ring.private_keys and sealing.public_of(private) == bytes(new.public_key)
    keyring.do_finish_rotation(admin, new)
    assert keyring.active_key() == new
    assert set(keyring.unlock(admin, ADMIN_PW).private_keys) == {old.pk, new.pk}


def test_login_puts_the_keyring_in_the_session_only_as_ciphertext(admin: User) -> None:
    key = keyring.do_create_program_key(admin, ADMIN_PW)
    private = keyring.unlock(admin, ADMIN_PW).private_keys[key.pk]
    client = Client()
    assert (
        client.post("/console/login/", {"username": "admin1", "password": ADMIN_PW}).status_code
        == 302
    )
    cookie = client.cookies["sp_unlock"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    session_rows = b"".join(s.session_data.encode() for s in Session.objects.all())
    assert base64.b64encode(private) not in session_rows
    assert private not in session_rows
    request = HttpRequest()
    request.COOKIES["sp_unlock"] = cookie.value
    request.session = SessionStore(session_key=client.cookies["sp"].value)
    assert session.keyring_of(request).private_keys == {key.pk: private}
    request.COOKIES["sp_unlock"] = base64.urlsafe_b64encode(b"x" * 32).decode()
    assert not session.keyring_of(request)  # the session half alone opens nothing
    client.post("/console/logout/")
    assert client.cookies["sp_unlock"].value == ""


def test_keys_commands(
    admin: User, operator: User, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from safepassage import cli
    from safepassage.console.models import Role, StaffProfile
    from safepassage.privacy import staff_fields
    from tests.test_staff_fields import _holder

    # The command grants only to a role that reads cases (as the console does).
    StaffProfile.objects.create(user=admin, role=Role.ADMIN)
    StaffProfile.objects.create(user=operator, role=Role.OPERATOR)

    monkeypatch.setattr("sys.stdin", io.StringIO(f"{ADMIN_PW}\n"))
    assert cli.main(["keys", "init", "--user", "admin1", "--stdin"]) == 0
    holder = _holder()
    blob = staff_fields.seal(holder, "name", "DEMO rotated")
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{ADMIN_PW}\n{OP_PW}\n"))
    assert cli.main(["keys", "grant", "--user", "admin1", "--to", "operator1", "--stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{ADMIN_PW}\n"))
    assert cli.main(["keys", "rotate", "--user", "admin1", "--stdin"]) == 0
    assert "1 case keys re-wrapped" in capsys.readouterr().out
    new_only = keyring.Keyring(
        {
            keyring.active_key().pk: keyring.unlock(admin, ADMIN_PW).private_keys[
                keyring.active_key().pk
            ]
        }
    )
    assert staff_fields.open_for_staff(holder, "name", blob, new_only).text == "DEMO rotated"
    monkeypatch.setattr("sys.stdin", io.StringIO("wrong\n"))
    assert cli.main(["keys", "rotate", "--user", "admin1", "--stdin"]) == 2
    assert cli.main(["keys", "revoke", "--user", "operator1"]) == 0
    assert not keyring.unlock(operator, OP_PW)
