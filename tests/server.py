"""Run the real platform (`safepassage serve`) in a subprocess, as the quick start does."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from django.db import connection


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Platform:
    url: str
    username: str
    password: str
    output: Path
    database_url: str | None


def postgres_admin_dsn() -> str:
    s = connection.settings_dict
    return (
        f"host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432} "
        f"user={s['USER'] or 'postgres'} dbname=postgres"
    )


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    s = connection.settings_dict
    name = f"sp_live_{secrets.token_hex(4)}"
    with psycopg.connect(postgres_admin_dsn(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield (
            f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:"
            f"{s['PORT'] or 5432}/{name}"
        )
    finally:
        with psycopg.connect(postgres_admin_dsn(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def refusing_connections(url: str) -> Iterator[None]:
    """The database of ``url`` refuses new connections and its open ones are cut (a database
    that went away, as the platform sees it), until the block ends."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_admin_dsn(), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
    try:
        yield
    finally:
        with psycopg.connect(postgres_admin_dsn(), autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def wait_healthy(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not become healthy")


@contextmanager
def running_platform(
    tmp_path: Path, database_url: str | None = None, extra_env: dict[str, str] | None = None
) -> Iterator[Platform]:
    port = free_port()
    data_dir = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SAFEPASSAGE_DATA_DIR"}}
    env["SAFEPASSAGE_DATA_DIR"] = str(data_dir)
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update(extra_env or {})
    output = tmp_path / "serve.log"
    with output.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "safepassage.cli", "serve", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url)
        # Output is not a terminal here, so the one-time credentials go to a 0600 file.
        assert "First admin account written to" in output.read_text()
        text = (data_dir / "first-admin.txt").read_text()
        user = re.search(r"username: (\S+)", text)
        password = re.search(r"password: (\S+)", text)
        assert user and password, text
        yield Platform(url, user.group(1), password.group(1), output, database_url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
