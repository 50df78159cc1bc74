from __future__ import annotations

from django.urls import include, path
from django.views.generic.base import RedirectView

from safepassage.channels.telegram import views as telegram_views
from safepassage.channels.webchat import official
from safepassage.web import health

urlpatterns = [
    path("", RedirectView.as_view(url="/chat/", permanent=False)),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics_view, name="metrics"),
    path("chat/", include("safepassage.channels.webchat.urls")),
    path("official/", official.page, name="official"),
    path("official/list.json", official.document, name="official-list"),
    path("console/", include("safepassage.console.urls")),
    path("tg/<slug:slug>/webhook", telegram_views.webhook, name="telegram-webhook"),
]

handler400 = "safepassage.web.errors.bad_request"
handler404 = "safepassage.web.errors.not_found"
handler500 = "safepassage.web.errors.server_error"
