"""The retention schedule: time passes, the purge runs, and what it erased opens under no key
that the server or staff still hold."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from safepassage import retention
from safepassage.analytics import counters
from safepassage.cases import services
from safepassage.cases.models import Case, CaseEvent, Status
from safepassage.privacy import crypto, fields
from safepassage.privacy.keyring import Keyring
from safepassage.privacy.models import CaseKey
from tests.conftest import ChatDriver
from tests.test_erasure import Holder

PEOPLE = {
    "closed": {
        "sector": "OLDCLOSED-s",
        "unit": "OLDCLOSED-u",
        "name": "OLDCLOSED n",
        "birth_date": "OLDCLOSED-d",
    },
    "silent": {
        "sector": "SILENT-s",
        "unit": "SILENT-u",
        "name": "SILENT n",
        "birth_date": "SILENT-d",
    },
    "active": {
        "sector": "ACTIVE-s",
        "unit": "ACTIVE-u",
        "name": "ACTIVE n",
        "birth_date": "ACTIVE-d",
    },
}


@pytest.mark.django_db(transaction=True)
def test_closed_and_silent_cases_are_erased_on_schedule(ring: Keyring) -> None:
    ids = {}
    for label, person in PEOPLE.items():
        driver = ChatDriver(Client(), "ru")
        driver.apply(applicant=person)
        ids[label] = driver.case().pk
    now = timezone.now()
    # Time passes: the first case was closed 91 days ago, the second has been silent a year.
    Case.objects.filter(pk=ids["closed"]).update(status=Status.CLOSED)
    event = CaseEvent.objects.create(
        case_id=ids["closed"], kind="transition", from_status="new", to_status=Status.CLOSED
    )
    CaseEvent.objects.filter(pk=event.pk).update(at=now - timedelta(days=91))
    Case.objects.filter(pk=ids["silent"]).update(last_applicant_at=now - timedelta(days=366))
    copies = {
        label: (bytes(c.wrapped_key), bytes(c.sealed_answers or b""))
        for label in ("closed", "silent")
        for c in [Case.objects.get(pk=ids[label])]
    }

    report = retention.purge_expired()

    assert (report.closed_purged, report.silent_purged) == (1, 1)
    assert list(Case.objects.values_list("pk", flat=True)) == [ids["active"]]
    assert set(CaseKey.objects.values_list("case_id", flat=True)) == {ids["active"]}
    active = Case.objects.get()
    assert services.answers_for_staff(active, ring)["name"] == "ACTIVE n"
    assert counters.totals("submitted") == 3 and counters.totals("erased") == 2
    for label in ("closed", "silent"):
        wrapped, answers = copies[label]
        with pytest.raises(crypto.DecryptionError):  # not under the remaining case's key
            fields.open_bytes(Holder(ids[label], bytes(active.wrapped_key)), "answers-map", answers)
    if connection.vendor == "sqlite":
        path = Path(connection.settings_dict["NAME"])
        raw = b"".join(p.read_bytes() for p in [path, Path(f"{path}-wal")] if p.exists())
        for wrapped, answers in copies.values():
            assert wrapped[:48] not in raw and answers[:48] not in raw
