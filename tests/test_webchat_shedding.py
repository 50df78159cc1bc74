"""Issue 12, flood defence in the web chat: under overload an anonymous first answer is
deferred (no case, no session; the answer kept in the page's form), never dropped, and a
conversation in progress is answered as always.

Overload here is what a web process counts in production: web chat requests in flight
(channels/webchat/admission.py). The tests hold some open with the same counter the
middleware uses, as concurrent requests would, and set the limit low. Under pressure (a few
requests in flight) new cases are also rationed by a bucket of so many a second.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.contrib.sessions.models import Session
from django.test import Client, override_settings

from safepassage import config
from safepassage.cases import services as cases
from safepassage.cases.models import Case
from safepassage.channels.webchat import admission
from safepassage.conversations.engine import Reply
from safepassage.conversations.models import Conversation
from tests.conftest import ChatDriver, demo_campaign_code, t
from tests.server import running_platform

pytestmark = pytest.mark.django_db

LIMIT = 2


@contextmanager
def overloaded(others: int = LIMIT) -> Iterator[None]:
    """``others`` web chat requests in flight beside the one the test sends (the limit: 2)."""
    with override_settings(SAFEPASSAGE_WEBCHAT_MAX_IN_FLIGHT=LIMIT), ExitStack() as stack:
        for _ in range(others):
            stack.enter_context(admission.counted())
        yield


def _rows() -> tuple[int, int, int]:
    return Session.objects.count(), Case.objects.count(), Conversation.objects.count()


def _field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, name
    return found.group(1)


def _first_answer_under_overload(lang: str, choice: str, query: str = "") -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)  # the forms must carry their CSRF token
    page = client.get(f"/chat/{lang}/{query}").content.decode()
    data = {"csrfmiddlewaretoken": _field(page, "csrfmiddlewaretoken"), "choice": choice}
    if 'name="c"' in page:
        data["c"] = _field(page, "c")
    with overloaded():
        response = client.post(f"/chat/{lang}/", data)
    assert response.status_code == 503, response.status_code
    assert response["Retry-After"] == str(admission.RETRY_AFTER_SECONDS)
    return client, response.content.decode()


def test_under_overload_a_first_answer_creates_no_case_and_keeps_the_choice() -> None:
    demo_campaign_code("busycode")
    client, page = _first_answer_under_overload("ru", "self", "?c=busycode")
    assert _rows() == (0, 0, 0)  # no case, no conversation, no session row
    assert "sp" not in client.cookies
    assert t("ru", "chat.busy") in page and t("ru", "chat.busy.hint") in page
    assert t("ru", "apply.who.self") in page  # what he chose, shown back to him
    assert f'name="{admission.KEPT_FIELD}"' in page and "csrfmiddlewaretoken" in page
    assert "<script" not in page  # a plain form: works with JavaScript off (Tor Browser)


@pytest.mark.parametrize("lang", ["en", "ru", "uk", "ko"])
def test_the_deferral_page_speaks_the_visitors_language(lang: str) -> None:
    _, page = _first_answer_under_overload(lang, "relative")
    assert t(lang, "chat.busy") in page and t(lang, "chat.continue") in page
    assert f'<html lang="{lang}">' in page


def test_continue_after_the_load_drops_creates_the_conversation_with_that_answer() -> None:
    demo_campaign_code("busycode")
    client, page = _first_answer_under_overload("ru", "relative", "?c=busycode")
    again = {
        "csrfmiddlewaretoken": _field(page, "csrfmiddlewaretoken"),
        admission.KEPT_FIELD: _field(page, admission.KEPT_FIELD),
    }
    with overloaded():  # still busy: deferred again, the answer still kept
        still = client.post("/chat/ru/", again)
    assert still.status_code == 503 and _rows() == (0, 0, 0)
    assert _field(still.content.decode(), admission.KEPT_FIELD) == again[admission.KEPT_FIELD]

    response = client.post("/chat/ru/", again, follow=True)  # the load has dropped
    assert response.status_code == 200
    case = Case.objects.get()
    assert cases.answers(case) == {"who": "relative"}
    code = case.contact.campaign_code
    assert code is not None and code.code == "busycode"  # the leaflet is still credited
    assert t("ru", "apply.whereabouts.prompt.relative") in response.content.decode()


def test_a_kept_answer_changed_in_the_form_is_not_taken() -> None:
    client, page = _first_answer_under_overload("en", "self")
    kept = _field(page, admission.KEPT_FIELD)
    forged = admission.keep(Reply(action="answer", choice="relative"), None)
    tampered = forged.rsplit(".", 1)[0] + "." + kept.rsplit(".", 1)[1]
    token = _field(page, "csrfmiddlewaretoken")
    response = client.post("/chat/en/", {"csrfmiddlewaretoken": token, "k": tampered})
    assert response.status_code == 400  # the first question again, nothing stored
    assert _rows() == (0, 0, 0)


def test_a_conversation_in_progress_is_answered_normally_under_overload(
    chat: ChatDriver,
) -> None:
    chat.open()
    chat.choose("self")  # before the flood: his conversation exists
    with overloaded(others=20):
        page = chat.choose("front")
        assert t(chat.lang, "apply.readiness.prompt") in page
        page = chat.choose("now")
    assert cases.answers(chat.case())["whereabouts"] == "front"
    assert t(chat.lang, "chat.busy") not in "".join(chat.history)
    assert Case.objects.count() == 1


def test_below_the_limit_a_first_answer_is_taken_at_once(chat: ChatDriver) -> None:
    chat.open()
    with overloaded(others=LIMIT - 1):  # this request makes it LIMIT: not over
        chat.choose("self")
    assert Case.objects.count() == 1


class Clock:
    """admission's clock, moved on by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(admission, "_clock", fake)
    return fake


def _first_answer(choice: str = "self") -> int:
    """A new visitor's first answer: 302 taken (a case), 503 deferred."""
    client = Client(enforce_csrf_checks=True)
    page = client.get("/chat/ru/").content.decode()
    token = _field(page, "csrfmiddlewaretoken")
    return client.post("/chat/ru/", {"csrfmiddlewaretoken": token, "choice": choice}).status_code


@contextmanager
def pressure(others: int = admission.PRESSURE_IN_FLIGHT) -> Iterator[None]:
    """Under pressure (``others`` requests in flight beside the one sent), never over the
    in-flight limit, new cases rationed to one a second: a bucket of two."""
    with (
        override_settings(
            SAFEPASSAGE_WEBCHAT_MAX_IN_FLIGHT=100, SAFEPASSAGE_WEBCHAT_NEW_CASES_PER_SECOND=1
        ),
        ExitStack() as stack,
    ):
        for _ in range(others):
            stack.enter_context(admission.counted())
        yield


def test_under_pressure_new_cases_beyond_the_ration_wait_and_the_bucket_refills(
    chat: ChatDriver, clock: Clock
) -> None:
    chat.open()
    chat.choose("self")  # before the burst: his conversation exists
    with pressure():
        burst = [_first_answer() for _ in range(5)]
        page = chat.choose("front")  # in progress: answered, whatever the bucket holds
        assert t(chat.lang, "apply.readiness.prompt") in page
        assert burst == [302, 302, 503, 503, 503]  # the bucket held two seconds' worth
        clock.now += 1.0  # a second later: one more
        assert [_first_answer(), _first_answer()] == [302, 503]
        clock.now += 10.0  # the bucket holds two at most, however long it waited
        assert [_first_answer() for _ in range(3)] == [302, 302, 503]
    assert Case.objects.count() == 1 + 2 + 1 + 2
    assert t(chat.lang, "chat.busy") not in "".join(chat.history)


def test_without_pressure_every_first_answer_is_taken_whatever_the_bucket_holds(
    clock: Clock,
) -> None:
    with pressure(others=admission.PRESSURE_IN_FLIGHT - 1):  # this one makes it the threshold
        assert [_first_answer() for _ in range(5)] == [302] * 5
    assert Case.objects.count() == 5


def test_pressure_is_remembered_for_a_moment_after_it_eased(clock: Clock) -> None:
    with pressure():
        assert [_first_answer(), _first_answer()] == [302, 302]
    with pressure(others=0):  # calm now, but it was pressed a moment ago: still rationed
        assert _first_answer() == 503
        clock.now += admission.PRESSURE_HOLD_SECONDS  # calm for long enough: taken, all
        assert [_first_answer() for _ in range(4)] == [302] * 4


def test_the_ration_is_configured_by_environment_and_zero_turns_it_off(
    tmp_path: Path, clock: Clock
) -> None:
    base = {"SAFEPASSAGE_DATA_DIR": str(tmp_path)}
    assert config.load(base).webchat_new_cases_per_second == 4
    variable = "SAFEPASSAGE_WEBCHAT_NEW_CASES_PER_SECOND"
    assert config.load({**base, variable: "0.5"}).webchat_new_cases_per_second == 0.5
    for wrong in ("-1", "many", "nan", "inf"):
        with pytest.raises(SystemExit):
            config.load({**base, variable: wrong})
    with pressure(), override_settings(SAFEPASSAGE_WEBCHAT_NEW_CASES_PER_SECOND=0):
        assert [_first_answer() for _ in range(4)] == [302] * 4
    with (  # the in-flight limit at 0 turns shedding off, the ration with it
        pressure(),
        override_settings(SAFEPASSAGE_WEBCHAT_MAX_IN_FLIGHT=0),
    ):
        assert [_first_answer() for _ in range(4)] == [302] * 4


def test_the_limit_is_configured_by_environment_and_zero_turns_shedding_off(
    chat: ChatDriver, tmp_path: object
) -> None:
    base = {"SAFEPASSAGE_DATA_DIR": str(tmp_path)}
    assert config.load(base).webchat_max_in_flight == 8
    assert (
        config.load({**base, "SAFEPASSAGE_WEBCHAT_MAX_IN_FLIGHT": "3"}).webchat_max_in_flight == 3
    )
    for wrong in ("-1", "many"):
        with pytest.raises(SystemExit):
            config.load({**base, "SAFEPASSAGE_WEBCHAT_MAX_IN_FLIGHT": wrong})
    chat.open()
    with (
        override_settings(SAFEPASSAGE_WEBCHAT_MAX_IN_FLIGHT=0),
        ExitStack() as stack,
    ):
        for _ in range(50):
            stack.enter_context(admission.counted())
        chat.choose("self")
    assert Case.objects.count() == 1


class Browser:
    """A browser with JavaScript off against the real server: cookies, forms, no redirects."""

    def __init__(self, url: str) -> None:
        self.host, _, port = url.removeprefix("http://").partition(":")
        self.port = int(port)
        self.cookies: dict[str, str] = {}
        self.page = ""

    def request(
        self, method: str, data: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str]]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if data is not None:
            body = urlencode(data)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, "/chat/ru/", body=body, headers=headers)
        response = conn.getresponse()
        content = response.read().decode()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, value = header.split(";")[0].partition("=")
            self.cookies[name] = value
        if response.status != 302:
            self.page = content
        conn.close()
        return response.status, {k.lower(): v for k, v in response.headers.items()}

    def post(self, data: dict[str, str]) -> tuple[int, dict[str, str]]:
        form = {"csrfmiddlewaretoken": _field(self.page, "csrfmiddlewaretoken"), **data}
        if 'name="t"' in self.page:
            form["t"] = _field(self.page, "t")
        status, headers = self.request("POST", form)
        if status == 302:
            assert self.request("GET")[0] == 200
        return status, headers


@dataclass
class Burst:
    """What 30 newcomers answering at once did, beside a visitor in progress who took two
    steps meanwhile."""

    steps: list[int]  # the visitor in progress: his two steps' statuses
    answers: list[tuple[int, dict[str, str]]]  # each newcomer's status and headers
    deferred: list[Browser]  # the newcomers shown the deferral page (their answer kept)
    seconds: float  # from the burst's start until every answer came back


def _burst(url: str) -> Burst:
    genuine = Browser(url)
    genuine.request("GET")
    assert genuine.post({"choice": "self"})[0] == 302  # in progress before the burst
    crowd = [Browser(url) for _ in range(30)]
    for visitor in crowd:
        visitor.request("GET")
    start = threading.Barrier(len(crowd) + 1)
    answers: list[tuple[int, dict[str, str]]] = []

    def answer(visitor: Browser) -> None:
        start.wait()
        answers.append(visitor.post({"choice": "relative"}))

    threads = [threading.Thread(target=answer, args=(v,)) for v in crowd]
    for thread in threads:
        thread.start()
    began = time.monotonic()
    start.wait()
    steps = [genuine.post({"choice": choice})[0] for choice in ("front", "days")]
    for thread in threads:
        thread.join(timeout=120)
    deferred = [v for v in crowd if f'name="{admission.KEPT_FIELD}"' in v.page]
    return Burst(steps, answers, deferred, time.monotonic() - began)


def _continue_each(deferred: list[Browser]) -> None:
    """Each deferred newcomer presses "continue": his kept answer is taken."""
    for visitor in deferred:
        kept = _field(visitor.page, admission.KEPT_FIELD)
        assert visitor.post({admission.KEPT_FIELD: kept})[0] == 302
        assert t("ru", "apply.whereabouts.prompt.relative") in visitor.page


@pytest.mark.slow  # starts `safepassage serve` (conftest.SLOW_MODULES)
def test_a_real_server_defers_a_burst_of_first_answers_and_takes_them_on_continue(
    tmp_path: Path,
) -> None:
    env = {
        "SAFEPASSAGE_WEBCHAT_MAX_IN_FLIGHT": "1",
        "SAFEPASSAGE_WEBCHAT_NEW_CASES_PER_SECOND": "0",  # the limit alone here
        "SAFEPASSAGE_WEB_PROCESSES": "1",
    }
    with running_platform(tmp_path, extra_env=env) as platform:
        burst = _burst(platform.url)
        assert burst.steps == [302, 302]  # his conversation was never deferred
        statuses = sorted(status for status, _ in burst.answers)
        assert len(statuses) == 30 and set(statuses) <= {302, 503} and 503 in statuses, statuses
        assert len(burst.deferred) == statuses.count(503)
        headers = next(h for s, h in burst.answers if s == 503)
        assert headers["retry-after"] == str(admission.RETRY_AFTER_SECONDS)
        assert "default-src 'none'" in headers["content-security-policy"]
        page = burst.deferred[0]
        assert t("ru", "chat.busy") in page.page and "sp" not in page.cookies
        _continue_each(burst.deferred)  # the burst is over: "continue" takes each kept answer


@pytest.mark.slow  # starts `safepassage serve` (conftest.SLOW_MODULES)
def test_a_real_server_rations_new_cases_under_pressure_below_its_limit(tmp_path: Path) -> None:
    env = {
        "SAFEPASSAGE_WEBCHAT_MAX_IN_FLIGHT": "1000",  # never over: the ration alone defers
        "SAFEPASSAGE_WEBCHAT_NEW_CASES_PER_SECOND": "1",  # a bucket of two
        "SAFEPASSAGE_WEB_PROCESSES": "1",
    }
    with running_platform(tmp_path, extra_env=env) as platform:
        burst = _burst(platform.url)
        assert burst.steps == [302, 302]  # his conversation was never deferred
        answers = [status for status, _ in burst.answers]
        assert len(answers) == 30 and set(answers) <= {302, 503}, answers
        # The two the bucket held (each spent once, by the lane, not again by the view), and
        # what refilled it while the burst lasted.
        taken = answers.count(302)
        assert 2 <= taken <= 2 + burst.seconds + 1, (taken, burst.seconds)
        assert len(burst.deferred) == answers.count(503) > 0
        # Calm again (no request for a moment): "continue" takes every kept answer.
        time.sleep(admission.PRESSURE_HOLD_SECONDS)
        _continue_each(burst.deferred)
