"""10,000 malformed webhook bodies: never a server error; what is not an Update stores nothing.

A seeded generator (reproducible; the seed and index are in any failure message) sends random
bytes, broken JSON, JSON that is not an object, objects without a valid update_id, and real
update samples mutated field by field (wrong types, huge strings, deleted keys, deep nesting).
"""

from __future__ import annotations

import copy
import json
import logging
import random
from typing import Any

import pytest
from django.test import Client

from safepassage.cases.models import Case
from safepassage.channels.models import TelegramUpdate
from safepassage.testing.fake_telegram import FakeTelegram
from tests.telegram_support import DATA, SECRET, sample
from tests.test_telegram_input import logged

pytestmark = pytest.mark.django_db
RUNS = 10_000
SEED = 20261123
SAMPLES = sorted(p.stem for p in DATA.glob("*.json"))


def _junk(rng: random.Random) -> Any:
    return rng.choice(
        [
            None,
            True,
            -1,
            2**70,
            3.5,
            "",
            "x" * rng.choice([1, 5000, 70_000]),
            [],
            {},
            [[[[[]]]]],
            {"a": {"b": {"c": {}}}},
            "\x00\ud800",
            "🙂" * 50,
        ]
    )


def _mutate(rng: random.Random, value: Any, depth: int = 0) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            roll = rng.random()
            if roll < 0.08:
                continue  # a missing field
            out[key] = _junk(rng) if roll < 0.16 else _mutate(rng, item, depth + 1)
        if rng.random() < 0.05:
            out[rng.choice(["extra", "message", "callback_query", "from"])] = _junk(rng)
        return out
    if isinstance(value, list):
        return [_mutate(rng, v, depth + 1) for v in value]
    return _junk(rng) if rng.random() < 0.1 else value


def _not_an_update(rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
    if kind == 1:
        return b'{"update_id": ' + bytes(rng.choice(b"0123456789{[,") for _ in range(20))
    if kind == 2:
        return json.dumps(_junk(rng)).encode()
    if kind == 3:
        return json.dumps({"update_id": _junk(rng), "message": {}}).encode()
    return json.dumps({"message": sample(rng.choice(SAMPLES)).get("message")}).encode()


def test_ten_thousand_malformed_webhook_bodies(fake: FakeTelegram) -> None:
    rng = random.Random(SEED)
    client = Client()
    headers = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": SECRET}
    samples = {name: sample(name) for name in SAMPLES}
    next_id = 900_000_000
    for run in range(RUNS):
        if rng.random() < 0.5:
            body = _not_an_update(rng)
            before = (TelegramUpdate.objects.count(), Case.objects.count())
            response = client.post(
                "/tg/main/webhook", body, content_type="application/json", **headers
            )
            assert 400 <= response.status_code < 500, (SEED, run, response.status_code, body[:80])
            assert (TelegramUpdate.objects.count(), Case.objects.count()) == before, (SEED, run)
        else:
            update = _mutate(rng, copy.deepcopy(samples[rng.choice(SAMPLES)]))
            if isinstance(update, dict) and rng.random() < 0.9:
                next_id += 1
                update["update_id"] = next_id
            response = client.post(
                "/tg/main/webhook", json.dumps(update), content_type="application/json", **headers
            )
            assert response.status_code < 500, (SEED, run, response.status_code)


SHAPE_RUNS = 600


def test_mutated_updates_are_applied_or_refused_never_failed(
    fake: FakeTelegram, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """An update of a wrong shape is refused cleanly (one ``telegram_update_refused`` line), not
    applied until an AttributeError and then remembered as a failure."""
    caplog.set_level(logging.INFO)
    rng = random.Random(SEED + 1)
    client = Client()
    headers = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": SECRET}
    samples = {name: sample(name) for name in SAMPLES}
    for run in range(SHAPE_RUNS):
        update = _mutate(rng, copy.deepcopy(samples[rng.choice(SAMPLES)]))
        if not isinstance(update, dict):
            continue
        update["update_id"] = 700_000_000 + run
        caplog.clear()
        capsys.readouterr()
        response = client.post(
            "/tg/main/webhook", json.dumps(update), content_type="application/json", **headers
        )
        assert response.status_code in (200, 400), (SEED, run, response.status_code)
        text = logged(caplog, capsys)
        assert "telegram.update_failed" not in text, (SEED, run, text[-400:])
        assert "Traceback" not in text, (SEED, run)
