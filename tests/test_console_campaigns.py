"""Campaigns in the console (supervisors, admins) and the analyst's reports: the same actions
as the command line, forms that keep input on a mistake, no applicant data anywhere."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable

import pytest
import zxingcpp
from django.test import Client
from PIL import Image

from safepassage import config
from safepassage.analytics import counters, reports
from safepassage.campaigns.models import Campaign, CampaignCode
from safepassage.console.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = dataclasses.replace(
        config.get(),
        public_urls=("https://demo-hotline.example",),
        telegram_usernames=(("main", "DemoHotlineBot"),),
    )
    monkeypatch.setattr(config, "get", lambda: cfg)


def test_a_supervisor_creates_a_campaign_adds_and_revokes_codes(
    staff: Callable[..., Client],
) -> None:
    supervisor = staff(Role.SUPERVISOR)
    bad = supervisor.post("/console/campaigns/new/", {"name": "DEMO drop", "medium": "leaflet"})
    assert bad.status_code == 400 and b'value="DEMO drop"' in bad.content  # input kept
    made = supervisor.post(
        "/console/campaigns/new/",
        {"name": "DEMO drop", "medium": "leaflet", "languages": ["ko"], "codes": "2"},
    )
    campaign = Campaign.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/console/campaigns/{campaign.pk}/"
    page = supervisor.get(made["Location"]).content.decode()
    codes = list(CampaignCode.objects.all())
    assert len(codes) == 2
    assert all(f"https://t.me/DemoHotlineBot?start={c.code}" in page for c in codes)
    added = supervisor.post(f"/console/campaigns/{campaign.pk}/codes/", {"count": "3"})
    assert added.status_code == 302 and CampaignCode.objects.count() == 5

    revoke = f"/console/campaigns/{campaign.pk}/codes/{codes[0].pk}/revoke/"
    unconfirmed = supervisor.post(revoke, {})
    assert unconfirmed.status_code == 400
    codes[0].refresh_from_db()
    assert codes[0].revoked_at is None  # the rule is the form's, not the checkbox's
    assert supervisor.post(revoke, {"confirm": "on"}).status_code == 302
    codes[0].refresh_from_db()
    assert codes[0].revoked_at is not None


def test_qr_downloads_decode_to_the_codes_link(staff: Callable[..., Client]) -> None:
    admin = staff(Role.ADMIN)
    admin.post(
        "/console/campaigns/new/",
        {"name": "DEMO", "medium": "video", "languages": ["ru"], "codes": "1"},
    )
    code = CampaignCode.objects.get()
    png = admin.get(f"/console/campaigns/codes/{code.pk}/qr.png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    (found,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)).convert("L"))
    assert found.text == f"https://t.me/DemoHotlineBot?start={code.code}"
    assert admin.get(f"/console/campaigns/codes/{code.pk}/qr.gif").status_code == 404


def test_campaign_pages_are_for_supervisors_and_admins_only(
    staff: Callable[..., Client],
) -> None:
    for role in (Role.OPERATOR, Role.LIAISON, Role.ANALYST):
        assert staff(role).get("/console/campaigns/").status_code == 403
    assert staff(Role.OPERATOR).get("/console/reports/").status_code == 403


def test_reports_round_and_suppress_small_counts_everywhere(
    staff: Callable[..., Client],
) -> None:
    for _ in range(3):
        counters.count("started", "webchat", "ko", "")
    for _ in range(12):
        counters.count("started", "telegram", "ru", "")
    analyst = staff(Role.ANALYST)
    page = analyst.get("/console/reports/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "&lt;5" in text and ">10<" in text  # 3 and 12 are never shown as such
    assert ">3<" not in text and ">12<" not in text and ">15<" in text  # total 15
    rows = list(
        csv.reader(io.StringIO(analyst.get("/console/reports/volume-channel.csv").content.decode()))
    )
    assert ["telegram", "10", "0"] in rows and ["webchat", "<5", "0"] in rows
    # Contacts that came with an unknown or revoked code (a forged or old leaflet) are counted
    # and shown too, by channel.
    for _ in range(6):
        counters.count("unknown_code", "webchat", "ru", "")
    assert 'id="unknown-codes"' in analyst.get("/console/reports/").content.decode()
    unknown = analyst.get("/console/reports/unknown-codes.csv").content.decode()
    assert ["webchat", "5"] in list(csv.reader(io.StringIO(unknown)))
    bad = analyst.get("/console/reports/", {"since": "2026-12-31", "until": "2026-01-01"})
    assert bad.status_code == 400
    # Dates at the calendar's ends: a mistake answered 400 with the input kept, never a 500.
    for edge in ({"since": "9999-12-01", "until": "9999-12-31"}, {"until": "0001-01-05"}):
        page = analyst.get("/console/reports/", edge)
        assert page.status_code == 400 and edge["until"] in page.content.decode()
        assert analyst.get("/console/reports/waiting.csv", edge).status_code == 400


def test_shown_figures_cannot_be_undone_by_subtraction() -> None:
    assert [reports.shown(n) for n in (0, 1, 4, 5, 7, 8, 12, 13)] == [
        "0", "<5", "<5", "5", "5", "10", "10", "15",
    ]  # fmt: skip
    # A total of 13 made of 9 and 4 shows 15 = 10 + "<5": nothing recovers the 4.
    assert reports.shown(13) == "15" and reports.shown(9) == "10"


def test_the_analyst_lands_on_the_overview(staff: Callable[..., Client]) -> None:
    assert staff(Role.ANALYST).get("/console/")["Location"] == "/console/overview/"


def test_a_csv_export_never_starts_a_cell_with_a_spreadsheet_formula() -> None:
    # A campaign's name is typed by a supervisor and opened by an analyst in a spreadsheet.
    report = reports.Report(
        "funnel", ["visit"], [('=HYPERLINK("http://x.test") / abc', [3]), ("-", [0])], [3]
    )
    rows = list(csv.reader(io.StringIO(report.csv())))
    assert rows[1][0].startswith("'=") and rows[2][0] == "-"


def test_a_big_batch_of_leaflets_is_sent_to_the_command_line_not_rendered_in_a_request(
    staff: Callable[..., Client],
) -> None:
    from safepassage.campaigns import services

    campaign = services.do_create_campaign("DEMO drop", languages=("ru",))
    services.do_add_codes(campaign, 21)  # 42 pages: about 10 s of CPU, a worker held meanwhile
    page = staff(Role.SUPERVISOR).get(
        f"/console/campaigns/{campaign.pk}/leaflets.pdf",
        {"language": "ru", "size": "A6", "sides": "2", "draft": "on"},
    )
    assert page.status_code == 400
    assert f"safepassage campaigns leaflet {campaign.pk}" in page.content.decode()
