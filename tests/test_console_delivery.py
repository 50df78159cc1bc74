"""The case page shows how far each reply got: queued, delivered, read, or failed and why."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from safepassage.cases.models import Case
from safepassage.channels.models import OutboxMessage
from safepassage.testing.fake_telegram import FakeTelegram
from tests.conftest import ChatDriver
from tests.telegram_support import Applicant
from tests.test_telegram_dialogue import apply

pytestmark = pytest.mark.django_db


def _reply(supervisor: Client, case: Case, text: str) -> str:
    response = supervisor.post(
        f"/console/cases/{case.pk}/reply/", {"text": text, "version": case.version}
    )
    assert response.status_code in {302, 200}, response.status_code
    return supervisor.get(f"/console/cases/{case.pk}/").content.decode()


def test_telegram_reply_goes_from_queued_to_delivered(
    fake: FakeTelegram, client: Client, staff: Callable[..., Client]
) -> None:
    person = Applicant(fake, client, FakeTelegram.applicant(5110000042, "ru"))
    person.text("/start")
    apply(person, "ru")
    case = Case.objects.get()
    supervisor = staff("supervisor")
    page = _reply(supervisor, case, "DEMO reply over Telegram")
    assert "queued for delivery" in page
    person.flush()
    assert person.last()["text"] == "DEMO reply over Telegram"
    assert "delivered" in supervisor.get(f"/console/cases/{case.pk}/").content.decode()
    OutboxMessage.objects.filter(case=case, message__isnull=False).update(
        status="failed", reason="Forbidden: bot was blocked by the user"
    )
    page = supervisor.get(f"/console/cases/{case.pk}/").content.decode()
    assert "failed: Forbidden: bot was blocked by the user" in page


def test_web_chat_reply_waits_then_is_read(staff: Callable[..., Client]) -> None:
    chat = ChatDriver(Client(), "ko")
    chat.apply()
    chat.choose("continue")
    case = Case.objects.get()
    supervisor = staff("supervisor")
    page = _reply(supervisor, case, "DEMO web reply")
    assert "waiting for the applicant&#x27;s next visit" in page
    assert "DEMO web reply" in chat.open()
    assert "read in the web chat" in supervisor.get(f"/console/cases/{case.pk}/").content.decode()
