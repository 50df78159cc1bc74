"""Shared set-up for the benchmarks: a throw-away data dir and database, Django configured."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

POSTGRES = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
PREFIX = os.environ.get("BENCH_DB_PREFIX", "sp_bench")  # the throw-away databases' names


@contextmanager
def database(kind: str) -> Iterator[str | None]:
    """None for SQLite (in the data dir), or the URL of a fresh PostgreSQL database."""
    if kind == "sqlite":
        yield None
        return
    name = f"{PREFIX}_{secrets.token_hex(4)}"
    admin = POSTGRES.rstrip("/") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES.rstrip("/") + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fake_bot_api(token: str | list[str], limits: bool = True) -> Iterator[str]:
    """The local fake Bot API in its own process; yields its base URL."""
    args = [sys.executable, "-m", "safepassage.testing.fake_telegram"]
    for one in [token] if isinstance(token, str) else token:
        args += ["--token", one]
    if not limits:
        args.append("--no-limits")
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def stats(base_url: str, token: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}/_fake/stats/{token}", timeout=10) as response:  # noqa: S310
        data: dict[str, Any] = json.loads(response.read())
    return data


def data_dir() -> str:
    return tempfile.mkdtemp(prefix="sp-bench-")
