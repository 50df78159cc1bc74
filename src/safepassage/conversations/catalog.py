"""Applicant-facing texts, from one gettext catalog per language.

Catalogs live in ``locale/applicant/<lang>/LC_MESSAGES/applicant.po``. They are read with polib
straight from the ``.po`` files, so no compiled ``.mo`` can drift from its source. Message ids
are symbolic (``apply.who.prompt``); English is a translation like the others, which is what
lets one check prove that no language is half-translated: :func:`completeness_problems`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import polib

from safepassage import config

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale" / "applicant"
REFERENCE_LANGUAGE = "en"
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


class UnknownLanguage(LookupError):
    pass


def catalog_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / "applicant.po"


@lru_cache(maxsize=32)
def load(lang: str) -> dict[str, str]:
    path = catalog_path(lang)
    if not path.exists():
        raise UnknownLanguage(lang)
    po = polib.pofile(str(path), encoding="utf-8")
    return {e.msgid: e.msgstr for e in po if e.msgstr and not e.fuzzy and not e.obsolete}


def languages() -> tuple[str, ...]:
    return config.get().applicant_languages


def is_language(lang: str | None) -> bool:
    return bool(lang) and lang in languages()


def text(lang: str, msgid: str, **values: str) -> str:
    """The text for ``msgid`` in ``lang``. Completeness is checked in CI and at start-up, so a
    missing id is a programming error, not something an applicant should ever see."""
    value = load(lang)[msgid]
    return value.format(**values) if values else value


def completeness_problems(required_ids: set[str]) -> list[str]:
    """Every problem that would leave an applicant with a half-translated text."""
    problems: list[str] = []
    reference = set(load(REFERENCE_LANGUAGE))
    wanted = reference | required_ids
    for lang in languages():
        try:
            entries = load(lang)
        except UnknownLanguage:
            problems.append(f"{lang}: no catalog at {catalog_path(lang)}")
            continue
        po = polib.pofile(str(catalog_path(lang)), encoding="utf-8")
        for entry in po:
            if entry.fuzzy and entry.msgid in wanted:
                problems.append(f"{lang}: '{entry.msgid}' is marked fuzzy")
        for msgid in sorted(wanted - set(entries)):
            problems.append(f"{lang}: '{msgid}' has no translation")
        for msgid in sorted(wanted & set(entries)):
            ref = load(REFERENCE_LANGUAGE).get(msgid, "")
            if set(_PLACEHOLDER.findall(ref)) != set(_PLACEHOLDER.findall(entries[msgid])):
                problems.append(f"{lang}: '{msgid}' does not keep the placeholders of English")
    return problems
