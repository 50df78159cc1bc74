"""Print and video material for campaigns: leaflets (PDF) and video end cards (PNG), from
HTML/CSS templates a designer edits (``templates/printing/``), rendered with WeasyPrint.

WeasyPrint needs Pango (a system library); the rest of the platform runs without it, and
rendering without it fails with a message that names what to install (``engine.require``).
"""
