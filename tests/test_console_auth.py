"""Staff login: password + second factor, enrolment, throttling, idle timeout, session ends."""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_otp.oath import TOTP

from safepassage.console import auth
from safepassage.console.models import Role, SealedTOTPDevice
from safepassage.privacy import keyring
from tests.conftest import STAFF_PASSWORD, make_staff, staff_login, totp_code

pytestmark = pytest.mark.django_db


def _password(client: Client, username: str, password: str = STAFF_PASSWORD) -> object:
    return client.post("/console/login/", {"username": username, "password": password})


def test_password_alone_opens_no_console_page() -> None:
    make_staff("op", Role.OPERATOR)
    client = Client()
    assert _password(client, "op")["Location"] == "/console/login/verify/"  # type: ignore[index]
    for url in ("/console/", "/console/queue/", "/console/account/", "/console/hotline/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == "/console/login/verify/"


def test_a_totp_code_works_only_once() -> None:
    user = make_staff("op", Role.OPERATOR)
    first = Client()
    _password(first, "op")
    code = totp_code(user)
    assert first.post("/console/login/verify/", {"code": code}).status_code == 302
    assert first.get("/console/queue/").status_code == 200
    second = Client()
    _password(second, "op")
    response = second.post("/console/login/verify/", {"code": code})
    assert response.status_code == 400 and "already used" in response.content.decode()
    assert second.get("/console/queue/").status_code == 302


def test_new_account_enrols_totp_at_first_login() -> None:
    user = make_staff("newbie", Role.OPERATOR, totp=False)
    client = Client()
    _password(client, "newbie")
    assert client.get("/console/login/verify/")["Location"] == "/console/login/enrol/"
    page = client.get("/console/login/enrol/").content.decode()
    assert 'id="totp-secret"' in page and "otpauth://totp/" in page
    device = SealedTOTPDevice.objects.get(user=user, confirmed=False)
    wrong = client.post("/console/login/enrol/", {"code": "000000"})
    assert wrong.status_code == 400
    time.sleep(1.1)  # django-otp throttles a device for a second after a wrong code
    code = f"{TOTP(device.bin_key).token():06d}"
    assert client.post("/console/login/enrol/", {"code": code})["Location"] == "/console/queue/"
    assert client.get("/console/queue/").status_code == 200
    assert SealedTOTPDevice.objects.get(user=user).confirmed


@pytest.mark.no_program_key
def test_the_first_admin_from_serve_enrols_and_reaches_staff_admin() -> None:
    from safepassage.cli import ensure_first_admin

    credentials = ensure_first_admin()
    assert credentials is not None
    username, password = credentials
    client = Client()
    assert _password(client, username, password).status_code == 302  # type: ignore[attr-defined]
    client.get("/console/login/enrol/")
    device = SealedTOTPDevice.objects.get(user__username=username, confirmed=False)
    response = client.post("/console/login/enrol/", {"code": f"{TOTP(device.bin_key).token():06d}"})
    # The one-time password only lets the admin choose their own (tests/test_key_custody.py).
    assert response["Location"] == "/console/account/choose-password/"
    chosen = "DEMO the admin's chosen passphrase"
    response = client.post(
        "/console/account/choose-password/", {"new_password1": chosen, "new_password2": chosen}
    )
    assert response["Location"] == "/console/service/"
    created = client.post(
        "/console/staff/new/", {"username": "op1", "role": "operator"}, follow=True
    )
    assert created.status_code == 200 and 'id="new-password"' in created.content.decode()
    assert client.get("/console/queue/").status_code == 403
    # The new operator receives no program key from the admin's session: a holder grants it.
    new_password = re.search(r'id="new-password"[^>]*>([^<]+)<', created.content.decode())
    assert new_password
    operator = User.objects.get(username="op1")
    assert not keyring.unlock(operator, new_password.group(1).strip())


def test_idle_session_ends_after_thirty_minutes() -> None:
    make_staff("op", Role.OPERATOR)
    client = staff_login("op")
    assert client.get("/console/queue/").status_code == 200
    session = client.session
    session[auth.SESSION_SEEN] = int(time.time()) - 31 * 60
    session.save()
    response = client.get("/console/queue/")
    assert response.status_code == 302 and response["Location"] == "/console/login/?expired=1"
    assert client.get("/console/queue/")["Location"] == "/console/login/"


def test_all_sessions_end_when_a_factor_or_the_password_changes() -> None:
    user = make_staff("op", Role.OPERATOR)
    assert isinstance(user, User)
    laptop = staff_login("op")
    assert laptop.get("/console/queue/").status_code == 200
    # A new authenticator is confirmed (from another device): every other session ends.
    device = auth.pending_totp(user)
    assert auth.do_confirm_totp(user, f"{TOTP(device.bin_key).token():06d}")
    assert laptop.get("/console/queue/")["Location"] == "/console/login/?expired=1"

    other = make_staff("op2", Role.OPERATOR)
    assert isinstance(other, User)
    tablet = staff_login("op2")
    other.set_password("another long passphrase here")
    other.save()
    assert tablet.get("/console/queue/")["Location"].startswith("/console/login/")


def test_logout_clears_the_browser() -> None:
    make_staff("op", Role.OPERATOR)
    client = staff_login("op")
    response = client.post("/console/logout/")
    assert response["Clear-Site-Data"] == '"cache", "cookies", "storage"'
    assert client.get("/console/queue/")["Location"] == "/console/login/"


def test_console_pages_allow_only_our_own_script_and_applicant_pages_none() -> None:
    make_staff("op", Role.OPERATOR)
    client = staff_login("op")
    console_csp = client.get("/console/queue/")["Content-Security-Policy"]
    assert "script-src 'self'" in console_csp and "unsafe" not in console_csp
    chat_csp = Client().get("/chat/ru/")["Content-Security-Policy"]
    assert "script-src" not in chat_csp and "default-src 'none'" in chat_csp
    script = Client().get("/console/console.js")
    assert script.status_code == 200 and script["Content-Type"].startswith("text/javascript")


def test_the_queues_self_refresh_does_not_keep_an_idle_session_alive() -> None:
    make_staff("op", Role.OPERATOR)
    client = staff_login("op")
    session = client.session
    session[auth.SESSION_SEEN] = int(time.time()) - 29 * 60
    session.save()
    assert client.get("/console/queue/rows/").status_code == 200
    session = client.session
    assert int(time.time()) - session[auth.SESSION_SEEN] >= 29 * 60  # not refreshed


def test_changing_the_password_keeps_this_session_and_ends_the_others() -> None:
    user = make_staff("op", Role.OPERATOR)
    here = staff_login("op")
    elsewhere = Client()
    # The other session: logged in the same way a minute earlier (same stamp, same hash).
    elsewhere.cookies = here.cookies.__class__()
    session = here.session
    other = type(session)()
    for key, value in session.items():
        other[key] = value
    other.create()
    elsewhere.cookies["sp"] = other.session_key
    assert elsewhere.get("/console/queue/").status_code == 200
    short = here.post(
        "/console/account/password/",
        {"old_password": STAFF_PASSWORD, "new_password1": "x", "new_password2": "x"},
    )
    assert short.status_code == 400 and SealedTOTPDevice.objects.filter(user=user).exists()
    changed = here.post(
        "/console/account/password/",
        {
            "old_password": STAFF_PASSWORD,
            "new_password1": "a brand new long passphrase",
            "new_password2": "a brand new long passphrase",
        },
    )
    assert (
        changed.status_code == 200 and "Your other sessions have ended" in changed.content.decode()
    )
    assert here.get("/console/queue/").status_code == 200
    assert elsewhere.get("/console/queue/")["Location"].startswith("/console/login/")


def test_admin_resets_a_lost_factor() -> None:
    user = make_staff("op", Role.OPERATOR)
    operator = staff_login("op")
    make_staff("adm", Role.ADMIN)
    admin = staff_login("adm")
    reset = admin.post(f"/console/staff/{user.pk}/reset/", {"confirm": "on"})  # type: ignore[attr-defined]
    assert reset.status_code == 302  # no one-time credential to show: a redirect, as every post
    page = admin.get(reset["Location"]).content.decode()
    # A lost phone leaves the password (and the key wraps under it) as they were.
    assert "Their password is unchanged" in page and 'id="new-password"' not in page
    assert keyring.unlock(user, STAFF_PASSWORD)  # type: ignore[arg-type]
    assert not SealedTOTPDevice.objects.filter(user=user).exists()
    assert operator.get("/console/queue/")["Location"].startswith("/console/login/")


def test_addstaff_command_creates_an_account_that_must_enrol() -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("addstaff", "field7", role="liaison", sector="S-1", stdout=out)
    password = out.getvalue().split("password: ")[1].strip()
    client = Client()
    assert _password(client, "field7", password)["Location"] == "/console/login/verify/"  # type: ignore[index]
    assert client.get("/console/login/verify/")["Location"] == "/console/login/enrol/"
    with pytest.raises(CommandError, match="needs the sector"):
        call_command("addstaff", "field8", role="liaison", stdout=StringIO())
