"""Finding 1 of the hardening issue: a copy of the session table logs nobody in.

The dump is every row of the session table read with raw SQL, as a ``pg_dump``, a backup or a
copy of the SQLite file would show it, taken while a staff member (password and second factor)
and an applicant are mid-session.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from safepassage.console.models import Role
from tests.conftest import ChatDriver, make_staff, staff_login, t
from tests.test_confidentiality import _database_bytes

pytestmark = pytest.mark.django_db


def _dump_session_keys() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT session_key, session_data FROM django_session")
        return [str(key) for key, _ in cursor.fetchall()]


def test_session_keys_from_a_dump_replayed_as_cookies_log_nobody_in() -> None:
    make_staff("op", Role.OPERATOR)
    staff = staff_login("op")
    assert staff.get("/console/queue/").status_code == 200
    chat = ChatDriver(Client(), "ko")
    chat.open()
    chat.choose("self")
    chat.choose("front")
    assert t("ko", "apply.who.prompt") not in chat.open()  # mid-application

    stolen = _dump_session_keys()
    assert len(stolen) >= 2
    for key in stolen:
        thief = Client()
        thief.cookies["sp"] = key
        console = thief.get("/console/queue/")
        assert console.status_code == 302 and console["Location"].startswith("/console/login/")
        page = thief.get("/chat/ko/").content.decode()
        assert t("ko", "apply.who.prompt") in page and t("ko", "chat.intro") in page

    cookies = {staff.cookies["sp"].value, chat.client.cookies["sp"].value}
    assert not cookies & set(stolen)
    # The genuine cookies still work: the staff member and the applicant carry on.
    assert staff.get("/console/queue/").status_code == 200
    assert t("ko", "apply.who.prompt") not in chat.open()


def test_logout_and_login_leave_no_usable_row_behind() -> None:
    """Login cycles the key and logout deletes the row through the same hashed lookup."""
    make_staff("op", Role.OPERATOR)
    staff = staff_login("op")
    assert len(_dump_session_keys()) == 1
    staff.post("/console/logout/")
    assert _dump_session_keys() == []


@pytest.mark.django_db(transaction=True)
def test_no_cookie_value_in_the_database_files_or_pg_dump(tmp_path: Path) -> None:
    """The whole database as a thief takes it: the SQLite file and its WAL, or `pg_dump`."""
    make_staff("op", Role.OPERATOR)
    staff = staff_login("op")
    chat = ChatDriver(Client(), "ko")
    chat.open()
    chat.choose("self")
    cookies = [staff.cookies["sp"].value, chat.client.cookies["sp"].value]
    seized = _database_bytes(tmp_path)
    assert b"django_session" in seized or len(seized) > 10_000
    for value in cookies:
        assert value.encode() not in seized
