"""The console's authentication backend: Django's password check, which also unlocks the
member's keys. The password is only ever in hand here, so this is where the program key wraps
are opened, the member's own key pair made or opened, pending grants accepted and the program
keys checked (privacy.key_checks); the keyring then lives in the session (privacy.session)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.http import HttpRequest

from safepassage.console import key_grants
from safepassage.privacy import key_checks, session
from safepassage.privacy.keyring import unlock_checked
from safepassage.privacy.member_keys import ensure_member_key


class UnlockingBackend(ModelBackend):
    """Django's password check, which also unlocks the member's program keys: the password is
    only ever in hand here."""

    def authenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and request is not None and password:
            keyring, failed = unlock_checked(user, password)
            wrapped = set(keyring.private_keys)
            keyring.member_private = ensure_member_key(user, password)
            key_grants.accept_grants(user, password, keyring)
            key_checks.check_unlocked(user, keyring, failed, wrapped)
            if wrapped and key_grants.may_hold(user):
                key_grants.release_admin_wraps()
            session.hold_for_login(request, keyring)
        return user
