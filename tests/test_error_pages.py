"""A bug is a 500 "internal error", calm and without a traceback; 503 is for a database that is
away (tests/test_outage.py stages a real one), never for a fault of ours.

The URL configuration here is the platform's own plus two views with a bug in them, so the
request runs through the real middleware and the real error handlers.
"""

from __future__ import annotations

import pytest
from django.db import IntegrityError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import include, path

from safepassage import urls as platform_urls
from tests.conftest import t


def _integrity_bug(request: HttpRequest, lang: str = "") -> HttpResponse:
    raise IntegrityError("DEMO: a constraint our code forgot")


def _plain_bug(request: HttpRequest, lang: str = "") -> HttpResponse:
    raise RuntimeError("DEMO: a bug")


def _database_away(request: HttpRequest) -> HttpResponse:
    raise OperationalError("DEMO: the database went away")


urlpatterns = [
    path("chat/<str:lang>/bug/", _plain_bug),
    path("console/bug/integrity/", _integrity_bug),
    path("console/bug/", _plain_bug),
    path("console/away/", _database_away),
    path("", include(platform_urls)),
]
handler400 = platform_urls.handler400
handler404 = platform_urls.handler404
handler500 = platform_urls.handler500

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_error_pages")]


@pytest.fixture
def anonymous() -> Client:
    return Client(raise_request_exception=False)


@override_settings(DEBUG=False)
@pytest.mark.parametrize("url", ["/console/bug/", "/console/bug/integrity/"])
def test_a_bug_in_the_console_is_a_500_not_an_outage(anonymous: Client, url: str) -> None:
    response = anonymous.get(url)
    assert response.status_code == 500
    assert "Retry-After" not in response
    body = response.content.decode()
    assert "Internal error" in body and "DEMO" not in body and "Traceback" not in body


@override_settings(DEBUG=False)
def test_a_bug_in_the_chat_is_a_calm_500_in_the_applicants_language(anonymous: Client) -> None:
    response = anonymous.get("/chat/uk/bug/")
    assert response.status_code == 500
    assert "Retry-After" not in response
    body = response.content.decode()
    assert t("uk", "chat.error") in body and "DEMO" not in body


@override_settings(DEBUG=False)
def test_a_database_that_is_away_is_still_a_503(anonymous: Client) -> None:
    response = anonymous.get("/console/away/")
    assert response.status_code == 503 and response["Retry-After"] == "30"
