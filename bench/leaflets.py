#!/usr/bin/env python3
"""Leaflet rendering benchmark: N leaflet pages, each with its own campaign code and QR code.

    .venv/bin/python bench/leaflets.py              # 1,000 pages (500 double-sided A6 leaflets)
    .venv/bin/python bench/leaflets.py --pages 200 --language ru --size A5

Renders in batches of --batch leaflets per PDF (one file of many, as for fine attribution),
on SQLite in a throw-away data directory, with DEMO contacts and a throw-away signing key, and
prints pages per second and the output size. Texts render as a draft (not reviewed), which
costs the same as reviewed ones.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--language", default="ko")
    parser.add_argument("--size", default="A6", choices=["A5", "A6"])
    parser.add_argument("--batch", type=int, default=50, help="leaflets per PDF file")
    args = parser.parse_args()

    os.environ["SAFEPASSAGE_DATA_DIR"] = tempfile.mkdtemp(prefix="sp-bench-leaflets-")
    os.environ["DJANGO_SETTINGS_MODULE"] = "safepassage.settings"
    import dataclasses

    from safepassage import config
    from safepassage.campaigns import official

    _pem, public = official.generate()
    cfg = dataclasses.replace(
        config.get(),
        public_urls=("https://demo-hotline.example",),
        telegram_usernames=(("main", "DemoHotlineBot"),),
        hotline_numbers=("+380 44 000 00 00",),
        official_public_key=public,
    )
    config.get = lambda: cfg  # type: ignore[method-assign]
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from safepassage.campaigns import services
    from safepassage.printing import leaflets

    leaflet_count = max(1, args.pages // 2)
    campaign = services.do_create_campaign("DEMO benchmark", languages=(args.language,))
    codes = services.do_add_codes(campaign, leaflet_count)
    options = leaflets.Options(args.size, True, draft=True)
    leaflets.render(codes[:1], args.language, options)  # fonts and templates loaded once
    started = time.perf_counter()
    pages = 0
    size = 0
    for start in range(0, leaflet_count, args.batch):
        rendered = leaflets.render(codes[start : start + args.batch], args.language, options)
        pages += rendered.pages
        size += len(rendered.pdf)
    elapsed = time.perf_counter() - started
    print(
        f"{pages} pages ({leaflet_count} double-sided {args.size} leaflets in {args.language}, "
        f"each its own code) in {elapsed:.1f} s: {pages / elapsed:.1f} pages/s, "
        f"{size / pages / 1024:.0f} KiB per page"
    )


if __name__ == "__main__":
    main()
