"""What the console's frame needs on every page: which sections this user may open."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django.utils import timezone

from safepassage.console import access, auth, first_login, guard


def console_nav(request: HttpRequest) -> dict[str, object]:
    if not request.path.startswith("/console/"):
        return {}
    # The zone every time on the page is shown in (console.middleware), named next to them.
    zone = {"time_zone": timezone.get_current_timezone_name()}
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": {}, **zone}
    # The menu appears once a second factor is passed in this session and the member's own
    # password chosen: before that, the only page they can reach is the one in front of them.
    if not isinstance(user, User):
        return {"nav": {}, **zone}
    checked = getattr(request, guard.CHECKED, False)  # staff_view checked it all already
    if not checked and (auth.session_state(request, user) != "ok" or first_login.must_choose(user)):
        return {"nav": {}, **zone}
    return {
        **zone,
        "nav": {
            "service": access.can(user, "service"),
            "overview": access.can(user, "overview"),
            "queue": access.can(user, "queue"),
            "hotline": access.can(user, "hotline"),
            "field": access.can(user, "field"),
            "staff": access.can(user, "staff"),
            "keys": access.can(user, "keys"),
            "campaigns": access.can(user, "campaigns"),
            "reports": access.can(user, "reports"),
            "replies": access.can(user, "replies"),
        },
    }
