"""fastsave.update_fields writes the row that Model.save(update_fields=...) would write."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import signals
from django.test.utils import CaptureQueriesContext

from safepassage import fastsave
from safepassage.cases import services
from safepassage.cases.models import Case, Contact
from safepassage.channels.models import OutboxMessage, TelegramChat
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


# -- deferred: one statement per table for a batch ------------------------------------------


def test_deferred_rows_are_the_ones_immediate_writes_make() -> None:
    immediate = [changed(services.do_create_case("telegram", "ru", None)) for _ in range(3)]
    later = [changed(services.do_create_case("telegram", "ko", None)) for _ in range(3)]
    later[1].reply_due_at = None  # a NULL among values
    immediate[1].reply_due_at = None
    for case in immediate:
        fastsave.update_fields(case, FIELDS)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries, fastsave.deferred():
        for case in later:
            fastsave.update_fields(case, FIELDS)
        assert len(queries) == 0  # nothing written yet
    assert len(queries) == 1  # every row in one statement
    for a, b in zip(immediate, later, strict=True):
        a, b = Case.objects.get(pk=a.pk), Case.objects.get(pk=b.pk)
        for name in ["triage", "sealed_answers", "urgency", "last_applicant_at", "reply_due_at"]:
            assert getattr(a, name) == getattr(b, name), name


def test_a_column_of_nulls_is_written() -> None:
    """A VALUES column holding only NULL is text to PostgreSQL until cast to the column's type."""
    cases = [changed(services.do_create_case("telegram", "ru", None)) for _ in range(2)]
    for case in cases:
        fastsave.update_fields(case, FIELDS)
        case.reply_due_at = None
        case.sealed_answers = None
    with transaction.atomic(), fastsave.deferred():
        for case in cases:
            fastsave.update_fields(case, ["reply_due_at", "sealed_answers"])
    for case in cases:
        stored = Case.objects.get(pk=case.pk)
        assert stored.reply_due_at is None and stored.sealed_answers is None


def test_a_read_of_the_table_first_writes_what_was_given() -> None:
    case = services.do_create_case("telegram", "ru", None)
    with transaction.atomic(), fastsave.deferred():
        case.urgency = 9
        fastsave.update_fields(case, ["urgency"])
        assert Case.objects.get(pk=case.pk).urgency == 9
        case.urgency = 4
        fastsave.update_fields(case, ["urgency"])
        # A queryset write after a deferred one lands after it, as it would have without.
        Case.objects.filter(pk=case.pk).update(urgency=5)
    assert Case.objects.get(pk=case.pk).urgency == 5


def test_a_row_given_twice_keeps_the_later_value_of_each_field() -> None:
    case = services.do_create_case("telegram", "ru", None)
    other_copy = Case.objects.get(pk=case.pk)
    with transaction.atomic(), fastsave.deferred():
        case.urgency, case.triage = 3, {"who": "self"}
        fastsave.update_fields(case, ["urgency", "triage"])
        other_copy.urgency = 8
        fastsave.update_fields(other_copy, ["urgency"])
    stored = Case.objects.get(pk=case.pk)
    assert (stored.urgency, stored.triage) == (8, {"who": "self"})


def test_a_deferred_write_to_a_missing_row_is_an_error() -> None:
    gone = services.do_create_case("telegram", "ru", None)
    kept = services.do_create_case("telegram", "ru", None)
    Case.objects.filter(pk=gone.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic(), fastsave.deferred():
        for case in (gone, kept):
            fastsave.update_fields(changed(case), FIELDS)
    assert Case.objects.get(pk=kept.pk).urgency != 7  # rolled back with the rest


def test_an_error_in_the_block_writes_nothing() -> None:
    case = services.do_create_case("telegram", "ru", None)
    with pytest.raises(RuntimeError), transaction.atomic(), fastsave.deferred():
        fastsave.update_fields(changed(case), FIELDS)
        raise RuntimeError("DEMO failure")
    assert Case.objects.get(pk=case.pk).urgency != 7
    case.urgency = 2
    fastsave.update_fields(case, ["urgency"])  # outside the block: written at once again
    assert Case.objects.get(pk=case.pk).urgency == 2


# -- insert ------------------------------------------------------------------------------


def test_insert_writes_the_row_save_writes_and_reads_back_the_key() -> None:
    by_save = TelegramChat(bot="main", pseudonym="DEMO-1", chat_sealed=b"DEMO")
    by_save.save(force_insert=True)
    by_insert = TelegramChat(bot="main", pseudonym="DEMO-2", chat_sealed=b"DEMO")
    fastsave.insert(by_insert)
    assert by_insert.pk == by_save.pk + 1  # the database made the key; the instance holds it
    assert not by_insert._state.adding and by_insert._state.db == "default"
    a, b = TelegramChat.objects.get(pk=by_save.pk), TelegramChat.objects.get(pk=by_insert.pk)
    assert b.created_at == by_insert.created_at == a.created_at  # coarse, auto_now_add
    assert (b.selection, b.forget, bytes(b.chat_sealed)) == (a.selection, a.forget, b"DEMO")
    contact = Contact(campaign=None)
    fastsave.insert(contact)  # a key made by the model (a UUID), not by the database
    case = Case(channel="telegram", language="ko", contact=contact, wrapped_key=b"DEMO")
    fastsave.insert(case)
    again = Case.objects.get(pk=case.pk)
    assert (again.contact_id, again.language, again.status) == (contact.pk, "ko", case.status)


def test_insert_refuses_an_unsaved_related_object_as_save_does() -> None:
    chat = TelegramChat(bot="main", pseudonym="DEMO-3", chat_sealed=b"DEMO")  # key not made yet
    row = OutboxMessage(chat=chat, bot="main", method="sendMessage", not_before=WROTE)
    with pytest.raises(ValueError, match="unsaved related object"):
        fastsave.insert(row)
    assert not OutboxMessage.objects.exists()


def test_insert_many_writes_the_rows_bulk_create_writes_in_one_statement() -> None:
    chat = TelegramChat(bot="main", pseudonym="DEMO-4", chat_sealed=b"DEMO")
    fastsave.insert(chat)

    def rows() -> list[OutboxMessage]:
        return [
            OutboxMessage(chat=chat, bot="main", method=m, payload_sealed=b"DEMO", not_before=WROTE)
            for m in ("sendMessage", "deleteMessage", "answerCallbackQuery")
        ]

    by_bulk, by_fast = rows(), rows()
    OutboxMessage.objects.bulk_create(by_bulk)
    with CaptureQueriesContext(connection) as queries:
        fastsave.insert_many(by_fast)
    assert len(queries) == 1
    assert [r.pk for r in by_fast] == [r.pk + 3 for r in by_bulk]  # keys read back, in order
    for a, b in zip(by_bulk, by_fast, strict=True):
        a, b = OutboxMessage.objects.get(pk=a.pk), OutboxMessage.objects.get(pk=b.pk)
        assert (a.method, a.status, a.not_before, a.created_at, a.attempts) == (
            b.method,
            b.status,
            b.not_before,
            b.created_at,
            b.attempts,
        )
    fastsave.insert_many([])  # nothing to write: no statement, no error


def test_a_savepoint_rolled_back_undoes_only_what_was_given_after_it_began() -> None:
    case = services.do_create_case("telegram", "ru", None)
    with transaction.atomic(), fastsave.deferred():
        case.urgency = 3
        fastsave.update_fields(case, ["urgency"])  # before the savepoint: kept
        try:
            with transaction.atomic():
                case.triage = {"who": "DEMO undone"}
                fastsave.update_fields(case, ["triage"])
                raise RuntimeError("DEMO failure inside the savepoint")
        except RuntimeError:
            pass
    stored = Case.objects.get(pk=case.pk)
    assert stored.urgency == 3 and stored.triage != {"who": "DEMO undone"}


def test_a_deferred_value_too_long_is_refused_as_save_refuses_it() -> None:
    chats = [TelegramChat(bot="main", pseudonym=f"DEMO-{n}", chat_sealed=b"DEMO") for n in (5, 6)]
    for chat in chats:
        fastsave.insert(chat)
    chats[1].bot = "x" * 41  # the column holds 40
    if connection.vendor == "sqlite":
        pytest.skip("SQLite does not enforce a column's length")
    with pytest.raises(DatabaseError), transaction.atomic(), fastsave.deferred():
        for chat in chats:
            fastsave.update_fields(chat, ["bot"])
