"""Probes, metrics and the supervisors' health page (docs/operations.md, "Health and metrics")."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from safepassage import config, tasks
from safepassage.analytics.models import TaskRun
from safepassage.cases.models import Case, Status
from safepassage.web import service_health
from tests.conftest import DEMO_APPLICANT, ChatDriver

TOKEN = "demo-metrics-token-0123456789abcdef"


def test_healthz_is_alive_without_the_database(client: Client) -> None:
    # No django_db mark: any query would fail the test, so "alive" asks nothing of the database.
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "alive"}


@pytest.mark.django_db
def test_readyz_checks_database_and_migrations(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": True, "migrations": True}
    # A process of a newer version than the database's schema is not ready.
    monkeypatch.setattr(service_health, "_migrated", False)
    monkeypatch.setattr(
        service_health.MigrationExecutor, "migration_plan", lambda self, targets: ["pending"]
    )
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["migrations"] is False


@pytest.fixture
def metrics_token(monkeypatch: pytest.MonkeyPatch) -> str:
    cfg = dataclasses.replace(config.get(), metrics_token=TOKEN)
    monkeypatch.setattr(config, "get", lambda: cfg)
    return TOKEN


@pytest.mark.django_db
def test_metrics_need_the_token_and_carry_no_personal_data(
    client: Client, chat: ChatDriver, metrics_token: str
) -> None:
    chat.apply(readiness="now")
    tasks.record_run("retention-purge", 3600, ok=True)
    TaskRun.objects.filter(name="retention-purge").update(
        finished_at=timezone.now() - timedelta(hours=3)
    )
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'safepassage_up{part="database"} 1.0' in text
    assert 'safepassage_queue_cases{urgency="now"} 1.0' in text
    assert 'safepassage_queue_cases{urgency="later"} 0.0' in text
    lag = next(
        line for line in text.splitlines() if line.startswith("safepassage_task_lag_seconds{")
    )
    assert 7100 < float(lag.split()[-1]) < 7300  # three hours since a run due every hour
    assert "safepassage_telegram_updates_received_total" in text
    assert "safepassage_first_human_reply_seconds_bucket" in text
    for value in DEMO_APPLICANT.values():
        assert value not in text


@pytest.mark.django_db
def test_metrics_are_off_without_a_token(client: Client) -> None:
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.django_db
def test_health_page_for_supervisors(
    staff: Callable[..., Client], chat: ChatDriver, client: Client
) -> None:
    chat.apply(readiness="days")
    Case.objects.update(reply_due_at=timezone.now() - timedelta(minutes=5))
    assert Case.objects.filter(status=Status.NEW).count() == 1
    operator = staff("operator")
    assert operator.get("/console/health/").status_code == 403
    page = staff("supervisor").get("/console/health/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="service-health"' in html and "Redis" in html
    queue = html.split('id="queue-health"')[1]
    assert "<th>Urgency: within days</th><td>1</td>" in queue
    assert "<th>Overdue</th><td>1</td>" in queue
