"""The encrypted backup and its restore, for real (deploy/backup/, docs/operations.md "Backups"):
applications are made through the web chat, `safepassage-backup` dumps the PostgreSQL database
through gpg to a public key, the file shows nothing of them, and `safepassage-restore` (with
the private key) fills a fresh database in which each case is found by its reference."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.test import Client

from safepassage.privacy import references
from tests.conftest import DEMO_APPLICANT, ChatDriver
from tests.server import fresh_postgres_database

ROOT = Path(__file__).resolve().parents[1]
BACKUP = ROOT / "deploy" / "backup"

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql"
    or not (shutil.which("gpg") and shutil.which("pg_dump") and shutil.which("pg_restore")),
    reason="a PostgreSQL backup: needs the PostgreSQL run, gpg and pg_dump/pg_restore",
)


def _database_url() -> str:
    s = connection.settings_dict
    return (
        f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:"
        f"{s['PORT'] or 5432}/{s['NAME']}"
    )


def _key_pair(home: Path) -> Path:
    """A throwaway backup key pair (DEMO): the public half for the server, both in ``home``."""
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--quiet", "--passphrase", ""]
    uid = "DEMO backup <backup@example.invalid>"
    subprocess.run([*gpg, "--quick-gen-key", uid, "future-default", "default", "never"], check=True)
    public = home.parent / "backup-public.asc"
    with public.open("wb") as out:
        subprocess.run([*gpg, "--armor", "--export", uid], check=True, stdout=out)
    return public


@pytest.mark.django_db(transaction=True)
def test_encrypted_backup_restores_into_a_fresh_database(tmp_path: Path) -> None:
    credentials = [ChatDriver(Client(), lang).apply() for lang in ("ru", "ko", "uk")]
    public = _key_pair(tmp_path / "gnupg")
    backups = tmp_path / "backups"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "BACKUP_RECIPIENT": str(public),
        "BACKUP_DIR": str(backups),
    }
    env.pop("GNUPGHOME", None)  # the server side holds no private key
    done = subprocess.run(
        [str(BACKUP / "safepassage-backup")], env=env, check=True, capture_output=True, text=True
    )
    written = Path(done.stdout.strip())
    assert written.parent == backups and written.name.endswith(".dump.gpg")
    assert oct(written.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in backups.iterdir()] == [written.name]  # no partial file left
    data = written.read_bytes()
    assert not data.startswith(b"PGDMP")  # not a plain dump
    for value in DEMO_APPLICANT.values():
        assert value.encode() not in data
    for reference, _ in credentials:
        assert reference.encode() not in data

    with fresh_postgres_database() as restored:
        restore_env = {**os.environ, "GNUPGHOME": str(tmp_path / "gnupg")}
        subprocess.run(
            [str(BACKUP / "safepassage-restore"), str(written), restored],
            env=restore_env,
            check=True,
            capture_output=True,
        )
        with psycopg.connect(restored) as conn:
            for reference, _ in credentials:
                found = conn.execute(
                    "SELECT status FROM cases_case WHERE reference_digest = %s",
                    [references.reference_digest(reference)],
                ).fetchone()
                assert found == ("new",), reference
            restored_cases = conn.execute("SELECT count(*) FROM cases_case").fetchone()
        assert restored_cases == (3,)

    # Without the private key the backup opens for nobody.
    with fresh_postgres_database() as other:
        empty_home = tmp_path / "no-key"
        empty_home.mkdir(mode=0o700)
        refused = subprocess.run(
            [str(BACKUP / "safepassage-restore"), str(written), other],
            env={**os.environ, "GNUPGHOME": str(empty_home)},
            capture_output=True,
        )
        assert refused.returncode != 0
