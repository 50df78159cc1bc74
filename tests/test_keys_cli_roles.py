"""`safepassage keys grant` keeps the console's rule: only operators and supervisors who chose
their own password receive the program key."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User

from safepassage import cli
from safepassage.console.models import Role, StaffProfile
from safepassage.privacy.models import StaffKey
from tests.conftest import KEYHOLDER_PASSWORD, STAFF_PASSWORD, make_staff

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", [Role.LIAISON, Role.ANALYST, Role.ADMIN])
def test_the_keys_command_grants_no_program_key_to_a_role_that_reads_no_case(
    role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_staff("someone", role, "DEMO-SECTOR grant" if role == Role.LIAISON else "")
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{KEYHOLDER_PASSWORD}\n{STAFF_PASSWORD}\n"))
    assert cli.main(["keys", "grant", "--user", "keyholder", "--to", "someone", "--stdin"]) == 2
    assert not StaffKey.objects.filter(user=user).exists()


def test_the_keys_command_grants_nothing_under_a_one_time_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = User.objects.create_user("fresh", password=STAFF_PASSWORD, is_staff=True)
    StaffProfile.objects.create(user=user, role=Role.OPERATOR, must_choose_password=True)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{KEYHOLDER_PASSWORD}\n{STAFF_PASSWORD}\n"))
    assert cli.main(["keys", "grant", "--user", "keyholder", "--to", "fresh", "--stdin"]) == 2
    assert not StaffKey.objects.filter(user=user).exists()
