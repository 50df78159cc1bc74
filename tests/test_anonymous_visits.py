"""Finding 8 of the hardening issue: a visit that has not answered anything costs no row, and a
draft that never got past the first answers goes within hours."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from safepassage import retention
from safepassage.cases.models import Case, Status
from safepassage.conversations.models import Conversation
from tests.conftest import ChatDriver, demo_campaign_code, t

pytestmark = pytest.mark.django_db


def _rows() -> tuple[int, int, int]:
    return Session.objects.count(), Case.objects.count(), Conversation.objects.count()


def test_cookieless_visits_of_the_first_question_write_nothing() -> None:
    demo_campaign_code("somecode")
    before = _rows()
    for query in ("", "?c=somecode"):
        for _ in range(200):
            response = Client().get("/chat/ko/" + query)
            assert response.status_code == 200 and "sp" not in response.cookies
    assert _rows() == before == (0, 0, 0)


def test_the_campaign_code_rides_in_the_form_and_a_forged_one_is_ignored() -> None:
    demo_campaign_code("somecode")
    page = ChatDriver(Client(), "ko").open("?c=somecode")
    assert '<input type="hidden" name="c" value="somecode">' in page
    assert 'name="c"' not in ChatDriver(Client(), "ko").open("?c=no-such-code")
    forged = Client()
    forged.get("/chat/ko/")
    forged.post("/chat/ko/", {"choice": "self", "c": "no-such-code"})
    assert Case.objects.get().contact.campaign is None


def _age(case: Case, hours: int) -> None:
    Case.objects.filter(pk=case.pk).update(updated_at=timezone.now() - timedelta(hours=hours))


def test_a_draft_that_never_got_past_the_first_answers_goes_within_hours() -> None:
    short = ChatDriver(Client(), "ko")
    short.open()
    short.choose("self")
    short.choose("front")
    longer = ChatDriver(Client(), "ko")
    longer.open()
    for choice in ("self", "front", "days"):
        longer.choose(choice)
    longer.say("DEMO-SECTOR Sentinel-1")
    fresh = ChatDriver(Client(), "ko")
    fresh.open()
    fresh.choose("self")
    _age(short.case(), 3)
    _age(longer.case(), 3)
    _age(fresh.case(), 1)

    report = retention.purge_expired()
    assert report.abandoned_drafts == 1
    assert t("ko", "apply.who.prompt") in short.open()  # that applicant starts afresh
    assert longer.case().status == Status.DRAFT  # further along: kept for the day
    assert fresh.case().status == Status.DRAFT  # an applicant still answering is never purged
    _age(longer.case(), 25)
    assert retention.purge_expired().abandoned_drafts == 1
