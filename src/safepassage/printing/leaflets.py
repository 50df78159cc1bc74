"""Print-ready leaflets: the offer, step-by-step instructions (per campaign, as data), a phrase
card (Ukrainian, read in the reader's own script, with its meaning), the QR code, the hotline
numbers and the official-channels key fingerprint. A5 or A6, single- or double-sided; one PDF
per code, or one PDF of N leaflets each with its own code (fine attribution)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polib
import yaml

from safepassage import config
from safepassage.campaigns import links, official, qr
from safepassage.campaigns.models import CampaignCode
from safepassage.conversations import catalog
from safepassage.printing import engine
from safepassage.printing.engine import PrintError

SIZES = {"A5": (148, 210), "A6": (105, 148)}
OFFER = ("protection", "food", "warmth", "medical", "new_life")
DEFAULT_STEPS = ("leaflet.step.1", "leaflet.step.2", "leaflet.step.3", "leaflet.step.4")
TEXT_IDS = (
    "leaflet.headline",
    *(f"leaflet.offer.{item}" for item in OFFER),
    "leaflet.contact",
    "leaflet.scan",
    "leaflet.steps.title",
    *DEFAULT_STEPS,
    "leaflet.phrases.title",
    "leaflet.phrases.say",
    "leaflet.phrases.read",
    "leaflet.phrases.means",
    "leaflet.fingerprint",
)
MAX_STEPS = 6


@dataclass(frozen=True)
class Phrase:
    uk: str
    reading: str
    meaning: str


@dataclass(frozen=True)
class Texts:
    language: str
    text: dict[str, str]
    steps: list[str]
    phrases: list[Phrase]
    draft: bool


@dataclass(frozen=True)
class Options:
    size: str = "A6"
    double_sided: bool = True
    draft: bool = False  # allow texts nobody has reviewed, marked DRAFT on every page
    extra: dict[str, Any] = field(default_factory=dict)


@functools.lru_cache(maxsize=1)
def _phrases() -> dict[str, Any]:
    data = yaml.safe_load((Path(__file__).parent / "phrases.yaml").read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise PrintError("phrases.yaml is not a mapping")
    return data


def unreviewed_or_missing(language: str) -> tuple[list[str], list[str]]:
    """Leaflet message ids with no text in ``language``, and those not reviewed yet (a
    ``#. REVIEW`` comment in the catalog, or phrases.yaml not listing the language)."""
    if not catalog.is_language(language):
        raise PrintError(f"unknown language {language!r}")
    entries = {e.msgid: e for e in polib.pofile(str(catalog.catalog_path(language)))}
    missing = [i for i in TEXT_IDS if i not in entries or not entries[i].msgstr.strip()]
    unreviewed = [
        i
        for i in TEXT_IDS
        if i in entries and "REVIEW" in (entries[i].comment or "") and i not in missing
    ]
    phrases = _phrases()
    if any(language not in p.get("reading", {}) or language not in p.get("meaning", {})
           for p in phrases["phrases"]):  # fmt: skip
        missing.append("phrases.yaml")
    elif language not in phrases.get("reviewed", []) and language != "en":
        unreviewed.append("phrases.yaml")
    return missing, unreviewed


def texts(language: str, instructions: dict[str, list[str]], *, draft: bool) -> Texts:
    missing, unreviewed = unreviewed_or_missing(language)
    if missing:
        raise PrintError(f"no leaflet text in {language} for: {', '.join(missing)}")
    if unreviewed and not draft:
        raise PrintError(
            f"leaflet texts in {language} not reviewed by a native reader: "
            f"{', '.join(unreviewed)} (render with --draft to proof them)"
        )
    text = {msgid: catalog.text(language, msgid) for msgid in TEXT_IDS}
    if not isinstance(instructions, dict):
        raise PrintError('instructions: steps per language, such as {"ko": ["…"]}')
    given = instructions.get(language)
    if given and not (
        isinstance(given, list) and all(isinstance(s, str) and s.strip() for s in given)
    ):
        raise PrintError(f"instructions.{language}: a list of steps, each a text")
    steps = list(given or [text[i] for i in DEFAULT_STEPS])
    if not 1 <= len(steps) <= MAX_STEPS:
        raise PrintError(f"instructions.{language}: between 1 and {MAX_STEPS} steps")
    phrases = [
        Phrase(p["uk"], p["reading"][language], p["meaning"][language])
        for p in _phrases()["phrases"]
    ]
    return Texts(language, text, steps, phrases, draft=bool(unreviewed))


def _sheet(code: CampaignCode, language: str, texts_: Texts, number: int) -> dict[str, Any]:
    link = links.primary(code, language)
    if link is None:
        raise PrintError("no link to print: set TELEGRAM_BOT_USERNAMES or SAFEPASSAGE_PUBLIC_URLS")
    cfg = config.get()
    return {
        "number": number,
        "code": code.code,
        "qr_svg": qr.svg(link.url, error="h", width_mm=34),
        "link": link.url,
        "bots": [f"@{name}" for _slug, name in cfg.telegram_usernames],
        "numbers": list(cfg.hotline_numbers),
    }


def printed_fingerprint(draft: bool) -> str:
    """The official-channels key's fingerprint a leaflet or end card prints, so that a reader
    can check the channels it names against the signed list; a draft may go without a key."""
    key = config.get().official_public_key
    if key:
        return official.fingerprint(key)
    if draft:
        return "NO KEY CONFIGURED"
    raise PrintError("no official-channels key: set SAFEPASSAGE_OFFICIAL_PUBLIC_KEY")


def source_strings(texts_: Texts) -> list[str]:
    """Every text a leaflet prints (the tests look for each one in the PDF's text)."""
    items = [v for k, v in texts_.text.items() if k not in DEFAULT_STEPS]
    items += texts_.steps
    for phrase in texts_.phrases:
        items += [phrase.uk, phrase.reading, phrase.meaning]
    return items


def render(
    codes: Sequence[CampaignCode], language: str, options: Options | None = None
) -> engine.Rendered:
    """One PDF with one leaflet (one or two pages) per code in ``codes``."""
    options = options or Options()
    if options.size not in SIZES:
        raise PrintError(f"size must be one of {', '.join(SIZES)}")
    if not codes:
        raise PrintError("no codes to print")
    campaign = codes[0].campaign
    texts_ = texts(language, campaign.instructions or {}, draft=options.draft)
    fingerprint = printed_fingerprint(options.draft)
    fields = {f"text.{k}": v for k, v in texts_.text.items()}
    fields.update({f"instructions.{language}[{i}]": s for i, s in enumerate(texts_.steps)})
    fields.update({f"phrases.{p.uk}": p.reading + p.meaning + p.uk for p in texts_.phrases})
    engine.check_glyphs(fields)
    sheets = [_sheet(code, language, texts_, n) for n, code in enumerate(codes, 1)]
    width, height = SIZES[options.size]
    html = engine.render_html(
        "printing/leaflet.html",
        {
            "lang": language,
            # Keys without dots, as Django templates read them: leaflet.steps.title → steps_title.
            "t": {
                k.removeprefix("leaflet.").replace(".", "_"): engine.keep_words(v, language)
                for k, v in texts_.text.items()
            },
            "steps": [engine.keep_words(step, language) for step in texts_.steps],
            "phrases": texts_.phrases,
            "sheets": sheets,
            "fingerprint": fingerprint,
            "page_width": width,
            "page_height": height,
            "size": options.size,
            "double_sided": options.double_sided,
            "draft": texts_.draft,
            "offer": [
                engine.keep_words(texts_.text[f"leaflet.offer.{item}"], language) for item in OFFER
            ],
        },
    )
    order = []
    for sheet in sheets:
        order.append(f"front-{sheet['number']}")
        if options.double_sided:
            order.append(f"back-{sheet['number']}")
    return engine.render_pdf(html, sheets=order)
