"""Vetted replies are data: the starter set, review by a supervisor who reads the language,
editing clears a review, an unreviewed text cannot be sent, and a sent reply reads in both
languages in the transcript."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from safepassage.cases.models import Case, Message
from safepassage.console.models import Role, StaffProfile
from safepassage.privacy.models import AuditEvent
from safepassage.replies import services
from safepassage.replies.models import SentReply, VettedReply, VettedText
from tests.conftest import ChatDriver, make_staff, staff_login

pytestmark = pytest.mark.django_db

STARTER = {entry["key"]: entry for entry in services.starter_entries()}
TOPICS = {
    "ack",
    "working",
    "blocked",
    "wounded",
    "group",
    "family",
    "phone",
    "officers",
    "moving",
    "drone",
    "bring",
    "after",
    "no-exchange",
    "pow-rights",
    "cannot-help",
}


def _reads(user: object, *languages: str) -> None:
    StaffProfile.objects.filter(user=user).update(reads=list(languages))


def _reply(key: str) -> VettedReply:
    return VettedReply.objects.get(key=key)


def _text(key: str, lang: str) -> VettedText:
    return VettedText.objects.get(reply__key=key, language=lang)


def _korean_case() -> tuple[ChatDriver, Case]:
    chat = ChatDriver(Client(), "ko")
    chat.apply(readiness="now")
    return chat, chat.case()


def test_the_starter_set_covers_every_topic_in_four_languages_all_unreviewed() -> None:
    replies = list(VettedReply.objects.prefetch_related("texts"))
    assert len(replies) >= 15
    assert {r.key for r in replies} >= TOPICS
    assert {r.audience for r in replies} >= {"soldier", "relative", "any"}
    for reply in replies:
        assert reply.title_en and reply.title_uk and reply.title_ru, reply.key
        texts = {t.language: t for t in reply.texts.all()}
        assert set(texts) == {"ru", "ko", "uk", "en"}, reply.key
        assert not any(t.reviewed for t in texts.values()), reply.key
    # Loading again adds nothing and changes nothing a supervisor changed.
    VettedText.objects.filter(reply__key="ack", language="en").update(text="DEMO edited")
    assert services.load_starter() == 0
    assert _text("ack", "en").text == "DEMO edited"
    VettedText.objects.filter(reply__key="ack", language="en").delete()
    assert services.load_starter() == 1


def test_starter_texts_avoid_the_words_terminology_md_forbids() -> None:
    russian = ("добровольн", "сдаюсь", "сдача", "сдаться", "сдавайся", "оккупант", "орк")
    ukrainian = ("добровільн", "здаюся", "здача", "здатися", "окупант")
    # Southern words, words that read as propaganda, and address criminalised in the North.
    korean = (
        "북한",
        "남한",
        "한국",
        "핸드폰",
        "휴대폰",
        "메시지",
        "서비스",
        "탈북",
        "귀순",
        "동무",
        "동지",
        "님",
    )
    for entry in STARTER.values():
        text = entry["text"]
        assert not [w for w in russian if w in text["ru"].lower()], entry["key"]
        assert not [w for w in ukrainian if w in text["uk"].lower()], entry["key"]
        assert not [w for w in korean if w in text["ko"]], entry["key"]
        assert "련락" in text["ko"] or "연락" not in text["ko"], entry["key"]  # Northern spelling


def test_an_unreviewed_text_is_never_sent(staff: object) -> None:
    chat, case = _korean_case()
    operator = staff(Role.OPERATOR)  # type: ignore[operator]
    page = operator.get(f"/console/cases/{case.pk}/").content.decode()
    drone = _reply("drone")
    assert escape(STARTER["drone"]["text"]["ko"]) in page  # shown, to read
    assert f'data-vetted="{drone.pk}"' not in page  # but no button to send it
    assert "Not reviewed in this language" in page
    # The rule is the action's, not the button's: posting it anyway is refused.
    response = operator.post(f"/console/cases/{case.pk}/reply/", {"vetted": str(drone.pk)})
    assert response.status_code == 400
    assert "has not been reviewed" in response.content.decode()
    assert not Message.objects.filter(case=case).exists()
    user = User.objects.get(username="operator0")
    with pytest.raises(services.Refused):
        services.do_send(case, user, drone.pk)
    assert STARTER["drone"]["text"]["ko"] not in chat.open()


def test_review_needs_a_supervisor_who_reads_the_language(staff: object) -> None:
    supervisor = staff(Role.SUPERVISOR)  # type: ignore[operator]
    boss = User.objects.get(username="supervisor0")
    ko = _text("drone", "ko")
    url = reverse("console:reply_review", args=[ko.reply_id])
    refused = supervisor.post(url, {"text": ko.pk, "version": ko.version})
    assert refused.status_code == 400
    assert "who reads 조선말" in refused.content.decode()
    assert not _text("drone", "ko").reviewed
    # An admin records that this supervisor reads Korean (audited) ...
    make_staff("admin_r", Role.ADMIN)
    admin = staff_login("admin_r")
    set_reads = admin.post(reverse("console:staff_reads", args=[boss.pk]), {"reads": ["ko"]})
    assert set_reads.status_code == 302
    assert StaffProfile.objects.get(user=boss).reads == ["ko"]
    assert AuditEvent.objects.filter(action="staff.reads", detail__endswith="reads ko").exists()
    assert (
        admin.post(reverse("console:staff_reads", args=[boss.pk]), {"reads": ["xx"]}).status_code
        == 400
    )
    # ... and now the Korean text can be reviewed by them, and only the Korean one.
    page = supervisor.get(reverse("console:reply_edit", args=[ko.reply_id])).content.decode()
    assert 'data-review="ko"' in page and 'data-review="ru"' not in page
    assert supervisor.post(url, {"text": ko.pk, "version": ko.version}).status_code == 302
    reviewed = _text("drone", "ko")
    assert reviewed.reviewed and reviewed.reviewed_by == boss
    assert AuditEvent.objects.filter(action="reply.review", actor=boss).exists()
    ru = _text("drone", "ru")
    assert supervisor.post(url, {"text": ru.pk, "version": ru.version}).status_code == 400
    assert not _text("drone", "ru").reviewed
    # An operator is not a reviewer, whatever they read (the action's rule).
    operator = make_staff("op_r", Role.OPERATOR)
    assert isinstance(operator, User)
    with pytest.raises(services.Refused):
        services.do_review(ru.pk, operator, ru.version, reads=("ru",), supervisor=False)


def test_editing_a_text_clears_its_review_and_a_stale_review_is_refused(staff: object) -> None:
    supervisor = staff(Role.SUPERVISOR)  # type: ignore[operator]
    boss = User.objects.get(username="supervisor0")
    _reads(boss, "ko", "en")
    reply = _reply("bring")
    edit = reverse("console:reply_edit", args=[reply.pk])
    review = reverse("console:reply_review", args=[reply.pk])
    for lang in ("ko", "en"):
        text = _text("bring", lang)
        assert (
            supervisor.post(review, {"text": text.pk, "version": text.version}).status_code == 302
        )
    form = {
        "audience": "soldier",
        "title_en": "What to bring",
        "title_uk": "Що взяти з собою",
        "title_ru": "Что взять с собой",
        "position": "110",
        "active": "on",
        **{f"text_{lang}": STARTER["bring"]["text"][lang] for lang in ("ru", "uk", "en")},
        "text_ko": STARTER["bring"]["text"]["ko"] + " DEMO",
    }
    old_ko = _text("bring", "ko")
    assert supervisor.post(edit, form).status_code == 302
    assert not _text("bring", "ko").reviewed  # changed: its review is gone
    assert _text("bring", "en").reviewed  # unchanged: kept
    assert AuditEvent.objects.filter(action="reply.edit", detail__endswith="texts ko").exists()
    # A review of the version read before the edit is refused, not applied to the new text.
    stale = supervisor.post(review, {"text": old_ko.pk, "version": old_ko.version})
    assert stale.status_code == 400 and "changed after you opened it" in stale.content.decode()
    assert not _text("bring", "ko").reviewed
    # A mistake answers 400 with everything typed kept.
    bad = supervisor.post(edit, {**form, "position": "many", "text_en": "DEMO kept text"})
    assert bad.status_code == 400
    body = bad.content.decode()
    assert "DEMO kept text" in body and 'value="many"' in body


def test_a_sent_vetted_reply_reads_in_both_languages(staff: object) -> None:
    chat, case = _korean_case()
    boss = make_staff("boss_ko", Role.SUPERVISOR)
    assert isinstance(boss, User)
    ko = _text("drone", "ko")
    services.do_review(ko.pk, boss, ko.version, reads=("ko",), supervisor=True)
    operator = staff(Role.OPERATOR)  # type: ignore[operator]
    reply = _reply("drone")
    page = operator.get(f"/console/cases/{case.pk}/").content.decode()
    assert f'data-vetted="{reply.pk}"' in page
    assert page.count("data-vetted=") == 1  # the only reviewed Korean text
    response = operator.post(f"/console/cases/{case.pk}/reply/", {"vetted": str(reply.pk)})
    assert response.status_code == 302
    drone = STARTER["drone"]["text"]
    chat.choose("continue")  # "I have written them down": the thread follows
    assert escape(drone["ko"]) in chat.open()  # the applicant reads the Korean text
    page = operator.get(f"/console/cases/{case.pk}/").content.decode()
    conversation = page[page.index('id="conversation"') : page.index("<h3>")]
    assert escape(drone["ko"]) in conversation and escape(drone["en"]) in conversation
    assert "Signalling a drone" in conversation
    # Which reply it was is sealed for staff, like the message itself.
    sent = SentReply.objects.get(message__case=case)
    assert b"drone" not in bytes(sent.sealed) and drone["en"].encode() not in bytes(sent.sealed)
    # Edited later, the transcript still says what was sent then.
    VettedText.objects.filter(reply=reply, language="en").update(text="DEMO changed since")
    page = operator.get(f"/console/cases/{case.pk}/").content.decode()
    assert escape(drone["en"]) in page[page.index('id="conversation"') : page.index("<h3>")]
