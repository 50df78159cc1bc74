"""Replacing a one-time password (a new account, a forgotten password, the first admin).

A one-time password was seen by someone else (the admin who made the account, the log or file
`serve` wrote it to). It only lets its holder choose their own password; every other console
page leads here until then (console.guard). Choosing re-wraps the member's program keys and
member key under the chosen password, so the one-time password no longer opens anything, not
even in a copy of the data directory taken later; for the first admin, `first-admin.txt` goes.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from django.contrib.auth.models import User
from django.db import transaction

from safepassage.console.models import StaffProfile
from safepassage.console.staff import do_change_password
from safepassage.privacy import audit
from safepassage.privacy.keyring import Keyring

FIRST_ADMIN_FILE = "first-admin.txt"


def first_admin_file() -> Path:
    from safepassage import config

    return config.get().data_dir / FIRST_ADMIN_FILE


def first_admin_warning() -> str | None:
    """What `serve` and `safepassage check` say while the first admin's file exists."""
    path = first_admin_file()
    if not path.exists():
        return None
    return (
        f"WARNING: {path} holds the first admin's one-time password, which opens the program "
        "key. Log in as the admin and choose a password (the file is then deleted), or delete it."
    )


def must_choose(user: User) -> bool:
    return StaffProfile.objects.filter(user=user, must_choose_password=True).exists()


def do_choose_password(user: User, new_password: str, ring: Keyring) -> None:
    with transaction.atomic():
        do_change_password(user, new_password, ring, one_time=True)
        StaffProfile.objects.filter(user=user).update(must_choose_password=False)
        audit.record(user, "staff.password_chosen", None, "one-time password void")
        if ring.private_keys:  # an upgraded holder: the admin's bootstrap wraps may go now
            from safepassage.console import key_grants

            key_grants.release_admin_wraps()
    if user.is_superuser:
        with contextlib.suppress(FileNotFoundError):
            first_admin_file().unlink()
