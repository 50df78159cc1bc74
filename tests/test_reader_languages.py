"""Cases a reader can act on: the queue and take-next prefer the languages a member reads (urgency
first, and a case ready now never held back), "needs a reader of …", the applicant's text
marked with its language, and machine translation through a LibreTranslate stand-in."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from safepassage import config
from safepassage.cases import casework, queue, services
from safepassage.cases.models import Case, CaseEvent, Direction, Message
from safepassage.console.models import Role, StaffProfile
from safepassage.privacy.models import AuditEvent
from safepassage.testing.fake_libretranslate import FakeLibreTranslate
from tests.conftest import ChatDriver, make_staff, staff_login

pytestmark = pytest.mark.django_db

WOUNDED = "DEMO: 부상을 입었습니다"


def _case(lang: str, *, waited_minutes: int, urgency: int = 50, ready_now: bool = False) -> Case:
    chat = ChatDriver(Client(), lang)
    chat.apply()
    case = chat.case()
    now = timezone.now()
    Case.objects.filter(pk=case.pk).update(
        urgency=urgency,
        last_applicant_at=now - timedelta(minutes=waited_minutes),
        ready_now_at=now if ready_now else None,
    )
    case.refresh_from_db()
    return case


def _operator(name: str, *reads: str) -> User:
    user = make_staff(name, Role.OPERATOR)
    assert isinstance(user, User)
    StaffProfile.objects.filter(user=user).update(reads=list(reads))
    return user


def _take_order(user: User) -> list[str]:
    """The languages of the cases take-next hands ``user`` one after another."""
    taken = []
    while (
        case := casework.do_take_next(user, StaffProfile.objects.get(user=user).reads)
    ) is not None:
        taken.append(case.language)
    Case.objects.update(assigned_to=None)
    return taken


def test_take_next_prefers_the_languages_read_among_equal_urgency() -> None:
    _case("ru", waited_minutes=30)
    _case("ko", waited_minutes=10)
    _case("uk", waited_minutes=20)
    assert _take_order(_operator("plain")) == ["ru", "uk", "ko"]  # who waited longest
    assert _take_order(_operator("korean_reader", "ko")) == ["ko", "ru", "uk"]
    assert _take_order(_operator("two_readers", "uk", "ko")) == ["uk", "ko", "ru"]


def test_urgency_comes_before_language() -> None:
    _case("ru", waited_minutes=5, urgency=80)
    _case("ko", waited_minutes=50, urgency=50)
    assert _take_order(_operator("reads_ko", "ko")) == ["ru", "ko"]


def test_a_case_ready_now_is_never_held_back_waiting_for_a_reader() -> None:
    # Equal scores: a Korean case whose man pressed "ready now", and a Ukrainian one that did
    # not (readiness "now", at the front, a group, medical: 100 too).
    _case("ko", waited_minutes=1, urgency=100, ready_now=True)
    _case("uk", waited_minutes=60, urgency=100)
    assert _take_order(_operator("reads_uk", "uk")) == ["ko", "uk"]
    reads = ("uk",)
    visible = Case.objects.filter(status__in=["new"])
    assert [c.language for c in queue.ordered(visible, reads)] == ["ko", "uk"]


def test_a_case_marked_as_needing_a_reader_goes_to_those_who_read_it(
    staff: Callable[..., Client],
) -> None:
    russian = _case("ru", waited_minutes=5)  # the man writes Korean in a Russian chat
    _case("ko", waited_minutes=30)
    _case("ru", waited_minutes=40)
    operator = staff(Role.OPERATOR)
    response = operator.post(
        f"/console/cases/{russian.pk}/needs-reader/", {"language": "ko", "version": russian.version}
    )
    assert response.status_code == 302
    russian.refresh_from_db()
    assert russian.needs_reader == "ko"
    assert CaseEvent.objects.filter(case=russian, kind="needs_reader", detail="ko").exists()
    assert AuditEvent.objects.filter(action="case.needs_reader", case_id=russian.pk).exists()
    queue_page = operator.get("/console/queue/").content.decode()
    assert "needs a reader of 조선말" in queue_page
    # In front of a Korean reader, even of a Korean case that waited longer; behind for a
    # Russian reader, who gets the other Russian case first.
    assert _take_order(_operator("ko_reader", "ko")) == ["ru", "ko", "ru"]
    order = [(c.language, c.needs_reader) for c in queue.ordered(Case.objects.all(), ("ru",))]
    assert order == [("ru", ""), ("ko", ""), ("ru", "ko")]
    bad = operator.post(f"/console/cases/{russian.pk}/needs-reader/", {"language": "xx"})
    assert bad.status_code == 400


def test_applicant_text_carries_its_language(staff: Callable[..., Client]) -> None:
    case = _case("ko", waited_minutes=1)
    services.do_add_message(case, Direction.INBOUND, WOUNDED, case.channel)
    page = staff(Role.OPERATOR).get(f"/console/cases/{case.pk}/").content.decode()
    assert f'<span lang="ko">{WOUNDED}</span>' in page
    assert '<dd lang="ko">DEMO-UNIT 1234-Sentinel</dd>' in page  # a free-text answer
    assert "Machine translation" not in page  # no server configured: nothing offered


@pytest.fixture
def translator(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLibreTranslate]:
    with FakeLibreTranslate(api_key="DEMO-KEY") as fake:
        cfg = dataclasses.replace(
            config.get(), libretranslate_url=fake.url, libretranslate_api_key="DEMO-KEY"
        )
        monkeypatch.setattr(config, "get", lambda: cfg)
        yield fake


def test_machine_translation_of_what_the_applicant_wrote(
    translator: FakeLibreTranslate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    case = _case("ko", waited_minutes=1)
    message = services.do_add_message(case, Direction.INBOUND, WOUNDED, case.channel)
    make_staff("oksana_mt", Role.OPERATOR)
    StaffProfile.objects.filter(user__username="oksana_mt").update(language="uk")
    oksana = staff_login("oksana_mt")
    oksana.post(f"/console/cases/{case.pk}/reply/", {"text": "DEMO: 알았습니다"})
    reply = Message.objects.get(case=case, direction=Direction.OUTBOUND)
    page = oksana.get(f"/console/cases/{case.pk}/").content.decode()
    link = f"/console/cases/{case.pk}/messages/{message.pk}/translation/"
    assert link in page
    assert f"/messages/{reply.pk}/translation/" not in page  # never for text sent to him
    shown = oksana.get(link)
    assert shown.status_code == 200
    body = shown.content.decode()
    assert '<span lang="uk">DEMO: Я поранений</span>' in body
    assert 'id="mt-note"' in body  # marked as machine translation
    assert f'<span lang="ko">{WOUNDED}</span>' in body
    # What reached the server: the text, from Korean into the operator's language, with the key.
    (received,) = [r for r in translator.requests if r.path == "/translate"]
    assert received.fields == {
        "q": WOUNDED,
        "source": "ko",
        "target": "uk",
        "format": "text",
        "api_key": "DEMO-KEY",
    }
    assert AuditEvent.objects.filter(action="case.translate", case_id=case.pk).exists()
    # A reply to the applicant is never translated by machine: no such page.
    assert (
        oksana.get(f"/console/cases/{case.pk}/messages/{reply.pk}/translation/").status_code == 404
    )
    # Neither the text nor its translation is logged or stored.
    assert "부상" not in caplog.text and "поранений" not in caplog.text
    assert Message.objects.filter(case=case).count() == 2


def test_a_refusing_or_absent_translation_server_gives_a_calm_page(
    translator: FakeLibreTranslate, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = _case("ko", waited_minutes=1)
    message = services.do_add_message(case, Direction.INBOUND, WOUNDED, case.channel)
    make_staff("op_mt", Role.OPERATOR)
    client = staff_login("op_mt")
    link = f"/console/cases/{case.pk}/messages/{message.pk}/translation/"
    for cfg in (
        dataclasses.replace(config.get(), libretranslate_api_key="DEMO-WRONG"),  # 403
        dataclasses.replace(config.get(), libretranslate_url="http://127.0.0.1:9"),  # nobody
    ):
        monkeypatch.setattr(config, "get", lambda cfg=cfg: cfg)
        response = client.get(link)
        assert response.status_code == 200
        assert 'id="mt-error"' in response.content.decode()
