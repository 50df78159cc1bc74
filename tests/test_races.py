"""Two writes to the same rows at the same instant, each on its own PostgreSQL connection.

Each race is run over many rounds, with the second write started a little later each round, so
that some round lands inside the other write's window: no pauses inside the actions themselves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections
from django.test import Client

from safepassage import retention
from safepassage.cases import casework, services, workflow
from safepassage.cases.models import Case, Channel, Status
from safepassage.conversations.engine import SEALED_ANSWER
from tests.conftest import ChatDriver

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks are exercised on PostgreSQL")


def _together(*writes: Callable[[], str], stagger: float = 0.0) -> list[str]:
    """Run the writes on threads of their own, released at once by a barrier, the n-th one
    ``n * stagger`` seconds later; each returns what happened, or the exception's name."""
    barrier = threading.Barrier(len(writes))
    results = [""] * len(writes)

    def run(index: int, write: Callable[[], str]) -> None:
        try:
            barrier.wait()
            if index and stagger:
                time.sleep(index * stagger)
            results[index] = write()
        except Exception as exc:  # what went wrong is the test's finding, not a crash
            results[index] = type(exc).__name__
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(writes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _new_case() -> Case:
    case = services.do_create_case(Channel.WEBCHAT, "ru", None)
    Case.objects.filter(pk=case.pk).update(status=Status.NEW)
    case.refresh_from_db()
    return case


def _merge(duplicate: Case, into: Case, actor: User) -> Callable[[], str]:
    def write() -> str:
        try:
            casework.do_merge(duplicate, into, actor)
        except workflow.Refused:
            return "refused"
        return "merged"

    return write


def test_two_opposite_merges_at_once_merge_one_way_only() -> None:
    actor = User.objects.create_user("DEMO-supervisor", password="x" * 16, is_staff=True)
    for round_ in range(20):
        a, b = _new_case(), _new_case()
        results = _together(_merge(a, b, actor), _merge(b, a, actor), stagger=round_ * 0.0005)
        a.refresh_from_db()
        b.refresh_from_db()
        assert sorted(results) == ["merged", "refused"], (round_, results)
        assert (a.merged_into_id, b.merged_into_id) in {(b.pk, None), (None, a.pk)}, round_


def _applicant_with_an_unconfirmed_edit() -> ChatDriver:
    """A submitted application with an edit the applicant made a day ago and never confirmed;
    the chat is asking for a new value of another answer."""
    chat = ChatDriver(Client(), "ru")
    chat.apply()
    chat.choose("continue")
    chat.choose("changed")
    chat.choose("sector")
    chat.say("DEMO sector, edited a day ago")
    chat.choose("change")  # from the summary the edit was left on, never confirmed
    chat.choose("unit")
    case = chat.case()
    assert case.last_applicant_at is not None
    Case.objects.filter(pk=case.pk).update(
        last_applicant_at=case.last_applicant_at - timedelta(hours=25)
    )
    return chat


def test_sealing_unconfirmed_edits_never_loses_a_reply_arriving_at_that_moment() -> None:
    for round_ in range(16):
        chat = _applicant_with_an_unconfirmed_edit()
        case = chat.case()

        def purge() -> str:
            return str(retention.purge_expired().answers_sealed)

        def reply(chat: ChatDriver = chat) -> str:
            chat.say("DEMO unit, said just now")
            return "replied"

        results = _together(purge, reply, stagger=(round_ % 8) * 0.002)
        assert results[1] == "replied" and results[0] in {"0", "1"}, (round_, results)
        case.refresh_from_db()
        answers = services.answers(case)
        # The reply is kept whichever write came first; the purge's sealing of the day-old edit
        # is kept when it came first (when it came second the applicant was back, and their
        # edits are theirs to confirm).
        assert answers["unit"] == "DEMO unit, said just now", (round_, results)
        sealed_first = results[0] == "1"
        expected = SEALED_ANSWER if sealed_first else "DEMO sector, edited a day ago"
        assert answers["sector"] == expected, (round_, results)
