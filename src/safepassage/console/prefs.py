"""A staff member's own display settings: the time zone the console shows and reads times in
(console.middleware activates it on every console page)."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


@lru_cache(maxsize=1)
def time_zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones() | {"UTC"}))


class TimeZoneForm(forms.Form):
    """An IANA zone name; "" means the deployment's default (SAFEPASSAGE_TIME_ZONE)."""

    time_zone = forms.ChoiceField(
        required=False,
        error_messages={"invalid_choice": _("Choose one of the values offered.")},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [("", ""), *((n, n) for n in time_zone_names())]  # type: ignore[attr-defined]


def account_context(profile: object, form: TimeZoneForm | None = None) -> dict[str, object]:
    chosen = getattr(profile, "time_zone", "") or ""
    return {
        "time_zones": time_zone_names(),
        "default_time_zone": settings.CONSOLE_DEFAULT_TIME_ZONE,
        "time_zone_form": form or TimeZoneForm(initial={"time_zone": chosen}),
    }
