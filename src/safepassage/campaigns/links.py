"""What one campaign code yields: Telegram deep links, web chat links, the hotline numbers.

Everything comes from the same configuration the Telegram adapter and the web chat use
(safepassage.config), so a leaflet cannot print an address the platform does not serve.
"""

from __future__ import annotations

from dataclasses import dataclass

from safepassage import config
from safepassage.campaigns.models import CampaignCode


@dataclass(frozen=True)
class Link:
    kind: str  # "telegram" | "web" | "onion"
    name: str  # the bot's username or the address
    url: str


def telegram_link(username: str, code: str) -> str:
    return f"https://t.me/{username}?start={code}"


def web_link(base_url: str, language: str, code: str) -> str:
    return f"{base_url}/chat/{language}/?c={code}"


def for_code(code: CampaignCode, language: str | None = None) -> list[Link]:
    """Every link of ``code``: one per configured bot with a public username, one per public
    address in ``language`` (default: the campaign's first language)."""
    cfg = config.get()
    lang = language or (code.campaign.language_list or ["ru"])[0]
    links = [
        Link("telegram", f"@{username}", telegram_link(username, code.code))
        for _slug, username in cfg.telegram_usernames
    ]
    for base in cfg.public_urls:
        kind = "onion" if base.split("://", 1)[1].split(":")[0].endswith(".onion") else "web"
        links.append(Link(kind, base, web_link(base, lang, code.code)))
    return links


def primary(code: CampaignCode, language: str | None = None) -> Link | None:
    """The link a QR code carries: the first bot's deep link (most applicants have Telegram),
    else the main web address; None when nothing is configured."""
    links = [link for link in for_code(code, language) if link.kind != "onion"]
    return links[0] if links else None


def hotline_numbers() -> tuple[str, ...]:
    return config.get().hotline_numbers
