"""A copy of the database must not reveal any applicant: grep the raw bytes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from safepassage.cases import services
from tests.conftest import ChatDriver, latest_case

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
def test_raw_database_bytes_hold_no_applicant(tmp_path: Path) -> None:
    references = []
    for index, person in enumerate(SEEDED):
        chat = ChatDriver(Client(), ["ru", "ko", "uk"][index])
        references.append(chat.apply(applicant=person, readiness="now")[0])
        chat.choose("continue")
        chat.say(MESSAGE)
        assert services.answers(latest_case())["name"] == person["name"]  # stored, readable
    raw = _database_bytes(tmp_path)
    assert len(raw) > 10_000
    for needle in _needles():
        assert needle not in raw, f"found {needle!r} in the raw database"
    for reference in references:
        assert reference.replace("-", "").encode() not in raw
        assert reference.encode() not in raw
