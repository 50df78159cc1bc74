"""`safepassage campaigns …`: campaigns, their codes and QR codes, and the official-channels
signing done offline. ``keygen``, ``sign`` and ``verify`` need no database and no server: they
run on the program's offline machine, or on anyone's, against a published document."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

OFFLINE = frozenset({"keygen", "sign", "verify"})

EPILOG = """examples:
  safepassage campaigns create "DEMO drop K-3" --medium leaflet --languages ko --codes 3
  safepassage campaigns codes 4                   list campaign 4's codes and their links
  safepassage campaigns codes 4 --add 10 --label "drop zone 7"
  safepassage campaigns codes 4 --revoke abcd2345ef
  safepassage campaigns qr abcd2345ef --format pdf --out code.pdf
  safepassage campaigns leaflet 4 --language ko --size A6 --out leaflets/
  safepassage campaigns endcard abcd2345ef --language ko --shape portrait --out end.png
  safepassage campaigns official-list > list.json  (carry to the offline machine)
  safepassage campaigns keygen --out official.key  (offline; prints the public key)
  safepassage campaigns sign --key official.key list.json  (offline; prints the signature)
  safepassage campaigns verify @SomeBot --document official-channels.json \\
      --fingerprint "ABCD 1234 …"                  (anyone, offline)
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "campaigns",
        help="campaigns, codes, QR codes, leaflets, end cards, the signed official list",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True)

    create = actions.add_parser("create", help="a new campaign with its first codes")
    create.add_argument("name", help="internal name, never printed (e.g. 'drop K-3, Dec')")
    create.add_argument(
        "--medium", default="leaflet", help="leaflet, video, radio, social or other"
    )
    create.add_argument(
        "--languages", default="ru", help="applicant languages, comma-separated, first = default"
    )
    create.add_argument("--sector", default="", help="target sector (free text)")
    create.add_argument("--codes", type=int, default=1, help="how many codes to draw (1)")
    create.add_argument("--notes", default="")

    codes = actions.add_parser("codes", help="list a campaign's codes and links, add or revoke")
    codes.add_argument("campaign", type=int, help="the campaign's number (create prints it)")
    codes.add_argument("--add", type=int, default=0, help="draw this many new codes")
    codes.add_argument("--label", default="", help="label for the new codes (drop zone, video)")
    codes.add_argument("--revoke", default="", help="revoke this code (past contacts keep it)")

    qr = actions.add_parser("qr", help="the QR code of a code's main link")
    qr.add_argument("code")
    qr.add_argument("--format", choices=["svg", "png", "pdf"], default="svg")
    qr.add_argument("--out", required=True, help="file to write")
    qr.add_argument("--error", choices=["q", "h"], default="q", help="error correction (q)")
    qr.add_argument("--link", default="", help="encode this link of the code instead")

    leaflet = actions.add_parser(
        "leaflet", help="print-ready PDF leaflets: one per code, or one file of many"
    )
    leaflet.add_argument("campaign", type=int, help="the campaign's number")
    leaflet.add_argument("--language", required=True, help="the reader's language (ko, ru, …)")
    leaflet.add_argument("--size", choices=["A5", "A6"], default="A6")
    leaflet.add_argument("--single-sided", action="store_true", help="one page (default: two)")
    leaflet.add_argument(
        "--one-file",
        action="store_true",
        help="one PDF with a leaflet per code (default: a PDF per code in --out)",
    )
    leaflet.add_argument("--codes", default="", help="only these codes (comma-separated)")
    leaflet.add_argument("--out", required=True, help="a directory, or the file with --one-file")
    leaflet.add_argument(
        "--draft", action="store_true", help="proof texts nobody has reviewed (marked DRAFT)"
    )

    endcard = actions.add_parser("endcard", help="a video end card (PNG) for one code")
    endcard.add_argument("code")
    endcard.add_argument("--language", required=True)
    endcard.add_argument("--shape", choices=["landscape", "portrait"], default="landscape")
    endcard.add_argument("--out", required=True, help="PNG file to write")
    endcard.add_argument("--draft", action="store_true", help="proof unreviewed texts")

    actions.add_parser("official-list", help="print the list this configuration yields")

    keygen = actions.add_parser("keygen", help="(offline) a new official-channels signing key")
    keygen.add_argument("--out", required=True, help="private key file to create (0600)")

    sign = actions.add_parser("sign", help="(offline) sign a list printed by official-list")
    sign.add_argument("--key", required=True, help="the private key file")
    sign.add_argument("list", help="the list file (JSON)")

    verify = actions.add_parser(
        "verify", help="(offline) is a bot, number or address in a signed list?"
    )
    verify.add_argument("name", help="@bot, t.me link, phone number or web address")
    verify.add_argument("--document", required=True, help="official-channels.json")
    verify.add_argument(
        "--fingerprint", required=True, help="the key fingerprint printed on a leaflet"
    )


def run(args: argparse.Namespace) -> int:
    from safepassage.campaigns import official

    try:
        if args.action in OFFLINE:
            return _offline(args)
        if args.action in {"leaflet", "endcard"}:
            return _print(args)
        return _online(args)
    except (official.OfficialError, ValueError) as error:  # PrintError, CampaignError too
        print(f"refused: {error}", file=sys.stderr)
        return 2


def _print(args: argparse.Namespace) -> int:
    from safepassage.campaigns.models import Campaign, CampaignCode
    from safepassage.printing import endcards, leaflets

    if args.action == "endcard":
        code = CampaignCode.objects.select_related("campaign").filter(code=args.code).first()
        if code is None:
            print(f"refused: no code {args.code}", file=sys.stderr)
            return 2
        png = endcards.render(code, args.language, shape=args.shape, draft=args.draft)
        Path(args.out).write_bytes(png)
        print(f"{args.out}: {args.shape} end card for {code.code} in {args.language}")
        return 0
    campaign = Campaign.objects.filter(pk=args.campaign).first()
    if campaign is None:
        print(f"refused: no campaign {args.campaign}", file=sys.stderr)
        return 2
    codes = list(campaign.codes.filter(revoked_at__isnull=True).order_by("created_at", "pk"))
    if args.codes:
        wanted = [c.strip() for c in args.codes.split(",") if c.strip()]
        codes = [c for c in codes if c.code in wanted]
        unknown = sorted(set(wanted) - {c.code for c in codes})
        if unknown:
            print(
                f"refused: not live codes of this campaign: {', '.join(unknown)}", file=sys.stderr
            )
            return 2
    options = leaflets.Options(args.size, not args.single_sided, draft=args.draft)
    if args.one_file:
        rendered = leaflets.render(codes, args.language, options)
        Path(args.out).write_bytes(rendered.pdf)
        print(f"{args.out}: {len(codes)} leaflets, {rendered.pages} pages")
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for code in codes:
        rendered = leaflets.render([code], args.language, options)
        path = out / f"leaflet-{args.language}-{args.size}-{code.code}.pdf"
        path.write_bytes(rendered.pdf)
        print(f"{path}: {rendered.pages} pages")
    return 0


def _offline(args: argparse.Namespace) -> int:
    from safepassage.campaigns import official

    if args.action == "keygen":
        pem, public = official.generate()
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        print(f"private key written to {args.out}: keep it offline, never on the server")
        print(f"SAFEPASSAGE_OFFICIAL_PUBLIC_KEY={public}")
        print(f"fingerprint (print it on leaflets and end cards): {official.fingerprint(public)}")
        return 0
    if args.action == "sign":
        data = _read_json(args.list)
        print(f"SAFEPASSAGE_OFFICIAL_SIGNATURE={official.sign(Path(args.key).read_bytes(), data)}")
        return 0
    document = _read_json(args.document)
    data = official.verify_document(document, args.fingerprint)
    entry = official.matches(args.name, data)
    if entry is None:
        print(f"NOT OFFICIAL: {args.name} is not in the signed list", file=sys.stderr)
        return 1
    print(f"official: {args.name} is {entry} in the signed list")
    return 0


def _read_json(path: str) -> dict[str, Any]:
    from safepassage.campaigns import official

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise official.OfficialError(f"cannot read {path}: {error}") from None
    if not isinstance(data, dict):
        raise official.OfficialError(f"{path} is not a JSON object")
    return data


def _online(args: argparse.Namespace) -> int:
    from safepassage import config
    from safepassage.campaigns import links, official, qr
    from safepassage.campaigns import services as campaigns
    from safepassage.campaigns.models import Campaign, CampaignCode

    if args.action == "official-list":
        print(json.dumps(official.channels(config.get()), ensure_ascii=False, indent=2))
        return 0
    try:
        if args.action == "create":
            from django.db import transaction

            languages = tuple(c.strip() for c in args.languages.split(",") if c.strip())
            with transaction.atomic():  # no campaign is left without its codes
                campaign = campaigns.do_create_campaign(
                    args.name,
                    medium=args.medium,
                    languages=languages,
                    target_sector=args.sector,
                    notes=args.notes,
                )
                made = campaigns.do_add_codes(campaign, args.codes)
            print(f"campaign {campaign.pk}: {campaign.name}")
            _print_codes(made)
            return 0
        if args.action == "codes":
            found = Campaign.objects.filter(pk=args.campaign).first()
            if found is None:
                print(f"refused: no campaign {args.campaign}", file=sys.stderr)
                return 2
            if args.revoke:
                code = CampaignCode.objects.filter(campaign=found, code=args.revoke).first()
                if code is None:
                    print(
                        f"refused: campaign {found.pk} has no code {args.revoke}", file=sys.stderr
                    )
                    return 2
                campaigns.do_revoke_code(code)
            if args.add:
                campaigns.do_add_codes(found, args.add, labels=[args.label] * args.add)
            _print_codes(list(found.codes.order_by("created_at", "pk")))
            return 0
    except campaigns.CampaignError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 2
    # qr
    code = CampaignCode.objects.select_related("campaign").filter(code=args.code).first()
    if code is None:
        print(f"refused: no code {args.code}", file=sys.stderr)
        return 2
    target = args.link or (link.url if (link := links.primary(code)) else "")
    if not target:
        print(
            "refused: no link to encode: set TELEGRAM_BOT_USERNAMES or SAFEPASSAGE_PUBLIC_URLS",
            file=sys.stderr,
        )
        return 2
    Path(args.out).write_bytes(qr.encode(target, args.format, error=args.error))
    print(f"{args.out}: {target}")
    return 0


def _print_codes(codes: list[Any]) -> None:
    from safepassage.campaigns import links

    for code in codes:
        state = "revoked" if code.revoked_at else "live"
        label = f"  ({code.label})" if code.label else ""
        print(f"{code.code}  {state}{label}")
        for link in links.for_code(code):
            print(f"    {link.kind:8} {link.url}")
    numbers = links.hotline_numbers()
    if numbers:
        print("hotline: " + ", ".join(numbers))
