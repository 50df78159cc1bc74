"""Faults during a stream of webhook updates, in real processes (docs/operations.md, "Faults").

Redis stopped and started again (a redis-server of the test's own), and PostgreSQL stopped and
started again (a cluster of the test's own), while applicants keep writing: every update
acknowledged is committed, the webhook answers 503 (never 500) while the database is away,
every process reconnects by itself, and no reply is sent twice. A sender killed mid-send is
tests/test_telegram_outbox_faults.py (its bound: one claimed batch).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from safepassage.testing.fake_telegram import FakeTelegram
from tests.fault_load import Stream
from tests.server import free_port, fresh_postgres_database
from tests.telegram_support import TOKEN
from tests.test_telegram_serve import rows, serve, wait_until

UNSENT = (
    "SELECT count(*) FROM channels_outboxmessage"
    " WHERE method = 'sendMessage' AND status NOT IN ('sent', 'failed')"
)
SENT = (
    "SELECT count(*) FROM channels_outboxmessage WHERE method = 'sendMessage' AND status = 'sent'"
)


def committed_ids(tmp_path: Path, database: str) -> set[int]:
    sql = "SELECT update_id FROM channels_telegramupdate"
    if database:
        with psycopg.connect(database) as conn:
            return {int(r[0]) for r in conn.execute(sql).fetchall()}
    import sqlite3

    with sqlite3.connect(tmp_path / "var" / "safepassage.sqlite3") as db:
        return {int(r[0]) for r in db.execute(sql).fetchall()}


def assert_nothing_lost_nothing_twice(
    tmp_path: Path, database: str, fake: FakeTelegram, stream: Stream
) -> None:
    assert len(stream.acked) == stream.users * 5  # every update answered 200 in the end
    assert stream.acked <= committed_ids(tmp_path, database)  # and every one acked is stored
    assert "500" not in stream.answers
    wait_until(lambda: rows(tmp_path, UNSENT, database) == 0, 120)
    sent = [
        (c.params.get("chat_id"), c.params.get("text"))
        for c in fake.calls(TOKEN, "sendMessage")
        if c.status == 200
    ]
    assert [pair for pair, n in Counter(sent).items() if n > 1] == []  # no reply sent twice
    assert len(sent) == rows(tmp_path, SENT, database)
    chats = {chat for chat, _ in sent}
    assert len(chats) == stream.users  # every applicant was answered


@contextmanager
def own_redis() -> Iterator[tuple[int, RedisControl]]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server to start one of our own")
    port = free_port()
    control = RedisControl(binary, port)
    control.start()
    try:
        yield port, control
    finally:
        control.stop()


@dataclass
class RedisControl:
    binary: str
    port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--protected-mode", "yes"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        wait_until(lambda: _pings(client), 10)
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def _pings(client: object) -> bool:
    import redis

    try:
        return bool(client.ping())  # type: ignore[attr-defined]
    except redis.RedisError:
        return False


def _status(url: str, data: bytes | None = None) -> int:
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _wrong_credentials(url: str) -> int:
    """A browser comes back with a wrong reference: the answer goes through the rate limiter."""
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with browser.open(url, timeout=10) as response:
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, "the return form has no token"
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token.group(1), "reference": "DEMO-0000", "passphrase": "DEMO"}
    )
    try:
        with browser.open(url, data=data.encode(), timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@contextmanager
def database_of_this_run() -> Iterator[tuple[str, int]]:
    """SQLite in the data dir (one web process) on the SQLite run; a fresh database on the
    machine's PostgreSQL with two web processes on the PostgreSQL run."""
    if connection.vendor != "postgresql":
        yield "", 1
        return
    with fresh_postgres_database() as url:
        yield url, 2


def test_redis_stopped_and_started_during_a_stream(tmp_path: Path) -> None:
    with (
        own_redis() as (redis_port, redis_server),
        database_of_this_run() as (database, processes),
        FakeTelegram([TOKEN], enforce_limits=False, strict_callbacks=False) as fake,
    ):
        port = free_port()
        env = {"SAFEPASSAGE_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
        with serve(tmp_path, fake, port, True, database, processes, env):
            stream = Stream(port, users=60, first_user=5_600_000_000, pause=0.02).start()
            wait_until(lambda: stream.progress >= 60)
            redis_server.stop()
            down_at = stream.progress
            # The rate limiter (here: coming back with a reference) turns to the database.
            assert _wrong_credentials(f"http://127.0.0.1:{port}/chat/ru/return/") == 400
            wait_until(lambda: stream.progress >= down_at + 80)  # intake goes on without Redis
            redis_server.start()
            stream.join()
            assert_nothing_lost_nothing_twice(tmp_path, database, fake, stream)


@dataclass
class Cluster:
    url: str
    bindir: Path
    data: Path
    base: Path
    options: str
    as_postgres: list[str]

    def pg_ctl(self, *args: str) -> None:
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "log")]
        subprocess.run(
            [*self.as_postgres, *command, *args], check=True, capture_output=True, timeout=60
        )

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        self.pg_ctl("-o", self.options, "-w", "start")


@contextmanager
def own_postgres() -> Iterator[Cluster]:
    """A cluster of the test's own on a free loopback port (the machine's serves others)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        pytest.skip("no PostgreSQL server binaries to start a cluster of our own")
    bindir = found[-1].parent
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="sp-pg-"))
    if as_postgres:
        shutil.chown(base, "postgres")
    port = free_port()
    cluster = Cluster(
        f"postgres://postgres@127.0.0.1:{port}/postgres",
        bindir,
        base / "data",
        base,
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off",
        as_postgres,
    )
    initdb = [str(bindir / "initdb"), "-D", str(cluster.data), "-U", "postgres", "--auth=trust"]
    subprocess.run([*as_postgres, *initdb, "--no-sync"], check=True, capture_output=True)
    cluster.start()
    try:
        yield cluster
    finally:
        subprocess.run(
            [
                *as_postgres,
                str(bindir / "pg_ctl"),
                "-D",
                str(cluster.data),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="stops a PostgreSQL cluster of its own whatever the run's database: run once, in "
    "the PostgreSQL pass",
)
def test_postgres_stopped_and_started_during_a_stream(tmp_path: Path) -> None:
    """Two web processes and the sender on a cluster that goes away for a few seconds, twice,
    while 60 applicants write: 503 while it is away, then every process carries on."""
    with (
        own_postgres() as cluster,
        FakeTelegram([TOKEN], enforce_limits=False, strict_callbacks=False) as fake,
    ):
        port = free_port()
        with serve(tmp_path, fake, port, True, cluster.url, 2):
            stream = Stream(port, users=60, first_user=5_700_000_000, pause=0.02).start()
            for round_ in range(2):
                wait_until(lambda r=round_: stream.progress >= 60 + 100 * r)
                cluster.stop()
                time.sleep(1.5)
                assert _status(f"http://127.0.0.1:{port}/readyz") == 503
                assert _status(f"http://127.0.0.1:{port}/healthz") == 200
                cluster.start()
            stream.join()
            assert stream.answers["503"] > 0  # the webhook refused while the database was away
            assert_nothing_lost_nothing_twice(tmp_path, cluster.url, fake, stream)
            for _ in range(6):  # whichever process answers is ready again
                assert _status(f"http://127.0.0.1:{port}/readyz") == 200
