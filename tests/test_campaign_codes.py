"""Campaign codes: unguessable, valid Telegram start parameters, attributing every contact
(web chat, Telegram, hotline) and counted per code; revoked and unknown codes start normally."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from safepassage.analytics.models import DailyCount
from safepassage.campaigns import codes, services
from safepassage.campaigns.models import CampaignCode
from safepassage.cases.models import Case, Status
from safepassage.conversations import catalog
from safepassage.testing.fake_telegram import FakeTelegram
from tests.conftest import ChatDriver, latest_case
from tests.telegram_support import Applicant

pytestmark = pytest.mark.django_db


def _count(event: str, code: str = "") -> int:
    rows = DailyCount.objects.filter(event=event, campaign=code)
    return sum(rows.values_list("count", flat=True))


def test_generated_codes_are_short_unguessable_and_never_a_language_prefix() -> None:
    campaign = services.do_create_campaign("DEMO drop K-3", languages=("ko",))
    made = services.do_add_codes(campaign, 200)
    assert len({c.code for c in made}) == 200
    for code in made:
        assert re.fullmatch(r"[a-z2-9]{10}", code.code)  # Telegram: letters, digits, _ -, ≤ 64
        assert "_" not in code.code and campaign.name.lower() not in code.code
    assert not campaign.code.startswith("demo")  # the internal key spells no name either


@pytest.mark.parametrize("bad", ["ko_leaflet", "RU_x", "ko", "Uk", "has space", "x" * 65, "ünï"])
def test_a_code_chosen_by_hand_is_refused_when_it_breaks_the_rules(bad: str) -> None:
    campaign = services.do_create_campaign("DEMO", languages=("ru",))
    with pytest.raises(services.CampaignError):
        services.do_add_codes(campaign, manual=bad)


def test_unknown_languages_and_media_are_refused_with_the_list() -> None:
    with pytest.raises(services.CampaignError, match="ko"):
        services.do_create_campaign("DEMO", languages=("xx",))
    with pytest.raises(services.CampaignError, match="leaflet"):
        services.do_create_campaign("DEMO", medium="billboard")


def test_web_chat_visit_and_application_are_attributed_to_the_code(chat: ChatDriver) -> None:
    campaign = services.do_create_campaign("DEMO", languages=("ru",))
    first, second = services.do_add_codes(campaign, 2)
    chat.open(f"?c={second.code}")
    chat.choose("self")
    case = latest_case()
    assert case.contact.campaign_code == second and case.contact.campaign == campaign
    assert _count("visit", second.code) == 1 and _count("started", second.code) == 1
    assert _count("visit", first.code) == 0


def test_a_revoked_code_starts_normally_keeps_old_attribution_and_counts_as_unknown(
    chat: ChatDriver,
) -> None:
    campaign = services.do_create_campaign("DEMO", languages=("ru",))
    (code,) = services.do_add_codes(campaign)
    chat.open(f"?c={code.code}")
    chat.choose("self")
    earlier = chat.case()
    services.do_revoke_code(code)

    newcomer = ChatDriver(Client(), "ru")
    page = newcomer.open(f"?c={code.code}")
    assert catalog.text("ru", "apply.who.prompt") in page and 'name="c"' not in page
    newcomer.choose("self")
    assert newcomer.case().contact.campaign_code is None
    earlier.refresh_from_db()
    assert earlier.contact.campaign_code == code  # the past contact keeps its code
    assert _count("unknown_code") == 1
    ChatDriver(Client(), "ru").open("?c=never-issued")
    assert _count("unknown_code") == 2


def test_telegram_start_with_a_korean_code_speaks_korean_and_attributes(
    fake: FakeTelegram, client: Client
) -> None:
    campaign = services.do_create_campaign("DEMO drop", languages=("ko",))
    (code,) = services.do_add_codes(campaign)
    person = Applicant(fake, client, FakeTelegram.applicant(5110000071, "en"))
    person.text(f"/start {code.code}")
    # A Korean leaflet's reader reads Korean, whatever language his phone is set to.
    assert person.last()["text"] == catalog.text("ko", "apply.who.prompt")
    case = Case.objects.get()
    assert case.language == "ko" and case.contact.campaign_code == code
    assert _count("started", code.code) == 1
    # Opening the deep link is the campaign's visit (the funnel starts with visits): without
    # it, Telegram contacts (the QR code's first link) made more starts than visits.
    assert _count("visit", code.code) == 1

    other = Applicant(fake, client, FakeTelegram.applicant(5110000072, "ru"))
    other.text("/start zzzzzzzzzz")
    assert other.last()["text"] == catalog.text("ru", "apply.who.prompt")
    assert _count("unknown_code") == 1


def test_funnel_stages_are_counted_once_per_case_however_the_status_moves(
    chat: ChatDriver,
) -> None:
    from safepassage.cases import casework, workflow
    from safepassage.console.models import Role
    from tests.conftest import make_staff

    campaign = services.do_create_campaign("DEMO", languages=("ru",))
    (code,) = services.do_add_codes(campaign)
    chat.apply(query=f"?c={code.code}")
    case = latest_case()
    supervisor = make_staff("sv-funnel", Role.SUPERVISOR)
    for target in (Status.IN_CONTACT, Status.VERIFIED, Status.WAITING, Status.VERIFIED):
        move = workflow.Move(target)
        if target == Status.WAITING:
            from django.utils import timezone

            move = workflow.Move(target, next_check_in=timezone.now().date())
        case = casework.do_transition(case, supervisor, move, None, supervisor=True)  # type: ignore[arg-type]
    assert _count("submitted", code.code) == 1
    assert _count("verified", code.code) == 1  # verified twice, counted once
    assert _count("handed_over", code.code) == 0


def test_the_hotline_attributes_a_caller_to_the_code_he_reads_out(
    staff: object,
) -> None:
    from safepassage.console.models import Role

    campaign = services.do_create_campaign("DEMO", languages=("ko",))
    (code,) = services.do_add_codes(campaign)
    operator = staff(Role.OPERATOR)  # type: ignore[operator]
    bad = operator.post(
        "/console/hotline/new-case/",
        {"language": "ko", "readiness": "now", "campaign_code": "nosuchcode"},
    )
    assert bad.status_code == 400 and b"nosuchcode" in bad.content
    assert not Case.objects.exists()
    operator.post(
        "/console/hotline/new-case/",
        {"language": "ko", "readiness": "now", "campaign_code": code.code},
    )
    assert Case.objects.get().contact.campaign_code == code
    assert CampaignCode.objects.get().contacts.count() == 1
    # The call that names the leaflet is its visit, as a deep link or ?c= is: the funnel
    # never shows more starts than visits.
    assert _count("visit", code.code) == 1 and _count("started", code.code) == 1


def test_codes_module_accepts_what_telegram_accepts() -> None:
    assert codes.looks_valid("abc-DEF_123") and not codes.looks_valid("a b")
    assert codes.check_manual("Leaflet-7") == "leaflet-7"


def test_oversized_fields_are_refused_naming_them_before_the_database_sees_them() -> None:
    # The command line has no form: PostgreSQL would answer a long name with a DataError.
    with pytest.raises(services.CampaignError, match="name"):
        services.do_create_campaign("D" * 201, languages=("ru",))
    with pytest.raises(services.CampaignError, match="target sector"):
        services.do_create_campaign("DEMO", languages=("ru",), target_sector="s" * 121)
    campaign = services.do_create_campaign("DEMO", languages=("ru",))
    with pytest.raises(services.CampaignError, match="label"):
        services.do_add_codes(campaign, 2, labels=["drop zone " * 20] * 2)
    assert not campaign.codes.exists()
