"""The configured bots and Bot API clients pointed at ``TELEGRAM_API_BASE``."""

from __future__ import annotations

from telegram import Bot
from telegram.request import HTTPXRequest

from safepassage import config

CHANNEL = "telegram"


def tokens() -> dict[str, str]:
    return dict(config.get().telegram_bots)


def enabled() -> bool:
    return bool(config.get().telegram_bots)


def is_known(slug: str) -> bool:
    return slug in tokens()


def bot_id(slug: str) -> str:
    """The bot's numeric id (the part of the token before the colon). Update ids are counted
    per bot, so replays are recognised by bot id, not by slug: a slug given a new bot's token
    must not drop that bot's first updates as replays of the old one's."""
    return tokens()[slug].split(":", 1)[0]


def client(slug: str, *, read_timeout: float = 10.0, pool: int = 4) -> Bot:
    """A python-telegram-bot client for one bot. It must be used from one event loop only."""
    cfg = config.get()
    request = HTTPXRequest(
        connection_pool_size=pool,
        connect_timeout=5.0,
        read_timeout=read_timeout,
        write_timeout=10.0,
        pool_timeout=5.0,
    )
    return Bot(
        tokens()[slug],
        base_url=f"{cfg.telegram_api_base}/bot",
        base_file_url=f"{cfg.telegram_api_base}/file/bot",
        request=request,
        get_updates_request=HTTPXRequest(connection_pool_size=1, read_timeout=read_timeout + 30),
    )


_parsers: dict[str, Bot] = {}


def parser(slug: str) -> Bot:
    """A Bot object only for ``Update.de_json`` (it is never used to make a request)."""
    if slug not in _parsers:
        _parsers[slug] = Bot(tokens()[slug], base_url=f"{config.get().telegram_api_base}/bot")
    return _parsers[slug]
