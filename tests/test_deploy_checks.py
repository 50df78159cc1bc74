"""`check --deploy` is clean in the onion-only and the HTTPS deployment modes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("https", ["0", "1"])
def test_check_deploy_is_clean(tmp_path: Path, https: str) -> None:
    env = {**os.environ, "SAFEPASSAGE_DATA_DIR": str(tmp_path), "SAFEPASSAGE_HTTPS": https}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "safepassage.cli",
            "manage",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def _check(data_dir: Path, database_url: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SAFEPASSAGE_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "safepassage.cli", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_before_the_first_serve_says_the_database_is_not_migrated(tmp_path: Path) -> None:
    # An operator runs `check` on a new machine before `serve` migrated the database.
    result = _check(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "migration(s) not applied yet" in result.stdout


def test_check_with_the_database_away_says_so_in_one_line(tmp_path: Path) -> None:
    result = _check(tmp_path, "postgres://postgres@127.0.0.1:9/nothing")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "database: not reachable" in result.stderr
