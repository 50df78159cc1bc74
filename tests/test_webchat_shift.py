"""Issue 11, the applicant's side: reload and Back never re-send and never break, credentials are
never lost before they are written down, a two-sided thread, and words that fit who writes.

Driven with Django's test client as a browser with JavaScript off drives the chat: forms, their
hidden fields, redirects and cookies."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from safepassage import retention
from safepassage.cases import sealed, services
from safepassage.cases.models import Case, Direction, Message
from safepassage.conversations import catalog, engine, flows
from safepassage.privacy import crypto
from tests.conftest import ChatDriver, t

pytestmark = pytest.mark.django_db

REPLY = "DEMO reply: stay where you are"


def _token(page: str) -> str:
    found = re.search(r'<input type="hidden" name="t" value="([^"]+)"', page)
    assert found, "the page's forms carry no turn token"
    return found.group(1)


def _to_menu(chat: ChatDriver, **apply: object) -> tuple[str, str]:
    credentials = chat.apply(**apply)  # type: ignore[arg-type]
    chat.choose("continue")  # "I have written them down"
    return credentials


def test_every_chat_post_answers_with_a_redirect(client: Client) -> None:
    """No POST of the chat leaves a page the browser would have to post again on reload or
    Back: answers, skips, re-asks, the confirmation, messages, leaving and erasing."""
    posts = [
        {"choice": "self"},
        {"choice": "front"},
        {"choice": "not-an-option"},  # a re-ask, carried to the next page in the session
        {"choice": "now"},
        {"nav": "skip"},
        {"nav": "skip"},
        {"nav": "skip"},
        {"nav": "skip"},
        {"choice": "alone"},
        {"choice": "", "multi": ["record_as_captured"]},
        {"choice": "confirm"},
        {"choice": "continue"},
        {"text": "DEMO message to the operators"},
        {"text": ""},  # nothing to send: re-asked
        {"nav": "leave"},
    ]
    client.get("/chat/ru/")
    for data in posts:
        response = client.post("/chat/ru/", data)
        assert response.status_code == 302, (data, response.status_code)
        page = client.get(response["Location"]).content.decode()
        if data == {"choice": "not-an-option"}:
            assert t("ru", "reask.choice") in page
        if data.get("text"):
            assert t("ru", "thread.sent") in page
    assert response["Location"] == "/chat/ru/left/"
    assert t("ru", "chat.left") in client.get("/chat/ru/left/").content.decode()
    assert Case.objects.count() == 1


def test_erasing_ends_on_a_page_of_its_own(chat: ChatDriver) -> None:
    chat.open()
    chat.choose("self")
    chat.nav("delete")
    response = chat.client.post(chat.url, {"choice": "erase", "t": _token(chat.last)})
    assert response.status_code == 302 and response["Location"] == "/chat/ko/cleared/"
    again = chat.client.get("/chat/ko/cleared/")  # a reload: the same calm page, nothing posted
    assert again.status_code == 200 and t("ko", "delete.done") in again.content.decode()
    assert not Case.objects.exists()


def test_the_same_message_sent_twice_reaches_the_operators_once(chat: ChatDriver) -> None:
    _to_menu(chat)
    token = _token(chat.last)
    data = {"text": "DEMO where do we meet?", "t": token}
    first = chat.client.post(chat.url, data)
    second = chat.client.post(chat.url, data)  # a reload that re-posts, a double press
    assert first.status_code == second.status_code == 302
    assert Message.objects.filter(direction=Direction.INBOUND).count() == 1
    page = chat.client.get(chat.url).content.decode()
    assert t("ko", "chat.stale") in page
    assert page.count("DEMO where do we meet?") == 1


def test_a_form_from_an_older_page_is_not_applied_to_the_current_question(
    chat: ChatDriver,
) -> None:
    first = chat.open()
    chat.choose("self")
    old = _token(chat.last)
    chat.choose("front")
    # Back showed the whereabouts question from the browser's cache; its form is sent again.
    response = chat.client.post(chat.url, {"choice": "rear", "t": old})
    assert response.status_code == 302
    case = chat.case()
    assert case.triage["whereabouts"] == "front"
    assert "readiness" not in case.triage
    page = chat.client.get(chat.url).content.decode()
    assert t("ko", "chat.stale") in page and t("ko", "apply.readiness.prompt") in page
    # The first question is drawn before any conversation exists: it carries no token.
    assert 'name="t"' not in first


def test_credentials_survive_reloads_until_written_down_and_are_never_stored_in_clear(
    chat: ChatDriver,
) -> None:
    reference, passphrase = chat.apply()
    for _ in range(2):  # reload, and Back to the same URL
        page = chat.open()
        assert reference in page and passphrase in page
        assert t("ko", "chat.creds.written") in page
    # The session row (a dump of it) holds neither, in any spelling.
    for session in Session.objects.all():
        raw = session.session_data
        for secret in (reference, passphrase):
            for spelling in (secret, secret.replace("-", "")):
                assert spelling not in raw and spelling not in str(session.get_decoded())
    chat.choose("continue")
    page = chat.open()
    assert t("ko", "menu.prompt") in page
    assert reference not in page and passphrase not in page
    assert all("sp_creds" not in s.get_decoded() for s in Session.objects.all())


def test_lost_credentials_are_renewed_once_and_the_old_ones_stop_working(
    chat: ChatDriver,
) -> None:
    reference, passphrase = chat.apply()
    chat.client.cookies.pop("spk")  # the browser's key is gone: the page cannot show them
    page = chat.open()
    assert t("ko", "chat.creds.lost") in page and passphrase not in page
    token = _token(page)
    response = chat.client.post(chat.url, {"nav": "renew", "t": token})
    assert response.status_code == 302
    page = chat.open()
    new_reference, new_passphrase = chat.credentials()
    assert {new_reference, new_passphrase}.isdisjoint({reference, passphrase})
    assert services.find_by_credentials(reference, passphrase, None) is None
    assert services.find_by_credentials(new_reference, new_passphrase, None) == chat.case()
    # The same renew form again (a reload of the post, a second press) issues nothing new.
    chat.client.post(chat.url, {"nav": "renew", "t": token})
    assert chat.credentials() == (new_reference, new_passphrase)
    chat.open()
    assert chat.credentials() == (new_reference, new_passphrase)
    assert services.find_by_credentials(new_reference, new_passphrase, None) == chat.case()
    # Once past the confirmation, nobody can ask for new ones from the session.
    chat.choose("continue")
    chat.client.post(chat.url, {"nav": "renew", "t": _token(chat.last)})
    assert services.find_by_credentials(new_reference, new_passphrase, None) == chat.case()


def test_the_thread_shows_both_sides_in_order_from_the_program(
    chat: ChatDriver, django_user_model: type
) -> None:
    _to_menu(chat)
    chat.say("DEMO first question")
    operator = django_user_model.objects.create_user("op_named", password="x" * 16)
    services.do_operator_reply(chat.case(), operator, REPLY)
    chat.say("DEMO thank you")
    page = chat.open()
    first, reply, last = (page.index(s) for s in ("DEMO first question", REPLY, "DEMO thank you"))
    assert first < reply < last
    thread = page[page.index('<ol class="thread">') : page.index("</ol>")]
    assert thread.count(t("ko", "thread.from_you")) == 2
    assert thread.count(t("ko", "thread.from_program")) == 1
    assert thread.count(t("ko", "thread.received")) == 2
    assert thread.count(t("ko", "thread.time.hour")) == 3
    assert "op_named" not in page and t("ko", "thread.empty") not in page
    # The menu, then the box to write in below it, as the menu's words say.
    assert page.index(t("ko", "menu.prompt")) < page.index('name="text"')


def test_own_messages_open_only_with_the_browsers_key(chat: ChatDriver) -> None:
    _to_menu(chat)
    chat.say("DEMO-OWN words only this browser reads")
    message = Message.objects.get(direction=Direction.INBOUND)
    case = chat.case()
    assert b"DEMO-OWN" not in bytes(message.applicant_copy)
    assert b"DEMO-OWN" not in bytes(message.body_sealed)
    # The server (master key, database) cannot open the copy; nor can another browser's key.
    assert sealed.open_applicant_copy(case, message, None) is None
    assert sealed.open_applicant_copy(case, message, crypto.new_browser_key()) is None
    assert sealed.open_message_for_server(case, message) is None
    assert "DEMO-OWN" in chat.open()


def test_own_copies_go_after_72_hours(chat: ChatDriver) -> None:
    _to_menu(chat)
    chat.say("DEMO-OLD words")
    Message.objects.update(created_at=timezone.now() - timedelta(hours=73))
    retention.purge_expired()
    assert Message.objects.get(direction=Direction.INBOUND).applicant_copy is None
    page = chat.open()
    assert "DEMO-OLD" not in page and t("ko", "thread.hidden") in page


def test_summary_confirm_is_the_primary_button(chat: ChatDriver) -> None:
    chat.open()
    for value in ("self", "front", "now"):
        chat.choose(value)
    for _ in range(4):
        chat.nav("skip")
    chat.choose("alone")
    page = chat.post({"choice": "", "multi": []})
    confirm = t("ko", "apply.summary.confirm")
    assert re.search(rf'value="confirm" class="primary"[^>]*>{re.escape(confirm)}<', page)
    assert not re.search(r'value="change" class="primary"', page)


@pytest.mark.parametrize("lang", ["ru", "ko", "uk", "en"])
def test_a_relative_reads_about_him_and_the_man_about_himself(lang: str) -> None:
    """The flow's voices, as both channels render them (engine.prompt), in every language."""
    flow = flows.get()

    def texts(who: str, step: str) -> list[str]:
        prompt = engine.prompt(flow, engine.DialogueState(step), {"who": who})
        return [catalog.text(lang, prompt.step.prompt)] + [
            catalog.text(lang, c.label) for c in prompt.step.choices
        ]

    relative_wishes = texts("relative", "wishes")
    assert catalog.text(lang, "apply.wishes.record_as_captured.relative") in relative_wishes
    assert catalog.text(lang, "apply.wishes.record_as_captured") not in relative_wishes
    assert catalog.text(lang, "apply.wishes.no_exchange.relative") in relative_wishes
    for who in ("self", "not_sent_yet"):
        assert catalog.text(lang, "apply.wishes.record_as_captured") in texts(who, "wishes")
        assert catalog.text(lang, "apply.whereabouts.prompt.self") in texts(who, "whereabouts")
    relative_menu = texts("relative", "menu")
    assert catalog.text(lang, "menu.ready_now.relative") in relative_menu
    assert catalog.text(lang, "menu.ready_now") not in relative_menu
    assert catalog.text(lang, "menu.ready_now.done.relative") in texts("relative", "ready_now")
    assert catalog.text(lang, "apply.whereabouts.prompt.relative") in texts(
        "relative", "whereabouts"
    )


def test_a_relative_in_the_web_chat_gets_third_person_buttons(chat: ChatDriver) -> None:
    chat.lang = "ru"
    chat.open()
    for value in ("relative", "front", "now"):
        chat.choose(value)
    for _ in range(4):
        chat.nav("skip")
    page = chat.choose("alone")
    assert t("ru", "apply.wishes.record_as_captured.relative") in page
    assert t("ru", "apply.wishes.record_as_captured") not in page
    chat.post({"choice": "", "multi": ["record_as_captured"]})
    chat.choose("confirm")
    page = chat.choose("continue")
    assert t("ru", "menu.ready_now.relative") in page and t("ru", "menu.ready_now") not in page


def test_voices_must_name_answers_and_texts_the_flow_has() -> None:
    source = (flows.FLOW_DIR / "application.yaml").read_text(encoding="utf-8")
    wrong_value = source.replace(
        "  relative:\n    apply.whereabouts", "  cousin:\n    apply.whereabouts"
    )
    with pytest.raises(flows.FlowError, match="cousin"):
        flows.parse(wrong_value, "application.yaml")
    wrong_text = source.replace(
        "    menu.changed: menu.changed.relative", "    menu.nothing: menu.changed.relative"
    )
    with pytest.raises(flows.FlowError, match=r"menu\.nothing"):
        flows.parse(wrong_text, "application.yaml")


def test_the_browser_key_is_a_strict_cookie_that_ends_with_the_browser_and_with_leaving(
    chat: ChatDriver,
) -> None:
    chat.apply()
    cookie = chat.client.cookies["spk"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/chat/"
    assert not cookie["expires"] and not cookie["max-age"]
    chat.choose("continue")
    response = chat.client.post(chat.url, {"nav": "leave", "t": _token(chat.last)})
    assert response.cookies["spk"].value == ""  # deleted: nothing left that opens anything
