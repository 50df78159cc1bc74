"""QR codes as printed: every format decodes with a real decoder (zxing-cpp) back to the link,
at error correction Q or H, and still decodes with part of it smudged out."""

from __future__ import annotations

import io

import pypdfium2
import pytest
import zxingcpp
from PIL import Image, ImageDraw

from safepassage.campaigns import qr

LINK = "https://t.me/DemoHotlineBot?start=abcd2345ef"


def _decode(image: Image.Image) -> zxingcpp.Barcode:
    found = zxingcpp.read_barcodes(image.convert("L"))
    assert len(found) == 1, "expected exactly one QR code"
    return found[0]


def _pdf_image(data: bytes, scale: float = 4) -> Image.Image:
    document = pypdfium2.PdfDocument(data)
    return document[0].render(scale=scale).to_pil()


def test_png_decodes_to_the_link_at_level_q() -> None:
    found = _decode(Image.open(io.BytesIO(qr.png(LINK))))
    assert found.text == LINK and found.ec_level == "Q"


def test_pdf_decodes_to_the_link_and_is_printed_40_mm_wide() -> None:
    data = qr.pdf(LINK, error="h")
    found = _decode(_pdf_image(data))
    assert found.text == LINK and found.ec_level == "H"
    width_pt = pypdfium2.PdfDocument(data)[0].get_width()
    assert abs(width_pt / 72 * 25.4 - qr.PRINT_WIDTH_MM) < 1


def test_svg_is_inline_sized_in_mm_and_decodes() -> None:
    svg = qr.svg(LINK)
    assert svg.startswith("<svg") and 'width="40mm"' in svg.replace(".0mm", "mm")
    assert "http" not in svg.split(">", 1)[0].replace("http://www.w3.org/2000/svg", "")
    # Rasterised the way a printer would: through WeasyPrint's PDF, then to pixels.
    weasyprint = pytest.importorskip("weasyprint")
    pdf = weasyprint.HTML(string=f"<html><body style='margin:5mm'>{svg}</body></html>").write_pdf()
    assert _decode(_pdf_image(pdf)).text == LINK


def test_a_smudged_code_still_scans() -> None:
    image = Image.open(io.BytesIO(qr.png(LINK, error="h"))).convert("L")
    width, height = image.size
    draw = ImageDraw.Draw(image)
    # Mud across the lower middle: about 10% of the symbol, away from the finder patterns.
    draw.rectangle((width * 0.42, height * 0.55, width * 0.62, height * 0.80), fill=128)
    assert _decode(image).text == LINK


def test_only_print_grade_error_correction_is_offered() -> None:
    with pytest.raises(ValueError):
        qr.png(LINK, error="l")
