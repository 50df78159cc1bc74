"""Regression tests for the security review of the intake (revocation, credentials, floods)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from safepassage import cli, retention
from safepassage.cases import sealed, services
from safepassage.cases.models import Case, Message
from safepassage.privacy import keyring
from safepassage.privacy.models import RateCounter
from tests.conftest import STAFF_PASSWORD, ChatDriver, latest_case, make_staff, staff_login, t

pytestmark = pytest.mark.django_db
OP_PW = "DEMO operator passphrase 77"


def _operator() -> tuple[User, Client]:
    """An operator holding the program key, logged in with password and TOTP."""
    user = make_staff("op77", "operator")
    return user, staff_login("op77")  # type: ignore[return-value]


def test_revoking_a_member_ends_their_open_sessions() -> None:
    ChatDriver(Client(), "ru").apply()
    case = latest_case()
    user, client = _operator()
    assert "DEMO-NAME" in client.get(f"/console/cases/{case.pk}/").content.decode()
    keyring.do_revoke(None, user)
    response = client.get(f"/console/cases/{case.pk}/")
    assert response.status_code == 302 and "/console/login/" in response["Location"]


def test_password_change_rewraps_keys_and_ends_sessions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user, client = _operator()
    monkeypatch.setattr(
        "sys.stdin", io.StringIO(f"{STAFF_PASSWORD}\nDEMO a much better passphrase\n")
    )
    assert cli.main(["keys", "password", "--user", "op77", "--stdin"]) == 0
    assert client.get("/console/").status_code == 302
    assert keyring.unlock(user, "DEMO a much better passphrase")
    monkeypatch.setattr("sys.stdin", io.StringIO("wrong\nDEMO another one entirely\n"))
    assert cli.main(["keys", "password", "--user", "op77", "--stdin"]) == 2


def test_unread_replies_are_sealed_after_three_days(django_user_model: type) -> None:
    ChatDriver(Client(), "ru").apply()
    case = latest_case()
    operator = django_user_model.objects.create_user("op", password="x" * 16, is_staff=True)
    services.do_operator_reply(case, operator, "DEMO meet at the bridge")
    reply = Message.objects.get()
    Message.objects.filter(pk=reply.pk).update(created_at=reply.created_at - timedelta(hours=73))
    assert retention.purge_expired().replies_sealed == 1
    assert sealed.open_message_for_server(case, Message.objects.get()) is None


def test_purge_deletes_expired_sessions_and_old_attempts() -> None:
    client = Client()
    client.get("/chat/ko/")
    client.post("/chat/ko/", {"choice": "self"})  # the first answer opens a session
    Session.objects.update(expire_date=Session.objects.get().expire_date - timedelta(days=2))
    RateCounter.objects.create(key="x:60:1", hits=3, expires_at=timezone.now() - timedelta(hours=2))
    report = retention.purge_expired()
    assert report.sessions_ended == 1 and not Session.objects.exists()
    assert not RateCounter.objects.exists()


def test_malformed_references_use_no_rate_limit_bucket(chat: ChatDriver) -> None:
    client = Client()
    for _ in range(10):
        body = client.post("/chat/ru/return/", {"reference": "nonsense", "passphrase": "x"})
        assert t("ru", "chat.return.wrong") in body.content.decode()
    assert not RateCounter.objects.exists()


def test_leaving_forgets_the_browser_but_keeps_the_application(chat: ChatDriver) -> None:
    reference, passphrase = chat.apply()
    chat.choose("continue")
    page = chat.post({"nav": "leave"})
    assert t("ko", "chat.left") in page
    assert t("ko", "apply.who.prompt") in chat.open()  # a fresh start, not the thread
    assert Case.objects.count() == 1
    again = Client().post("/chat/ko/return/", {"reference": reference, "passphrase": passphrase})
    assert again.status_code == 302


def test_first_admin_password_goes_to_a_private_file_when_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import os
    import stat

    from safepassage import config

    cli.show_first_admin("admin", "DEMO-ONE-TIME-PW", "http://127.0.0.1:8000/console/")
    out = capsys.readouterr().out
    assert "DEMO-ONE-TIME-PW" not in out
    path = config.get().data_dir / cli.FIRST_ADMIN_FILE
    assert "DEMO-ONE-TIME-PW" in path.read_text()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_first_admin_password_is_printed_on_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    cli.show_first_admin("admin", "DEMO-ONE-TIME-PW", "http://127.0.0.1:8000/console/")
    assert "DEMO-ONE-TIME-PW" in capsys.readouterr().out
