"""Who holds the program key (hardening findings 2, 3 and 5): one-time passwords only choose
one's own; only a holder's act grants the key; new cases are sealed only to a confirmed key."""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_otp.oath import TOTP

from safepassage import cli
from safepassage.cases.models import Case
from safepassage.console.first_login import first_admin_file
from safepassage.console.models import Role, SealedTOTPDevice
from safepassage.privacy import key_checks, keyring, member_keys, sealing
from safepassage.privacy.models import AuditEvent, CaseKey, KeyGrant, ProgramKey, StaffKey
from tests.conftest import DEMO_APPLICANT, STAFF_PASSWORD, ChatDriver, make_staff, staff_login

pytestmark = pytest.mark.django_db
CHOSEN = "DEMO chosen passphrase of the member"


def _log_in_new(client: Client, username: str, password: str) -> object:
    """Password, then enrol a TOTP factor (a new account has none); the response after enrolling."""
    assert (
        client.post("/console/login/", {"username": username, "password": password}).status_code
        == 302
    )
    client.get("/console/login/enrol/")
    device = SealedTOTPDevice.objects.get(user__username=username, confirmed=False)
    return client.post("/console/login/enrol/", {"code": f"{TOTP(device.bin_key).token():06d}"})


def _login_again(client: Client, username: str, password: str) -> None:
    assert (
        client.post("/console/login/", {"username": username, "password": password}).status_code
        == 302
    )
    device = SealedTOTPDevice.objects.get(user__username=username, confirmed=True)
    time.sleep(1.1)  # each TOTP code works once; a new one may need the next step
    code = f"{TOTP(device.bin_key, drift=device.drift).token():06d}"
    response = client.post("/console/login/verify/", {"code": code})
    if response.status_code != 302:  # same time step as the enrolment's code: wait for the next
        time.sleep(30 - time.time() % 30 + 1)
        code = f"{TOTP(device.bin_key, drift=device.drift).token():06d}"
        response = client.post("/console/login/verify/", {"code": code})
    assert response.status_code == 302, response.content[:300]


def _choose(client: Client) -> None:
    bad = client.post(
        "/console/account/choose-password/", {"new_password1": CHOSEN, "new_password2": "other"}
    )
    assert bad.status_code == 400
    good = client.post(
        "/console/account/choose-password/", {"new_password1": CHOSEN, "new_password2": CHOSEN}
    )
    assert good.status_code == 302


def _new_password(response: object) -> str:
    found = re.search(r'id="new-password"[^>]*>([^<]+)<', response.content.decode())  # type: ignore[attr-defined]
    assert found
    return found.group(1).strip()


def _confirmed_case(client: Client) -> Case:
    chat = ChatDriver(client, "ko")
    chat.apply()
    return chat.case()


@pytest.mark.no_program_key
def test_first_admin_one_time_password_only_chooses_then_is_void_and_the_file_goes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    credentials = cli.ensure_first_admin()
    assert credentials is not None
    username, one_time = credentials
    monkeypatch.setenv("SAFEPASSAGE_ADMIN_FILE_ONLY", "1")
    cli.show_first_admin(username, one_time, "http://127.0.0.1:8000/console/")
    assert first_admin_file().exists()
    assert cli._warn_key_state() == 0
    assert "first admin's one-time password" in capsys.readouterr().err
    admin_client = Client()
    enrolled = _log_in_new(admin_client, username, one_time)
    assert enrolled["Location"] == "/console/account/choose-password/"  # type: ignore[index]
    # Every other page leads to choosing a password.
    assert admin_client.get("/console/staff/")["Location"] == "/console/account/choose-password/"
    _choose(admin_client)
    assert not first_admin_file().exists()
    cli._warn_key_state()
    assert "one-time password" not in capsys.readouterr().err
    admin = User.objects.get(username=username)
    # A copy of the data directory taken now, with the one-time password, opens nothing.
    assert not keyring.unlock(admin, one_time)
    assert member_keys.unlock_member_key(admin, one_time) is None
    assert keyring.unlock(admin, CHOSEN)
    # The one-time password no longer logs in; the chosen one reaches the staff page.
    response = Client().post("/console/login/", {"username": username, "password": one_time})
    assert response.status_code == 200 and "Wrong username or password" in response.content.decode()
    assert admin_client.get("/console/staff/").status_code == 200

    # Bootstrap: the admin creates a supervisor, who holds nothing until a holder grants.
    created = admin_client.post(
        "/console/staff/new/", {"username": "sup1", "role": "supervisor"}, follow=True
    )
    sup_one_time = _new_password(created)
    supervisor = User.objects.get(username="sup1")
    assert not keyring.unlock(supervisor, sup_one_time)
    sup_client = Client()
    _log_in_new(sup_client, "sup1", sup_one_time)
    _choose(sup_client)
    assert not keyring.unlock(supervisor, CHOSEN)
    # The admin grants with their own password (a wrong one is refused, input kept: 400).
    wrong = admin_client.post(f"/console/program-key/grant/{supervisor.pk}/", {"password": "no"})
    assert wrong.status_code == 400 and not KeyGrant.objects.exists()
    granted = admin_client.post(
        f"/console/program-key/grant/{supervisor.pk}/", {"password": CHOSEN}
    )
    assert granted.status_code == 302 and KeyGrant.objects.filter(grantee=supervisor).exists()
    case = _confirmed_case(Client())
    sup_client = Client()
    _login_again(sup_client, "sup1", CHOSEN)
    assert not KeyGrant.objects.exists()  # turned into a wrap under the supervisor's password
    page = sup_client.get(f"/console/cases/{case.pk}/").content.decode()
    assert DEMO_APPLICANT["name"] in page
    assert AuditEvent.objects.filter(action="keys.grant").exists()


def test_an_admin_alone_cannot_make_a_reader(client: Client) -> None:
    make_staff("admin_a", Role.ADMIN)
    admin_client = staff_login("admin_a")
    case = _confirmed_case(client)
    created = admin_client.post(
        "/console/staff/new/", {"username": "sup_x", "role": "supervisor"}, follow=True
    )
    one_time = _new_password(created)
    # The admin logs in as the new supervisor, enrols a factor and chooses a password ...
    impostor = Client()
    _log_in_new(impostor, "sup_x", one_time)
    _choose(impostor)
    page = impostor.get(f"/console/cases/{case.pk}/").content.decode()
    assert DEMO_APPLICANT["name"] not in page  # ... and reads nothing
    supervisor = User.objects.get(username="sup_x")
    # Nor can the admin grant it: they hold no key (their password is right).
    refused = admin_client.post(
        f"/console/program-key/grant/{supervisor.pk}/", {"password": STAFF_PASSWORD}
    )
    assert refused.status_code == 400 and not KeyGrant.objects.exists()
    assert not StaffKey.objects.filter(user=supervisor).exists()


def test_the_last_two_holders_keep_their_wraps_and_resets_are_shown_to_supervisors() -> None:
    sup1 = make_staff("sup1", Role.SUPERVISOR)
    sup2 = make_staff("sup2", Role.SUPERVISOR)
    keyring.do_revoke(None, User.objects.get(username="keyholder"))
    make_staff("admin_b", Role.ADMIN)
    admin_client = staff_login("admin_b")
    refused = admin_client.post(f"/console/staff/{sup1.pk}/reset-password/", {"confirm": "on"})
    assert refused.status_code == 400 and "last two holders" in refused.content.decode()
    assert StaffKey.objects.filter(user=sup1).exists()
    # A lost phone: factors and sessions go, the password and the wraps stay.
    assert (
        admin_client.post(f"/console/staff/{sup1.pk}/reset/", {"confirm": "on"}).status_code == 302
    )
    assert not SealedTOTPDevice.objects.filter(user=sup1).exists()
    assert keyring.unlock(sup1, STAFF_PASSWORD)
    # With a third holder, a forgotten password may be reset: the wraps go, audited.
    op = User.objects.create_user("op3", password=STAFF_PASSWORD, is_staff=True)
    from safepassage.console.models import StaffProfile

    StaffProfile.objects.create(user=op, role=Role.OPERATOR)
    keyring.do_grant(sup2, STAFF_PASSWORD, op, STAFF_PASSWORD)
    reset = admin_client.post(
        f"/console/staff/{sup1.pk}/reset-password/", {"confirm": "on"}, follow=True
    )
    assert reset.status_code == 200 and 'id="new-password"' in reset.content.decode()
    assert not StaffKey.objects.filter(user=sup1).exists()
    page = staff_login("sup2").get("/console/program-key/").content.decode()
    # The key events in words: who reset whose password (console.history).
    assert "reset a member&#x27;s password" in page and "sup1" in page


def test_a_planted_program_key_receives_no_case_and_raises_an_alarm(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    genuine = keyring.active_key()
    assert genuine is not None
    _attacker_private, attacker_public = sealing.generate_keypair()
    planted = ProgramKey.objects.create(public_key=attacker_public)
    case = _confirmed_case(client)
    assert CaseKey.objects.get(case_id=case.pk).program_key_id == genuine.pk
    assert cli._warn_key_state() >= 1
    assert f"program key {planted.pk} was never confirmed" in capsys.readouterr().err
    make_staff("sup_p", Role.SUPERVISOR)
    assert "ALARM" in staff_login("sup_p").get("/console/program-key/").content.decode()
    assert cli.main(["check"]) == 1


def test_a_planted_key_with_a_forged_confirmation_is_caught_at_a_holders_login(
    client: Client,
) -> None:
    genuine = keyring.active_key()
    assert genuine is not None
    sup = make_staff("sup_f", Role.SUPERVISOR)
    staff_login("sup_f")  # the member key exists from the first login
    attacker_private, attacker_public = sealing.generate_keypair()
    planted = ProgramKey.objects.create(public_key=attacker_public, confirmation=b"x" * 32)
    ProgramKey.objects.filter(pk=planted.pk).update(confirmed_at=genuine.confirmed_at)
    KeyGrant.objects.create(  # the database writer grants it to a real holder
        grantee=sup,
        program_key=planted,
        sealed_private_key=member_keys.seal_to_member(
            sup, attacker_private, f"key-grant:{sup.pk}:{planted.pk}".encode()
        ),
    )
    # The password step alone unlocks the keyring (and accepts grants) and runs the checks.
    Client().post("/console/login/", {"username": "sup_f", "password": STAFF_PASSWORD})
    planted.refresh_from_db()
    assert planted.alarm
    case = _confirmed_case(client)
    assert CaseKey.objects.get(case_id=case.pk).program_key_id == genuine.pk
    assert key_checks.alarms()


def test_an_upgrade_keeps_confirmed_cases_readable_and_sealed(client: Client) -> None:
    import importlib

    from django.apps import apps

    make_staff("op_u", Role.OPERATOR)
    old_case = _confirmed_case(client)
    # The database as main left it: key rows without any confirmation.
    ProgramKey.objects.update(confirmed_at=None, confirmation=None)
    migration = importlib.import_module(
        "safepassage.privacy.migrations.0005_keys_grants_confirmation"
    )
    migration.confirm_existing_keys(apps, None)
    operator = staff_login("op_u")
    assert DEMO_APPLICANT["name"] in operator.get(f"/console/cases/{old_case.pk}/").content.decode()
    new_case = _confirmed_case(Client())
    assert CaseKey.objects.get(case_id=new_case.pk).program_key == keyring.active_key()
    assert not key_checks.alarms()


def test_the_admin_loses_the_bootstrap_key_once_two_readers_hold_it() -> None:
    from safepassage.console import key_grants
    from safepassage.console.models import StaffProfile

    admin = make_staff("admin_k", Role.ADMIN)
    keyring.do_grant(
        User.objects.get(username="keyholder"), "DEMO keyholder passphrase", admin, STAFF_PASSWORD
    )
    sup = make_staff("sup_k", Role.SUPERVISOR)
    op = User.objects.create_user("op_k", password=STAFF_PASSWORD, is_staff=True)
    StaffProfile.objects.create(user=op, role=Role.OPERATOR)
    Client().post("/console/login/", {"username": "op_k", "password": STAFF_PASSWORD})
    key_grants.do_grant(sup, STAFF_PASSWORD, op)
    assert StaffKey.objects.filter(user=admin).exists()
    Client().post("/console/login/", {"username": "op_k", "password": STAFF_PASSWORD})
    assert keyring.unlock(op, STAFF_PASSWORD)
    assert not StaffKey.objects.filter(user=admin).exists()
    assert AuditEvent.objects.filter(action="keys.admin_released").exists()


def test_a_password_change_from_a_session_without_the_keys_is_refused() -> None:
    op = make_staff("op_c", Role.OPERATOR)
    client = staff_login("op_c")
    del client.cookies["sp_unlock"]  # the browser half of the session keyring is gone
    response = client.post(
        "/console/account/password/",
        {"old_password": STAFF_PASSWORD, "new_password1": CHOSEN, "new_password2": CHOSEN},
    )
    assert response.status_code == 400 and "Log out and in again" in response.content.decode()
    assert keyring.unlock(op, STAFF_PASSWORD)  # the wraps were not left under a lost password


def test_the_keys_command_grants_only_to_a_role_that_reads_cases(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`safepassage keys grant` keeps the console's rules: no key for a liaison (whose cards are
    sealed to their own key), an analyst or an admin, nor under a one-time password."""
    import io

    make_staff("sup_cli", Role.SUPERVISOR)
    for name, role in [("liaison_cli", Role.LIAISON), ("analyst_cli", Role.ANALYST)]:
        make_staff(name, role)
        monkeypatch.setattr("sys.stdin", io.StringIO(f"{STAFF_PASSWORD}\n{STAFF_PASSWORD}\n"))
        assert cli.main(["keys", "grant", "--user", "sup_cli", "--to", name, "--stdin"]) == 2
        assert "refused" in capsys.readouterr().err
        assert not StaffKey.objects.filter(user__username=name).exists()
    make_staff("op_new", Role.OPERATOR)
    StaffKey.objects.filter(user__username="op_new").delete()
    from safepassage.console.models import StaffProfile

    StaffProfile.objects.filter(user__username="op_new").update(must_choose_password=True)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{STAFF_PASSWORD}\n{STAFF_PASSWORD}\n"))
    assert cli.main(["keys", "grant", "--user", "sup_cli", "--to", "op_new", "--stdin"]) == 2
    assert not StaffKey.objects.filter(user__username="op_new").exists()
    StaffProfile.objects.filter(user__username="op_new").update(must_choose_password=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{STAFF_PASSWORD}\n{STAFF_PASSWORD}\n"))
    assert cli.main(["keys", "grant", "--user", "sup_cli", "--to", "op_new", "--stdin"]) == 0
    assert keyring.unlock(User.objects.get(username="op_new"), STAFF_PASSWORD)


def test_a_member_without_the_key_is_told_who_grants_it(client: Client) -> None:
    """The case page of a member without the key names who can grant it (a holder, on the
    Program key page), not an administrator: an admin cannot."""
    case = _confirmed_case(client)
    make_staff("op_nokey", Role.OPERATOR)
    StaffKey.objects.filter(user__username="op_nokey").delete()
    page = staff_login("op_nokey").get(f"/console/cases/{case.pk}/").content.decode()
    assert DEMO_APPLICANT["name"] not in page
    assert "An administrator can grant" not in page
    assert "Program key" in page and "next login" in page


@pytest.mark.no_program_key
def test_the_one_time_password_cannot_be_chosen_again(client: Client) -> None:
    """Choosing the one-time password itself would keep it working for whoever read it (the
    first admin's file, a log): it is refused with the input kept, and the page asks again."""
    make_staff("admin_b", Role.ADMIN)
    admin_client = staff_login("admin_b")
    created = admin_client.post(
        "/console/staff/new/", {"username": "op_same", "role": "operator"}, follow=True
    )
    one_time = _new_password(created)
    member = Client()
    _log_in_new(member, "op_same", one_time)
    same = member.post(
        "/console/account/choose-password/", {"new_password1": one_time, "new_password2": one_time}
    )
    assert same.status_code == 400
    assert "not the one-time" in same.content.decode()
    assert member.get("/console/queue/").status_code == 302  # still asked to choose
    _choose(member)
    assert not User.objects.get(username="op_same").check_password(one_time)


def test_a_revoked_member_gets_no_key_back_from_a_grant_still_pending() -> None:
    """`safepassage keys revoke` cuts a member off: a grant made earlier and not yet accepted
    must not hand the key back at their next login."""
    from safepassage.console import key_grants

    make_staff("sup_rv", Role.SUPERVISOR)
    make_staff("op_rv", Role.OPERATOR)
    _login_again(Client(), "op_rv", STAFF_PASSWORD)  # their first login makes their key pair
    member = User.objects.get(username="op_rv")
    key_grants.do_grant(User.objects.get(username="sup_rv"), STAFF_PASSWORD, member)
    assert cli.main(["keys", "revoke", "--user", "op_rv"]) == 0
    _login_again(Client(), "op_rv", STAFF_PASSWORD)
    assert not keyring.unlock(member, STAFF_PASSWORD)
    assert not KeyGrant.objects.filter(grantee=member).exists()
