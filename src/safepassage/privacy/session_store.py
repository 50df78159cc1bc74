"""Django's database session backend, storing only a keyed hash of each session key.

The browser's ``sp`` cookie carries the random session key; the row's primary key is
:func:`crypto.session_key_digest` of it. Whoever copies the session table (a dump, a backup,
the SQLite file) holds digests that no cookie equals, so replaying them logs nobody in.
Everything else (the table, its expiry, ``clear_expired``, the retention purge, iterating
rows to end a member's sessions) is Django's own.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.sessions.backends import db
from django.contrib.sessions.base_session import AbstractBaseSession
from django.core.exceptions import SuspiciousOperation
from django.utils import timezone

from safepassage.privacy.crypto import session_key_digest


def _log_suspicious(error: SuspiciousOperation) -> None:
    logging.getLogger(f"django.security.{type(error).__name__}").warning(str(error))


class SessionStore(db.SessionStore):
    def _stored(self, session_key: str | None) -> str | None:
        return None if session_key is None else session_key_digest(session_key)

    def _get_session_from_db(self) -> AbstractBaseSession | None:
        try:
            return self.model.objects.get(  # type: ignore[no-any-return]
                session_key=self._stored(self.session_key), expire_date__gt=timezone.now()
            )
        except (self.model.DoesNotExist, SuspiciousOperation) as error:
            if isinstance(error, SuspiciousOperation):
                _log_suspicious(error)
            self._session_key = None
            return None

    async def _aget_session_from_db(self) -> AbstractBaseSession | None:
        try:
            return await self.model.objects.aget(  # type: ignore[no-any-return]
                session_key=self._stored(self.session_key), expire_date__gt=timezone.now()
            )
        except (self.model.DoesNotExist, SuspiciousOperation) as error:
            if isinstance(error, SuspiciousOperation):
                _log_suspicious(error)
            self._session_key = None
            return None

    def exists(self, session_key: str) -> bool:
        return bool(self.model.objects.filter(session_key=self._stored(session_key)).exists())

    async def aexists(self, session_key: str) -> bool:
        found = await self.model.objects.filter(session_key=self._stored(session_key)).aexists()
        return bool(found)

    # Django's stubs lack the private _get_or_create_session_key helpers these call.
    def create_model_instance(self, data: dict[str, Any]) -> AbstractBaseSession:
        key: str = self._get_or_create_session_key()  # type: ignore[attr-defined]
        return self.model(  # type: ignore[no-any-return]
            session_key=session_key_digest(key),
            session_data=self.encode(data),
            expire_date=self.get_expiry_date(),
        )

    async def acreate_model_instance(self, data: dict[str, Any]) -> AbstractBaseSession:
        key: str = await self._aget_or_create_session_key()  # type: ignore[attr-defined]
        return self.model(  # type: ignore[no-any-return]
            session_key=session_key_digest(key),
            session_data=self.encode(data),
            expire_date=await self.aget_expiry_date(),
        )

    def delete(self, session_key: str | None = None) -> None:
        key = self.session_key if session_key is None else session_key
        if key is not None:
            self.model.objects.filter(session_key=self._stored(key)).delete()

    async def adelete(self, session_key: str | None = None) -> None:
        key = self.session_key if session_key is None else session_key
        if key is not None:
            await self.model.objects.filter(session_key=self._stored(key)).adelete()
