"""The container image is built from the same lock, hash-checked, and runs our own commands
(deploy/Containerfile). Here the file is read, in every run: every pip install is either the
hash-locked requirements or our own package without dependencies, and the entrypoint and each
role named in docs/operations.md is a command `safepassage` knows. Building and running the
image takes minutes: tests/test_container_image.py, with SAFEPASSAGE_TEST_IMAGE=1."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTAINERFILE = ROOT / "deploy" / "Containerfile"
ROLES = ["serve", "worker", "purge", "check"]


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_dependencies_come_from_the_lock_with_hashes() -> None:
    steps = _instructions()
    assert ("COPY", "requirements.lock ./") in steps
    installs = [
        cmd.split("pip install", 1)[1]
        for word, run in steps
        if word == "RUN"
        for cmd in run.split("&&")
        if "pip install" in cmd
    ]
    assert installs, "no pip install in the Containerfile"
    locked = [i for i in installs if "-r requirements.lock" in i]
    assert len(locked) == 1 and "--require-hashes" in locked[0]
    for other in installs:
        if other not in locked:
            assert "--no-deps" in other and "-r" not in shlex.split(other), other
    # The image's Python is one the project and the lock support: the base is a build argument
    # (deploy/build-image --local-base) whose default is the official image, and both stages
    # are built on it.
    base = next(rest for word, rest in steps if word == "ARG" and rest.startswith("BASE="))
    assert re.fullmatch(r"BASE=python:3\.(1[1-9])-slim-bookworm", base)
    assert [rest.split()[0] for word, rest in steps if word == "FROM"] == ["${BASE}", "${BASE}"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"


def test_entrypoint_and_roles_are_safepassage_commands() -> None:
    steps = dict(_instructions())
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert steps["ENTRYPOINT"] == '["safepassage"]' and scripts["safepassage"].endswith(":main")
    cmd = steps["CMD"].strip("[]").replace('"', "").split(", ")
    assert cmd[0] == "serve" and "--host" in cmd
    for role in [*ROLES, cmd[0]]:
        done = subprocess.run(
            [sys.executable, "-m", "safepassage.cli", role, "--help"], capture_output=True
        )
        assert done.returncode == 0, (role, done.stderr[-300:])
    # The health check asks whether the process is alive, not whether the database is.
    assert "/healthz" in steps["HEALTHCHECK"]
