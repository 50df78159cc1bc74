"""Throttling slows guessers without refusing the holder (docs/threat-model.md).

Login: failures refuse the address they came from (never loopback, where the onion service puts
everyone) and only slow down attempts at the username. Reference + passphrase: a right pair
always opens; wrong ones refuse their address (or staff member). One limiter, shared by every
process through the database or Redis.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.test import Client

from safepassage.cases.models import Case
from safepassage.console.models import Role
from safepassage.privacy.models import RateCounter
from tests.conftest import STAFF_PASSWORD, ChatDriver, make_staff, staff_login, t

pytestmark = pytest.mark.django_db

GUESSER = "203.0.113.7"
HOLDER = "198.51.100.9"


@pytest.fixture(autouse=True)
def quick_delays(settings: Any) -> None:
    settings.CONSOLE_LOGIN_SLOWDOWN_BASE_SECONDS = 0.01
    settings.CONSOLE_LOGIN_SLOWDOWN_CAP_SECONDS = 0.2
    settings.CREDENTIALS_SLOWDOWN_BASE_SECONDS = 0.01
    settings.CREDENTIALS_SLOWDOWN_CAP_SECONDS = 0.1
    settings.SAFEPASSAGE_REDIS_URL = ""


def _password(client: Client, username: str, password: str) -> Any:
    return client.post("/console/login/", {"username": username, "password": password})


def test_twenty_wrong_passwords_for_the_admin_only_slow_the_right_one_down() -> None:
    make_staff("admin", Role.ADMIN)
    attacker = Client()  # loopback, as every visitor of the onion service
    for _ in range(20):
        assert _password(attacker, "admin", "wrong password").status_code == 200
    started = time.monotonic()
    holder = staff_login("admin")  # password, then the TOTP code: in
    assert time.monotonic() - started >= 0.2  # but only after the capped delay
    assert holder.get("/console/staff/").status_code == 200


def test_a_guessing_address_is_refused_while_the_holder_elsewhere_gets_in() -> None:
    make_staff("op", Role.OPERATOR)
    guesser = Client(REMOTE_ADDR=GUESSER)
    for _ in range(5):
        assert _password(guesser, "op", "wrong password").status_code == 200
    refused = _password(guesser, "op", STAFF_PASSWORD)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Too many failed attempts from here" in refused.content.decode()
    holder = staff_login("op", Client(REMOTE_ADDR=HOLDER))
    assert holder.get("/console/queue/").status_code == 200


def test_one_address_spraying_many_usernames_is_refused(settings: Any) -> None:
    settings.CONSOLE_LOGIN_FAILURES_PER_ADDRESS = 8
    make_staff("op", Role.OPERATOR)
    sprayer = Client(REMOTE_ADDR=GUESSER)
    for number in range(8):
        assert _password(sprayer, f"DEMO-user-{number}", "Winter2026!!").status_code == 200
    assert _password(sprayer, "op", STAFF_PASSWORD).status_code == 429
    assert _password(Client(REMOTE_ADDR=HOLDER), "op", STAFF_PASSWORD).status_code == 302


def test_the_stores_hold_no_username_address_or_reference_in_clear(chat: ChatDriver) -> None:
    reference, _ = chat.apply()
    _password(Client(REMOTE_ADDR=GUESSER), "SENTINEL-name", "wrong password")
    Client(REMOTE_ADDR=GUESSER).post(
        "/chat/ru/return/", {"reference": reference, "passphrase": "WRONG"}
    )
    keys = " ".join(RateCounter.objects.values_list("key", flat=True))
    assert keys and RateCounter.objects.count() >= 4
    for clear in ("sentinel", GUESSER, reference.replace("-", "").lower()[:8]):
        assert clear not in keys.lower()


# Reference + passphrase ------------------------------------------------------------------


def test_wrong_passphrases_never_keep_the_holder_out(chat: ChatDriver) -> None:
    reference, passphrase = chat.apply()
    onion = Client()
    for _ in range(15):
        body = onion.post("/chat/ru/return/", {"reference": reference, "passphrase": "WRONG"})
        assert body.status_code == 400 and t("ru", "chat.return.wrong") in body.content.decode()
    holder = Client()
    response = holder.post("/chat/ru/return/", {"reference": reference, "passphrase": passphrase})
    assert response.status_code == 302 and response["Location"] == "/chat/ko/"


def test_a_guessing_address_is_refused_at_the_return_page(chat: ChatDriver) -> None:
    reference, passphrase = chat.apply()
    guesser = Client(REMOTE_ADDR=GUESSER)
    for _ in range(10):
        guesser.post("/chat/ru/return/", {"reference": reference, "passphrase": "WRONG"})
    refused = guesser.post("/chat/ru/return/", {"reference": reference, "passphrase": passphrase})
    assert refused.status_code == 429
    assert t("ru", "chat.return.too_many") in refused.content.decode()
    holder = Client(REMOTE_ADDR=HOLDER)
    response = holder.post("/chat/ru/return/", {"reference": reference, "passphrase": passphrase})
    assert response.status_code == 302


def test_one_hotline_desk_mistyping_does_not_stop_another(staff: Any, settings: Any) -> None:
    first, second = staff(Role.OPERATOR), staff(Role.SUPERVISOR)
    created = first.post("/console/hotline/new-case/", {"language": "ru", "readiness": "now"})
    html = created.content.decode()
    reference = re.search(r'id="new-reference">([^<]+)<', html)
    passphrase = re.search(r'id="new-passphrase">([^<]+)<', html)
    assert reference and passphrase
    pair = {"reference": reference.group(1), "passphrase": passphrase.group(1)}
    # Well formed but wrong (the same groups in another order): a malformed one is a form error
    # that never reaches the credential check, so it counts against nobody.
    mistyped = "-".join(reversed(pair["passphrase"].split("-")))
    for _ in range(10):
        wrong = first.post("/console/hotline/identify/", {**pair, "passphrase": mistyped})
        assert wrong.status_code == 400
    assert first.post("/console/hotline/identify/", pair).status_code == 429
    case = Case.objects.get(channel="hotline")
    assert second.post("/console/hotline/identify/", pair)["Location"] == (
        f"/console/cases/{case.pk}/#calls"
    )


def test_past_many_wrong_pairs_from_everybody_checks_slow_down(
    chat: ChatDriver, settings: Any
) -> None:
    settings.CREDENTIALS_SLOWDOWN_AFTER = 3
    reference, passphrase = chat.apply()
    for number in range(8):
        Client(REMOTE_ADDR=f"192.0.2.{number + 1}").post(
            "/chat/ru/return/", {"reference": reference, "passphrase": "WRONG"}
        )
    started = time.monotonic()
    response = Client().post("/chat/ru/return/", {"reference": reference, "passphrase": passphrase})
    assert response.status_code == 302 and time.monotonic() - started >= 0.1
