"""What the console's frame needs on every page: which sections this user may open."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from safepassage.console import access


def console_nav(request: HttpRequest) -> dict[str, object]:
    if not request.path.startswith("/console/"):
        return {}
    # The zone every time on the page is shown in (console.middleware), named next to them.
    zone = {"time_zone": timezone.get_current_timezone_name()}
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": {}, **zone}
    return {
        **zone,
        "nav": {
            "queue": access.can(user, "queue"),
            "hotline": access.can(user, "hotline"),
            "field": access.can(user, "field"),
            "staff": access.can(user, "staff"),
            "keys": access.can(user, "keys"),
        },
    }
