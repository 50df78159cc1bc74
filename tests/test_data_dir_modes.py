"""Finding 1 of the hardening issue, second half: the data directory is 0700 and every file in
it 0600, including the SQLite database and the -wal/-shm files SQLite creates itself."""

from __future__ import annotations

import base64
import os
import secrets
import stat
from pathlib import Path

import pytest

from tests.http_client import FormClient
from tests.server import running_platform

pytestmark = pytest.mark.django_db


def test_a_running_server_keeps_its_data_directory_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)  # as an earlier version, or a careless operator, left it
    old_key = data_dir / "master.key"
    old_key.write_text(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() + "\n")
    old_key.chmod(0o644)
    with running_platform(tmp_path) as platform:
        client = FormClient(platform.url)
        client.get("/chat/ko/")
        client.post("/chat/ko/", {"choice": "self"})  # a draft and a session: the WAL grows
        paths = [data_dir, *data_dir.rglob("*")]
        names = {p.name for p in paths}
        assert {"safepassage.sqlite3", "safepassage.sqlite3-wal", "master.key"} <= names
        modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(os.stat(p).st_mode) for p in paths}
    too_open = {
        name: oct(mode)
        for name, mode in modes.items()
        if mode & 0o077 or mode & 0o700 != (0o700 if os.path.isdir(tmp_path / name) else 0o600)
    }
    assert too_open == {}
