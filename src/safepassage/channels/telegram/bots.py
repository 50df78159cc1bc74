"""The configured bots and Bot API clients pointed at ``TELEGRAM_API_BASE``."""

from __future__ import annotations

import json
from typing import Any

from telegram import Bot
from telegram.error import TelegramError
from telegram.request import HTTPXRequest

from safepassage import config
from safepassage.channels.telegram import shape

CHANNEL = "telegram"


class UnreadableAnswer(TelegramError):
    """The Bot API's answer was not JSON we can parse (or nested beyond any real update)."""


class _Request(HTTPXRequest):
    """PTB's request, with an answer parsed safely: too deep a nesting is refused before
    ``json.loads`` recurses into it, and nothing of the answer is logged (PTB's own parser logs
    an invalid answer whole, which may hold an applicant's message)."""

    @staticmethod
    def parse_json_payload(payload: bytes) -> Any:
        if shape.too_deep(payload):
            raise UnreadableAnswer("answer nested too deep")
        try:
            data = json.loads(payload.decode("utf-8", "replace"))
        except (ValueError, RecursionError) as exc:
            raise UnreadableAnswer("answer not JSON") from exc
        # PTB reads data["result"] of a successful answer without looking first.
        if not isinstance(data, dict) or (data.get("ok") is True and "result" not in data):
            raise UnreadableAnswer("answer not a Bot API object")
        return data


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
    request = _Request(
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
        get_updates_request=_Request(connection_pool_size=1, read_timeout=read_timeout + 30),
    )


_parsers: dict[str, Bot] = {}


def parser(slug: str) -> Bot:
    """A Bot object only for ``Update.de_json`` (it is never used to make a request)."""
    if slug not in _parsers:
        _parsers[slug] = Bot(tokens()[slug], base_url=f"{config.get().telegram_api_base}/bot")
    return _parsers[slug]
