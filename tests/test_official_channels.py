"""The signed list of official channels: built from the live configuration, signed offline
with an Ed25519 key the server never holds, shown on /official/ in every language, and checked
offline by `safepassage campaigns verify` against the fingerprint printed on a leaflet."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from safepassage import config
from safepassage.campaigns import official
from safepassage.conversations import catalog

DEMO = {
    "public_urls": ("https://demo-hotline.example", "http://demoonionaddressxyz.onion"),
    "hotline_numbers": ("+380 44 000 00 00",),
    "telegram_usernames": (("main", "DemoHotlineBot"),),
}


@pytest.fixture
def signed(monkeypatch: pytest.MonkeyPatch) -> tuple[config.Config, str, bytes]:
    base = dataclasses.replace(config.get(), **DEMO)  # type: ignore[arg-type]
    pem, public = official.generate()
    signature = official.sign(pem, official.channels(base))
    cfg = dataclasses.replace(base, official_public_key=public, official_signature=signature)
    monkeypatch.setattr(config, "get", lambda: cfg)
    return cfg, public, pem


def test_the_list_is_the_configuration_and_a_changed_setting_voids_the_signature(
    signed: tuple[config.Config, str, bytes],
) -> None:
    cfg, _public, _pem = signed
    data = official.channels(cfg)
    assert data["telegram"] == ["@DemoHotlineBot"] and data["onion"] == [DEMO["public_urls"][1]]
    assert official.published(cfg).signed
    moved = dataclasses.replace(cfg, hotline_numbers=("+7 999 000 00 00",))
    assert not official.published(moved).signed  # a lookalike number cannot ride the signature


@pytest.mark.django_db
def test_the_page_shows_the_signed_list_in_every_language_without_scripts(
    signed: tuple[config.Config, str, bytes],
) -> None:
    _cfg, public, _pem = signed
    page = Client().get("/official/").content.decode()
    for lang in catalog.languages():
        assert f'<section lang="{lang}">' in page
        assert catalog.text(lang, "official.title") in page
    assert official.fingerprint(public) in page and "@DemoHotlineBot" in page
    assert "<script" not in page
    document = Client().get("/official/list.json").json()
    assert official.verify_document(document, official.fingerprint(public))["hotline"] == [
        "+380 44 000 00 00"
    ]


@pytest.mark.django_db
def test_an_unsigned_list_is_not_shown_as_official(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = dataclasses.replace(config.get(), **DEMO)  # type: ignore[arg-type]
    monkeypatch.setattr(config, "get", lambda: cfg)
    page = Client().get("/official/").content.decode()
    assert catalog.text("ru", "official.unsigned") in page and "@DemoHotlineBot" not in page
    assert Client().get("/official/list.json").status_code == 503


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("@demohotlinebot", "@DemoHotlineBot"),
        ("https://t.me/DemoHotlineBot?start=abc", "@DemoHotlineBot"),
        ("t.me/DemoHotIineBot", None),  # a capital I for the l: a lookalike
        ("+380 (44) 000-00-00", "+380 44 000 00 00"),
        ("+380 44 000 00 01", None),
        ("https://demo-hotline.example/chat/ru/?c=x", "https://demo-hotline.example"),
        ("https://demo-hotline.example.evil.test/", None),
        ("demoonionaddressxyz.onion", "http://demoonionaddressxyz.onion"),
        # Lookalikes that only begin like an entry: a path that leaves the bot, a bot name
        # with a letter from another script after it, our host as the userinfo of another.
        ("https://t.me/DemoHotlineBot/../EvilBot", None),
        ("t.me/DemoHotlineBot\u0445", None),  # Cyrillic х
        ("@DemoHotlineB\u043et", None),  # Cyrillic о
        ("https://demo-hotline.example:443@evil.test/", None),
        ("https://demo-hotline.example@evil.test/", None),
        ("https://demo-hotlin\u0435.example/", None),  # Cyrillic е
        ("https://t.me/DemoHotlineBot/", "@DemoHotlineBot"),
        ("https://demo-hotline.example:443/", "https://demo-hotline.example"),
    ],
)
def test_names_match_only_what_the_list_holds(name: str, expected: str | None) -> None:
    cfg = dataclasses.replace(config.get(), **DEMO)  # type: ignore[arg-type]
    assert official.matches(name, official.channels(cfg)) == expected


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Offline: no database, no data directory, no server configuration at all.
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd)}
    return subprocess.run(
        [sys.executable, "-m", "safepassage.cli", "campaigns", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_keygen_sign_and_verify_run_offline_and_catch_a_forgery(tmp_path: Path) -> None:
    made = _cli("keygen", "--out", "offline.key", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "offline.key").stat().st_mode & 0o777 == 0o600
    public = made.stdout.split("SAFEPASSAGE_OFFICIAL_PUBLIC_KEY=")[1].split()[0]
    fingerprint = official.fingerprint(public)
    assert fingerprint in made.stdout
    cfg = dataclasses.replace(config.get(), **DEMO)  # type: ignore[arg-type]
    (tmp_path / "list.json").write_text(json.dumps(official.channels(cfg)))
    sig = _cli("sign", "--key", "offline.key", "list.json", cwd=tmp_path)
    assert sig.returncode == 0, sig.stderr
    signature = sig.stdout.split("SAFEPASSAGE_OFFICIAL_SIGNATURE=")[1].strip()
    document = {"channels": official.channels(cfg), "public_key": public, "signature": signature}
    (tmp_path / "doc.json").write_text(json.dumps(document))

    ok = _cli("verify", "@DemoHotlineBot", "--document", "doc.json", "--fingerprint",
              fingerprint, cwd=tmp_path)  # fmt: skip
    assert ok.returncode == 0 and "official" in ok.stdout
    fake_bot = _cli("verify", "@DemoHotIineBot", "--document", "doc.json", "--fingerprint",
                    fingerprint, cwd=tmp_path)  # fmt: skip
    assert fake_bot.returncode == 1 and "NOT OFFICIAL" in fake_bot.stderr

    # A lookalike's document: its own key and a list with its bot, signed properly.
    pem, other_public = official.generate()
    forged_list = dict(official.channels(cfg), telegram=["@DemoHotIineBot"])
    forged = {
        "channels": forged_list,
        "public_key": other_public,
        "signature": official.sign(pem, forged_list),
    }
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    caught = _cli("verify", "@DemoHotIineBot", "--document", "forged.json", "--fingerprint",
                  fingerprint, cwd=tmp_path)  # fmt: skip
    assert caught.returncode == 2 and "fingerprint" in caught.stderr
    # Our key, a list altered after signing.
    altered = dict(document, channels=forged_list)
    (tmp_path / "altered.json").write_text(json.dumps(altered))
    broken = _cli("verify", "@DemoHotIineBot", "--document", "altered.json", "--fingerprint",
                  fingerprint, cwd=tmp_path)  # fmt: skip
    assert broken.returncode == 2 and "signature" in broken.stderr
    assert not list(tmp_path.glob("var")) and not (tmp_path / "var").exists()
