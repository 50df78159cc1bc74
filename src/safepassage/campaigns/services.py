"""Attribution of contacts to campaigns."""

from __future__ import annotations

import re

from safepassage.campaigns.models import Campaign

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def find_active(code: str | None) -> Campaign | None:
    """The active campaign with this code, or None: an unknown or malformed code is ignored,
    so that a forged or mistyped leaflet link still leads to a working chat."""
    if not code or not _CODE.match(code):
        return None
    return Campaign.objects.filter(code=code.lower(), active=True).first()


def by_id(campaign_id: object) -> Campaign | None:
    if not isinstance(campaign_id, int):
        return None
    return Campaign.objects.filter(pk=campaign_id, active=True).first()
