"""The operator console: case list, case page, replies, audit (with a full staff login)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from safepassage.privacy.models import AuditEvent
from tests.conftest import DEMO_APPLICANT, ChatDriver, latest_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(staff: Callable[..., Client]) -> Client:
    return staff("operator")


def test_anonymous_is_sent_to_login(client: Client) -> None:
    for url in ("/console/queue/", "/console/cases/00000000-0000-0000-0000-000000000000/"):
        response = client.get(url)
        assert response.status_code == 302 and "/console/login/" in response["Location"]


def test_non_staff_user_cannot_log_in(django_user_model: type) -> None:
    django_user_model.objects.create_user("someone", password="correct horse battery staple")
    client = Client()
    response = client.post(
        "/console/login/", {"username": "someone", "password": "correct horse battery staple"}
    )
    assert response.status_code == 200 and "Wrong username or password" in response.content.decode()
    assert client.get("/console/queue/").status_code == 302


def test_operator_reads_the_case_and_the_view_is_audited(operator: Client, client: Client) -> None:
    reference, _ = ChatDriver(client, "ko").apply(readiness="now")
    case = latest_case()
    inbox = operator.get("/console/queue/").content.decode()
    assert str(case.pk)[:8] in inbox and "Ready now" in inbox
    assert AuditEvent.objects.filter(action="case.view").count() == 0
    page = operator.get(f"/console/cases/{case.pk}/").content.decode()
    assert DEMO_APPLICANT["name"] in page and DEMO_APPLICANT["unit"] in page
    assert reference in page
    assert "Wants to be recorded as captured" in page
    event = AuditEvent.objects.get(action="case.view")
    assert event.case_id == case.pk and event.actor is not None
    assert event.actor.get_username().startswith("operator")


def test_draft_applications_are_not_in_the_console(operator: Client, client: Client) -> None:
    chat = ChatDriver(client, "ru")
    chat.open()
    chat.choose("self")
    assert "No cases yet" in operator.get("/console/queue/").content.decode()
    assert operator.get(f"/console/cases/{latest_case().pk}/").status_code == 404


def test_reply_reaches_the_applicant(operator: Client, client: Client) -> None:
    chat = ChatDriver(client, "ru")
    chat.apply()
    case = latest_case()
    response = operator.post(f"/console/cases/{case.pk}/reply/", {"text": "DEMO: мы на связи"})
    assert response.status_code == 302
    chat.choose("continue")  # "I have written them down": the thread follows
    assert "DEMO: мы на связи" in chat.open()
    case.refresh_from_db()
    assert case.status == "in_contact" and case.reply_due_at is None


def test_empty_or_oversized_reply_is_refused(operator: Client, client: Client) -> None:
    ChatDriver(client, "ru").apply()
    case = latest_case()
    assert operator.post(f"/console/cases/{case.pk}/reply/", {"text": "  "}).status_code == 400
    response = operator.post(f"/console/cases/{case.pk}/reply/", {"text": "x" * 4001})
    assert response.status_code == 400 and case.messages.count() == 0
