"""The console in the staff member's own time zone (and language, from the login page on).

Times are stored in UTC. On console pages Django's current time zone is the one on the staff
member's profile, or the deployment's default (``SAFEPASSAGE_TIME_ZONE``) when they chose none
or nobody is logged in: templates show every time in it and forms read every date and time
typed into a ``datetime-local`` field in it (Django's ``DateTimeField``). Other pages (the
applicant chat, the webhook) keep UTC.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import UTC
from functools import lru_cache

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from safepassage.console.guard import activate_language

Handler = Callable[[HttpRequest], HttpResponse]


@lru_cache(maxsize=64)
def zone(name: str) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def time_zone_of(user: object) -> str:
    """The IANA name the console uses for ``user``: their choice, else the deployment's."""
    profile = getattr(user, "staff_profile", None) if user is not None else None
    chosen = getattr(profile, "time_zone", "") if profile is not None else ""
    if chosen and zone(chosen) is not None:
        return str(chosen)
    return str(settings.CONSOLE_DEFAULT_TIME_ZONE)


class StaffTimeZoneMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/console/"):
            return self.get_response(request)
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        timezone.activate(zone(time_zone_of(user if signed_in else None)) or UTC)
        if isinstance(user, User) and signed_in:
            # The member's language on every console page, the login and second-factor pages
            # included (staff_view does the same for the pages behind it).
            activate_language(user)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
