"""Rendering HTML to PDF and PNG with WeasyPrint, refusing what would print wrong: a missing
glyph (tofu on a leaflet dropped by the thousand) or a field that does not fit its page."""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.template import Context, Engine

TEMPLATES = Path(__file__).parent / "templates"
# The fonts the templates use, in order: Noto Sans for Latin and Cyrillic (Ukrainian і, ї, є
# included, which Noto Sans CJK lacks), Noto Sans CJK for Hangul. Debian: fonts-noto-core and
# fonts-noto-cjk.
FONT_FAMILIES = ("Noto Sans", "Noto Sans CJK KR")
PX_TO_MM = 25.4 / 96


class PrintError(ValueError):
    """Material that cannot be printed as asked (the message names the field and why)."""


class MissingDependency(PrintError):
    """WeasyPrint or its system libraries or fonts are not installed here."""


def require() -> Any:
    """The weasyprint module, or a clear message naming what to install."""
    try:
        import weasyprint
    except (ImportError, OSError) as error:  # OSError: Pango's shared library is missing
        raise MissingDependency(
            "printing needs WeasyPrint with Pango and the Noto CJK fonts: on Debian or Ubuntu "
            "`apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk` "
            f"({type(error).__name__}: {error})"
        ) from None
    return weasyprint


@functools.lru_cache(maxsize=1)
def _font_cmap() -> frozenset[int]:
    """Every code point the template fonts draw together."""
    from fontTools.ttLib import TTCollection, TTFont

    covered: set[int] = set()
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        raise MissingDependency("fontconfig (fc-match) is needed to find the fonts")
    for family in FONT_FAMILIES:
        try:
            # Our own constant arguments: the family names above, nothing from a request.
            found = subprocess.run(  # noqa: S603
                [fc_match, "-f", "%{family}\n%{file}\n%{index}", family],
                capture_output=True,
                text=True,
                check=True,
                timeout=10,
            ).stdout.split("\n")
        except (OSError, subprocess.SubprocessError):
            raise MissingDependency("fontconfig (fc-match) is needed to find the fonts") from None
        if family not in found[0].split(","):  # fontconfig substituted another family
            raise MissingDependency(
                f"the font {family} is not installed "
                "(Debian: apt-get install fonts-noto-core fonts-noto-cjk)"
            )
        path, index = found[1], int(found[2] or 0)
        font = TTCollection(path)[index] if path.endswith(".ttc") else TTFont(path)
        covered.update(font.getBestCmap())
    return frozenset(covered)


def check_glyphs(fields: dict[str, str]) -> None:
    """Refuse text the font cannot draw, naming the field and the characters."""
    cmap = _font_cmap()
    for name, text in fields.items():
        missing = sorted({ch for ch in text if not ch.isspace() and ord(ch) not in cmap})
        if missing:
            raise PrintError(f"{name}: the font has no glyph for {' '.join(missing)!r}")


def keep_words(text: str, language: str) -> str:
    """HTML for ``text`` where Korean words do not break between syllables: Pango breaks
    Hangul anywhere and WeasyPrint ignores ``word-break: keep-all``, so each word is kept
    whole in a nowrap span (the CSS class ``w``)."""
    from django.utils.html import escape
    from django.utils.safestring import mark_safe

    if language != "ko":
        return escape(text)
    words = (f'<span class="w">{escape(word)}</span>' for word in text.split(" "))
    return mark_safe(" ".join(words))  # noqa: S308  # nosemgrep: django-safe-html-built-at-runtime — every word escaped above


def render_html(template: str, context: dict[str, Any]) -> str:
    engine = Engine(dirs=[str(TEMPLATES)], autoescape=True)
    return engine.get_template(template).render(Context(context))


@dataclass(frozen=True)
class Rendered:
    pdf: bytes
    pages: int


def _field_boxes(box: Any, section: str = "") -> Iterator[tuple[str, str, float]]:
    """(field, section, height in px) of every ``data-field`` box under ``box``."""
    element = getattr(box, "element", None)
    if element is not None and element.get("data-section"):
        section = element.get("data-section")
    if element is not None and element.get("data-field") and box.element_tag:
        yield element.get("data-field"), section, box.height or 0.0
        return
    for child in getattr(box, "children", None) or []:
        yield from _field_boxes(child, section)


def _overflow(document: Any) -> str | None:
    """A description of the first section that ran onto a further page, or None."""
    heights: dict[str, dict[str, float]] = {}
    pages_of: dict[str, int] = {}
    spill: dict[str, float] = {}
    for page in document.pages:
        on_page: dict[str, float] = {}
        for field, section, height in _field_boxes(page._page_box):
            heights.setdefault(section, {})
            heights[section][field] = heights[section].get(field, 0.0) + height
            on_page[section] = on_page.get(section, 0.0) + height
        for section in on_page:
            pages_of[section] = pages_of.get(section, 0) + 1
            if pages_of[section] > 1:
                spill[section] = spill.get(section, 0.0) + on_page[section]
    for section, extra in spill.items():
        fields = sorted(heights[section].items(), key=lambda item: -item[1])
        listed = ", ".join(f"{field} {height * PX_TO_MM:.0f} mm" for field, height in fields)
        return (
            f"text too long for the page {section}: it overflows by {extra * PX_TO_MM:.0f} mm; "
            f"the tallest field is {fields[0][0]} (fields: {listed})"
        )
    return None


def render_pdf(html: str, *, sheets: Iterable[str]) -> Rendered:
    """PDF bytes of ``html``, whose ``<section data-section=…>`` elements must each fill
    exactly one page (``sheets``, in order). A section that runs onto a further page fails the
    render, naming its fields by height and the overflow."""
    weasyprint = require()
    # Nothing is fetched while rendering: the templates inline their CSS and QR code, and a
    # URL in a template or in data (http, file) must not reach the network or the disk.
    fetcher = weasyprint.URLFetcher(allowed_protocols={"data"})
    document = weasyprint.HTML(string=html, base_url=str(TEMPLATES), url_fetcher=fetcher).render()
    expected = list(sheets)
    problem = _overflow(document)
    if problem:
        raise PrintError(problem)
    if len(document.pages) != len(expected):
        raise PrintError(f"expected {len(expected)} pages, the layout made {len(document.pages)}")
    return Rendered(document.write_pdf(), len(document.pages))


def pdf_to_png(pdf: bytes, width_px: int) -> bytes:
    """The first page of ``pdf`` as a PNG ``width_px`` wide (pypdfium2)."""
    import io

    import pypdfium2

    page = pypdfium2.PdfDocument(pdf)[0]
    image = page.render(scale=width_px / page.get_width()).to_pil()
    if image.width != width_px:  # a rounding pixel
        image = image.resize((width_px, round(image.height * width_px / image.width)))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
