"""``Model.save(update_fields=...)`` without building the query each time.

The two writes every Telegram update makes (the case's answers, the conversation's state) went
through Django's query compiler once per update, which cost more CPU than the rest of the flow
step (docs/performance.md). :func:`update_fields` builds the statement once per model, field
list and database, with the connection's own quoting, and takes each value through its field
exactly as ``save`` does (``pre_save``: ``auto_now``, coarse times; ``get_db_prep_save``: JSON,
binary), so the row is what ``save(update_fields=...)`` would have written. A model with
``pre_save``/``post_save`` receivers is saved by ``save`` itself, so no signal is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import DatabaseError, connections, router
from django.db.models import Model, signals

# (model, field names, database alias) -> (statement, fields)
_statements: dict[tuple[type[Model], tuple[str, ...], str], tuple[str, list[Any]]] = {}


def update_fields(instance: Model, names: Sequence[str]) -> None:
    model = type(instance)
    if signals.pre_save.has_listeners(model) or signals.post_save.has_listeners(model):
        instance.save(update_fields=list(names))
        return
    alias = router.db_for_write(model, instance=instance)
    connection = connections[alias]
    key = (model, tuple(names), alias)
    if key not in _statements:
        _statements[key] = _statement(model, names, connection.ops.quote_name)
    sql, fields = _statements[key]
    values = [
        field.get_db_prep_save(field.pre_save(instance, False), connection) for field in fields
    ]
    pk: Any = model._meta.pk
    values.append(pk.get_db_prep_value(instance.pk, connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        if cursor.rowcount != 1:
            raise DatabaseError("Save with update_fields did not affect any rows.")


def _statement(
    model: type[Model], names: Sequence[str], quote: Callable[[str], str]
) -> tuple[str, list[Any]]:
    """Identifiers come from the model's own metadata, quoted by the connection; every value
    is a parameter."""
    fields: list[Any] = [model._meta.get_field(name) for name in names]
    sets = ", ".join(f"{quote(str(field.column))} = %s" for field in fields)
    pk: Any = model._meta.pk
    table, key = quote(model._meta.db_table), quote(str(pk.column))
    return f"UPDATE {table} SET {sets} WHERE {key} = %s", fields  # noqa: S608 (see docstring)
