"""QR codes for leaflets, end cards and posts (segno).

Error correction Q by default (H on request): a crumpled, muddy or partly torn leaflet still
scans. A quiet zone of four modules, as the standard asks. Printed 40 mm wide by default: a
phone reads a code from about ten times its width, so from arm's length (about 40 cm) and
from a leaflet lying on the ground.
"""

from __future__ import annotations

import io

import segno

QUIET_ZONE = 4  # modules
PRINT_WIDTH_MM = 40.0


def make(data: str, *, error: str = "q") -> segno.QRCode:
    if error.lower() not in {"q", "h"}:
        raise ValueError("error correction must be Q or H for print")
    return segno.make_qr(data, error=error, boost_error=False)


def svg(data: str, *, error: str = "q", width_mm: float = PRINT_WIDTH_MM) -> str:
    """An inline SVG sized in millimetres for print (no XML declaration: it goes into HTML)."""
    code = make(data, error=error)
    modules = code.symbol_size(border=QUIET_ZONE)[0]
    out = io.BytesIO()
    code.save(
        out,
        kind="svg",
        scale=width_mm / modules,
        unit="mm",
        border=QUIET_ZONE,
        xmldecl=False,
        svgns=True,
        nl=False,
    )
    return out.getvalue().decode()


def png(data: str, *, error: str = "q", pixels: int = 600) -> bytes:
    code = make(data, error=error)
    modules = code.symbol_size(border=QUIET_ZONE)[0]
    out = io.BytesIO()
    code.save(out, kind="png", scale=max(1, pixels // modules), border=QUIET_ZONE)
    return out.getvalue()


def pdf(data: str, *, error: str = "q", width_mm: float = PRINT_WIDTH_MM) -> bytes:
    code = make(data, error=error)
    modules = code.symbol_size(border=QUIET_ZONE)[0]
    out = io.BytesIO()
    # segno's PDF unit is the point (1/72 inch).
    code.save(out, kind="pdf", scale=width_mm / 25.4 * 72 / modules, border=QUIET_ZONE)
    return out.getvalue()


FORMATS = {"svg": "image/svg+xml", "png": "image/png", "pdf": "application/pdf"}


def encode(data: str, kind: str, *, error: str = "q") -> bytes:
    """The QR code of ``data`` as a file of ``kind`` (one of FORMATS)."""
    if kind == "svg":
        return svg(data, error=error).encode()
    if kind == "png":
        return png(data, error=error)
    if kind == "pdf":
        return pdf(data, error=error)
    raise ValueError(f"kind must be one of {', '.join(FORMATS)}")
