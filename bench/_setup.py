"""Shared set-up for the benchmarks: a throw-away data dir and database, Django configured."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

POSTGRES = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")


@contextmanager
def database(kind: str) -> Iterator[str | None]:
    """None for SQLite (in the data dir), or the URL of a fresh PostgreSQL database."""
    if kind == "sqlite":
        yield None
        return
    name = f"sp_bench_{secrets.token_hex(4)}"
    admin = POSTGRES.rstrip("/") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES.rstrip("/") + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def data_dir() -> str:
    return tempfile.mkdtemp(prefix="sp-bench-")
