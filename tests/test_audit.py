"""The hash-chained audit log and `safepassage audit verify`."""

from __future__ import annotations

import uuid

import pytest

from safepassage import cli
from safepassage.privacy import audit
from safepassage.privacy.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.no_program_key]


def test_chain_verifies_and_tampering_is_caught(capsys: pytest.CaptureFixture[str]) -> None:
    case_id = uuid.uuid4()
    events = [audit.record(None, "case.view", case_id) for _ in range(5)]
    assert audit.verify().ok and audit.verify().checked == 5
    assert cli.main(["audit", "verify"]) == 0
    AuditEvent.objects.filter(pk=events[2].pk).update(action="case.export")
    report = audit.verify()
    assert not report.ok and report.broken_at == events[2].pk
    assert cli.main(["audit", "verify"]) == 1
    assert f"BROKEN at record {events[2].pk}" in capsys.readouterr().out


def test_deleting_a_record_breaks_the_chain() -> None:
    events = [audit.record(None, "case.view", uuid.uuid4()) for _ in range(3)]
    AuditEvent.objects.filter(pk=events[1].pk).delete()
    assert audit.verify().broken_at == events[2].pk
