"""Probes and metrics for the deployment, not for people (docs/operations.md, "Health and metrics").

/healthz  alive: the process answers (no database). A process manager restarts on failure.
/readyz   ready: the database answers and this version's migrations are applied. A proxy or
          load balancer sends traffic only to a ready process; 503 otherwise.
/metrics  Prometheus text, only with ``Authorization: Bearer <SAFEPASSAGE_METRICS_TOKEN>``;
          404 when no token is configured (and nginx does not pass it on at all).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from safepassage import config, metrics
from safepassage.web import service_health


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "alive"})


def readyz(request: HttpRequest) -> JsonResponse:
    if not service_health.database_ok():
        return JsonResponse({"status": "unavailable", "database": False}, status=503)
    try:
        migrated = service_health.migrations_applied()
    except DatabaseError:
        connection.close()
        return JsonResponse({"status": "unavailable", "database": False}, status=503)
    if not migrated:
        return JsonResponse(
            {"status": "migrating", "database": True, "migrations": False}, status=503
        )
    return JsonResponse({"status": "ok", "database": True, "migrations": True})


class HealthCollector(Collector):
    """Gauges read from the database (and Redis) at scrape time: the same whichever of several
    web processes answers the scrape."""

    def collect(self) -> Iterator[Metric]:
        health = service_health.gather()
        up = GaugeMetricFamily("safepassage_up", "Parts reachable (1) or not (0)", labels=["part"])
        up.add_metric(["database"], float(health.database))
        if health.redis != "off":
            up.add_metric(["redis"], float(health.redis == "ok"))
        up.add_metric(["migrations"], float(bool(health.migrations_applied)))
        yield up
        if not health.database:
            return
        depth = GaugeMetricFamily(
            "safepassage_outbox_depth", "Outgoing messages due and not yet sent", labels=["bot"]
        )
        oldest = GaugeMetricFamily(
            "safepassage_outbox_oldest_age_seconds",
            "How long the oldest due outgoing message has waited (0: none)",
            labels=["bot"],
        )
        held = GaugeMetricFamily(
            "safepassage_outbox_held",
            "Messages held for chats that blocked the bot",
            labels=["bot"],
        )
        for backlog in health.backlogs:
            depth.add_metric([backlog.bot], backlog.depth)
            oldest.add_metric([backlog.bot], backlog.oldest_age_seconds or 0.0)
            held.add_metric([backlog.bot], backlog.held)
        yield from (depth, oldest, held)
        queue = GaugeMetricFamily(
            "safepassage_queue_cases", "Open cases in the queue by urgency", labels=["urgency"]
        )
        for band, count in health.queue_by_urgency.items():
            queue.add_metric([band], count)
        yield queue
        yield GaugeMetricFamily(
            "safepassage_queue_overdue_cases", "Open cases past their reply target", health.overdue
        )
        lag = GaugeMetricFamily(
            "safepassage_task_lag_seconds",
            "How far past its period each periodic task is (0: on time)",
            labels=["task"],
        )
        for task, seconds in health.task_lag_seconds.items():
            lag.add_metric([task], seconds)
        yield lag
        if health.last_purge_at is not None:
            yield GaugeMetricFamily(
                "safepassage_last_purge_timestamp_seconds",
                "When the retention purge last finished (Unix time)",
                health.last_purge_at.timestamp(),
            )


def _authorised(request: HttpRequest, token: str) -> bool:
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def metrics_view(request: HttpRequest) -> HttpResponse:
    token = config.get().metrics_token
    if not token:
        return HttpResponse(status=404)
    if not _authorised(request, token):
        return HttpResponse(status=401, headers={"WWW-Authenticate": "Bearer"})
    registry = CollectorRegistry()
    if metrics.multiprocess_dir():
        from prometheus_client import multiprocess

        # Every web process's counters, added up.
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for collector in (
            metrics.UPDATES_RECEIVED,
            metrics.UPDATES_APPLIED,
            metrics.UPDATES_REFUSED,
            metrics.FIRST_REPLY_SECONDS,
        ):
            registry.register(collector)
    registry.register(HealthCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
