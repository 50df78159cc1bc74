"""Staff administration and the landing pages of the roles that work no case (issue 11):
the enrolment menu, the new-account form, the one-time password behind a redirect, confirmed
destructive actions, deactivation, and the analyst's and admin's landing pages."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django_otp.oath import TOTP

from safepassage import retention
from safepassage.analytics import service
from safepassage.cases.models import Status
from safepassage.console import one_time
from safepassage.console.models import Role, SealedTOTPDevice
from safepassage.privacy import keyring
from safepassage.privacy.models import AuditEvent
from safepassage.testing.fake_telegram import FakeTelegram
from tests.conftest import STAFF_PASSWORD, ChatDriver, make_staff, staff_login
from tests.telegram_support import Applicant, post_update

pytestmark = pytest.mark.django_db

NAV_LINKS = ('href="/console/staff/"', 'href="/console/queue/"', 'href="/console/service/"')


def _admin() -> Client:
    make_staff("adm", Role.ADMIN)
    return staff_login("adm")


def _shown_password(page: str) -> str:
    found = re.search(r'id="new-password">([^<]+)<', page)
    assert found, "no one-time password on the page"
    return found.group(1)


def _create(admin: Client, username: str, role: str = "operator") -> tuple[User, str]:
    created = admin.post("/console/staff/new/", {"username": username, "role": role})
    assert created.status_code == 302, created.content[:400]
    user = User.objects.get(username=username)
    assert created["Location"] == f"/console/staff/{user.pk}/"
    return user, _shown_password(admin.get(created["Location"]).content.decode())


def test_enrolment_shows_a_qr_code_and_no_menu_until_the_factor_is_set() -> None:
    user = make_staff("newop", Role.OPERATOR, totp=False)
    client = Client()
    client.post("/console/login/", {"username": "newop", "password": STAFF_PASSWORD})
    page = client.get("/console/login/enrol/").content.decode()
    # An inline SVG drawn on the server: no <img>, nothing fetched from anyone.
    assert re.search(r'<svg [^>]*id="totp-qr"', page) and "<path" in page
    assert "<img" not in page
    assert not any(link in page for link in NAV_LINKS)
    device = SealedTOTPDevice.objects.get(user=user, confirmed=False)
    code = f"{TOTP(device.bin_key).token():06d}"
    assert client.post("/console/login/enrol/", {"code": code}).status_code == 302
    assert 'href="/console/queue/"' in client.get("/console/queue/").content.decode()


def test_the_new_account_form_states_its_rule_and_keeps_a_refused_input() -> None:
    admin = _admin()
    page = admin.get("/console/staff/").content.decode()
    rule = "Letters, digits and underscores only"
    assert page.index(rule) < page.index(">Create</button>")  # said before anyone submits
    refused = admin.post(
        "/console/staff/new/", {"username": "Ivan Petrenko!", "role": "liaison", "sector": ""}
    )
    body = refused.content.decode()
    assert refused.status_code == 400
    assert 'value="Ivan Petrenko!"' in body  # what was typed stays
    assert re.search(r'<option value="liaison" selected', body)
    assert "needs the sector" in body and body.count(rule) >= 2
    assert not User.objects.filter(username__icontains="petrenko").exists()
    _create(admin, "taken_name")
    again = admin.post("/console/staff/new/", {"username": "TAKEN_name", "role": "operator"})
    assert again.status_code == 400 and "That username is taken" in again.content.decode()


def test_the_one_time_password_survives_a_reload_and_is_stored_nowhere_in_clear() -> None:
    admin = _admin()
    user, password = _create(admin, "op_new")
    # A reload shows it again (the POST redirected: nothing is re-submitted).
    reload = admin.get(f"/console/staff/{user.pk}/").content.decode()
    assert _shown_password(reload) == password
    assert User.objects.filter(username="op_new").count() == 1
    # Neither the session rows (raw or decoded) nor any other table holds it.
    for stored in Session.objects.all():
        assert password not in stored.session_data
        assert password not in str(stored.get_decoded())
    dump = StringIO()
    call_command("dumpdata", stdout=dump)
    assert password not in dump.getvalue()
    # Without the key in the admin's cookie (another browser, or 15 minutes later) the page
    # says so and offers a new one, which voids the first.
    del admin.cookies[one_time.COOKIE]
    gone = admin.get(f"/console/staff/{user.pk}/").content.decode()
    assert 'id="password-gone"' in gone and 'id="new-password"' not in gone
    assert "Issue a new one-time password" in gone
    issued = admin.post(f"/console/staff/{user.pk}/reset-password/", {"confirm": "on"})
    assert issued.status_code == 302
    second = _shown_password(admin.get(issued["Location"]).content.decode())
    assert second != password
    assert Client().login(username="op_new", password=password) is False
    assert Client().login(username="op_new", password=second) is True
    # A second account made meanwhile keeps its own; the first stays as it was.
    _other, other_password = _create(admin, "op_other")
    assert _shown_password(admin.get(f"/console/staff/{user.pk}/").content.decode()) == second
    assert other_password not in (password, second)
    # Hidden once handed over.
    hidden = admin.post(f"/console/staff/{user.pk}/hide-password/")
    assert 'id="new-password"' not in admin.get(hidden["Location"]).content.decode()


def test_resetting_access_or_a_password_asks_for_confirmation_first() -> None:
    user = make_staff("op", Role.OPERATOR)
    admin = _admin()
    for action in ("reset", "reset-password"):
        refused = admin.post(f"/console/staff/{user.pk}/{action}/", {})
        assert refused.status_code == 400
        assert "Tick the box to confirm" in refused.content.decode()
    assert SealedTOTPDevice.objects.filter(user=user, confirmed=True).exists()
    assert keyring.unlock(user, STAFF_PASSWORD)  # type: ignore[arg-type]
    done = admin.post(f"/console/staff/{user.pk}/reset/", {"confirm": "on"})
    assert done.status_code == 302
    assert not SealedTOTPDevice.objects.filter(user=user).exists()


def test_a_deactivated_member_is_logged_out_everywhere_and_cannot_log_in() -> None:
    user = make_staff("op", Role.OPERATOR)
    make_staff("op2", Role.OPERATOR)  # with the fixture's holder, two holders remain without op
    assert isinstance(user, User)
    session = staff_login("op")
    admin = _admin()
    refused = admin.post(f"/console/staff/{user.pk}/deactivate/", {})
    assert refused.status_code == 400 and session.get("/console/queue/").status_code == 200
    done = admin.post(f"/console/staff/{user.pk}/deactivate/", {"confirm": "on"})
    assert done.status_code == 302
    assert "Deactivated" in admin.get(done["Location"]).content.decode()
    assert session.get("/console/queue/")["Location"].startswith("/console/login/")
    login = Client().post("/console/login/", {"username": "op", "password": STAFF_PASSWORD})
    assert login.status_code == 200 and "Wrong username or password" in login.content.decode()
    # Keys and factors are kept: reactivated, the member logs in as before.
    assert keyring.unlock(user, STAFF_PASSWORD)
    assert admin.post(f"/console/staff/{user.pk}/reactivate/").status_code == 302
    again = Client()
    again.post("/console/login/", {"username": "op", "password": STAFF_PASSWORD})
    device = SealedTOTPDevice.objects.get(user=user, confirmed=True)
    totp = TOTP(device.bin_key)
    totp.time += 30  # the current code was used by the first login: the next one
    assert again.post("/console/login/verify/", {"code": f"{totp.token():06d}"}).status_code == 302
    assert again.get("/console/queue/").status_code == 200
    actions = list(
        AuditEvent.objects.filter(action__startswith="staff.").values_list("action", flat=True)
    )
    assert "staff.deactivate" in actions and "staff.reactivate" in actions


def test_deactivating_never_strands_the_program_key_nor_the_last_admin() -> None:
    sup1 = make_staff("sup1", Role.SUPERVISOR)
    make_staff("sup2", Role.SUPERVISOR)
    sup3 = make_staff("sup3", Role.SUPERVISOR)
    keyring.do_revoke(None, User.objects.get(username="keyholder"))  # three holders
    admin = _admin()
    me = User.objects.get(username="adm")
    itself = admin.post(f"/console/staff/{me.pk}/deactivate/", {"confirm": "on"})
    assert itself.status_code == 400 and User.objects.get(pk=me.pk).is_active
    # One of three holders may go; then neither of the two left, who alone can log in.
    done = admin.post(f"/console/staff/{sup3.pk}/deactivate/", {"confirm": "on"})  # type: ignore[attr-defined]
    assert done.status_code == 302
    refused = admin.post(f"/console/staff/{sup1.pk}/deactivate/", {"confirm": "on"})  # type: ignore[attr-defined]
    assert refused.status_code == 400 and "last two active holders" in refused.content.decode()
    assert User.objects.get(pk=sup1.pk).is_active  # type: ignore[attr-defined]
    # Nor a password reset of theirs, now that the deactivated holder does not count.
    reset = admin.post(f"/console/staff/{sup1.pk}/reset-password/", {"confirm": "on"})  # type: ignore[attr-defined]
    assert reset.status_code == 400 and keyring.unlock(sup1, STAFF_PASSWORD)  # type: ignore[arg-type]


def test_closing_a_case_and_handing_over_ask_for_confirmation_and_keep_the_input(
    client: Client,
) -> None:
    ChatDriver(client, "ru").apply()
    from safepassage.cases.models import Case

    case = Case.objects.get()
    make_staff("boss", Role.SUPERVISOR)
    supervisor = staff_login("boss")
    url = f"/console/cases/{case.pk}/"
    refused = supervisor.post(
        url + "status/",
        {"target": "closed", "close_reason": "fake", "version": str(case.version)},
    )
    assert refused.status_code == 400 and "Tick the box to confirm" in refused.content.decode()
    assert re.search(r'<option value="fake" selected', refused.content.decode())
    case.refresh_from_db()
    assert case.status != Status.CLOSED
    Case.objects.filter(pk=case.pk).update(status=Status.READY)
    case.refresh_from_db()
    meeting = "DEMO-MEET the well behind the school"
    handover = supervisor.post(
        url + "handover/",
        {
            "version": str(case.version),
            "sector": "S1",
            "window_start": "2030-01-01T10:00",
            "window_end": "2030-01-01T12:00",
            "meeting": meeting,
        },
    )
    assert handover.status_code == 400 and meeting in handover.content.decode()
    assert not case.handovers.exists()
    closed = supervisor.post(
        url + "status/",
        {
            "target": "closed",
            "close_reason": "fake",
            "confirm_close": "on",
            "version": str(case.version),
        },
    )
    assert closed.status_code == 302


def test_a_liaisons_outcome_asks_for_confirmation() -> None:
    from tests.test_workflow_rules import _client, _handed_over_case

    liaison = _client(Role.LIAISON)
    _case, handover = _handed_over_case(Status.HANDED_OVER)
    refused = liaison.post(f"/console/field/{handover.pk}/outcome/", {"outcome": "received"})
    assert refused.status_code == 400 and "Tick the box to confirm" in refused.content.decode()
    handover.refresh_from_db()
    assert handover.outcome == ""
    done = liaison.post(
        f"/console/field/{handover.pk}/outcome/", {"outcome": "received", "confirm": "on"}
    )
    assert done.status_code == 302


def test_the_analyst_lands_on_todays_counts(client: Client) -> None:
    make_staff("an", Role.ANALYST)
    analyst = staff_login("an")
    landing = analyst.get("/console/")["Location"]
    assert landing == "/console/overview/"

    def submitted() -> str:
        page = analyst.get(landing).content.decode()
        assert "aggregate figures only" in page and "/console/reports/" in page  # what they see
        found = re.search(r'data-event="submitted"><td>[^<]+</td><td>([^<]+)<', page)
        assert found
        return found.group(1)

    assert submitted() == "0"
    ChatDriver(client, "ko").apply()
    assert submitted() == "&lt;5"  # one application: shown as the reports show small counts


def test_the_admin_lands_on_service_health(fake: FakeTelegram, client: Client) -> None:
    service._written.clear()  # marks written by earlier tests of this process
    admin = _admin()
    assert admin.get("/console/")["Location"] == "/console/service/"

    def row(label: str) -> str:
        page = admin.get("/console/service/").content.decode()
        found = re.search(re.escape(label) + r"</td><td>(?:<strong[^>]*>)?([^<]+)<", page)
        assert found, label
        return found.group(1)

    assert row("Database") == "reachable"
    assert row("Telegram bots configured") == "main, spare"
    assert row("Telegram bot main: last successful contact") == "never recorded"
    assert row("Last retention purge") == "never recorded"
    # An applicant writes; the bot's answer waits in the outbox until the sender runs.
    person = Applicant(fake, client, FakeTelegram.applicant(5110000077, "ru"))
    update_id = fake.send_text(person.token, person.user, "/start")
    updates = fake.bots[person.token].updates
    update = next(u for u in updates if u["update_id"] == update_id)
    updates.remove(update)
    assert post_update(client, update) == 200
    assert int(row("Telegram outbox: messages waiting")) >= 1
    assert row("Telegram outbox: oldest waiting") == "0 min"
    person.flush()
    assert row("Telegram outbox: messages waiting") == "0"
    assert "min ago" in row("Telegram bot main: last successful contact")
    assert row("Telegram bot spare: last successful contact") == "never recorded"
    retention.purge_expired()
    assert "min ago" in row("Last retention purge")
