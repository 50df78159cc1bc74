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
