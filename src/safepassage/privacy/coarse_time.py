"""Timestamps stored no finer than the workflow needs (docs/threat-model.md, "Timestamps").

A stolen database with microsecond times lets an adversary match an applicant's activity
against phone or network logs. ``CoarseDateTimeField(precision="minute")`` floors every value
it writes, in UTC, to the minute, hour or day, whoever writes it: ``auto_now``/``auto_now_add``,
an assigned value, ``create``, ``bulk_create``, ``bulk_update`` and ``QuerySet.update`` all pass
through :meth:`CoarseDateTimeField.pre_save` or :meth:`CoarseDateTimeField.get_db_prep_save`.

Only writes are coarsened. Lookups compare the stored (coarse) value against the exact value
given (``updated_at__lt=now - 24h``), so a cut-off means what it says. Database expressions in
``update()`` (``F(...) + delta``) and raw SQL are not coarsened: nothing writes these columns so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, get_args

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.functions import Trunc

Precision = Literal["minute", "hour", "day"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)


def coarsen(value: datetime, precision: Precision) -> datetime:
    """Floor ``value`` to ``precision``. Aware values are floored in UTC (and returned in UTC),
    so that a day means a UTC day whatever time zone the value came in; naive ones as given."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    value = value.replace(second=0, microsecond=0)
    if precision in ("hour", "day"):
        value = value.replace(minute=0)
    if precision == "day":
        value = value.replace(hour=0)
    return value


class CoarseDateTimeField(models.DateTimeField):  # type: ignore[type-arg]
    """A DateTimeField that stores only the minute, hour or day of what is written to it."""

    description = "Date and time, stored to a fixed precision"

    def __init__(self, *args: Any, precision: Precision, **kwargs: Any) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
        self.precision: Precision = precision
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["precision"] = self.precision
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = super().pre_save(model_instance, add)
        if isinstance(value, datetime):
            coarse = coarsen(value, self.precision)
            # The instance holds afterwards what the database holds.
            setattr(model_instance, self.attname, coarse)
            return coarse
        return value

    def get_db_prep_save(self, value: Any, connection: BaseDatabaseWrapper) -> Any:
        # Every write of a plain value (insert, update(), bulk_update) passes here; lookups
        # do not, so filters keep their exact cut-offs.
        if value is not None and not hasattr(value, "as_sql"):
            prepared = self.get_prep_value(value)  # parses strings, makes naive values aware
            if isinstance(prepared, datetime):
                value = coarsen(prepared, self.precision)
        return super().get_db_prep_save(value, connection)


def truncate_existing(model: type[models.Model], fields: dict[str, Precision]) -> None:
    """Coarsen the values already stored (a migration's data step): one UPDATE per field, done
    by the database itself (``date_trunc`` on PostgreSQL, Django's function on SQLite)."""
    manager = model._default_manager
    for name, precision in fields.items():
        manager.exclude(**{f"{name}__isnull": True}).update(
            **{name: Trunc(name, precision, tzinfo=UTC)}
        )
