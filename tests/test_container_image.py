"""The container image, built and run for real (deploy/Containerfile, deploy/build-image,
docs/operations.md "Container image"): `serve` in a container answers /healthz and /chat/ on
the host's 127.0.0.1 with its SQLite database in a volume, the image's own health check passes,
`check` in a second container on that volume passes, the processes run as the unprivileged
user with /data 0700, and printing has its libraries and fonts.

Skipped unless SAFEPASSAGE_TEST_IMAGE=1, and marked slow: building the image takes minutes (the
first build about four here, a rebuild with an unchanged lock reuses the cached layers) and
needs root with buildah and podman, so CI does not run it. The build is
`deploy/build-image $SAFEPASSAGE_TEST_IMAGE_BUILD` (default `--local-base`: a debootstrapped
Debian base, for a machine without Docker Hub; set it to "" to build on the official base).
Containers run with runc (when installed) and rlimits no higher than this process's own: crun
refuses this machine's hybrid cgroups, and an unprivileged sandbox cannot raise its limits."""

from __future__ import annotations

import json
import os
import resource
import shlex
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
TAG = "localhost/safepassage:test"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("SAFEPASSAGE_TEST_IMAGE") != "1",
        reason="builds a container image (minutes): set SAFEPASSAGE_TEST_IMAGE=1",
    ),
    pytest.mark.skipif(
        connection.vendor != "sqlite", reason="the image test runs once, in the SQLite run"
    ),
]


def _run_options() -> list[str]:
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    options = ["--network", "host", "--ulimit", f"nofile={nofile[0]}:{nofile[0]}"]
    options += ["--ulimit", "nproc=4096:4096"]
    if shutil.which("runc"):
        options = ["--runtime", "runc", *options]
    return options


def _podman(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, check=check, timeout=timeout
    )


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture(scope="module")
def image() -> dict[str, Any]:
    if not (shutil.which("buildah") or shutil.which("podman")):
        pytest.fail("SAFEPASSAGE_TEST_IMAGE=1 but neither buildah nor podman is installed")
    build = shlex.split(os.environ.get("SAFEPASSAGE_TEST_IMAGE_BUILD", "--local-base"))
    done = subprocess.run(
        [str(ROOT / "deploy" / "build-image"), "--tag", TAG, *build],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found: list[dict[str, Any]] = json.loads(_podman("image", "inspect", TAG).stdout)
    return found[0]


@pytest.fixture
def volume() -> Iterator[str]:
    name = f"safepassage-test-{uuid.uuid4().hex[:8]}"
    _podman("volume", "create", name)
    yield name
    _podman("volume", "rm", "--force", name, check=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_in_the_image_answers_on_the_host(image: dict[str, Any], volume: str) -> None:
    config = image["Config"]
    assert config["User"] == "safepassage"
    assert config["Entrypoint"] == ["safepassage"]
    # The image's health check asks /healthz on the default port; here the server listens on
    # 127.0.0.1 and a free port of the host, so the same check is given that port.
    health = (image.get("Healthcheck") or config["Healthcheck"])["Test"]  # podman, docker
    assert health[0] == "CMD" and "http://127.0.0.1:8000/healthz" in health[-1]
    port = _free_port()
    health_cmd = json.dumps(
        [*health[1:-1], health[-1].replace(":8000/", f":{port}/")], ensure_ascii=False
    )
    name = f"safepassage-test-{uuid.uuid4().hex[:8]}"
    _podman(
        "run", "--detach", "--name", name, *_run_options(),
        "--health-cmd", health_cmd, "--health-interval", "disable",
        "--volume", f"{volume}:/data", TAG, "serve", "--host", "127.0.0.1", "--port", str(port),
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                status = _get(f"{base}/healthz")
                break
            except OSError:
                running = _podman("inspect", "--format", "{{.State.Running}}", name).stdout
                assert running.strip() == "true", _podman("logs", name).stderr[-3000:]
                assert time.monotonic() < deadline, "serve did not answer in 120 s"
                time.sleep(1)
        assert status == 200
        assert _get(f"{base}/chat/") == 200
        assert _get(f"{base}/readyz") == 200
        assert _podman("healthcheck", "run", name, check=False).returncode == 0
        # Everything in the container runs as the unprivileged user, and /data is its own.
        who = _podman(
            "exec", name, "sh", "-c", "id -u; id -un; stat -c '%a %U' /data; "
            "awk '/^Uid:/ {print $2}' /proc/*/status | sort -u",
        ).stdout.split()  # fmt: skip
        assert who[0] != "0" and who[1] == "safepassage" and who[2:4] == ["700", "safepassage"]
        assert set(who[4:]) == {who[0]}, who
    finally:
        logs = _podman("logs", name, check=False).stdout
        _podman("rm", "--force", "--time", "10", name, check=False)
    assert "database SQLite" in logs
    # Another role, another container, the same volume: the database serve migrated is there.
    check = _podman(
        "run", "--rm", *_run_options(), "--no-healthcheck", "--volume", f"{volume}:/data",
        TAG, "check", timeout=300,
    )  # fmt: skip
    assert "flows, catalogs and settings: OK" in check.stdout


def test_printing_works_in_the_image(image: dict[str, Any]) -> None:
    script = (
        "from safepassage.printing import engine\n"
        "weasyprint = engine.require()\n"
        "cmap = engine._font_cmap()\n"
        "assert {ord('ї'), ord('ы'), ord('한')} <= cmap, 'fonts'\n"
        "pdf = weasyprint.HTML(string='<p>їжак ёж 고슴도치</p>').write_pdf()\n"
        "print(pdf[:5].decode())\n"
    )
    done = _podman(
        "run", "--rm", *_run_options(), "--no-healthcheck", "--entrypoint", "python",
        TAG, "-c", script, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "%PDF-"
