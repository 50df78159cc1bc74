"""Applicant texts: complete in every language, and safe to be found on a searched phone."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from safepassage.conversations import catalog, checks

# ../shared/terminology.md: words that would prove intent, or insult, or mark a text as Southern.
RUSSIAN_FORBIDDEN = re.compile(r"добровольн|сда[юв]|сдать|сдач|сдаться|оккупант|\bорк", re.I)
UKRAINIAN_FORBIDDEN = re.compile(r"добровільн|здаю|здат|здач|окупант|\bорк", re.I)
KOREAN_FORBIDDEN = re.compile(
    r"북한|남한|한국어|휴대폰|핸드폰|서비스|당신|동무|동지|탈북|귀순|점령|야채|오빠|[가-힣]님\b|씨\b"
)


def test_every_required_text_is_translated_in_every_language() -> None:
    assert catalog.completeness_problems(checks.required_ids()) == []


def test_code_and_templates_only_use_known_ids() -> None:
    missing = checks.ids_used_in_code() - set(catalog.load("en"))
    assert missing == set()


@pytest.mark.parametrize(
    ("lang", "pattern"),
    [("ru", RUSSIAN_FORBIDDEN), ("uk", UKRAINIAN_FORBIDDEN), ("ko", KOREAN_FORBIDDEN)],
)
def test_no_incriminating_or_southern_words(lang: str, pattern: re.Pattern[str]) -> None:
    hits = {k: v for k, v in catalog.load(lang).items() if pattern.search(v)}
    assert hits == {}


def test_korean_is_offered_as_joseonmal() -> None:
    from safepassage.config import APPLICANT_LANGUAGES

    assert APPLICANT_LANGUAGES["ko"] == "조선말"


def test_a_missing_translation_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(catalog.LOCALE_DIR, tmp_path / "applicant")
    po = tmp_path / "applicant" / "uk" / "LC_MESSAGES" / "applicant.po"
    text = po.read_text(encoding="utf-8")
    po.write_text(re.sub(r'(msgid "nav.skip"\nmsgstr )"[^"]*"', r'\1""', text), encoding="utf-8")
    monkeypatch.setattr(catalog, "LOCALE_DIR", tmp_path / "applicant")
    catalog.load.cache_clear()
    try:
        assert "uk: 'nav.skip' has no translation" in catalog.completeness_problems(set())
    finally:
        catalog.load.cache_clear()


def test_a_fifth_language_is_one_catalog_and_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/languages.md: copy a catalog, translate it, add the code to APPLICANT_LANGUAGES."""
    from safepassage import config

    shutil.copytree(catalog.LOCALE_DIR, tmp_path / "applicant")
    shutil.copytree(tmp_path / "applicant" / "en", tmp_path / "applicant" / "be")
    monkeypatch.setattr(catalog, "LOCALE_DIR", tmp_path / "applicant")
    cfg = config.get()
    monkeypatch.setattr(
        config,
        "get",
        lambda: type(cfg)(
            **{**cfg.__dict__, "applicant_languages": (*cfg.applicant_languages, "be")}
        ),
    )
    catalog.load.cache_clear()
    try:
        assert catalog.is_language("be")
        assert catalog.completeness_problems(checks.required_ids()) == []
        (tmp_path / "applicant" / "be" / "LC_MESSAGES" / "applicant.po").unlink()
        catalog.load.cache_clear()
        assert any(p.startswith("be: no catalog") for p in catalog.completeness_problems(set()))
    finally:
        catalog.load.cache_clear()
