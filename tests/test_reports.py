"""The aggregates behind the analyst's reports: written by the actions themselves, kept when
cases are purged, and readable without any key."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from safepassage import retention
from safepassage.analytics import reports
from safepassage.analytics.models import DailyCount
from safepassage.cases import services
from safepassage.cases.models import Case
from safepassage.console.models import Role
from tests.conftest import ChatDriver, make_staff

pytestmark = pytest.mark.django_db


def _today(event: str) -> int:
    return sum(DailyCount.objects.filter(event=event).values_list("count", flat=True))


def test_the_first_human_reply_is_counted_once_against_its_target(chat: ChatDriver) -> None:
    chat.apply(readiness="now")
    case = chat.case()
    operator = make_staff("op-report", Role.OPERATOR)
    services.do_operator_reply(case, operator, "DEMO reply")  # type: ignore[arg-type]
    case.refresh_from_db()
    services.do_operator_reply(case, operator, "DEMO second reply")  # type: ignore[arg-type]
    assert _today("first_reply_on_time") == 1 and _today("first_reply_late") == 0
    assert _today("first_reply_le_5m") == 1


def test_a_late_first_reply_is_counted_late(chat: ChatDriver) -> None:
    chat.apply(readiness="days")
    case = chat.case()
    Case.objects.filter(pk=case.pk).update(reply_due_at=timezone.now() - dt.timedelta(hours=2))
    case.refresh_from_db()
    services.do_operator_reply(case, make_staff("op-late", Role.OPERATOR), "DEMO")  # type: ignore[arg-type]
    assert _today("first_reply_late") == 1


def test_the_waiting_list_is_kept_as_the_days_peak_and_survives_the_purge(
    chat: ChatDriver,
) -> None:
    chat.apply(readiness="now")
    other = ChatDriver(chat.client.__class__(), "ru")
    other.apply(readiness="later")
    retention.purge_expired()
    assert _today("waiting_now") == 1 and _today("waiting_later") == 1
    Case.objects.all().delete()  # every case gone (erased, purged)
    retention.purge_expired()
    assert _today("waiting_now") == 1  # a peak is not lowered later in the day
    today = timezone.localdate()
    rows = dict(reports.waiting(today, today).rows)
    assert rows[today.isoformat()] == [1, 0, 1]
