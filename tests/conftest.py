from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.db import connection
from django.test import Client
from django.utils.html import escape

from safepassage.cases.models import Case
from safepassage.channels.telegram import dbwindow
from safepassage.conversations import catalog
from safepassage.privacy import keyring
from safepassage.privacy.keyring import Keyring
from tests.browser_support import browser, platform  # noqa: F401 (fixtures of the browser tests)
from tests.telegram_support import fake  # noqa: F401 (a fixture for the Telegram tests)

# Modules whose tests start servers, clusters or many generated inputs: CI runs them on SQLite
# and PostgreSQL with the lock's Django, and leaves them out of its extra Django 6 pass
# (`-m "not slow"`, .ci/run) to keep CI well under 30 minutes.
SLOW_MODULES = frozenset(
    {
        "test_console_forms",
        "test_webchat_fuzz",
        "test_telegram_fuzz",
        "test_telegram_outbox_faults",
        "test_telegram_serve",
        "test_telegram_scale",
        "test_telegram_dbwindow",
        "test_purge_in_serve",
        "test_task_roles",
        "test_throttle_store",
        "test_crypto_properties",
        "test_faults",
        "test_backup_restore",
        "test_container_image",
    }
)


class QuickArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id still, at a test's cost: each staff login and key wrap otherwise spends a
    quarter of a second of CPU, and the suite logs in hundreds of times (a third of a CI run).
    A server a test starts keeps the production cost and rehashes on its first login."""

    time_cost = 1
    memory_cost = 8 * 1024
    parallelism = 1


@pytest.fixture(autouse=True)
def _quick_key_derivation(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    # Key wraps at one pass of the 64 MiB production memory cost: within the bounds the
    # keyring accepts on unwrapping, so wraps made here open in servers the tests start.
    monkeypatch.setattr(keyring, "ARGON2_TIME_COST", 1)
    settings.PASSWORD_HASHERS = [
        "tests.conftest.QuickArgon2PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]


@pytest.fixture(autouse=True)
def _fresh_call_windows() -> Iterator[None]:
    """The bots' call windows on PostgreSQL are written by connections of their own, outside
    the test's transaction: a pause or a place left in flight must not reach the next test."""
    opened = dbwindow.DatabaseWindow.connections_opened
    yield
    if dbwindow.DatabaseWindow.connections_opened != opened:
        s = connection.settings_dict
        with psycopg.connect(
            dbname=s["NAME"],
            user=s["USER"] or "postgres",
            host=s["HOST"] or "127.0.0.1",
            port=s["PORT"] or 5432,
            autocommit=True,
        ) as conn:
            conn.execute("DELETE FROM channels_telegramcallslot")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


DEMO_APPLICANT = {  # example data, labelled as such: no real person
    "sector": "DEMO-SECTOR Pokrovske-17",
    "unit": "DEMO-UNIT 1234-Sentinel",
    "name": "DEMO-NAME Ivanov Sentinelovich",
    "birth_date": "DEMO-DOB 1991-07-13",
}


@dataclass
class ChatDriver:
    """Drives the web chat the way a browser with JavaScript off does: forms and redirects."""

    client: Client
    lang: str
    last: str = ""
    history: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"/chat/{self.lang}/"

    def open(self, query: str = "") -> str:
        response = self.client.get(self.url + query)
        assert response.status_code == 200, response.status_code
        self.last = response.content.decode()
        return self.last

    def post(self, data: dict[str, object], expect: int = 200) -> str:
        # A browser sends the form's hidden fields too (the first question's campaign code).
        hidden = dict(re.findall(r'<input type="hidden" name="(c|t)" value="([^"]*)"', self.last))
        response = self.client.post(self.url, {**hidden, **data}, follow=True)
        assert response.status_code == expect, (response.status_code, response.content[:500])
        self.last = response.content.decode()
        self.history.append(self.last)
        return self.last

    def choose(self, value: str) -> str:
        return self.post({"choice": value})

    def say(self, text: str) -> str:
        return self.post({"text": text})

    def nav(self, action: str) -> str:
        return self.post({"nav": action})

    def case(self) -> Case:
        """The case of this chat, found through its session as the web chat finds it."""
        from safepassage.channels.webchat.views import SESSION_CONVERSATION
        from safepassage.conversations.models import Conversation

        conversation_id = self.client.session.get(SESSION_CONVERSATION)
        assert conversation_id, "this chat has no conversation"
        return Conversation.objects.select_related("case").get(pk=conversation_id).case

    def credentials(self) -> tuple[str, str]:
        ref = re.search(r'id="reference">([^<]+)<', self.last)
        pw = re.search(r'id="passphrase">([^<]+)<', self.last)
        assert ref and pw, "credentials not shown"
        return ref.group(1), pw.group(1)

    def apply(
        self,
        *,
        readiness: str = "days",
        group: int | None = None,
        wishes: tuple[str, ...] = ("record_as_captured",),
        applicant: dict[str, str] | None = None,
        query: str = "",
    ) -> tuple[str, str]:
        data = applicant or DEMO_APPLICANT
        self.open(query)
        self.choose("self")
        self.choose("front")
        self.choose(readiness)
        self.say(data["sector"])
        self.say(data["unit"])
        self.say(data["name"])
        self.say(data["birth_date"])
        if group:
            self.choose("group")
            self.say(str(group))
        else:
            self.choose("alone")
        self.post({"choice": "", "multi": list(wishes)})
        self.choose("confirm")
        return self.credentials()


@pytest.fixture
def chat(client: Client) -> Iterator[ChatDriver]:
    yield ChatDriver(client, "ko")


KEYHOLDER_PASSWORD = "DEMO keyholder passphrase"


@pytest.fixture(autouse=True)
def program_key(request: pytest.FixtureRequest) -> None:
    """Every database test runs with a program key, as every installation has one from its
    first start (safepassage serve wraps it for the first admin)."""
    if request.node.get_closest_marker("no_program_key") or not request.node.get_closest_marker(
        "django_db"
    ):
        return
    request.getfixturevalue("django_db_blocker")
    from django.contrib.auth.models import User

    from safepassage.privacy import keyring

    if keyring.active_key() is None:
        holder = User.objects.create_user("keyholder", password=KEYHOLDER_PASSWORD, is_staff=True)
        keyring.do_create_program_key(holder, KEYHOLDER_PASSWORD)


@pytest.fixture(autouse=True)
def flood_counters() -> None:
    """Each test starts with no sender counted (privacy.flood keeps them in this process)."""
    from safepassage.privacy import flood

    flood.reset()


@pytest.fixture(autouse=True)
def calm_webchat() -> None:
    """Each test starts in a calm process: no pressure remembered, a full bucket of new cases
    (channels/webchat/admission.py keeps them in this process)."""
    from safepassage.channels.webchat import admission

    admission.reset()


@pytest.fixture
def ring(program_key: None) -> Keyring:
    from django.contrib.auth.models import User

    from safepassage.privacy import keyring

    return keyring.unlock(User.objects.get(username="keyholder"), KEYHOLDER_PASSWORD)


def latest_case() -> Case:
    """The newest case. Cases store only the day they were created (privacy.coarse_time), so
    this refuses to guess between two of the same day: ask the chat for its own case instead
    (``ChatDriver.case``)."""
    newest = list(Case.objects.order_by("-created_at")[:2])
    assert newest, "no case"
    assert len(newest) == 1 or newest[0].created_at != newest[1].created_at, (
        "several cases created the same day: use ChatDriver.case()"
    )
    return newest[0]


def t(lang: str, msgid: str) -> str:
    """An applicant text as it appears in a page (HTML-escaped)."""
    return escape(catalog.text(lang, msgid))


STAFF_PASSWORD = "correct horse battery staple"


def totp_code(user: object) -> str:
    """The current code of ``user``'s confirmed TOTP device, as an authenticator app shows it."""
    from django_otp.oath import TOTP

    from safepassage.console.models import SealedTOTPDevice

    device = SealedTOTPDevice.objects.get(user=user, confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


def make_staff(username: str, role: str, sector: str = "", *, totp: bool = True) -> object:
    from django.contrib.auth.models import User

    from safepassage.console.models import SealedTOTPDevice, StaffProfile
    from safepassage.console.staff import KEY_HOLDING_ROLES
    from safepassage.privacy import keyring

    user = User.objects.create_user(username, password=STAFF_PASSWORD, is_staff=True)
    profile = StaffProfile(user=user, role=role)
    profile.set_sector(sector)
    profile.save()
    if role in KEY_HOLDING_ROLES and keyring.active_key() is not None:
        holder = User.objects.get(username="keyholder")
        keyring.do_grant(holder, KEYHOLDER_PASSWORD, user, STAFF_PASSWORD)
    if totp:
        SealedTOTPDevice.create_sealed(user, confirmed=True)
    return user


def staff_login(username: str, client: Client | None = None) -> Client:
    """A client logged in with password and a TOTP code, as a staff member would."""
    from django.contrib.auth.models import User

    client = client or Client()
    response = client.post("/console/login/", {"username": username, "password": STAFF_PASSWORD})
    assert response.status_code == 302, response.status_code
    user = User.objects.get(username=username)
    response = client.post("/console/login/verify/", {"code": totp_code(user)})
    assert response.status_code == 302, response.content[:300]
    return client


@pytest.fixture
def staff(db: None) -> Callable[..., Client]:
    """staff("operator") → a client logged in (password + TOTP) as a new user with that role."""
    counter = iter(range(1000))

    def make(role: str, sector: str = "") -> Client:
        name = f"{role}{next(counter)}"
        make_staff(name, role, sector)
        return staff_login(name)

    return make


def demo_campaign_code(code: str, name: str = "DEMO leaflet") -> object:
    """A campaign with one code chosen by hand (as leaflets printed before codes existed)."""
    from safepassage.campaigns import services as campaigns

    campaign = campaigns.do_create_campaign(name, languages=("ru", "ko"))
    return campaigns.do_add_codes(campaign, manual=code)[0]
