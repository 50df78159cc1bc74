"""Structured logs that never carry personal data.

Log calls pass only event names and non-personal fields; the scrubber below is the second line
of defence: it drops any field whose name suggests content and redacts anything long.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import structlog

from safepassage import config

_FORBIDDEN_KEYS = {
    "text",
    "body",
    "message_text",
    "name",
    "unit",
    "sector",
    "passphrase",
    "reference",
    "answers",
    "ip",
    "user_agent",
    "chat_id",
    "user_id",
    "birth_date",
}


def scrub(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key in _FORBIDDEN_KEYS or (
            isinstance(event[key], str) and key != "event" and len(event[key]) > 64
        ):
            event[key] = "[redacted]"
    return event


def configure() -> None:
    cfg = config.get()
    level = getattr(logging, cfg.log_level.upper(), logging.INFO)
    # SAFEPASSAGE_LOG_FORMAT: JSON lines (the default, for a collector) or key=value to read.
    renderer: Any = (
        structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"])
        if cfg.log_format == "console"
        else structlog.processors.JSONRenderer()
    )
    logging.basicConfig(level=level, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            scrub,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )


class SecurityEventHandler(logging.Handler):
    """Django's ``django.security.*`` records as one scrubbed line naming only their kind.

    Django's own lines carry what the visitor sent: the path of a refused post (which reveals
    the chat language) or a hostile Host header, with a full traceback. The kind (the logger's
    last part: ``csrf``, ``DisallowedHost``, ``SuspiciousSession``, ...) is all we keep.
    """

    def emit(self, record: logging.LogRecord) -> None:
        kind = record.name.removeprefix("django.security.").removeprefix("django.security")
        structlog.get_logger("safepassage.security").warning(
            "security_event", kind=kind[:64] or "unknown"
        )
