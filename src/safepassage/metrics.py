"""Prometheus counters of what the platform does, never of whom (docs/operations.md, "Metrics").

Labels are only bot slugs, fixed reason strings and urgency bands: no case, chat, person or
text. The counters live in each process; `safepassage serve` points prometheus-client's
multiprocess mode at ``<data dir>/metrics`` before any web process starts, so a scrape of any
one web process adds up every process. The gauges (outbox depth, queue length, task lag) are
read from the database at scrape time instead (``web.service_health``), so they are the same
whichever process answers.
"""

from __future__ import annotations

import os

from prometheus_client import Counter, Histogram

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

UPDATES_RECEIVED = Counter(
    "safepassage_telegram_updates_received",
    "Telegram updates that parsed as an Update (webhook or long polling)",
    ["bot"],
)
UPDATES_APPLIED = Counter(
    "safepassage_telegram_updates_applied",
    "Telegram updates committed (a redelivery counts as duplicate, not applied)",
    ["bot", "result"],
)
UPDATES_REFUSED = Counter(
    "safepassage_telegram_updates_refused",
    "Webhook requests or updates refused (4xx, or a wrong shape remembered but not applied)",
    ["bot", "reason"],
)
WEBCHAT_DEFERRED = Counter(
    "safepassage_webchat_first_answers_deferred",
    "Anonymous first answers in the web chat deferred by an overloaded process (503, kept)",
)
FIRST_REPLY_SECONDS = Histogram(
    "safepassage_first_human_reply_seconds",
    "From an application's submission (to the minute) to its first staff reply",
    buckets=(60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600, 72 * 3600),
)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None
