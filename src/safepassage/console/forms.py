"""Reading the console's form fields: clean, bounded, and a clear error when they do not fit."""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.http import QueryDict
from django.utils import timezone

from safepassage.web.forms import clean_text


class Invalid(ValueError):
    """A field does not fit; ``str()`` names it in plain words."""


def text(data: QueryDict, name: str, limit: int = 4000) -> str:
    value = (clean_text(data.get(name)) or "").strip()
    if len(value) > limit:
        raise Invalid(f"'{name}' is longer than {limit} characters.")
    return value


def version(data: QueryDict) -> int | None:
    raw = data.get("version")
    return int(raw) if raw and raw.isdigit() else None


def whole(data: QueryDict, name: str, low: int, high: int) -> int:
    raw = (data.get(name) or "").strip()
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise Invalid(f"'{name}' must be a whole number from {low} to {high}.")
    return int(raw)


def day(data: QueryDict, name: str) -> date | None:
    raw = (data.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise Invalid(f"'{name}' must be a date (YYYY-MM-DD).") from exc


def moment(data: QueryDict, name: str) -> datetime:
    """A datetime-local field, read in UTC (the console shows UTC throughout)."""
    raw = (data.get(name) or "").strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise Invalid(f"'{name}' must be a date and time.") from exc
    return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)


def choice(data: QueryDict, name: str, allowed: dict[str, str] | list[str]) -> str:
    value = data.get(name) or ""
    if value not in allowed:
        raise Invalid(f"Choose a value for '{name}'.")
    return value
