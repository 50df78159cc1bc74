"""``Model.save(update_fields=...)`` without building the query each time, and, within
:func:`deferred`, one statement per table for a whole batch.

The two writes every Telegram update makes (the case's answers, the conversation's state) went
through Django's query compiler once per update, which cost more CPU than the rest of the flow
step (docs/performance.md). :func:`update_fields` builds the statement once per model, field
list and database, with the connection's own quoting, and takes each value through its field
exactly as ``save`` does (``pre_save``: ``auto_now``, coarse times; ``get_db_prep_save``: JSON,
binary), so the row is what ``save(update_fields=...)`` would have written. A model with
``pre_save``/``post_save`` receivers is saved by ``save`` itself, so no signal is skipped.

Inside :func:`deferred` (a batch of Telegram updates, in one transaction) the values are taken
at the call, as above, but written later: every row of a table in one ``UPDATE … FROM (VALUES
…)`` on PostgreSQL (one ``executemany`` elsewhere) when the block ends, or at once before any
other statement on the connection names that table (an execute wrapper), so that nothing in the
transaction can read a value older than the one given, and writes land in the order they were
made. A row given twice keeps the later value of each field, as two saves would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from django.db import DatabaseError, connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model, signals
from django.db.models.expressions import DatabaseDefault

# (model, field names, database alias) -> (statement, fields)
_statements: dict[tuple[type[Model], tuple[str, ...], str], tuple[str, list[Any]]] = {}
# (model, field names, database alias, rows) -> statement
_many: dict[tuple[type[Model], tuple[str, ...], str, int], str] = {}


@dataclass
class _Pending:
    alias: str
    # (model, pk value) -> {field name: value ready for the database}, in the order given
    rows: dict[tuple[type[Model], Any], dict[str, Any]] = field(default_factory=dict)
    tables: set[str] = field(default_factory=set)  # quoted names of the rows' tables
    flushing: bool = False


_local = threading.local()


def update_fields(instance: Model, names: Sequence[str]) -> None:
    model = type(instance)
    if signals.pre_save.has_listeners(model) or signals.post_save.has_listeners(model):
        instance.save(update_fields=list(names))
        return
    alias = router.db_for_write(model, instance=instance)
    connection = connections[alias]
    sql, fields = _statement(model, tuple(names), alias, connection)
    values = [
        field.get_db_prep_save(field.pre_save(instance, False), connection) for field in fields
    ]
    pk: Any = model._meta.pk
    key = pk.get_db_prep_value(instance.pk, connection)
    pending: _Pending | None = getattr(_local, "pending", None)
    if pending is not None and pending.alias == alias:
        row = pending.rows.setdefault((model, key), {})
        row.update(zip(names, values, strict=True))
        pending.tables.add(connection.ops.quote_name(model._meta.db_table))
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, key])
        if cursor.rowcount != 1:
            raise DatabaseError("Save with update_fields did not affect any rows.")


def insert(instance: Model) -> None:
    """``instance.save(force_insert=True)`` with the statement built once per model: every
    concrete field through ``pre_save(add=True)`` and ``get_db_prep_save`` as ``save`` does,
    the key read back when the database makes it. Models with receivers or parents, and
    instances with a field left to its database default, go through ``save`` itself."""
    model = type(instance)
    meta = model._meta
    if (
        signals.pre_save.has_listeners(model)
        or signals.post_save.has_listeners(model)
        or meta.parents
    ):
        instance.save(force_insert=True)
        return
    alias = router.db_for_write(model, instance=instance)
    connection = connections[alias]
    pk: Any = meta.pk
    generated_key = instance.pk is None and pk.db_returning
    sql, fields = _insert_statement(model, alias, connection, generated_key)
    values = _insert_values([instance], fields, connection, "save")
    if values is None:
        instance.save(force_insert=True)
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        if generated_key:
            if connection.features.can_return_columns_from_insert:
                row = cursor.fetchone()
                key = row[0] if row else None
            else:
                key = connection.ops.last_insert_id(cursor, meta.db_table, pk.column)
            setattr(instance, pk.attname, key)
    _stored([instance], alias)


def insert_many(instances: Sequence[Model]) -> None:
    """``bulk_create(instances)`` for rows of one model, with the statement built once per
    model and row count; keys made by the database are read back as ``bulk_create`` does."""
    if not instances:
        return
    model = type(instances[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    pk: Any = model._meta.pk
    generated_key = pk.db_returning and all(i.pk is None for i in instances)
    single, fields = _insert_statement(model, alias, connection, generated_key)
    if (
        model._meta.parents
        or any(type(i) is not model or (i.pk is None) != generated_key for i in instances)
        or (generated_key and not connection.features.can_return_rows_from_bulk_insert)
    ):
        model.objects.bulk_create(instances)  # type: ignore[attr-defined]
        return
    size = max(connection.ops.bulk_batch_size(fields, instances), 1)  # SQLite's variable limit
    if len(instances) > size:
        for start in range(0, len(instances), size):
            insert_many(instances[start : start + size])
        return
    values = _insert_values(instances, fields, connection, "bulk_create")
    if values is None:
        model.objects.bulk_create(instances)  # type: ignore[attr-defined]
        return
    with connection.cursor() as cursor:
        cursor.execute(_rows_statement(single, len(instances)), values)
        if " RETURNING " in single:
            for instance, (key,) in zip(instances, cursor.fetchall(), strict=True):
                setattr(instance, pk.attname, key)
    _stored(instances, alias)


def _rows_statement(single: str, count: int) -> str:
    """The one-row INSERT of :func:`_insert_statement` for ``count`` rows."""
    head, _, tail = single.partition(" VALUES ")
    row, _, returning = tail.partition(" RETURNING ")
    rows = f"{head} VALUES {', '.join([row] * count)}"
    return f"{rows} RETURNING {returning}" if returning else rows


def _insert_values(
    instances: Sequence[Model], fields: list[Any], connection: BaseDatabaseWrapper, operation: str
) -> list[Any] | None:
    """Every row's values as ``save`` prepares them; None when a field is left to its database
    default (the caller lets Django write that row)."""
    given: list[Any] = []
    for instance in instances:
        # What save() checks first: a related object assigned unsaved is an error, not a NULL.
        cast(Any, instance)._prepare_related_fields_for_save(operation_name=operation)
        given += [f.pre_save(instance, True) for f in fields]
    if any(isinstance(value, DatabaseDefault) for value in given):
        return None
    return [
        f.get_db_prep_save(value, connection)
        for f, value in zip(fields * len(instances), given, strict=True)
    ]


def _stored(instances: Sequence[Model], alias: str) -> None:
    for instance in instances:
        instance._state.adding = False
        instance._state.db = alias


def _insert_statement(
    model: type[Model], alias: str, connection: BaseDatabaseWrapper, generated_key: bool
) -> tuple[str, list[Any]]:
    cache_key = (model, ("+insert", str(generated_key)), alias)
    if cache_key not in _statements:
        meta = model._meta
        pk: Any = meta.pk
        fields: list[Any] = [
            f
            for f in meta.local_concrete_fields
            if not (generated_key and f is pk) and not getattr(f, "generated", False)
        ]
        quote = connection.ops.quote_name
        columns = ", ".join(quote(str(f.column)) for f in fields)
        sql = (
            f"INSERT INTO {quote(meta.db_table)} ({columns})"  # noqa: S608 (see docstring)
            f" VALUES ({', '.join(['%s'] * len(fields))})"
        )
        if generated_key and connection.features.can_return_columns_from_insert:
            sql += f" RETURNING {quote(str(pk.column))}"
        _statements[cache_key] = (sql, fields)
    return _statements[cache_key]


@contextmanager
def deferred(alias: str = "default") -> Iterator[None]:
    """Collect :func:`update_fields` writes (see the module's docstring); use inside a
    transaction. An exception leaves what was collected unwritten."""
    pending = _Pending(alias)
    connection = connections[alias]
    _local.pending = pending
    try:
        with connection.execute_wrapper(_write_first):
            yield
            _flush(pending, connection)
    finally:
        _local.pending = None


SAVEPOINT_STATEMENTS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


def _write_first(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """Before a statement that names a table with collected writes, or a savepoint statement,
    write them. A plain INSERT of new rows can neither read nor overwrite the rows waiting to
    be updated."""
    pending: _Pending | None = getattr(_local, "pending", None)
    if (
        pending is not None
        and pending.rows
        and not pending.flushing
        and (
            # A savepoint's rollback must undo exactly what was given after it began.
            sql.startswith(SAVEPOINT_STATEMENTS)
            or (
                any(table in sql for table in pending.tables)
                and not (sql.startswith("INSERT INTO") and "ON CONFLICT" not in sql)
            )
        )
    ):
        _flush(pending, context["connection"])
    return execute(sql, params, many, context)


def _flush(pending: _Pending, connection: BaseDatabaseWrapper) -> None:
    groups: dict[tuple[type[Model], tuple[str, ...]], list[tuple[Any, dict[str, Any]]]] = {}
    for (model, key), values in pending.rows.items():
        groups.setdefault((model, tuple(values)), []).append((key, values))
    pending.rows, pending.tables = {}, set()
    pending.flushing = True
    try:
        for (model, names), rows in groups.items():
            # Sorted for a stable statement. Lock order is not what keeps batches apart: every
            # row a batch updates hangs off a conversation it has locked (or created).
            rows.sort(key=lambda row: row[0])
            _write(connection, model, names, rows)
    finally:
        pending.flushing = False


def _write(
    connection: BaseDatabaseWrapper,
    model: type[Model],
    names: tuple[str, ...],
    rows: list[tuple[Any, dict[str, Any]]],
) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            sql = _values_statement(model, names, connection, len(rows))
            cursor.execute(sql, [v for key, values in rows for v in (key, *values.values())])
        else:
            sql, _ = _statement(model, names, connection.alias, connection)
            cursor.executemany(sql, [[*values.values(), key] for key, values in rows])
        if cursor.rowcount != len(rows):
            raise DatabaseError("Save with update_fields did not affect every row.")


def _statement(
    model: type[Model], names: tuple[str, ...], alias: str, connection: BaseDatabaseWrapper
) -> tuple[str, list[Any]]:
    """Identifiers come from the model's own metadata, quoted by the connection; every value
    is a parameter."""
    cache_key = (model, names, alias)
    if cache_key not in _statements:
        quote = connection.ops.quote_name
        fields: list[Any] = [model._meta.get_field(name) for name in names]
        sets = ", ".join(f"{quote(str(f.column))} = %s" for f in fields)
        pk: Any = model._meta.pk
        table, key = quote(model._meta.db_table), quote(str(pk.column))
        sql = f"UPDATE {table} SET {sets} WHERE {key} = %s"  # noqa: S608 (see docstring)
        _statements[cache_key] = (sql, fields)
    return _statements[cache_key]


def _values_statement(
    model: type[Model], names: tuple[str, ...], connection: BaseDatabaseWrapper, count: int
) -> str:
    """``UPDATE t SET a = v.a::type … FROM (VALUES (%s, …), …) v WHERE t.pk = v.pk``: each
    column cast to its own type, since a column of NULLs in VALUES would be text."""
    cache_key = (model, names, connection.alias, count)
    if cache_key not in _many:
        quote = connection.ops.quote_name
        pk: Any = model._meta.pk
        columns = [pk, *(model._meta.get_field(name) for name in names)]
        aliases = [f"c{n}" for n in range(len(columns))]
        sets = ", ".join(
            f"{quote(str(f.column))} = v.{a}::{_cast(f, connection)}"
            for f, a in zip(columns[1:], aliases[1:], strict=True)
        )
        row = "(" + ", ".join(["%s"] * len(columns)) + ")"
        table = quote(model._meta.db_table)
        _many[cache_key] = (
            f"UPDATE {table} SET {sets} FROM (VALUES {', '.join([row] * count)})"  # noqa: S608
            f" AS v({', '.join(aliases)})"
            f" WHERE {table}.{quote(str(pk.column))} = v.c0::{pk.db_type(connection)}"
        )
    return _many[cache_key]


def _cast(field: Any, connection: BaseDatabaseWrapper) -> str:
    """The type a VALUES column is cast to: the column's own, except that a length or
    precision is left to the assignment, which refuses a value too long (as ``save`` would)
    where an explicit cast would cut it."""
    kind = str(field.db_type(connection))
    return kind.split("(")[0] if "(" in kind else kind
