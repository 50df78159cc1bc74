#!/usr/bin/env python3
"""Bootstrap Safe Passage on a machine that has nothing but Python 3.11+.

    python3 quickstart.py serve   # run the platform on embedded defaults
    python3 quickstart.py test    # run the whole test suite

It creates ./.venv, installs the locked dependencies (requirements.lock, with hashes) and the
project itself, then hands over to the `safepassage` command inside that environment. Re-running
it is cheap: the install step is skipped while the lock file is unchanged.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("SAFEPASSAGE_VENV", ROOT / ".venv"))
LOCK = ROOT / "requirements.lock"
STAMP = VENV / ".safepassage-lock.sha256"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_environment() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 (this file must also run on older Pythons)
        sys.exit("Safe Passage needs Python 3.11 or newer.")
    digest = hashlib.sha256(LOCK.read_bytes() + (ROOT / "pyproject.toml").read_bytes())
    wanted = f"{sys.version_info[:2]}:{digest.hexdigest()}"
    if STAMP.exists() and STAMP.read_text() == wanted and venv_python().exists():
        return
    if not venv_python().exists():
        print(f"Creating a virtual environment in {VENV} …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    py = str(venv_python())
    pip = [py, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    print("Installing locked dependencies …", flush=True)
    subprocess.run([*pip, "--require-hashes", "-r", str(LOCK)], check=True)  # noqa: S603
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)  # noqa: S603
    STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    ensure_environment()
    py = str(venv_python())
    if argv[0] == "test":
        cmd = [py, "-m", "safepassage.testrunner", *argv[1:]]
    else:
        cmd = [py, "-m", "safepassage.cli", *argv]
    return subprocess.call(cmd, cwd=ROOT if argv[0] == "test" else None)  # noqa: S603


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
