"""What the console's busiest pages cost the server, in SQL statements (bench/console_load.py).

Twenty operators each refresh the queue's rows every 10 s and, on an open case page, ask its
live endpoint every 2 s: a statement per row, or a profile read twice over, multiplies into
the latency every operator feels. These bounds fail when a page starts asking per row again.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from safepassage.cases import services as cases
from safepassage.cases.models import Case, Channel, Direction
from safepassage.console.models import Role
from safepassage.privacy import audit
from safepassage.privacy.models import AuditEvent
from tests.case_support import waiting_case

pytestmark = pytest.mark.django_db


def _waiting_cases(count: int) -> list[Case]:
    """Submitted cases, each with an applicant message sealed to its own key pair (unread)."""
    return [waiting_case(f"DEMO-PREVIEW row {n}") for n in range(count)]


def _statements(client: Client, url: str) -> tuple[list[str], str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return [q["sql"] for q in captured.captured_queries], response.content.decode()


def test_the_queue_asks_the_same_few_statements_for_3_rows_as_for_12(
    staff: Callable[..., Client],
) -> None:
    operator = staff(Role.OPERATOR)
    _waiting_cases(3)
    # First sight: each preview is audited once, all of them in one write to the audit chain.
    first_few, _ = _statements(operator, "/console/queue/")
    few, html = _statements(operator, "/console/queue/rows/")
    assert html.count("DEMO-PREVIEW row") == 3  # every row's sealed preview really opened
    _waiting_cases(9)
    first_many, _ = _statements(operator, "/console/queue/")
    many, html = _statements(operator, "/console/queue/rows/")
    assert html.count("DEMO-PREVIEW row") == 12
    assert len(many) == len(few), "a statement per row crept into the queue"
    assert len(first_many) == len(first_few), "a statement per new preview crept in"
    assert len(many) <= 10, many
    page, _ = _statements(operator, "/console/queue/")
    assert len(page) <= 12, page
    assert AuditEvent.objects.filter(action="case.preview").count() == 12  # once per preview
    assert audit.verify().ok  # the chain written at once is a chain


def test_a_console_page_reads_the_staff_profile_once_and_writes_no_session(
    staff: Callable[..., Client],
) -> None:
    """Login, second factor, idle time, one-time password and role are all checked from one
    read of the profile; a page seen within seconds of the last one writes no session row."""
    operator = staff(Role.OPERATOR)
    operator.get("/console/queue/")
    statements, _ = _statements(operator, "/console/queue/")
    own = '"console_staffprofile"."user_id" = '  # the member's own (not the sectors' liaisons)
    profile_reads = [s for s in statements if 'FROM "console_staffprofile"' in s and own in s]
    assert len(profile_reads) == 1, profile_reads
    assert not [s for s in statements if s.startswith('UPDATE "django_session"')]


def test_an_open_case_pages_live_poll_is_a_few_index_lookups(
    staff: Callable[..., Client],
) -> None:
    """The 2 s poll learns the newest message of the case and of any case merged into it
    without joining the cases (a join let PostgreSQL walk every message backwards)."""
    operator = staff(Role.OPERATOR)
    case, other = _waiting_cases(2)
    Case.objects.filter(pk=other.pk).update(merged_into=case)
    operator.get(f"/console/cases/{case.pk}/")
    newest = cases.do_add_message(other, Direction.INBOUND, "DEMO later", Channel.WEBCHAT)
    statements, body = _statements(operator, f"/console/cases/{case.pk}/live/")
    assert f'"last": {newest.pk}' in body
    assert len(statements) <= 8, statements
    assert not [s for s in statements if "cases_message" in s and "JOIN" in s], statements


def test_a_damaged_message_row_locks_that_message_and_no_page(
    staff: Callable[..., Client],
) -> None:
    """A message whose stored ciphertext was damaged (or planted) shows as locked on its case
    page and gives no preview in the queue; every other row and page still opens."""
    from safepassage.cases.models import Message

    operator = staff(Role.OPERATOR)
    damaged, _intact = _waiting_cases(2)
    message = Message.objects.get(case=damaged, direction=Direction.INBOUND)
    body = bytearray(message.body_sealed)
    body[-1] ^= 0x01
    Message.objects.filter(pk=message.pk).update(body_sealed=bytes(body))
    _, html = _statements(operator, "/console/queue/")
    assert "DEMO-PREVIEW row 1" in html and "DEMO-PREVIEW row 0" not in html
    page = operator.get(f"/console/cases/{damaged.pk}/")
    assert page.status_code == 200, page.status_code


def test_only_the_top_of_the_queue_is_previewed(staff: Callable[..., Client]) -> None:
    """Previews open personal data at every refresh: the 25 unread rows at the top get one,
    the rows below show that they are unread and nothing of what was written."""
    from safepassage.console.views_queue import PREVIEWED_ROWS

    operator = staff(Role.OPERATOR)
    _waiting_cases(PREVIEWED_ROWS + 3)
    _, html = _statements(operator, "/console/queue/")
    assert html.count("DEMO-PREVIEW row") == PREVIEWED_ROWS
    assert AuditEvent.objects.filter(action="case.preview").count() == PREVIEWED_ROWS


CASE_ROW = 'SELECT "cases_case"."id", "cases_case"."contact_id"'  # a whole case row, not an id


def test_the_case_page_reads_the_case_and_its_messages_once_whatever_their_number(
    staff: Callable[..., Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case page of a case with another merged into it: the case row and the merged cases
    are read once each (a case with none merged: only its row), the messages once (the reply
    channel, the read mark and the live poll's start are read off them), and more messages,
    replies and notes add no statement. Its writes (presence, read mark, audit) are two
    transactions, and no sweep of the presence table runs at every page."""
    from django.contrib.auth.models import User

    from safepassage.cases import casework
    from safepassage.console import presence

    monkeypatch.setattr(presence, "_next_sweep", float("inf"))  # the minute's sweep is done
    operator = staff(Role.OPERATOR)
    member = User.objects.get(username="operator0")
    case, other = _waiting_cases(2)
    Case.objects.filter(pk=other.pk).update(merged_into=case)
    url = f"/console/cases/{case.pk}/"
    first, html = _statements(operator, url)
    assert "DEMO-PREVIEW row 0" in html and "DEMO-PREVIEW row 1" in html
    for n in range(3):
        cases.do_add_message(case, Direction.INBOUND, f"DEMO-MORE {n}", Channel.WEBCHAT)
        cases.do_operator_reply(case, member, f"DEMO-REPLY {n}")
        casework.do_add_note(case, member, f"DEMO-NOTE {n}")
    again, html = _statements(operator, url)
    assert html.count("DEMO-MORE") == 3 and html.count("DEMO-REPLY") == 3
    assert html.count("DEMO-NOTE") == 3
    assert len(again) <= len(first), "a statement per message, reply or note crept in"
    assert len([s for s in first if s.startswith(CASE_ROW)]) == 2, first  # case, merged cases
    assert len([s for s in first if 'FROM "cases_message"' in s]) == 1, first
    assert not [s for s in first if s.startswith('DELETE FROM "console_casepresence"')]
    opened = [s for s in first if s.startswith(("SAVEPOINT", "BEGIN"))]
    assert len(opened) <= 2, first  # presence and read mark, then the audit chain's
    # PostgreSQL adds the audit chain's advisory lock. It was 39 on PostgreSQL.
    assert len(first) <= 24 + (connection.vendor == "postgresql"), first
    latest = cases.newest_message_id(case.pk)
    assert f'data-last="{latest}"' in html  # what the page shows is what the poll compares
    (own,) = _waiting_cases(1)
    page, _ = _statements(operator, f"/console/cases/{own.pk}/")
    assert len([s for s in page if 'FROM "cases_case"' in s]) == 1, page  # none merged into it
    live, body = _statements(operator, f"/console/cases/{own.pk}/live/")
    assert f'"last": {cases.newest_message_id(own.pk)}' in body
    assert not [s for s in live if s.startswith(CASE_ROW)], live  # the poll opens no case row
    assert len(live) <= 7, live
