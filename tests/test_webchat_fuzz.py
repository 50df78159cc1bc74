"""10,000 malformed web chat requests: no server error, nothing stored.

A seeded generator (reproducible; the seed is printed on failure) builds form bodies of random
bytes, broken percent-encoding, unknown and repeated fields, huge values, wrong content types
and control characters, and posts them to every applicant endpoint.
"""

from __future__ import annotations

import random
import urllib.parse

import pytest
from django.test import Client
from django.utils.html import escape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safepassage.cases.models import Case
from safepassage.conversations.models import Conversation
from tests.conftest import ChatDriver

RUNS = 10_000
SEED = 20261123
VALID_FIRST_ANSWERS = {"self", "relative", "not_sent_yet"}
FIELDS = [
    "choice",
    "text",
    "nav",
    "multi",
    "reference",
    "passphrase",
    "csrfmiddlewaretoken",
    "c",
    "",
    "choice[]",
    "\x00",
    "тема",
    "선택",
]
CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "text/plain",
    "application/json",
    "application/x-www-form-urlencoded; charset=koi8-r",
]


def _value(rng: random.Random) -> bytes:
    kind = rng.randrange(7)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
    if kind == 1:
        return b"%" + bytes(rng.choice(b"0123456789ABCDEFGZ%") for _ in range(rng.randrange(6)))
    if kind == 2:
        return urllib.parse.quote(
            "".join(chr(rng.randrange(0x20, 0x2FFFF)) for _ in range(rng.randrange(30))),
            safe="",
            errors="surrogatepass",
        ).encode()
    if kind == 3:
        return b"x" * rng.choice([4001, 5000, 20_000])
    if kind == 4:
        return rng.choice([b"back", b"restart", b"delete", b"skip", b"", b"erase", b"confirm"])
    if kind == 5:
        return "".join(chr(rng.randrange(0, 0x20)) for _ in range(10)).encode()
    return str(rng.randrange(-(10**9), 10**9)).encode()


def _body(rng: random.Random) -> bytes:
    parts = []
    for _ in range(rng.randrange(6)):
        name = rng.choice(FIELDS).encode()
        value = _value(rng)
        if name == b"choice" and value.decode("latin-1") in VALID_FIRST_ANSWERS:
            value = b"not-" + value
        parts.append(name + b"=" + value if rng.random() > 0.1 else value)
    return rng.choice([b"&", b";", b"&&"]).join(parts)


@pytest.mark.django_db
def test_ten_thousand_malformed_requests() -> None:
    rng = random.Random(SEED)
    client = Client()
    paths = [
        "/chat/ko/",
        "/chat/ru/",
        "/chat/uk/",
        "/chat/en/",
        "/chat/ko/return/",
        "/chat/",
        "/chat/zz/",
        "/chat/%FF/",
    ]
    statuses: dict[int, int] = {}
    for run in range(RUNS):
        path = rng.choice(paths)
        response = client.generic("POST", path, _body(rng), content_type=rng.choice(CONTENT_TYPES))
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (SEED, run, path, response.status_code)
    assert not Case.objects.exists() and not Conversation.objects.exists()
    assert set(statuses) <= {200, 302, 400, 404, 405, 413, 429}, statuses


# Generated input (Hypothesis) to every chat post: the conversation (fresh, and in the middle
# of an application) and coming back by reference. Right values now and then, so that the
# paths that do something run too.
CHAT_TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=40),
    st.sampled_from(["", " ", "\x00", "0", "-1", "x" * 65, "x" * 4001, "y" * 20_000, "9" * 40]),
    st.integers().map(str),
    st.integers(min_value=2**63, max_value=2**90).map(str),
)
CHAT_POSTS = st.fixed_dictionaries(
    {},
    optional={
        "choice": st.one_of(
            st.sampled_from(["self", "front", "now", "confirm", "continue"]), CHAT_TEXT
        ),
        "text": CHAT_TEXT,
        "nav": st.one_of(
            st.sampled_from(["back", "restart", "skip", "delete", "leave"]), CHAT_TEXT
        ),
        "multi": st.lists(CHAT_TEXT, max_size=3),
    },
)
EXAMPLES = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.django_db
@pytest.mark.parametrize("lang", ["ko", "ru"])
def test_no_chat_post_answers_5xx_to_generated_input(lang: str) -> None:
    applied = ChatDriver(Client(), lang)
    applied.apply()

    @EXAMPLES
    @given(CHAT_POSTS, st.booleans())
    def post(data: dict[str, object], fresh: bool) -> None:
        client = Client() if fresh else applied.client
        response = client.post(f"/chat/{lang}/", data)
        assert response.status_code < 500, (data, response.status_code)
        assert response.status_code in {200, 302, 400, 413, 429}, response.status_code

    post()


@pytest.mark.django_db
def test_coming_back_by_reference_answers_no_5xx_and_keeps_the_reference() -> None:
    reference, passphrase = ChatDriver(Client(), "uk").apply()
    right = {"@ref": reference, "@loose": reference.lower().replace("-", " "), "@pw": passphrase}

    @EXAMPLES
    @given(
        st.fixed_dictionaries(
            {},
            optional={
                "reference": st.one_of(st.sampled_from(["@ref", "@loose"]), CHAT_TEXT),
                "passphrase": st.one_of(st.just("@pw"), CHAT_TEXT),
            },
        )
    )
    def post(data: dict[str, str]) -> None:
        data = {key: right.get(value, value) for key, value in data.items()}
        response = Client().post("/chat/uk/return/", data)
        assert response.status_code in {302, 400, 429}, (data, response.status_code)
        if response.status_code == 400 and data.get("reference"):
            assert escape(data["reference"]) in response.content.decode()

    post()
