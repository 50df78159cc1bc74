"""The platform's configuration: one frozen, typed object read from the environment once.

Nothing else reads ``os.environ``. Every setting has a safe default so that the platform runs
on a fresh machine with no configuration at all (SQLite, in-process work, a generated master key).
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

MASTER_KEY_FILE = "master.key"

# Applicant languages. Adding one is this one line plus one catalog file (docs/languages.md).
# The label is the language's name in its own script, as an applicant would look for it.
APPLICANT_LANGUAGES: dict[str, str] = {
    "ru": "Русский",
    "ko": "조선말",
    "uk": "Українська",
    "en": "English",
}


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str
    master_key: bytes = field(repr=False)
    master_key_generated: bool
    debug: bool
    https: bool
    allowed_hosts: tuple[str, ...]
    secret_key: str = field(repr=False)
    applicant_languages: tuple[str, ...]
    log_level: str

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://"))


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _load_master_key(data_dir: Path, env_value: str | None) -> tuple[bytes, bool]:
    if env_value:
        key = base64.urlsafe_b64decode(env_value.strip() + "=" * (-len(env_value.strip()) % 4))
        if len(key) != 32:
            raise SystemExit("SAFEPASSAGE_MASTER_KEY must be 32 bytes, base64-encoded.")
        return key, False
    path = data_dir / MASTER_KEY_FILE
    if path.exists():
        key = base64.urlsafe_b64decode(path.read_text().strip())
        if len(key) != 32:
            raise SystemExit(f"{path} does not hold a 32-byte base64 key.")
        return key, False
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.urlsafe_b64encode(key).decode() + "\n")
    print(
        f"WARNING: no SAFEPASSAGE_MASTER_KEY set; generated one into {path} (mode 0600). "
        "Keep it apart from database backups in production (docs/operations.md).",
        file=sys.stderr,
    )
    return key, True


def _secret_key(data_dir: Path, env_value: str | None) -> str:
    if env_value:
        return env_value
    path = data_dir / "django-secret.key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(50)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def load(environ: dict[str, str] | None = None) -> Config:
    env = dict(os.environ if environ is None else environ)
    data_dir = Path(env.get("SAFEPASSAGE_DATA_DIR") or "./var").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'safepassage.sqlite3'}"
    master_key, generated = _load_master_key(data_dir, env.get("SAFEPASSAGE_MASTER_KEY"))
    hosts = env.get("SAFEPASSAGE_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
    return Config(
        data_dir=data_dir,
        database_url=database_url,
        master_key=master_key,
        master_key_generated=generated,
        debug=_bool(env.get("SAFEPASSAGE_DEBUG")),
        https=_bool(env.get("SAFEPASSAGE_HTTPS")),
        allowed_hosts=tuple(h.strip() for h in hosts.split(",") if h.strip()),
        secret_key=_secret_key(data_dir, env.get("SAFEPASSAGE_SECRET_KEY")),
        applicant_languages=tuple(APPLICANT_LANGUAGES),
        log_level=env.get("SAFEPASSAGE_LOG_LEVEL", "INFO"),
    )


@lru_cache(maxsize=1)
def get() -> Config:
    return load()
