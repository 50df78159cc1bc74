"""An upgrade from the version that wrapped the program key under one-time passwords: members
still on a password someone gave them choose their own at their next login, an admin cannot
reset their factors meanwhile, and the first admin's bootstrap wraps go once two holders have
passwords of their own."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from safepassage.console.models import Role, SealedTOTPDevice, StaffProfile
from safepassage.privacy import audit, keyring
from safepassage.privacy.models import StaffKey
from tests.conftest import (
    DEMO_APPLICANT,
    KEYHOLDER_PASSWORD,
    STAFF_PASSWORD,
    ChatDriver,
    make_staff,
    staff_login,
)

BEFORE = [("console", "0004_merge_keys_liaison")]
CHOSEN = "DEMO a passphrase of my own 7"


def _choose(client: Client) -> None:
    response = client.post(
        "/console/account/choose-password/", {"new_password1": CHOSEN, "new_password2": CHOSEN}
    )
    assert response.status_code == 302, response.content.decode()[-500:]


@pytest.mark.django_db(transaction=True)
def test_an_upgrade_makes_given_passwords_chosen_before_they_open_cases() -> None:
    holder = User.objects.get(username="keyholder")
    admin = make_staff("admin_up", Role.ADMIN)
    operator = make_staff("op_up", Role.OPERATOR)
    supervisor = make_staff("sup_up", Role.SUPERVISOR)
    assert isinstance(admin, User) and isinstance(operator, User)
    assert isinstance(supervisor, User)
    User.objects.filter(pk=admin.pk).update(is_superuser=True)
    keyring.do_grant(holder, KEYHOLDER_PASSWORD, admin, STAFF_PASSWORD)  # serve's bootstrap
    chat = ChatDriver(Client(), "ru")
    chat.apply()
    case = chat.case()

    MigrationExecutor(connection).migrate(BEFORE)
    # As the previous version left them: the admin gave both passwords (and saw them); the
    # supervisor changed theirs, the operator never did; nobody had to choose.
    audit.record(admin, "staff.create", None, f"user {operator.pk} role operator")
    audit.record(admin, "staff.create", None, f"user {supervisor.pk} role supervisor")
    audit.record(supervisor, "staff.password_changed")
    StaffProfile.objects.update(must_choose_password=False)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    must = dict(StaffProfile.objects.values_list("user__username", "must_choose_password"))
    assert must == {"admin_up": True, "op_up": True, "sup_up": False}

    admin_client = staff_login("admin_up")
    _choose(admin_client)
    # The admin knows the operator's password: resetting the factors would let them enrol one.
    response = admin_client.post(f"/console/staff/{operator.pk}/reset/", {"confirm": "on"})
    assert response.status_code == 400
    assert SealedTOTPDevice.objects.filter(user=operator, confirmed=True).exists()

    operator_client = staff_login("op_up")
    page = operator_client.get(f"/console/cases/{case.pk}/")
    assert page.status_code == 302 and page["Location"].endswith("/choose-password/")
    staff_login("sup_up")
    assert StaffKey.objects.filter(user=admin).exists()  # one holder with a password of their own
    _choose(operator_client)
    assert (
        DEMO_APPLICANT["name"] in operator_client.get(f"/console/cases/{case.pk}/").content.decode()
    )
    assert not StaffKey.objects.filter(user=admin).exists()  # two now: the bootstrap wrap goes
