"""The outbox in real processes when things go wrong: PostgreSQL restarted mid-send repeats no
message; a SIGKILL between a Bot API call and its record repeats at most one claimed batch
(one row per chat), loses nothing, and never stops the other chats (docs/architecture.md,
"How a Telegram update flows", point 5)."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

from safepassage.channels.telegram.sender import BATCH
from safepassage.testing.fake_telegram import FakeTelegram
from tests.server import free_port
from tests.telegram_support import TOKEN
from tests.test_telegram_serve import rows, serve, wait_until

# Queues real messages (sealed under the data dir's key) for groups of new chats, each group
# round-robin ("DEMO <chat> <n>"), all in one transaction: the sender sees them at once. They
# are queued as the credentials message is (urgent: never merged or capped), so every one must
# arrive.
QUEUE = """
import os
from django.db import transaction
from safepassage.channels.models import TelegramChat
from safepassage.channels.telegram import outbox
with transaction.atomic(), outbox.deferred():
    for group in os.environ["DEMO_QUEUE"].split(";"):
        first, count, each = (int(v) for v in group.split(","))
        chats = TelegramChat.objects.bulk_create(
            TelegramChat(bot="main", pseudonym=f"DEMO-{first + n}",
                         chat_sealed=outbox.seal_chat_id(first + n))
            for n in range(count)
        )
        for m in range(each):
            for n, chat in enumerate(chats):
                outbox.do_send_text(chat, f"DEMO {first + n} {m}", urgent=True)
"""


def queue(tmp_path: Path, database: str, groups: list[tuple[int, int, int]]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        SAFEPASSAGE_DATA_DIR=str(tmp_path / "var"),
        DEMO_QUEUE=";".join(",".join(str(v) for v in group) for group in groups),
    )
    if database:
        env["DATABASE_URL"] = database
    subprocess.run(
        [sys.executable, "-m", "safepassage.cli", "manage", "shell", "-c", QUEUE],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )


def sent_texts(fake: FakeTelegram) -> Counter[str]:
    return Counter(
        str(c.params.get("text")) for c in fake.calls(TOKEN, "sendMessage") if c.status == 200
    )


def in_chat_order(fake: FakeTelegram) -> bool:
    """Each chat's messages arrived in the order they were queued (repeats aside)."""
    seen: dict[str, int] = {}
    for call in fake.calls(TOKEN, "sendMessage"):
        if call.status != 200:
            continue
        _, chat, n = str(call.params.get("text")).split()
        if int(n) < seen.get(chat, -1):
            return False
        seen[chat] = int(n)
    return True


UNSENT = "SELECT count(*) FROM channels_outboxmessage WHERE status <> 'sent'"


@contextmanager
def private_postgres() -> Iterator[tuple[str, Callable[[], None]]]:
    """A PostgreSQL cluster of the test's own on a free loopback port, to restart at will (the
    machine's cluster serves others)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        pytest.skip("no PostgreSQL server binaries to start a cluster of our own")
    bindir = found[-1].parent
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="sp-pg-"))
    if as_postgres:
        shutil.chown(base, "postgres")
    data, port = base / "data", free_port()
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"

    def pg_ctl(*args: str) -> None:
        command = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), *args]
        subprocess.run(as_postgres + command, check=True, capture_output=True, timeout=60)

    initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
    subprocess.run([*as_postgres, *initdb, "--no-sync"], check=True, capture_output=True)
    pg_ctl("-o", options, "-w", "start")
    try:
        yield (
            f"postgres://postgres@127.0.0.1:{port}/postgres",
            lambda: pg_ctl("-o", options, "-w", "-m", "fast", "restart"),
        )
    finally:
        subprocess.run(
            [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="restarts a PostgreSQL cluster of its own whatever the run's database: run once, in "
    "the PostgreSQL pass",
)
def test_a_database_restart_mid_send_repeats_no_message(tmp_path: Path) -> None:
    """`pg_ctl restart -m fast` three times while 400 messages go out: the sender keeps what
    it sent until it can record it, so every message goes out exactly once, in order."""
    chats, each = 40, 10
    with private_postgres() as (database, restart), FakeTelegram([TOKEN]) as fake:
        with serve(tmp_path, fake, free_port(), webhook=False, database=database):
            queue(tmp_path, database, [(5180000000, chats, each)])
            for _ in range(3):
                before = sum(sent_texts(fake).values())
                wait_until(lambda before=before: sum(sent_texts(fake).values()) > before + 40)
                restart()
            wait_until(lambda: rows(tmp_path, UNSENT, database) == 0, 150)
        counts = sent_texts(fake)
    assert len(counts) == chats * each
    assert [text for text, n in counts.items() if n > 1] == []
    assert in_chat_order(fake)


def sending(tmp_path: Path) -> list[int]:
    with sqlite3.connect(tmp_path / "var" / "safepassage.sqlite3", timeout=30) as db:
        found = db.execute("SELECT id FROM channels_outboxmessage WHERE status = 'sending'")
        return [int(row[0]) for row in found.fetchall()]


def expire(tmp_path: Path, ids: list[int]) -> None:
    """Let the leases of these rows run out (60 s) at once; the live sender's own claims keep
    theirs (an earlier version of this test expired those too, and its records were then
    rightly refused: the rows of a claim in flight were counted as repeats of the dead one)."""
    with sqlite3.connect(tmp_path / "var" / "safepassage.sqlite3", timeout=30) as db:
        db.executemany(
            "UPDATE channels_outboxmessage SET lease_until = '2000-01-01 00:00:00'"
            " WHERE status = 'sending' AND id = ?",
            [(pk,) for pk in ids],
        )


@pytest.mark.parametrize("batch", [BATCH, 7])
def test_sigkill_between_call_and_record_repeats_at_most_one_batch(
    tmp_path: Path, batch: int
) -> None:
    """60 chats with 17 messages each, then 20 chats with one. The worker is killed while the
    oldest row of each of the 60 chats goes out. After the restart the 20 other chats get
    theirs at once although the rows of the dead worker's claim wait behind their leases; once
    those ran out, each row of that one claim (at most ``batch`` rows, one per chat) that had
    been sent is sent once more, and nothing is lost."""
    stuck, each, others = 60, 17, 20
    env = {"TELEGRAM_CLAIM_BATCH": str(batch)}
    with FakeTelegram([TOKEN], enforce_limits=False) as fake:
        port = free_port()
        with serve(tmp_path, fake, port, webhook=False, extra_env=env) as process:
            queue(tmp_path, "", [(5190000000, stuck, each), (5191000000, others, 1)])
            wait_until(lambda: sum(sent_texts(fake).values()) >= min(10, batch - 2))
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        before_kill = sent_texts(fake)
        assert 0 < sum(before_kill.values()) < stuck, "the kill must land within the first rows"
        claimed = sending(tmp_path)  # the dead worker's one claim (none: killed between two)
        assert len(claimed) <= batch
        with serve(tmp_path, fake, port, webhook=False, extra_env=env):
            started = time.monotonic()
            late = [f"DEMO {5191000000 + n} 0" for n in range(others)]
            wait_until(lambda: all(text in sent_texts(fake) for text in late), 15)
            assert time.monotonic() - started < 15
            expire(tmp_path, claimed)
            wait_until(lambda: rows(tmp_path, UNSENT) == 0, 120)
        counts = sent_texts(fake)
    assert len(counts) == stuck * each + others  # nothing lost
    repeated = {text for text, n in counts.items() if n > 1}
    assert max(counts.values()) <= 2
    assert repeated <= set(before_kill)  # only rows the dead worker had sent
    assert len(repeated) <= len(claimed) <= batch  # of its one claim
    assert in_chat_order(fake)
