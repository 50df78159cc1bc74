"""`safepassage keys …`: program key operations, each needing the staff passwords involved.

Passwords are read from the terminal (never from arguments, which other users of the machine
can see), or one per line from standard input with --stdin for scripted use.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password

from safepassage.privacy import keyring, member_keys


def _reader(stdin: bool) -> Callable[[str], str]:
    if stdin:
        return lambda prompt: sys.stdin.readline().rstrip("\n")
    return getpass.getpass


def _user(username: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        raise keyring.KeyringError(f"no staff account named {username!r}")
    return user


def _after_password_change(user: User, old_password: str, new_password: str) -> None:
    """The member key follows the password; a one-time password is void once replaced (and
    the first admin's file with it)."""
    import contextlib

    from safepassage.console.first_login import first_admin_file
    from safepassage.console.models import StaffProfile

    private = member_keys.unlock_member_key(user, old_password)
    if private is not None:
        member_keys.do_wrap_member_key(user, new_password, private)
    StaffProfile.objects.filter(user=user).update(must_choose_password=False)
    if user.is_superuser:
        with contextlib.suppress(FileNotFoundError):
            first_admin_file().unlink()


def _may_receive(user: User) -> None:
    """The console's rule at the terminal too: a liaison, analyst or admin account reads no case
    (a liaison's password and a copy of the data directory must open none), and a one-time
    password, which someone else saw, must not open the key."""
    from safepassage.console.models import StaffProfile
    from safepassage.console.staff import KEY_HOLDING_ROLES

    profile = StaffProfile.objects.filter(user=user).first()
    if profile is not None and profile.role not in KEY_HOLDING_ROLES:
        raise keyring.KeyringError(f"a {profile.role} account cannot hold the program key")
    if profile is not None and profile.must_choose_password:
        raise keyring.KeyringError("this member has not chosen their own password yet")


def run(action: str, username: str, other: str | None, stdin: bool) -> str:
    ask = _reader(stdin)
    if action == "init":
        key = keyring.do_create_program_key(_user(username), ask(f"password of {username}: "))
        return f"program key {key.pk} created and wrapped for {username}"
    if action == "grant":
        if not other:
            raise keyring.KeyringError("grant needs --to USER")
        _may_receive(_user(other))
        count = keyring.do_grant(
            _user(username),
            ask(f"password of {username}: "),
            _user(other),
            ask(f"password of {other}: "),
        )
        return f"{other} now holds {count} program key(s)"
    if action == "revoke":
        count = keyring.do_revoke(None, _user(username))
        return f"removed {count} key wrap(s) of {username}"
    if action == "rotate":
        user = _user(username)
        new, private, old = keyring.do_rotate(user, ask(f"password of {username}: "))
        moved, skipped = keyring.do_rewrap_case_keys(user, new, private, old)
        if skipped:
            raise keyring.KeyringError(
                f"program key {new.pk} was made but NOT activated: {skipped} case keys are under "
                f"a program key {username} does not hold; rotate as a member who holds them all"
            )
        keyring.do_finish_rotation(user, new)
        return (
            f"program key {new.pk} active; {moved} case keys re-wrapped. Grant it to every "
            f"other staff member: safepassage keys grant --user {username} --to NAME"
        )
    if action == "password":
        user = _user(username)
        old_password = ask(f"current password of {username}: ")
        new_password = ask(f"new password of {username}: ")
        validate_password(new_password, user)
        keyring.do_change_password(user, old_password, new_password)
        _after_password_change(user, old_password, new_password)
        return f"password of {username} changed; key wraps re-made; all sessions ended"
    raise keyring.KeyringError(f"unknown action {action}")
