"""The web chat, driven like a browser with JavaScript off."""

from __future__ import annotations

import re
import unicodedata

import pytest
from django.test import Client

from safepassage.cases import services
from safepassage.cases.models import Case, Status
from safepassage.conversations import catalog
from safepassage.conversations.engine import SEALED_ANSWER
from safepassage.privacy.keyring import Keyring
from tests.conftest import DEMO_APPLICANT, ChatDriver, demo_campaign_code, latest_case, t

pytestmark = pytest.mark.django_db


def test_korean_application_end_to_end(chat: ChatDriver, ring: Keyring) -> None:
    first = chat.open()
    assert t("ko", "apply.who.prompt") in first
    assert '<html lang="ko">' in first
    reference, _passphrase = chat.apply(
        readiness="now", group=3, wishes=("record_as_captured", "no_exchange", "medical")
    )
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", reference)
    assert t("ko", "chat.passphrase_until") in chat.last
    case = latest_case()
    assert case.status == Status.NEW
    assert case.language == "ko"
    assert case.triage["readiness"] == "now"
    assert case.triage["group_size"] == 3
    assert case.triage["wishes"] == ["record_as_captured", "no_exchange", "medical"]
    assert services.answers_for_staff(case, ring)["name"] == DEMO_APPLICANT["name"]
    assert services.reference_of(case, ring) == reference
    # Once confirmed, the server itself can no longer read what identifies him.
    assert services.answers(case)["name"] == SEALED_ANSWER
    assert services.reference_of(case, Keyring()) != reference


def test_summary_shows_answers_in_the_applicant_language(chat: ChatDriver) -> None:
    chat.lang = "ru"
    chat.open()
    for value in ("relative", "rear", "later"):
        chat.choose(value)
    for _ in range(4):
        chat.nav("skip")
    chat.choose("alone")
    page = chat.post({"choice": "", "multi": ["no_exchange"]})
    assert t("ru", "apply.summary.prompt") in page
    assert t("ru", "apply.who.relative") in page
    # A relative reads the wish about him, not about himself (the flow's voices).
    assert t("ru", "apply.wishes.no_exchange.relative") in page
    assert t("ru", "apply.wishes.no_exchange") not in page
    assert t("ru", "summary.skipped") in page


def test_back_and_change_an_answer(chat: ChatDriver) -> None:
    chat.open()
    chat.choose("self")
    page = chat.nav("back")
    assert t("ko", "apply.who.prompt") in page
    chat.choose("relative")
    chat.choose("front")
    chat.choose("days")
    for _ in range(4):
        chat.nav("skip")
    chat.choose("alone")
    chat.post({"choice": "", "multi": []})
    chat.choose("change")
    page = chat.choose("company")
    assert t("ko", "apply.company.prompt") in page
    chat.choose("group")
    page = chat.say("5")  # unanswered group size asked, then straight back to the summary
    assert t("ko", "apply.summary.prompt") in page
    assert latest_case().triage["group_size"] == 5


def test_start_over_forgets_answers(chat: ChatDriver) -> None:
    chat.open()
    chat.choose("self")
    chat.choose("front")
    page = chat.nav("restart")
    assert t("ko", "apply.who.prompt") in page
    assert latest_case().triage == {}


def test_answer_that_does_not_fit_gets_a_polite_reask(chat: ChatDriver) -> None:
    chat.open()
    page = chat.post({"choice": "not-an-option"}, expect=400)  # nothing stored: no session yet
    assert t("ko", "reask.choice") in page
    assert t("ko", "apply.who.prompt") in page
    chat.choose("self")
    chat.choose("front")
    chat.choose("now")
    for _ in range(4):
        chat.nav("skip")
    chat.choose("group")
    page = chat.say("many")
    assert t("ko", "reask.number") in page
    page = chat.say("1")
    assert t("ko", "reask.number") in page


def test_oversized_text_is_refused_and_nothing_stored(chat: ChatDriver) -> None:
    chat.open()
    for value in ("self", "front", "now"):
        chat.choose(value)
    page = chat.say("가" * 5000)
    assert t("ko", "reask.too_long") in page
    assert "sector" not in services.answers(latest_case())


def test_control_characters_and_invalid_utf8_are_cleaned(chat: ChatDriver) -> None:
    chat.open()
    for value in ("self", "front", "now"):
        chat.choose(value)
    raw = b"text=Pokrov%00sk%07e+%1B%5B31m%FF%FE%C3"  # NUL, BEL, ESC and bytes that are not UTF-8
    response = chat.client.generic(
        "POST", chat.url, raw, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 302
    assert services.answers(latest_case())["sector"] == "Pokrovske [31m"


def test_bidi_overrides_decomposed_hangul_and_invisible_answers(chat: ChatDriver) -> None:
    chat.open()
    for value in ("self", "front", "now"):
        chat.choose(value)
    chat.say("DEMO \u202e" + unicodedata.normalize("NFD", "김남일"))
    assert services.answers(latest_case())["sector"] == "DEMO 김남일"
    chat.say("\u3164\u200b")  # Hangul filler and a zero-width space: an empty answer
    assert services.answers(latest_case())["unit"] == ""


def test_unknown_language_gets_a_calm_page_with_the_languages(client: Client) -> None:
    response = client.get("/chat/xx/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "조선말" in body and "Русский" in body
    assert "Traceback" not in body


def test_language_picker_lists_every_language(client: Client) -> None:
    body = client.get("/chat/").content.decode()
    for code in catalog.languages():
        assert f'href="/chat/{code}/"' in body


def test_campaign_code_attributes_the_contact(chat: ChatDriver) -> None:
    demo_campaign_code("leaflet-kursk-01")
    chat.open("?c=leaflet-kursk-01")
    chat.choose("self")
    assert latest_case().contact.campaign is not None
    assert latest_case().contact.campaign_code.code == "leaflet-kursk-01"


def test_unknown_campaign_code_still_opens_the_chat(chat: ChatDriver) -> None:
    page = chat.open("?c=no-such-code")
    assert t("ko", "apply.who.prompt") in page
    chat.choose("self")
    assert latest_case().contact.campaign is None


def test_missing_csrf_token_gets_a_calm_answer() -> None:
    client = Client(enforce_csrf_checks=True)
    client.get("/chat/ru/")
    response = client.post("/chat/ru/", {"choice": "self"})
    assert response.status_code == 403
    assert t("ru", "chat.expired") in response.content.decode()
    assert not Case.objects.exists()


def test_only_a_strict_session_cookie(client: Client) -> None:
    """Two cookies, both ending with the browser, neither readable by scripts or sent cross-site:
    the session (from the first answer on) and the CSRF token (from the first page on)."""
    client.get("/chat/ko/")
    assert set(client.cookies) == {"spc"}
    response = client.post("/chat/ko/", {"choice": "self"})
    assert set(response.cookies) | set(client.cookies) == {"sp", "spc"}
    for name in ("sp", "spc"):
        cookie = client.cookies[name]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        assert not cookie["expires"] and not cookie["max-age"]


def test_pages_are_light_and_self_contained(chat: ChatDriver) -> None:
    chat.apply()
    for page in [chat.open(), *chat.history]:
        assert len(page.encode()) < 30 * 1024
        assert "<script" not in page
        assert not re.search(r'(src|href)="(https?:)?//', page)


def test_security_headers(client: Client) -> None:
    response = client.get("/chat/ko/")
    assert response["Content-Security-Policy"].startswith("default-src 'none'")
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["X-Frame-Options"] == "DENY"


def test_returning_applicant_with_reference_and_passphrase(chat: ChatDriver) -> None:
    reference, passphrase = chat.apply(readiness="later")
    fresh = Client()
    response = fresh.post(
        "/chat/ko/return/",
        {"reference": reference.lower().replace("-", " "), "passphrase": passphrase},
        follow=True,
    )
    body = response.content.decode()
    assert t("ko", "menu.prompt") in body
    again = ChatDriver(fresh, "ko")
    page = again.choose("ready_now")
    assert t("ko", "menu.ready_now.done") in page
    case = latest_case()
    assert case.ready_now_at is not None
    assert case.urgency >= 100


def test_message_to_operators_and_reply(chat: ChatDriver, django_user_model: type) -> None:
    chat.apply()
    chat.choose("continue")
    page = chat.say("DEMO question about the meeting place")
    assert t("ko", "thread.sent") in page
    case = latest_case()
    operator = django_user_model.objects.create_user("op", password="x" * 16, is_staff=True)
    services.do_operator_reply(case, operator, "DEMO reply: stay where you are")
    page = chat.open()
    assert "DEMO reply: stay where you are" in page
    # His own words come back only to the browser that wrote them (its key, in a cookie)...
    assert "DEMO question about the meeting place" in page
    # ...never to another visit, even with the right credentials.
    chat.client.cookies.pop("spk")
    page = chat.open()
    assert "DEMO question about the meeting place" not in page
    assert t("ko", "thread.hidden") in page


def test_delete_what_i_told_you_erases_the_case(chat: ChatDriver) -> None:
    chat.open()
    chat.choose("self")
    page = chat.nav("delete")
    assert t("ko", "delete.confirm.prompt") in page
    page = chat.choose("keep")
    assert t("ko", "apply.whereabouts.prompt.self") in page
    chat.nav("delete")
    page = chat.choose("erase")
    assert t("ko", "delete.done") in page
    assert not Case.objects.exists()
    page = chat.open()
    assert t("ko", "apply.who.prompt") in page


def test_submitted_case_can_be_deleted_from_the_menu(chat: ChatDriver) -> None:
    chat.apply()
    chat.choose("continue")
    chat.choose("delete")
    chat.choose("erase")
    assert not Case.objects.exists()


def test_situation_changed_updates_the_case(chat: ChatDriver) -> None:
    chat.apply(readiness="later")
    chat.choose("continue")
    chat.choose("changed")
    chat.choose("readiness")
    page = chat.choose("now")
    assert t("ko", "apply.summary.prompt") in page
    page = chat.choose("confirm")
    assert t("ko", "apply.updated") in page
    assert latest_case().triage["readiness"] == "now"
    assert Case.objects.count() == 1


def test_null_origin_is_accepted_only_from_the_same_origin() -> None:
    client = Client(enforce_csrf_checks=True)
    page = client.get("/chat/ru/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token
    data = {"choice": "self", "csrfmiddlewaretoken": token.group(1)}
    cross = client.post(
        "/chat/ru/", data, headers={"origin": "null", "sec-fetch-site": "cross-site"}
    )
    assert cross.status_code == 403 and not Case.objects.exists()
    same = client.post(
        "/chat/ru/", data, headers={"origin": "null", "sec-fetch-site": "same-origin"}
    )
    assert same.status_code == 302 and Case.objects.count() == 1


def test_a_request_body_over_the_limit_gets_a_calm_page() -> None:
    client = Client(enforce_csrf_checks=True)
    page = client.get("/chat/ko/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token
    response = client.post(
        "/chat/ko/", {"csrfmiddlewaretoken": token.group(1), "text": "x" * 300_000}
    )
    assert response.status_code in {400, 413}
    assert t("ko", "reask.too_long") in response.content.decode()
    assert not Case.objects.exists()
