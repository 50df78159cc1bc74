from __future__ import annotations

import pytest
from django.test import Client


@pytest.mark.django_db
def test_healthz_ok(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["database"] is True
