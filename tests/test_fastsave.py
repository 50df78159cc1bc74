"""fastsave.update_fields writes the row that Model.save(update_fields=...) would write."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import DatabaseError
from django.db.models import signals

from safepassage import fastsave
from safepassage.cases import services
from safepassage.cases.models import Case
from safepassage.conversations.models import Conversation

pytestmark = pytest.mark.django_db

WROTE = datetime(2026, 11, 25, 14, 37, 59, 123456, tzinfo=UTC)
FIELDS = ["triage", "sealed_answers", "urgency", "last_applicant_at", "reply_due_at", "updated_at"]


def changed(case: Case) -> Case:
    case.triage = {"who": "self", "group_size": 3, "wishes": ["record_as_captured"]}
    case.sealed_answers = b"\x00\x01 DEMO ciphertext \xff"
    case.urgency = 7
    case.last_applicant_at = WROTE
    case.reply_due_at = WROTE
    return case


def test_the_row_is_the_one_save_writes() -> None:
    by_save = changed(services.do_create_case("telegram", "ru", None))
    by_fastsave = changed(services.do_create_case("telegram", "ru", None))
    by_save.save(update_fields=FIELDS)
    fastsave.update_fields(by_fastsave, FIELDS)
    a, b = Case.objects.get(pk=by_save.pk), Case.objects.get(pk=by_fastsave.pk)
    for name in FIELDS[:-1]:
        assert getattr(a, name) == getattr(b, name), name
    assert bytes(b.sealed_answers or b"") == b"\x00\x01 DEMO ciphertext \xff"
    assert b.last_applicant_at == WROTE.replace(second=0, microsecond=0)  # coarse, like save
    assert b.updated_at > by_fastsave.created_at  # auto_now ran
    assert b.updated_at == by_fastsave.updated_at  # and the instance holds what was stored


def test_a_missing_row_is_an_error_as_with_save() -> None:
    case = services.do_create_case("telegram", "ru", None)
    Case.objects.filter(pk=case.pk).delete()
    with pytest.raises(DatabaseError):
        fastsave.update_fields(changed(case), FIELDS)


def test_a_model_with_receivers_is_saved_by_save() -> None:
    case = services.do_create_case("telegram", "ru", None)
    conversation = Conversation.objects.create(case=case, flow="application", state={})
    heard: list[object] = []

    def receiver(sender: object, instance: object, **kwargs: object) -> None:
        heard.append(kwargs.get("update_fields"))

    signals.post_save.connect(receiver, sender=Conversation)
    try:
        conversation.state = {"step": "who"}
        fastsave.update_fields(conversation, ["state", "updated_at"])
    finally:
        signals.post_save.disconnect(receiver, sender=Conversation)
    assert heard == [frozenset({"state", "updated_at"})]
    assert Conversation.objects.get(pk=conversation.pk).state == {"step": "who"}
