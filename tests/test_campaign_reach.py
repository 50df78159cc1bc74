"""The whole way a leaflet works: a Korean leaflet campaign with three codes, printed, each
page's QR code decoded from its image, followed into a Korean application attributed to that
code, and found in the funnel; the same through a Telegram deep link and the fake Bot API."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import zxingcpp
from django.test import Client

from safepassage import config
from safepassage.analytics import reports
from safepassage.campaigns import official, services
from safepassage.cases.models import Case
from safepassage.printing import leaflets
from safepassage.testing.fake_telegram import FakeTelegram
from tests.conftest import ChatDriver
from tests.telegram_support import Applicant
from tests.test_leaflets import page_images

pytestmark = pytest.mark.django_db


def _configure(monkeypatch: pytest.MonkeyPatch, **changes: object) -> None:
    _pem, public = official.generate()
    cfg = dataclasses.replace(
        config.get(),
        hotline_numbers=("+380 44 000 00 00",),
        official_public_key=public,
        **changes,  # type: ignore[arg-type]
    )
    monkeypatch.setattr(config, "get", lambda: cfg)


def _funnel(campaign_name: str) -> dict[str, list[int]]:
    names = {
        code: campaign_name for code in services.CampaignCode.objects.values_list("code", flat=True)
    }
    today = dt.date.today()
    report = reports.funnel(today, today, names, by_code=True)
    return {label.split(" / ")[1]: values for label, values in report.rows}


def test_web_chat_links_from_printed_korean_leaflets_lead_to_attributed_applications(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _configure(monkeypatch, public_urls=("https://demo-hotline.example",))
    campaign = services.do_create_campaign("DEMO drop K-3", languages=("ko",))
    codes = services.do_add_codes(campaign, 3)
    for index, code in enumerate(codes):
        pdf = leaflets.render([code], "ko", leaflets.Options("A6", True, draft=True)).pdf
        front = page_images(pdf, tmp_path / str(index))[0]
        (found,) = zxingcpp.read_barcodes(front.convert("L"))
        link = urlsplit(found.text)
        assert link.netloc == "demo-hotline.example" and link.path == "/chat/ko/"
        chat = ChatDriver(Client(), "ko")
        chat.apply(query=f"?{link.query}")
        case = chat.case()
        assert case.language == "ko" and case.contact.campaign_code == code
    funnel = _funnel(campaign.name)
    for code in codes:
        visits, started, submitted = funnel[code.code][:3]
        assert (visits, started, submitted) == (1, 1, 1)


def test_a_telegram_deep_link_from_a_leaflet_starts_an_attributed_korean_chat(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake: FakeTelegram, client: Client
) -> None:
    _configure(monkeypatch, telegram_usernames=(("main", "DemoHotlineBot"),))
    campaign = services.do_create_campaign("DEMO video", languages=("ko",))
    (code,) = services.do_add_codes(campaign)
    pdf = leaflets.render([code], "ko", leaflets.Options("A5", False, draft=True)).pdf
    (found,) = zxingcpp.read_barcodes(page_images(pdf, tmp_path)[0].convert("L"))
    link = urlsplit(found.text)
    assert link.netloc == "t.me" and link.path == "/DemoHotlineBot"
    start = link.query.removeprefix("start=")
    person = Applicant(fake, client, FakeTelegram.applicant(5110000091, "ru"))
    person.text(f"/start {start}")  # what Telegram sends when the link is opened
    case = Case.objects.get()
    assert case.language == "ko" and case.contact.campaign_code == code
    assert _funnel(campaign.name)[code.code][1] == 1
