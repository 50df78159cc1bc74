"""Abandoned applications are erased; submitted ones are kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from safepassage import cli, retention
from safepassage.cases.models import Case, Contact
from tests.conftest import ChatDriver, demo_campaign_code

pytestmark = pytest.mark.django_db


def test_drafts_older_than_a_day_are_purged_and_submitted_cases_kept() -> None:
    ChatDriver(Client(), "ru").apply()
    abandoned = ChatDriver(Client(), "ko")
    abandoned.open()
    abandoned.choose("self")
    abandoned.choose("front")
    fresh = ChatDriver(Client(), "uk")
    fresh.open()
    fresh.choose("relative")
    assert Case.objects.count() == 3
    old = Case.objects.filter(language="ko").get()
    Case.objects.filter(pk=old.pk).update(updated_at=old.updated_at - timedelta(hours=25))

    assert retention.purge_expired().abandoned_drafts == 1
    assert set(Case.objects.values_list("language", flat=True)) == {"ru", "uk"}
    assert Contact.objects.count() == 2
    assert cli.main(["purge"]) == 0
    assert Case.objects.count() == 2


def test_unconfirmed_edits_and_seen_replies_are_sealed_after_a_day(
    django_user_model: type,
) -> None:
    from safepassage.cases import sealed, services
    from safepassage.cases.models import Message
    from safepassage.conversations.engine import SEALED_ANSWER

    chat = ChatDriver(Client(), "ru")
    chat.apply()
    chat.choose("continue")
    case = Case.objects.get()
    operator = django_user_model.objects.create_user("op", password="x" * 16, is_staff=True)
    services.do_operator_reply(case, operator, "DEMO reply")
    assert "DEMO reply" in chat.open()  # shown once: the clock starts
    chat.choose("changed")
    chat.choose("sector")
    chat.say("DEMO new sector, never confirmed")
    case.refresh_from_db()
    assert services.answers(case)["sector"] == "DEMO new sector, never confirmed"
    day_ago = timedelta(hours=25)
    Case.objects.filter(pk=case.pk).update(last_applicant_at=case.last_applicant_at - day_ago)
    reply = Message.objects.get()
    Message.objects.filter(pk=reply.pk).update(shown_at=reply.shown_at - day_ago)

    report = retention.purge_expired()
    assert (report.answers_sealed, report.replies_sealed) == (1, 1)
    case.refresh_from_db()
    assert services.answers(case)["sector"] == SEALED_ANSWER
    assert sealed.open_message_for_server(case, Message.objects.get()) is None
    chat.choose("confirm")
    assert "DEMO reply" not in chat.open()


def test_aggregate_counts_survive_erasure() -> None:
    from safepassage.analytics import counters
    from safepassage.analytics.models import DailyCount

    demo_campaign_code("demo-leaflet")
    chat = ChatDriver(Client(), "ko")
    chat.apply(query="?c=demo-leaflet")
    chat.choose("continue")
    chat.choose("ready_now")
    chat.choose("ok")
    chat.choose("delete")
    chat.choose("erase")
    assert not Case.objects.exists()
    assert counters.totals("submitted") == 1
    assert counters.totals("ready_now") == 1
    assert counters.totals("erased") == 1
    row = DailyCount.objects.get(event="submitted")
    assert (row.channel, row.language, row.campaign) == ("webchat", "ko", "demo-leaflet")
