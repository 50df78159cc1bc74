"""The queue's rows, written in Python (console/queue_rows.py): what each cell shows, escaped,
in the staff member's language, through the real queue page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone, translation

from safepassage.console.models import Role, StaffProfile
from tests.case_support import waiting_case

pytestmark = pytest.mark.django_db


def test_a_row_escapes_what_the_applicant_wrote_and_links_the_case(
    staff: Callable[..., Client],
) -> None:
    operator = staff(Role.OPERATOR)
    case = waiting_case('DEMO <script>alert("x")</script> & more')
    html = operator.get("/console/queue/rows/").content.decode()
    assert "<script>" not in html
    assert "DEMO &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in html
    assert f'href="/console/cases/{case.pk}/"' in html
    assert "1 new" in html


def test_signals_reader_and_deadline_show_in_the_members_language(
    staff: Callable[..., Client],
) -> None:
    operator = staff(Role.OPERATOR)
    suspected = waiting_case("DEMO one")
    suspected.fake_score = 2
    suspected.fake_signals = ["campaign_burst"]
    suspected.needs_reader = "ko"
    suspected.reply_due_at = timezone.now() - timedelta(minutes=5)
    suspected.escalated_due_at = suspected.reply_due_at
    suspected.save()
    marked = waiting_case("DEMO two")
    marked.fake_mark = "fake"
    marked.save()

    html = operator.get("/console/queue/rows/").content.decode()
    assert "fake? 2" in html
    assert "one of many first contacts from one leaflet code within seconds" in html
    assert "marked fake" in html
    assert "needs a reader of" in html
    assert 'class="overdue"' in html
    assert "raised to supervisors" in html

    StaffProfile.objects.update(language="uk")  # each member's own console language
    ukrainian = operator.get("/console/queue/rows/").content.decode()
    assert "raised to supervisors" not in ukrainian
    with translation.override("uk"):
        assert translation.gettext("raised to supervisors") in ukrainian
    assert "marked fake" not in ukrainian


def test_an_empty_queue_says_so(staff: Callable[..., Client]) -> None:
    operator = staff(Role.OPERATOR)
    assert "No cases yet." in operator.get("/console/queue/rows/").content.decode()
