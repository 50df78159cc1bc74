"""The console is wholly in the staff member's language: nothing unmarked, nothing untranslated,
no internal code on a page.

Three checks, each of which fails on its own:

1. Every string the console can show that is marked for translation (extracted with Django's
   ``makemessages`` from copies of ``console/`` and ``cases/`` in a temporary directory, never
   over the committed catalogs) has a non-empty, non-fuzzy uk and ru translation.
2. Every event kind and audit action the code writes has words in ``console.history``.
3. Every console page, opened by every role over realistic data (every status, channel, call
   direction, caller and outcome, every handover outcome, every kind of history event, repeated
   views), in Ukrainian and in Russian, shows no Latin word but the few that are no text
   (usernames, references, the applicant's own words, time zone names, "Safe Passage",
   "Telegram"): an English source string left unmarked, a label not translated or a raw code
   (``in_contact``, ``case.view``, ``webchat``) all fail it, naming the page and the word.
"""

from __future__ import annotations

import os
import re
import shutil
import zoneinfo
from collections.abc import Iterator
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polib
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import URLPattern, reverse
from django.utils import timezone

from safepassage.analytics import counters
from safepassage.cases import casework, services, workflow
from safepassage.cases.models import (
    CallDirection,
    Caller,
    CallOutcome,
    Case,
    Channel,
    CloseReason,
    HandoverOutcome,
    ReachBy,
    Status,
)
from safepassage.console import history, urls
from safepassage.console.models import Role, StaffProfile
from safepassage.privacy import audit, keyring, member_keys
from tests.conftest import DEMO_APPLICANT, STAFF_PASSWORD, ChatDriver, make_staff, staff_login

SRC = Path(__file__).resolve().parent.parent / "src" / "safepassage"
LOCALE = SRC / "locale" / "console"
# What the console shows comes from these packages (templates, views, model choice labels, the
# action layer's refusals).
CONSOLE_SOURCES = ("console", "cases")


def extracted_msgids(tmp: Path) -> dict[str, str]:
    """msgid → plural msgid ("" for none) of every string marked in the console's sources."""
    for package in CONSOLE_SOURCES:
        shutil.copytree(
            SRC / package,
            tmp / package,
            ignore=shutil.ignore_patterns("migrations", "__pycache__", "static"),
        )
    (tmp / "locale").mkdir()
    here = Path.cwd()
    os.chdir(tmp)
    try:
        # No LOCALE_PATHS: makemessages writes only into the temporary ./locale.
        with override_settings(LOCALE_PATHS=[]):
            call_command("makemessages", locale=["uk"], keep_pot=True, verbosity=0)
    finally:
        os.chdir(here)
    pot = polib.pofile(str(tmp / "locale" / "django.pot"))
    return {entry.msgid: entry.msgid_plural for entry in pot if entry.msgid}


def _translations(lang: str) -> dict[str, str]:
    """msgid → translation (plural forms joined) of the committed catalog, usable ones only."""
    po = polib.pofile(str(LOCALE / lang / "LC_MESSAGES" / "django.po"))
    found = {}
    for entry in po:
        if entry.fuzzy or entry.obsolete:
            continue
        if entry.msgid_plural:
            forms = [entry.msgstr_plural[i] for i in sorted(entry.msgstr_plural)]
            if forms and all(forms):
                found[entry.msgid] = " | ".join(forms)
        elif entry.msgstr:
            found[entry.msgid] = entry.msgstr
    return found


@pytest.fixture(scope="module")
def msgids(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return extracted_msgids(tmp_path_factory.mktemp("messages"))


@pytest.mark.parametrize("lang", ["uk", "ru"])
def test_every_marked_console_string_is_translated(lang: str, msgids: dict[str, str]) -> None:
    assert len(msgids) > 300, "extraction found too little: is xgettext installed?"
    translated = _translations(lang)
    missing = sorted(set(msgids) - set(translated))
    assert missing == [], f"{len(missing)} console strings lack a {lang} translation: {missing[:8]}"


def test_the_extraction_sees_model_labels_history_and_refusals(msgids: dict[str, str]) -> None:
    # What the old catalog check missed: choice labels, history phrases, the action layer's words.
    for msgid in (
        str(Status.IN_CONTACT.label),
        str(CallOutcome.NO_ANSWER.label),
        str(HandoverOutcome.DID_NOT_COME.label),
        "viewed the case",
        "(first reply)",
        "A group has between 1 and 200 people.",
    ):
        assert msgid in msgids


_WRITTEN_KIND = re.compile(r"""_event\(\s*\w+,\s*\w+,\s*"([a-z_]+)"|kind="([a-z_]+)\"""")
_WRITTEN_ACTION = re.compile(r"""audit\.record\(\s*[\w.]+,\s*"([a-z_.]+)\"""")


def test_every_event_kind_and_audit_action_written_has_words() -> None:
    kinds: set[str] = set()
    actions: set[str] = set()
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        kinds |= {a or b for a, b in _WRITTEN_KIND.findall(text)} if "CaseEvent" in text else set()
        actions |= set(_WRITTEN_ACTION.findall(text))
    assert {"status", "merge", "outcome"} <= kinds and {"case.view", "keys.grant"} <= actions
    assert kinds - set(history.EVENT_KINDS) == set(), "add the phrase to console.history"
    assert actions - set(history.AUDIT_ACTIONS) == set(), "add the phrase to console.history"


# --- every page, every role, uk and ru ------------------------------------------------------


class _Visible(HTMLParser):
    """The text a reader sees: text nodes and the attributes that are read (placeholder,
    title, aria-label, a text input's value), without scripts, styles, <code> (secrets) and
    what is marked as written in another language (``lang``: the applicant's side of a vetted
    reply)."""

    SKIP = frozenset({"script", "style", "code"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skipping = 0
        self.foreign: list[str] = []  # the tag of an open element with its own lang, repeated

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if (self.foreign and tag == self.foreign[0]) or (
            tag != "html" and values.get("lang") and not self.foreign
        ):
            self.foreign.append(tag)
        if tag in self.SKIP:
            self.skipping += 1
        for name in ("placeholder", "title", "aria-label"):
            if values.get(name):
                self.parts.append(str(values[name]))
        if tag == "input" and values.get("type") == "text" and values.get("value"):
            self.parts.append(str(values["value"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        if self.foreign and tag == self.foreign[0]:
            self.foreign.pop()

    def handle_data(self, data: str) -> None:
        if not self.skipping and not self.foreign:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return " ".join(parser.parts)


# A word with a Latin letter, whole: "441b615b" (an id) is one token, not "b615b".
_LATIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.'/-]*[A-Za-z][A-Za-z0-9_.'/-]*|[A-Za-z]")
# Latin words that are no text to translate: names, and what the program writes in any language.
NOT_TEXT = {"Safe", "Passage", "Telegram", "English", "UTC", "DEMO", "Tor", "Browser", "Redis"}
ZONE_WORDS = {w for zone in zoneinfo.available_timezones() for w in _LATIN.findall(zone)}


def _allowed(word: str, names: set[str]) -> bool:
    word = word.rstrip(".'-/")
    return (
        not word
        or word in NOT_TEXT
        or word in names
        or word in ZONE_WORDS
        or len(word) == 1  # keyboard keys: n, r, o
        or word.startswith(("DEMO", "SENTINEL", "Sentinel"))
        or bool(re.fullmatch(r"[0-9a-f]{8}|[A-Z0-9]{4}(-[A-Z0-9]{4}){3}|[A-Z0-9]{1,4}", word))
    )


def foreign_words(html: str, names: set[str]) -> list[str]:
    return sorted({w for w in _LATIN.findall(visible_text(html)) if not _allowed(w, names)})


@pytest.fixture
def world(client: Client) -> dict[str, Any]:
    """Staff of every role and cases covering every status, channel, call, outcome and event."""
    supervisor = make_staff("sup_olena", Role.SUPERVISOR)
    operator = make_staff("op_petro", Role.OPERATOR)
    liaison = make_staff("lia_s1", Role.LIAISON, "DEMO-S1")
    make_staff("adm_ivan", Role.ADMIN)
    make_staff("an_oksana", Role.ANALYST)
    assert isinstance(supervisor, User) and isinstance(operator, User)
    assert isinstance(liaison, User)
    member_keys.do_create_member_key(liaison, STAFF_PASSWORD)
    ring = keyring.unlock(supervisor, STAFF_PASSWORD)
    now = timezone.now()

    def web(lang: str, readiness: str = "days") -> Case:
        chat = ChatDriver(Client(), lang)
        chat.apply(readiness=readiness, group=3, wishes=("record_as_captured", "medical"))
        return chat.case()

    # The main case: a web chat, answered (new → in contact, "first reply"), worked to the field.
    main = web("ru", "now")
    services.do_add_message(main, "in", "DEMO Привет", Channel.WEBCHAT)
    services.do_operator_reply(main, operator, "DEMO Ответ")
    main = casework.do_set_head_count(main, operator, 3, None)
    main = casework.do_assign(main, supervisor, operator, None)
    for move in (
        workflow.Move(Status.VERIFIED),
        workflow.Move(Status.WAITING, next_check_in=date.today() + timedelta(days=2)),
        workflow.Move(Status.READY),
    ):
        main = casework.do_transition(main, operator, move, None, supervisor=False)
    for i, outcome in enumerate(CallOutcome.values):
        callback = (
            casework.CallbackRequest(
                now + timedelta(hours=3), now + timedelta(hours=4), ReachBy.PHONE, "+380 DEMO"
            )
            if outcome == CallOutcome.CALLBACK
            else None
        )
        casework.do_log_call(
            main,
            operator,
            casework.CallDetails(
                direction=CallDirection.values[i % 2],
                caller=Caller.values[i % 3],
                started_at=now - timedelta(hours=5 - i),
                duration_seconds=(i * 37 + 5) * 60,
                language="ru",
                outcome=outcome,
                summary="DEMO звонок",
            ),
            callback,
        )
    casework.do_request_callback(
        main,
        operator,
        casework.CallbackRequest(
            now + timedelta(hours=1), now + timedelta(hours=2), ReachBy.PHONE, "+380 DEMO"
        ),
    )
    plan = casework.HandoverPlan("DEMO-S1", now, now + timedelta(hours=2), "DEMO место")
    handovers = [casework.do_handover(main, supervisor, plan, None, ring=ring)]
    # Every outcome of a handover: received on the main case, the others on two more.
    for readiness in ("days", "later"):
        other = web("uk", readiness)
        Case.objects.filter(pk=other.pk).update(status=Status.READY)
        handovers.append(casework.do_handover(other, supervisor, plan, None, ring=ring))
    for handover, outcome in zip(handovers, HandoverOutcome.values, strict=True):
        casework.do_confirm_receipt(handover, liaison)
        casework.do_record_outcome(handover, liaison, outcome)
    # One still waiting for the liaison: its card offers every outcome.
    pending = web("ru")
    Case.objects.filter(pk=pending.pk).update(status=Status.READY)
    handovers.append(casework.do_handover(pending, supervisor, plan, None, ring=ring))
    # A merge undone and a merge kept; a case from a call (hotline); a Telegram case; one closed
    # for each reason; one taken from the queue; the queue shows the rest.
    for keep in (False, True):
        duplicate = web("ko")
        casework.do_merge(duplicate, main, supervisor)
        if not keep:
            casework.do_unmerge(Case.objects.get(pk=duplicate.pk), supervisor)
    called, _credentials = casework.do_create_case_from_call(operator, "uk", "now")
    telegram = services.do_create_case(Channel.TELEGRAM, "ko", None)
    services.do_submit(telegram)
    # The statuses on the way: in contact, verified, waiting.
    for case, moves in (
        (duplicate, [Status.IN_CONTACT]),
        (telegram, [Status.IN_CONTACT, Status.VERIFIED]),
        (called, [Status.IN_CONTACT, Status.WAITING]),
    ):
        for target in moves:
            check_in = date.today() if target == Status.WAITING else None
            case = casework.do_transition(
                Case.objects.get(pk=case.pk),
                operator,
                workflow.Move(target, next_check_in=check_in),
                None,
                supervisor=False,
            )
    for reason in CloseReason.values:
        closing = web("uk")
        closing = casework.do_transition(
            closing, supervisor, workflow.Move(Status.IN_CONTACT), None, supervisor=True
        )
        casework.do_transition(
            closing,
            supervisor,
            workflow.Move(Status.CLOSED, close_reason=reason),
            None,
            supervisor=True,
        )
    casework.do_take_next(operator)
    from safepassage.cases import suspicion

    main = casework.do_mark_needs_reader(main, operator, "ko", None)
    main = suspicion.do_mark(main, operator, "genuine")
    for _ in range(3):  # repeated views: one line in the audit trail
        audit.record(operator, "case.view", main.pk)
    statuses = set(Case.objects.values_list("status", flat=True))
    assert statuses >= set(Status.values) - {Status.DRAFT, Status.NEW}
    kinds = set(main.events.values_list("kind", flat=True))
    # Escalation has its own test (tests/test_background_work.py); its phrase is checked above.
    assert kinds >= set(history.EVENT_KINDS) - {"take", "created_from_call", "escalated"}
    from safepassage.campaigns import services as campaigns
    from safepassage.replies.models import VettedReply

    campaign = campaigns.do_create_campaign("DEMO кампанія", languages=("ko", "ru"))
    (code,) = campaigns.do_add_codes(campaign, labels=["DEMO зона"])
    counters.count("started", "telegram", "ru", code.code)
    return {
        "case_id": main.pk,
        "campaign_id": campaign.pk,
        "code_id": code.pk,
        "kind": "svg",
        "key": "funnel",
        "reply_id": VettedReply.objects.order_by("pk").values_list("pk", flat=True)[0],
        "message_id": main.messages.filter(direction="in").values_list("pk", flat=True).first(),
        "cases": list(Case.objects.values_list("pk", flat=True)),
        "main": main.pk,
        "handovers": [h.pk for h in handovers],
        "callback_id": main.callbacks.order_by("pk").first().pk,  # type: ignore[union-attr]
        "user_id": operator.pk,
    }


ROLES = {
    "sup_olena": Role.SUPERVISOR,
    "op_petro": Role.OPERATOR,
    "lia_s1": Role.LIAISON,
    "adm_ivan": Role.ADMIN,
    "an_oksana": Role.ANALYST,
}


def _urls(world: dict[str, Any], every_case: bool) -> Iterator[str]:
    """Every console URL a GET can open, with every object of the world where it takes one
    (every case only for ``every_case``: the supervisor, who sees them all; others the main)."""
    for pattern in urls.urlpatterns:
        if not isinstance(pattern, URLPattern) or pattern.name in ("logout", "script"):
            continue
        converters = set(pattern.pattern.converters)
        if converters == {"case_id"}:
            for pk in world["cases"] if every_case else [world["main"]]:
                yield reverse(f"console:{pattern.name}", kwargs={"case_id": pk})
        elif converters == {"handover_id"}:
            for pk in world["handovers"]:
                yield reverse(f"console:{pattern.name}", kwargs={"handover_id": pk})
        else:
            yield reverse(f"console:{pattern.name}", kwargs={k: world[k] for k in converters})


def _pages(client: Client, world: dict[str, Any], every_case: bool) -> Iterator[tuple[str, str]]:
    for url in _urls(world, every_case):
        response = client.get(url)
        if response.status_code == 200 and "text/html" in response.get("Content-Type", ""):
            yield url, response.content.decode()


@pytest.mark.django_db
def test_every_console_page_in_ukrainian_and_russian_is_wholly_translated(
    world: dict[str, Any],
) -> None:
    names = set(User.objects.values_list("username", flat=True))
    names |= {w for value in DEMO_APPLICANT.values() for w in _LATIN.findall(value)}
    # Identifiers and data, not interface text: campaign codes, vetted replies' keys and the
    # English titles a supervisor edits on the reply's own page.
    from safepassage.campaigns.models import CampaignCode
    from safepassage.replies.models import VettedReply

    names |= set(CampaignCode.objects.values_list("code", flat=True))
    for reply in VettedReply.objects.all():
        names |= {reply.key, *_LATIN.findall(str(getattr(reply, "title_en", "")))}
    clients = {name: staff_login(name) for name in ROLES}
    seen: dict[str, set[str]] = {}
    problems: dict[str, list[str]] = {}
    for lang in ("uk", "ru"):
        StaffProfile.objects.update(language=lang)
        for name, client in clients.items():
            for url, html in _pages(client, world, every_case=name == "sup_olena"):
                seen.setdefault(name, set()).add(url)
                words = foreign_words(html, names)
                if words:
                    problems[f"{lang} {name} {url}"] = words
        # Before logging in: the login page follows the browser's language.
        html = Client(HTTP_ACCEPT_LANGUAGE=lang).get("/console/login/").content.decode()
        if words := foreign_words(html, names):
            problems[f"{lang} anonymous /console/login/"] = words
        # A refusal of the action layer, in the page's language.
        main = world["main"]
        refused = clients["sup_olena"].post(
            f"/console/cases/{main}/status/", {"target": Status.NEW}
        )
        assert refused.status_code == 400
        if words := foreign_words(refused.content.decode(), names):
            problems[f"{lang} refused move"] = words
    # The walk reached what it claims to check: every case page for case staff, field cards.
    assert f"/console/cases/{world['main']}/audit/" in seen["sup_olena"]
    assert any("/field/" in url for url in seen["lia_s1"])
    assert any("/staff/" in url for url in seen["adm_ivan"])
    assert problems == {}, f"untranslated text or codes on console pages: {problems}"


@pytest.mark.django_db
def test_history_and_audit_trail_read_as_sentences(world: dict[str, Any]) -> None:
    main = world["main"]
    client = staff_login("sup_olena")
    page = client.get(f"/console/cases/{main}/").content.decode()
    assert "status changed New → In contact (first reply)" in visible_text(page)
    assert "in_contact" not in visible_text(page) and "first reply)" in page
    text = visible_text(client.get(f"/console/cases/{main}/audit/").content.decode())
    # Three views by the same person in a row are one line, with the span of their times.
    assert re.search(r"viewed the case 3 times between \d\d:\d\d and \d\d:\d\d", text), text
    assert "case.view" not in text
    StaffProfile.objects.update(language="uk")
    text = visible_text(client.get(f"/console/cases/{main}/audit/").content.decode())
    assert re.search(r"перегляд справи: 3 рази з \d\d:\d\d до \d\d:\d\d", text), text
    page = visible_text(client.get(f"/console/cases/{main}/").content.decode())
    assert "зміна статусу «Нова» → «На зв'язку» (перша відповідь)" in page
