"""Console texts: every string the console marks for translation is in the en/uk/ru catalogs,
translated, and the committed .mo files say exactly what their .po sources say."""

from __future__ import annotations

import re
from pathlib import Path

import polib
import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "safepassage"
LOCALE = SRC / "locale" / "console"
LANGUAGES = ["en", "uk", "ru"]
_TEMPLATE = re.compile(r"""\{%\s*translate\s+"([^"]+)"\s*%\}""")
_CODE = re.compile(r"""(?:gettext_lazy|_)\(\s*"([^"]+)"\s*\)""")


def _marked_strings() -> set[str]:
    found: set[str] = set()
    for path in (SRC / "console").rglob("*.html"):
        found |= set(_TEMPLATE.findall(path.read_text(encoding="utf-8")))
    for path in (SRC / "console").rglob("*.py"):
        found |= set(_CODE.findall(path.read_text(encoding="utf-8")))
    return found


def _text(entry: polib.POEntry | polib.MOEntry) -> object:
    """An entry's translation: its string, or its plural forms in order."""
    if entry.msgid_plural:
        forms = tuple(entry.msgstr_plural[i] for i in sorted(entry.msgstr_plural))
        return forms if all(forms) else ""
    return entry.msgstr


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalog_has_every_console_string_translated(lang: str) -> None:
    po = polib.pofile(str(LOCALE / lang / "LC_MESSAGES" / "django.po"))
    translated = {e.msgid for e in po if _text(e) and not e.fuzzy and not e.obsolete}
    missing = _marked_strings() - translated
    assert missing == set(), f"run makemessages and translate: {sorted(missing)[:5]}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_compiled_catalog_is_fresh(lang: str) -> None:
    folder = LOCALE / lang / "LC_MESSAGES"
    po = polib.pofile(str(folder / "django.po"))
    mo = polib.mofile(str(folder / "django.mo"))
    source = {e.msgid: _text(e) for e in po if _text(e) and not e.fuzzy and not e.obsolete}
    compiled = {e.msgid: _text(e) for e in mo if e.msgid}
    assert compiled == source, "run `safepassage manage compilemessages` and commit the .mo"


def test_ukrainian_and_russian_really_differ_from_english() -> None:
    for lang in ("uk", "ru"):
        po = polib.pofile(str(LOCALE / lang / "LC_MESSAGES" / "django.po"))
        assert po.find("Take next").msgstr not in ("", "Take next")


@pytest.mark.django_db
def test_a_member_reads_their_console_language_from_the_first_factor_page_on() -> None:
    """A new operator whose console is in Ukrainian gets the enrolment page in Ukrainian (the
    browser asking for English), and so does an enrolled one on the second-factor page."""
    from django.test import Client
    from django.utils import translation

    from safepassage.console.models import Role, StaffProfile
    from tests.conftest import STAFF_PASSWORD, make_staff

    with translation.override("uk"):
        expected = {
            "/console/login/enrol/": translation.gettext("Set up a second factor"),
            "/console/login/verify/": translation.gettext("Verify"),
        }
    for username, path in (
        ("oksana_new", "/console/login/enrol/"),
        ("oksana", "/console/login/verify/"),
    ):
        make_staff(username, Role.OPERATOR, totp=path.endswith("/verify/"))
        StaffProfile.objects.filter(user__username=username).update(language="uk")
        client = Client(HTTP_ACCEPT_LANGUAGE="en")
        client.post("/console/login/", {"username": username, "password": STAFF_PASSWORD})
        page = client.get(path).content.decode()
        assert '<html lang="uk">' in page and expected[path] in page, path
