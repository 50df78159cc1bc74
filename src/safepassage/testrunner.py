"""Run the whole test suite: on SQLite, then on PostgreSQL when one is configured.

    python3 quickstart.py test [pytest args]

SAFEPASSAGE_TEST_POSTGRES=postgres://user@host:port/ adds a second run on a fresh database
(created and dropped here). "No tests collected" counts as a failure.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(label: str, env: dict[str, str], args: list[str]) -> int:
    print(f"\n=== test suite on {label} ===", flush=True)
    # The slowest tests are listed at the end of each run, to keep the suite's time in view.
    command = [sys.executable, "-m", "pytest", "--durations=15", *args]
    code = subprocess.call(command, cwd=ROOT, env=env)  # noqa: S603
    if code == 5:
        print(f"no tests were collected on {label}: failing", flush=True)
        return 1
    return code


def main(argv: list[str]) -> int:
    base = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    results: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="sp-test-") as data_dir:
        env = {**base, "SAFEPASSAGE_DATA_DIR": data_dir}
        results["SQLite"] = _run("SQLite", env, argv)
    pg = os.environ.get("SAFEPASSAGE_TEST_POSTGRES")
    if pg:
        name = f"safepassage_{secrets.token_hex(4)}"
        with tempfile.TemporaryDirectory(prefix="sp-test-") as data_dir:
            env = {
                **base,
                "SAFEPASSAGE_DATA_DIR": data_dir,
                "DATABASE_URL": pg.rstrip("/") + "/" + name,
            }
            results["PostgreSQL"] = _run("PostgreSQL", env, argv)
    print("\n" + ", ".join(f"{k}: {'passed' if v == 0 else 'FAILED'}" for k, v in results.items()))
    return 0 if all(v == 0 for v in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
