"""Service health for supervisors and admins: figures only (web.service_health), no case."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from safepassage.console.guard import staff_view
from safepassage.web import service_health


@staff_view("health")
def health(request: HttpRequest) -> HttpResponse:
    return render(request, "console/health.html", {"health": service_health.gather()})
