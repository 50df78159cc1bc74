"""Shared set-up for the benchmarks: a throw-away data dir and database, Django configured."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, path: str = "", seconds: float = 60) -> None:
    """Until the port takes connections, or ``path`` answers 2xx/3xx."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if path:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2):
                    return
            else:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"port {port} did not open")


def start_serve(env: dict[str, str], data: str, port: int) -> subprocess.Popen[bytes]:
    """`safepassage serve` on 127.0.0.1:``port`` with ``env``, working in ``data`` and
    writing its output to ``data``/serve.log."""
    with (Path(data) / "serve.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "safepassage.cli", "serve", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=data,
        )
