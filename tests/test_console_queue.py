"""The queue: most urgent first, reply targets, take next (also in parallel), filters, search."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from safepassage.cases.models import Case
from safepassage.console import presenters
from safepassage.console.models import Role
from tests.conftest import ChatDriver, make_staff, staff_login

pytestmark = pytest.mark.django_db


def _apply(lang: str, readiness: str, **kwargs: object) -> tuple[Case, str]:
    chat = ChatDriver(Client(), lang)
    reference, _ = chat.apply(readiness=readiness, **kwargs)  # type: ignore[arg-type]
    return chat.case(), reference


def _row_ids(html: str) -> list[str]:
    import re

    return re.findall(r'/console/cases/([0-9a-f-]{36})/"', html)


def test_ready_now_is_at_the_front_and_shows_its_five_minute_target(
    staff: Callable[..., Client],
) -> None:
    later, _ = _apply("ru", "later")
    days, _ = _apply("uk", "days")
    now, _ = _apply("ko", "now", wishes=("medical",))
    operator = staff(Role.OPERATOR)
    now.refresh_from_db()
    assert now.reply_due_at is not None and now.last_applicant_at is not None
    assert now.reply_due_at - now.last_applicant_at == timedelta(minutes=5)
    # The deadline counts from the minute the applicant wrote (times are stored to the minute),
    # so the minutes shown are those left between just before and just after the request.
    left_before = now.reply_due_at - timezone.now()
    html = operator.get("/console/queue/").content.decode()
    left_after = now.reply_due_at - timezone.now()
    assert _row_ids(html) == [str(now.pk), str(days.pk), str(later.pk)]
    shown = {int(left.total_seconds() // 60) for left in (left_before, left_after)}
    assert any(f"{presenters.duration(minutes)} left" in html for minutes in shown)
    assert max(shown) <= 5
    # The 1-hour and 24-hour targets for the others.
    days.refresh_from_db()
    assert days.reply_due_at is not None and days.last_applicant_at is not None
    assert days.reply_due_at - days.last_applicant_at == timedelta(hours=1)
    later.refresh_from_db()
    assert later.reply_due_at - later.last_applicant_at == timedelta(hours=24)  # type: ignore[operator]


def test_within_one_urgency_the_longest_waiting_comes_first(staff: Callable[..., Client]) -> None:
    first, _ = _apply("ru", "days")
    second, _ = _apply("ru", "days")
    Case.objects.filter(pk=first.pk).update(last_applicant_at=timezone.now() - timedelta(hours=5))
    html = staff(Role.OPERATOR).get("/console/queue/").content.decode()
    assert _row_ids(html) == [str(first.pk), str(second.pk)]


def test_overdue_cases_are_shown_and_filtered(staff: Callable[..., Client]) -> None:
    late, _ = _apply("ru", "days")
    _apply("ru", "days")
    Case.objects.filter(pk=late.pk).update(reply_due_at=timezone.now() - timedelta(minutes=90))
    operator = staff(Role.OPERATOR)
    due = Case.objects.get(pk=late.pk).reply_due_at  # stored to the minute
    assert due is not None
    late_before = timezone.now() - due
    html = operator.get("/console/queue/?overdue=1").content.decode()
    late_after = timezone.now() - due
    assert _row_ids(html) == [str(late.pk)]
    shown = {int(span.total_seconds() // 60) for span in (late_before, late_after)}
    assert min(shown) >= 90
    assert any(f"overdue {presenters.duration(minutes)}" in html for minutes in shown)


def test_filters(staff: Callable[..., Client]) -> None:
    ko_case, _ = _apply("ko", "days")
    ru_case, _ = _apply("ru", "days")
    operator = staff(Role.OPERATOR)
    assert _row_ids(operator.get("/console/queue/?language=ko").content.decode()) == [
        str(ko_case.pk)
    ]
    assert set(_row_ids(operator.get("/console/queue/?channel=webchat").content.decode())) == {
        str(ko_case.pk),
        str(ru_case.pk),
    }
    assert _row_ids(operator.get("/console/queue/?mine=1").content.decode()) == []
    assert _row_ids(operator.get("/console/queue/?status=closed").content.decode()) == []


def test_search_by_reference_opens_the_case_without_the_reference_in_any_url(
    staff: Callable[..., Client],
) -> None:
    ko_case, ko_ref = _apply("ko", "days")
    _apply("ru", "days")
    operator = staff(Role.OPERATOR)
    queue_page = operator.get("/console/queue/").content.decode()
    assert 'method="post" action="/console/queue/find/"' in queue_page
    # Typed loosely (lower case, spaces), the reference still finds its case.
    typed = ko_ref.lower().replace("-", " ")
    found = operator.post("/console/queue/find/", {"ref": typed})
    assert found.status_code == 302 and found["Location"] == f"/console/cases/{ko_case.pk}/"
    not_found = operator.post("/console/queue/find/", {"ref": "XXXX"}, follow=True)
    assert "No case has that reference." in not_found.content.decode()
    urls = [found["Location"], *(url for url, _ in not_found.redirect_chain)]
    assert all(ko_ref.lower() not in url.lower() and "XXXX" not in url for url in urls)
    # A reference in the query string is not a search any more: nothing builds such URLs.
    old_style = operator.get("/console/queue/", {"ref": ko_ref}).content.decode()
    assert len(_row_ids(old_style)) == 2


def test_search_by_reference_finds_only_cases_the_operator_may_open(
    staff: Callable[..., Client],
) -> None:
    case, reference = _apply("ru", "days")
    other = make_staff("other_op_search", Role.OPERATOR)
    Case.objects.filter(pk=case.pk).update(assigned_to=other)
    response = staff(Role.OPERATOR).post("/console/queue/find/", {"ref": reference})
    assert response["Location"] == "/console/queue/?found=none"


def test_take_next_gives_the_most_urgent_unassigned_case(staff: Callable[..., Client]) -> None:
    _apply("ru", "later")
    urgent, _ = _apply("ko", "now")
    operator = staff(Role.OPERATOR)
    response = operator.post("/console/queue/next/")
    assert response["Location"] == f"/console/cases/{urgent.pk}/"
    urgent.refresh_from_db()
    assert urgent.assigned_to is not None
    mine = operator.get("/console/queue/?mine=1").content.decode()
    assert _row_ids(mine) == [str(urgent.pk)]


def test_take_next_with_nothing_waiting_says_so(staff: Callable[..., Client]) -> None:
    operator = staff(Role.OPERATOR)
    response = operator.post("/console/queue/next/", follow=True)
    assert "No unassigned open case is waiting" in response.content.decode()


def test_the_queue_rows_fragment_matches_the_page(staff: Callable[..., Client]) -> None:
    case, _ = _apply("ru", "now")
    operator = staff(Role.OPERATOR)
    rows = operator.get("/console/queue/rows/").content.decode()
    assert _row_ids(rows) == [str(case.pk)] and "<html" not in rows


def test_time_left_wording() -> None:
    now = timezone.now()
    assert presenters.time_left(now + timedelta(minutes=3), now) == ("3 min left", False)
    assert presenters.time_left(now - timedelta(hours=5), now) == ("overdue 5 h", True)
    # One form for every duration: minutes, then hours and minutes.
    assert presenters.time_left(now - timedelta(minutes=95), now) == ("overdue 1 h 35 min", True)
    assert presenters.duration(45) == "45 min" and presenters.duration(24 * 60) == "24 h"
    assert presenters.time_left(None, now) == ("", False)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_parallel_take_next_never_gives_one_case_to_two_operators() -> None:
    """Eight operators press "take next" at the same instant, through the whole request
    stack, each on its own database connection; six cases are waiting."""
    if connection.vendor != "postgresql":
        pytest.skip("the parallel claim is exercised on PostgreSQL")
    cases = {str(_apply("ru", "now")[0].pk) for _ in range(6)}
    clients = []
    for i in range(8):
        make_staff(f"par{i}", Role.OPERATOR)
        clients.append(staff_login(f"par{i}"))
    barrier = threading.Barrier(len(clients))
    results: list[str] = []
    lock = threading.Lock()

    def press(client: Client) -> None:
        try:
            barrier.wait()
            location = client.post("/console/queue/next/")["Location"]
            with lock:
                results.append(location)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=press, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken = [loc.split("/")[3] for loc in results if loc.startswith("/console/cases/")]
    assert sorted(taken) == sorted(cases)  # every case once, none twice
    assert results.count("/console/queue/?taken=none") == 2
    owners = Case.objects.filter(pk__in=cases).values_list("assigned_to", flat=True)
    assert len(set(owners)) == 6 and None not in owners


def test_supervisor_sees_workload_and_overdue_replies(staff: Callable[..., Client]) -> None:
    late, _ = _apply("ru", "days")
    _apply("ru", "days")
    Case.objects.filter(pk=late.pk).update(reply_due_at=timezone.now() - timedelta(hours=2))
    supervisor = staff(Role.SUPERVISOR)
    html = supervisor.get("/console/queue/workload/").content.decode()
    assert re.search(r"Unassigned</td><td>2</td><td><a [^>]+>1</a>", html)


def test_sector_and_campaign_filters(staff: Callable[..., Client]) -> None:
    from safepassage.campaigns.models import Campaign
    from safepassage.cases.models import Contact, Handover
    from safepassage.privacy import crypto

    leaflet = Campaign.objects.create(code="leaflet-7", name="DEMO leaflet")
    from_leaflet, _ = _apply("ru", "days")
    handed, _ = _apply("ru", "days")
    Contact.objects.filter(pk=from_leaflet.contact_id).update(campaign=leaflet)
    Handover.objects.create(
        case=handed, sector_index=crypto.sector_index("S-EAST"), meeting_sealed=b""
    )
    staff(Role.LIAISON, "S-EAST")
    operator = staff(Role.OPERATOR)
    by_campaign = operator.get("/console/queue/?campaign=leaflet-7").content.decode()
    assert _row_ids(by_campaign) == [str(from_leaflet.pk)]
    # The filter offers the sector by name and sends its keyed index, never the name.
    index = crypto.sector_index("S-EAST")
    assert f'<option value="{index}">S-EAST</option>' in by_campaign
    by_sector = operator.get(f"/console/queue/?sector={index}").content.decode()
    assert _row_ids(by_sector) == [str(handed.pk)]
