"""Printable leaflets and video end cards: rendered with WeasyPrint, converted to images with
pdftoppm, their QR codes decoded with zxing-cpp, their text extracted and checked whole."""

from __future__ import annotations

import dataclasses
import http.server
import io
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pypdfium2
import pytest
import zxingcpp
from PIL import Image

from safepassage import config
from safepassage.campaigns import official, services
from safepassage.printing import endcards, engine, leaflets
from safepassage.printing.engine import PrintError

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def printed_contacts(monkeypatch: pytest.MonkeyPatch) -> config.Config:
    _pem, public = official.generate()
    cfg = dataclasses.replace(
        config.get(),
        public_urls=("https://demo-hotline.example",),
        telegram_usernames=(("main", "DemoHotlineBot"),),
        hotline_numbers=("+380 44 000 00 00",),
        official_public_key=public,
    )
    monkeypatch.setattr(config, "get", lambda: cfg)
    return cfg


def page_images(pdf: bytes, tmp_path: Path) -> list[Image.Image]:
    """The pages as a print shop's proof would show them (poppler's pdftoppm, 150 dpi)."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "in.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", str(tmp_path / "in.pdf"), str(tmp_path / "page")],
        check=True,
        timeout=120,
    )
    return [Image.open(p) for p in sorted(tmp_path.glob("page-*.png"))]


def pdf_text(pdf: bytes) -> str:
    document = pypdfium2.PdfDocument(pdf)
    return "\n".join(page.get_textpage().get_text_range() for page in document)


def test_a_korean_double_sided_a6_batch_has_each_codes_qr_and_every_text(
    tmp_path: Path,
) -> None:
    campaign = services.do_create_campaign("DEMO drop", languages=("ko",))
    codes = services.do_add_codes(campaign, 3)
    rendered = leaflets.render(codes, "ko", leaflets.Options("A6", True, draft=True))
    assert rendered.pages == 6
    images = page_images(rendered.pdf, tmp_path)
    found = [zxingcpp.read_barcodes(image.convert("L")) for image in images[::2]]
    assert [f[0].text for f in found] == [
        f"https://t.me/DemoHotlineBot?start={code.code}" for code in codes
    ]
    assert all(not zxingcpp.read_barcodes(image.convert("L")) for image in images[1::2])
    # Compared without white space: where a line breaks is the layout's business.
    text = "".join(pdf_text(rendered.pdf).split())
    texts = leaflets.texts("ko", {}, draft=True)
    for source in leaflets.source_strings(texts):
        assert "".join(source.split()) in text, source  # no glyph missing, nothing cut
    fingerprint = official.fingerprint(config.get().official_public_key)
    assert fingerprint.replace(" ", "") in text and "DRAFT" in text


def test_a_russian_single_sided_a5_leaflet_fits_one_page(tmp_path: Path) -> None:
    campaign = services.do_create_campaign("DEMO", languages=("ru",))
    (code,) = services.do_add_codes(campaign)
    rendered = leaflets.render([code], "ru", leaflets.Options("A5", False, draft=True))
    assert rendered.pages == 1
    text = "".join(pdf_text(rendered.pdf).split())
    for source in leaflets.source_strings(leaflets.texts("ru", {}, draft=True)):
        assert "".join(source.split()) in text, source  # Ukrainian і, ї, є drawn too
    width_mm = pypdfium2.PdfDocument(rendered.pdf)[0].get_width() / 72 * 25.4
    assert round(width_mm) == 148


def test_too_long_an_instruction_fails_naming_the_field_and_the_overflow() -> None:
    long_step = "흰 천을 들고 천천히 움직이십시오. " * 40
    campaign = services.do_create_campaign(
        "DEMO", languages=("ko",), instructions={"ko": ["무기를 두고 오십시오.", long_step]}
    )
    (code,) = services.do_add_codes(campaign)
    with pytest.raises(
        PrintError, match=r"overflows by \d+ mm; the tallest field is instructions\.ko"
    ):
        leaflets.render([code], "ko", leaflets.Options("A6", True, draft=True))


def test_unreviewed_texts_are_refused_with_their_ids_unless_proofing() -> None:
    campaign = services.do_create_campaign("DEMO", languages=("ko",))
    (code,) = services.do_add_codes(campaign)
    with pytest.raises(PrintError) as refused:
        leaflets.render([code], "ko", leaflets.Options("A6", True))
    assert "leaflet.headline" in str(refused.value) and "--draft" in str(refused.value)


def test_a_language_without_leaflet_texts_lists_the_missing_ids(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from safepassage.conversations import catalog

    po = tmp_path / "applicant.po"
    lines = catalog.catalog_path("en").read_text(encoding="utf-8").split("\n\n")
    po.write_text("\n\n".join(b for b in lines if 'msgid "leaflet.offer.food"' not in b))
    monkeypatch.setattr(catalog, "catalog_path", lambda lang: po)
    with pytest.raises(PrintError, match=r"no leaflet text in en for: leaflet\.offer\.food"):
        leaflets.texts("en", {}, draft=True)


def test_glyphs_the_fonts_cannot_draw_are_refused() -> None:
    campaign = services.do_create_campaign(
        "DEMO", languages=("ru",), instructions={"ru": ["Идите 🐉 на восток."]}
    )
    (code,) = services.do_add_codes(campaign)
    with pytest.raises(PrintError, match=r"instructions\.ru\[0\]: the font has no glyph"):
        leaflets.render([code], "ru", leaflets.Options(draft=True))


@pytest.mark.parametrize(
    ("shape", "size"), [("landscape", (1920, 1080)), ("portrait", (1080, 1920))]
)
def test_end_cards_are_full_hd_and_their_qr_decodes(shape: str, size: tuple[int, int]) -> None:
    campaign = services.do_create_campaign("DEMO video", medium="video", languages=("ko",))
    (code,) = services.do_add_codes(campaign)
    png = endcards.render(code, "ko", shape=shape, draft=True)
    image = Image.open(io.BytesIO(png))
    assert image.size == size
    (found,) = zxingcpp.read_barcodes(image.convert("L"))
    assert found.text == f"https://t.me/DemoHotlineBot?start={code.code}"


@pytest.fixture
def web_server() -> Iterator[list[str]]:
    """A web server on the loopback that records every path asked of it."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    asked.append(f"http://127.0.0.1:{server.server_address[1]}")
    yield asked
    server.shutdown()
    server.server_close()


def test_hostile_instructions_print_as_text_and_nothing_is_fetched(
    web_server: list[str],
) -> None:
    base = web_server.pop(0)
    hostile = [
        f'<img src="{base}/step.png"> Leave the weapon.',
        f'<p style="background: url({base}/bg.png)">Walk slowly.</p>',
    ]
    campaign = services.do_create_campaign("DEMO", languages=("en",), instructions={"en": hostile})
    (code,) = services.do_add_codes(campaign)
    pdf = leaflets.render([code], "en", leaflets.Options("A5", True, draft=True)).pdf
    assert "<img" in pdf_text(pdf)  # printed as the text it is
    # A template a designer edits (or a text that slipped through unescaped) asks for nothing
    # on the network either: the renderer fetches no URL, not even on the loopback.
    html = (
        f'<html><head><link rel="stylesheet" href="{base}/x.css"></head><body>'
        f'<section data-section="one"><p data-field="f" style="background: url({base}/y.png)">'
        f'<img src="{base}/z.png">DEMO</p></section></body></html>'
    )
    engine.render_pdf(html, sheets=["one"])
    assert web_server == []


@pytest.mark.parametrize(
    "instructions",
    [{"en": [None]}, {"en": "Go"}, {"en": ["Go", 3]}, {"en": [" "]}, ["Go"]],
)
def test_instructions_that_are_not_a_list_of_texts_are_refused_naming_the_field(
    instructions: object,
) -> None:
    campaign = services.do_create_campaign("DEMO", languages=("en",))
    campaign.instructions = instructions
    campaign.save()
    (code,) = services.do_add_codes(campaign)
    with pytest.raises(PrintError, match="instructions"):
        leaflets.render([code], "en", leaflets.Options("A6", True, draft=True))
