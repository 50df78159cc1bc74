"""Video end cards: the frame a video ends on, with the hotline number, the QR code, one line
of text and the official-channels key fingerprint; PNG, 1920×1080 or 1080×1920."""

from __future__ import annotations

from safepassage import config
from safepassage.campaigns import links, qr
from safepassage.campaigns.models import CampaignCode
from safepassage.conversations import catalog
from safepassage.printing import engine, leaflets
from safepassage.printing.engine import PrintError

FORMATS = {"landscape": (1920, 1080), "portrait": (1080, 1920)}
TEXT_IDS = ("endcard.line", "leaflet.fingerprint")


def render(
    code: CampaignCode, language: str, *, shape: str = "landscape", draft: bool = False
) -> bytes:
    """The end card as PNG bytes."""
    if shape not in FORMATS:
        raise PrintError(f"shape must be one of {', '.join(FORMATS)}")
    if not catalog.is_language(language):
        raise PrintError(f"unknown language {language!r}")
    texts = {msgid: catalog.text(language, msgid) for msgid in TEXT_IDS}
    missing = [msgid for msgid, text in texts.items() if not text or text == msgid]
    if missing:
        raise PrintError(f"no end card text in {language} for: {', '.join(missing)}")
    _missing, unreviewed = leaflets.unreviewed_or_missing(language)
    if not draft and any(i in unreviewed for i in TEXT_IDS):
        raise PrintError(
            f"end card texts in {language} not reviewed by a native reader: "
            f"{', '.join(i for i in TEXT_IDS if i in unreviewed)} (use --draft to proof them)"
        )
    link = links.primary(code, language)
    if link is None:
        raise PrintError("no link to print: set TELEGRAM_BOT_USERNAMES or SAFEPASSAGE_PUBLIC_URLS")
    engine.check_glyphs({f"text.{k}": v for k, v in texts.items()})
    width, height = FORMATS[shape]
    cfg = config.get()
    html = engine.render_html(
        "printing/endcard.html",
        {
            "lang": language,
            "line": engine.keep_words(texts["endcard.line"], language),
            "fingerprint_label": engine.keep_words(texts["leaflet.fingerprint"], language),
            "fingerprint": leaflets.printed_fingerprint(draft),
            "numbers": list(cfg.hotline_numbers),
            "bots": [f"@{name}" for _slug, name in cfg.telegram_usernames],
            # A third of the short side: a phone filming a screen reads it from a sofa.
            "qr_svg": qr.svg(link.url, error="q", width_mm=min(width, height) / 3 * 25.4 / 96),
            "width": width,
            "height": height,
            "shape": shape,
            "draft": draft and bool(unreviewed),
        },
    )
    rendered = engine.render_pdf(html, sheets=["card"])
    return engine.pdf_to_png(rendered.pdf, width)
