"""A copy of the database must not reveal any applicant: grep the raw bytes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from safepassage.cases import services
from safepassage.privacy.keyring import Keyring
from tests.conftest import ChatDriver

SEEDED = [
    {
        "sector": "SENTINEL-Avdiivka-north",
        "unit": "SENTINEL-Unit-4471",
        "name": "SENTINEL Petrov Alexei",
        "birth_date": "SENTINEL-1989-02-03",
    },
    {
        "sector": "센티널구역동쪽",
        "unit": "센티널부대",
        "name": "센티널김철수",
        "birth_date": "SENTINEL-1999-11-30",
    },
    {
        "sector": "СЕНТИНЕЛ-Курск",
        "unit": "СЕНТИНЕЛ-часть",
        "name": "СЕНТИНЕЛ Иванов",
        "birth_date": "SENTINEL-1975-05-05",
    },
]
MESSAGE = "SENTINEL-message-meet-at-the-bridge"


def _needles() -> list[bytes]:
    values = [v for person in SEEDED for v in person.values()] + [MESSAGE]
    out = []
    for value in values:
        out.append(value.encode("utf-8"))
        out.append(value.encode("utf-16-le"))
    return out


def _database_bytes(tmp_path: Path) -> bytes:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        connection.close()  # checkpoint-free: read the main file and the WAL as they are
        path = Path(settings["NAME"])
        return b"".join(p.read_bytes() for p in [path, Path(f"{path}-wal")] if p.exists())
    dump = tmp_path / "dump.sql"
    subprocess.run(
        [
            "pg_dump",
            "-h",
            settings["HOST"] or "127.0.0.1",
            "-p",
            str(settings["PORT"] or 5432),
            "-U",
            settings["USER"] or "postgres",
            "-f",
            str(dump),
            settings["NAME"],
        ],
        check=True,
    )
    return dump.read_bytes()


@pytest.mark.django_db(transaction=True)
def test_raw_database_bytes_hold_no_applicant(tmp_path: Path, ring: Keyring) -> None:
    references = []
    for index, person in enumerate(SEEDED):
        chat = ChatDriver(Client(), ["ru", "ko", "uk"][index])
        references.append(chat.apply(applicant=person, readiness="now")[0])
        chat.choose("continue")
        chat.say(MESSAGE)
        stored = services.answers_for_staff(chat.case(), ring)["name"]
        assert stored == person["name"]  # stored, and readable with a staff key
    raw = _database_bytes(tmp_path)
    assert len(raw) > 10_000
    for needle in _needles():
        assert needle not in raw, f"found {needle!r} in the raw database"
    for reference in references:
        assert reference.replace("-", "").encode() not in raw
        assert reference.encode() not in raw


@pytest.mark.django_db
def test_the_server_alone_cannot_open_any_confirmed_personal_field(ring: Keyring) -> None:
    """A seized server: master key, database and code in hand, but no staff password."""
    from safepassage.cases import sealed
    from safepassage.cases.models import Case
    from safepassage.conversations.engine import SEALED_ANSWER
    from safepassage.privacy import keyring as keyring_module
    from safepassage.privacy import staff_fields

    for index, person in enumerate(SEEDED):
        chat = ChatDriver(Client(), ["ru", "ko", "uk"][index])
        chat.apply(applicant=person)
        chat.choose("continue")
        chat.say(MESSAGE)
    for case in Case.objects.all():
        server_view = services.answers(case)
        for field in ("sector", "unit", "name", "birth_date"):
            assert server_view[field] == SEALED_ANSWER
        with pytest.raises(staff_fields.Locked):
            staff_fields.open_for_server(case, "reference", case.reference_sealed)
        for message in case.messages.all():
            assert sealed.open_message_for_server(case, message) is None
        assert services.answers_for_staff(case, ring)["name"] in {p["name"] for p in SEEDED}
    # Wrong staff password: nothing opens either.
    holder = keyring_module.unlock(User.objects.get(username="keyholder"), "not the password")
    case = Case.objects.first()
    assert case is not None
    assert services.answers_for_staff(case, holder)["name"] == sealed.LOCKED_TEXT
