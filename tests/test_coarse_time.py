"""Applicant-side times are stored no finer than the workflow needs (privacy.coarse_time).

What a thief of the database reads is checked with raw SQL (the column as text), not through
the ORM, after real applications over the web chat and over Telegram, on whichever database
the suite runs on (SQLite, and PostgreSQL in CI).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.writer import MigrationWriter
from django.test import Client

from safepassage.cases import escalation, services
from safepassage.cases.models import Case, Message, Status
from safepassage.channels.models import OutboxStatus, TelegramChat
from safepassage.channels.telegram.sender import Sender
from safepassage.privacy.coarse_time import CoarseDateTimeField, Precision, coarsen
from safepassage.testing.fake_telegram import FakeTelegram
from tests.conftest import ChatDriver
from tests.telegram_support import Applicant
from tests.test_telegram_dialogue import apply as apply_over_telegram

# A moment with seconds and microseconds, given in a zone that is not UTC (18:29:58 UTC).
PRECISE = datetime(2026, 3, 4, 23, 59, 58, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30)))
FLOORED: dict[Precision, datetime] = {
    "minute": datetime(2026, 3, 4, 18, 29, tzinfo=UTC),
    "hour": datetime(2026, 3, 4, 18, 0, tzinfo=UTC),
    "day": datetime(2026, 3, 4, tzinfo=UTC),
}

# Every coarse column and its precision, as docs/threat-model.md lists them.
COARSE: dict[str, dict[str, Precision]] = {
    "cases_contact": {"created_at": "day"},
    "cases_case": {
        "created_at": "day",
        "updated_at": "hour",
        "submitted_at": "minute",
        "ready_now_at": "minute",
        "last_applicant_at": "minute",
        "reply_due_at": "minute",
        "last_operator_at": "minute",
        "escalated_due_at": "minute",
    },
    "cases_message": {"created_at": "minute", "shown_at": "hour"},
    "cases_calllog": {"started_at": "minute"},
    "conversations_conversation": {"updated_at": "hour"},
    "channels_telegramupdate": {"received_at": "hour"},
    "channels_telegramchat": {"created_at": "day", "blocked_at": "day"},
    "channels_outboxmessage": {"created_at": "minute", "sent_at": "minute"},
    "channels_chattrace": {"erase_due": "minute"},
    "channels_attachment": {"received_at": "minute"},
    "channels_deferredupdate": {"deferred_at": "minute"},
}


def columns(*tables: str, leave: tuple[str, ...] = ()) -> dict[str, dict[str, Precision]]:
    return {t: {c: p for c, p in COARSE[t].items() if c not in leave} for t in tables}


def stored(table: str, column: str, where: str = "") -> list[datetime]:
    """The column's values as the database holds them, read as text (what a dump shows)."""
    quote = connection.ops.quote_name
    sql = f"SELECT CAST({quote(column)} AS TEXT) FROM {quote(table)} {where}"  # noqa: S608 (names are ours)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        rows = [row[0] for row in cursor.fetchall()]
    values = []
    for text in rows:
        if text is None:
            continue
        value = datetime.fromisoformat(text)
        # SQLite stores UTC without an offset; PostgreSQL prints the session's (UTC) offset.
        values.append(value.replace(tzinfo=UTC) if value.tzinfo is None else value)
    return values


def assert_coarse(columns: dict[str, dict[str, Precision]], where: dict[str, str]) -> None:
    for table, fields in columns.items():
        for column, precision in fields.items():
            values = stored(table, column, where.get(table, ""))
            assert values, f"{table}.{column} holds no value: the test would prove nothing"
            for value in values:
                assert value.utcoffset() == timedelta(0), (table, column, value)
                assert (value.second, value.microsecond) == (0, 0), (table, column, value)
                if precision in ("hour", "day"):
                    assert value.minute == 0, (table, column, value)
                if precision == "day":
                    assert value.hour == 0, (table, column, value)


@pytest.mark.django_db
def test_an_application_over_the_web_chat_stores_only_coarse_times(
    staff: Callable[..., Client],
) -> None:
    operator = staff("operator")
    chat = ChatDriver(Client(), "ru")
    chat.apply(readiness="now")
    case = chat.case()
    reply = operator.post(f"/console/cases/{case.pk}/reply/", {"text": "DEMO reply"})
    assert reply.status_code == 302
    call = {
        "direction": "out",
        "caller": "applicant",
        "started_at": "2026-11-23T10:15:42",  # a form may send seconds; they are not kept
        "duration_minutes": "3",
        "language": "ru",
        "outcome": "spoke",
        "summary": "DEMO call",
    }
    assert operator.post(f"/console/cases/{case.pk}/call/", call).status_code == 302
    assert "DEMO reply" in chat.choose("continue")  # the reply is seen: shown_at
    chat.say("DEMO message to the operators")
    chat.choose("ready_now")
    case.refresh_from_db()
    assert case.status == Status.IN_CONTACT and case.reply_due_at is not None
    assert case.messages.filter(shown_at__isnull=False).exists()
    # Nobody answered in time: the deadline raised to supervisors is kept as coarse as itself.
    assert escalation.do_escalate_overdue(now=case.reply_due_at + timedelta(minutes=1)) == 1
    web_chat = ("cases_contact", "cases_case", "cases_message", "cases_calllog")
    assert_coarse(columns(*web_chat, "conversations_conversation"), {})


@pytest.mark.django_db
def test_an_application_over_telegram_stores_only_coarse_times(
    fake: FakeTelegram, client: Client
) -> None:
    person = Applicant(fake, client, FakeTelegram.applicant(5110000077, "ru"))
    person.text("/start")
    apply_over_telegram(person, "ru")
    assert TelegramChat.objects.get().traces.exists()
    touched = {
        **columns("channels_telegramupdate", "channels_chattrace", "cases_contact"),
        **columns("channels_telegramchat", leave=("blocked_at",)),
        **columns("cases_case", leave=("ready_now_at", "last_operator_at", "escalated_due_at")),
        # A finished outbox row keeps when it was due only to the minute, too.
        "channels_outboxmessage": {**COARSE["channels_outboxmessage"], "not_before": "minute"},
    }
    # Only finished outbox rows: a waiting row keeps its exact schedule.
    assert_coarse(touched, {"channels_outboxmessage": f"WHERE status = '{OutboxStatus.SENT}'"})
    # The per-chat gap (one message a second) is exact while it schedules, then cleared.
    assert TelegramChat.objects.get().next_send_at is not None
    time.sleep(1.1)
    Sender("main").housekeeping()
    assert TelegramChat.objects.get().next_send_at is None


def test_values_are_floored_in_utc() -> None:
    for precision, expected in FLOORED.items():
        assert coarsen(PRECISE, precision) == expected
        assert coarsen(PRECISE, precision).tzinfo == UTC
    assert coarsen(datetime(2026, 3, 4, 5, 6, 7, 8), "hour") == datetime(2026, 3, 4, 5)


def test_the_precision_is_required_checked_and_kept_in_migrations() -> None:
    with pytest.raises(ValueError, match="precision"):
        CoarseDateTimeField(precision="second")  # type: ignore[arg-type]
    field = CoarseDateTimeField(null=True, precision="hour")
    _, path, _, kwargs = field.deconstruct()
    assert path == "safepassage.privacy.coarse_time.CoarseDateTimeField"
    assert kwargs == {"null": True, "precision": "hour"}
    source, imports = MigrationWriter.serialize(field)
    assert "precision='hour'" in source and "import safepassage.privacy.coarse_time" in imports
    assert CoarseDateTimeField(**kwargs).precision == "hour"


@pytest.mark.django_db
def test_every_way_of_writing_stores_the_coarse_value() -> None:
    case = services.do_create_case("webchat", "ru", None)  # auto_now_add, auto_now

    case.last_applicant_at = PRECISE  # assignment + save
    case.save(update_fields=["last_applicant_at"])
    assert case.last_applicant_at == FLOORED["minute"]  # the instance holds what was stored
    Case.objects.filter(pk=case.pk).update(reply_due_at=PRECISE, submitted_at=PRECISE)
    Case.objects.filter(pk=case.pk).update(ready_now_at="2026-03-04T18:29:58.5+00:00")
    case.refresh_from_db()
    assert case.reply_due_at == case.submitted_at == case.ready_now_at == FLOORED["minute"]
    assert stored("cases_case", "reply_due_at") == [FLOORED["minute"]]

    messages = Message.objects.bulk_create(
        [
            Message(case=case, direction="in", channel="webchat", body_sealed=b"", shown_at=PRECISE)
            for _ in range(3)
        ]
    )
    assert {m.shown_at for m in messages} == {FLOORED["hour"]}
    for message in messages:
        message.shown_at = PRECISE + timedelta(hours=1)
    Message.objects.bulk_update(messages, ["shown_at"])
    assert set(stored("cases_message", "shown_at")) == {FLOORED["hour"] + timedelta(hours=1)}
    assert_coarse({"cases_message": {"created_at": "minute"}}, {})
    assert_coarse({"cases_case": {"created_at": "day", "updated_at": "hour"}}, {})


@pytest.mark.django_db
def test_filters_compare_against_the_exact_cut_off() -> None:
    case = services.do_create_case("webchat", "ru", None)
    Case.objects.filter(pk=case.pk).update(last_applicant_at=PRECISE)  # stored: 18:29:00
    # The cut-off is not rounded: 18:29:00 is before 18:29:58.
    assert Case.objects.filter(pk=case.pk, last_applicant_at__lt=PRECISE).exists()
    assert not Case.objects.filter(pk=case.pk, last_applicant_at__gte=PRECISE).exists()


@pytest.mark.django_db
def test_the_migration_coarsens_times_already_stored() -> None:
    case = services.do_create_case("webchat", "ru", None)
    message = Message.objects.create(case=case, direction="in", channel="webchat", body_sealed=b"")
    precise = connection.ops.adapt_datetimefield_value(PRECISE.astimezone(UTC))
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:  # as an older version wrote them, exact
        cursor.execute(
            f"UPDATE {quote('cases_case')} SET {quote('last_applicant_at')} = %s, "  # noqa: S608
            f"{quote('created_at')} = %s",
            [precise, precise],
        )
        cursor.execute(
            f"UPDATE {quote('cases_message')} SET {quote('shown_at')} = %s",  # noqa: S608
            [precise],
        )
    assert stored("cases_case", "last_applicant_at") == [PRECISE]
    migration = importlib.import_module("safepassage.cases.migrations.0004_coarse_times")
    migration.coarsen_existing(apps, None)
    assert stored("cases_case", "last_applicant_at") == [FLOORED["minute"]]
    assert stored("cases_case", "created_at") == [FLOORED["day"]]
    assert stored("cases_message", "shown_at") == [FLOORED["hour"]]
    assert stored("cases_case", "ready_now_at") == []  # NULL stays NULL
    message.refresh_from_db()
    assert message.shown_at == FLOORED["hour"]


def test_a_status_change_keeps_what_the_case_says_within_one_minute() -> None:
    """Both times are stored to the minute, so they cannot say who spoke last within it."""
    minute = FLOORED["minute"]
    waiting = Case(status=Status.IN_CONTACT, urgency=100, reply_due_at=minute)
    waiting.last_applicant_at = waiting.last_operator_at = minute
    services.refresh_reply_due(waiting)
    assert waiting.reply_due_at == minute + timedelta(minutes=5)
    answered = Case(status=Status.IN_CONTACT, urgency=100, reply_due_at=None)
    answered.last_applicant_at = answered.last_operator_at = minute
    services.refresh_reply_due(answered)
    assert answered.reply_due_at is None


@pytest.mark.django_db
def test_a_message_right_after_a_reply_keeps_its_deadline_through_a_status_change(
    staff: Callable[..., Client],
) -> None:
    operator = staff("operator")
    chat = ChatDriver(Client(), "ru")
    chat.apply(readiness="now")
    case = chat.case()
    operator.post(f"/console/cases/{case.pk}/reply/", {"text": "DEMO reply"})
    chat.choose("continue")
    chat.say("DEMO answer to the reply, within the same minute")
    case.refresh_from_db()
    assert case.reply_due_at is not None
    response = operator.post(
        f"/console/cases/{case.pk}/status/", {"target": "verified", "version": case.version}
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == Status.VERIFIED and case.reply_due_at is not None
    # And once the operator answers, nothing is due any more.
    operator.post(f"/console/cases/{case.pk}/reply/", {"text": "DEMO second reply"})
    case.refresh_from_db()
    assert case.reply_due_at is None


def test_the_coarse_fields_are_the_ones_listed() -> None:
    """A new coarse field, or one made exact again, shows up here (and in the threat model)."""
    found = {
        model._meta.db_table: {
            field.column: field.precision
            for field in model._meta.get_fields()
            if isinstance(field, CoarseDateTimeField)
        }
        for model in apps.get_models()
    }
    assert {table: fields for table, fields in found.items() if fields} == COARSE
