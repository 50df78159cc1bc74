"""The platform's configuration: one frozen, typed object read from the environment once.

Nothing else reads ``os.environ``. Every setting has a safe default so that the platform runs
on a fresh machine with no configuration at all (SQLite, in-process work, a generated master key).
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import stat
import sys
import zoneinfo
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

MASTER_KEY_FILE = "master.key"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

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
    # Telegram (docs/architecture.md, "Telegram"). No bot configured: the channel is off.
    telegram_bots: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    telegram_webhook_secret: str = field(default="", repr=False)
    telegram_webhook_url: str = ""
    telegram_api_base: str = "https://api.telegram.org"
    telegram_erase_after_seconds: int = 24 * 60 * 60
    telegram_max_file_bytes: int = 10 * 1024 * 1024
    telegram_location_decimals: int = 1  # 0.1 degree: about 11 km, enough to route a case
    # Webhook updates are applied in batches on this many long-lived threads per process, each
    # with its own database connection (-1: one; 0: in the request's own thread).
    telegram_intake_threads: int = -1
    # Outbox rows a bot's sender claims at a time (channels/telegram/claims.py, BATCH).
    telegram_claim_batch: int = 10
    # Web server processes (-1: 1 on SQLite, which has one writer anyway; on PostgreSQL one per
    # CPU, at most 8).
    web_processes: int = -1
    # The rate limiter's shared store (privacy.ratelimit); unset: the database.
    redis_url: str = field(default="", repr=False)
    # PostgreSQL: the connections each process's requests share in psycopg's pool, on top of
    # one per long-lived thread (settings._database; 0: no pool, a connection per request). A
    # flood then waits for a connection (safepassage.pgpool) instead of opening hundreds.
    database_pool: int = 4
    # Web chat requests one web process may serve at once before it counts as overloaded and
    # defers anonymous first answers (channels/webchat/admission.py; 0: never defers).
    webchat_max_in_flight: int = 8
    # New cases a web process takes from anonymous first answers per second while it is under
    # pressure; the rest are deferred like those over the limit (admission.py; 0: no ration).
    webchat_new_cases_per_second: float = 4.0
    # How often the scheduler enqueues the retention purge (0: never; then run
    # `safepassage purge` from cron or a timer).
    purge_every_seconds: float = 3600
    # What campaigns print and the official-channels list publishes (campaigns.links,
    # campaigns.official): the web chat's public addresses (the first is the main domain; then
    # mirrors and the onion address), the hotline numbers, each bot's public username by slug.
    public_urls: tuple[str, ...] = ()
    hotline_numbers: tuple[str, ...] = ()
    telegram_usernames: tuple[tuple[str, str], ...] = ()
    # The official-channels signing key: only its public half (the private half stays
    # offline) and the signature of the list this configuration yields, both base64.
    official_public_key: str = ""
    official_signature: str = ""
    # A self-hosted LibreTranslate server (its HTTP API, by URL) that the console may ask for
    # a machine translation of an applicant's text for staff; unset: no machine translation.
    # Applicant text goes to this URL and nowhere else (console.translation).
    libretranslate_url: str = field(default="", repr=False)
    libretranslate_api_key: str = field(default="", repr=False)
    # Where background tasks queue (safepassage.jobs, safepassage.tasks): "database" (the
    # embedded default, no other server) or "redis" (RQ, at redis_url).
    task_backend: str = "database"
    # Bearer token for GET /metrics (Prometheus); unset: /metrics answers 404.
    metrics_token: str = field(default="", repr=False)
    # "json" (one JSON object a line, for the log collector) or "console" (key=value, to read).
    log_format: str = "json"
    # The console's default time zone (an IANA name); each staff member may choose their own.
    time_zone: str = "UTC"

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://"))

    @property
    def web_process_count(self) -> int:
        if self.web_processes > 0:
            return self.web_processes
        if not self.is_postgres:
            return 1
        # The CPUs this process may use (a container's limit), where the platform tells.
        usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        return min(len(usable) if usable else (os.cpu_count() or 1), 8)


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


def _private_data_dir(data_dir: Path) -> None:
    """The data directory 0700 and everything in it 0600 (0700 for directories).

    The umask covers what this process creates later, including the SQLite database and the
    -wal and -shm files SQLite creates itself; the walk narrows what an earlier version or an
    operator left readable by others.
    """
    os.umask(0o077)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if data_dir.stat().st_mode & stat.S_ISVTX:
        raise SystemExit(f"{data_dir} is a shared directory (sticky bit); give the data its own.")
    for path in [data_dir, *data_dir.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            path.chmod(mode & 0o700)


def load(environ: dict[str, str] | None = None) -> Config:
    env = dict(os.environ if environ is None else environ)
    data_dir = Path(env.get("SAFEPASSAGE_DATA_DIR") or "./var").resolve()
    _private_data_dir(data_dir)
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
        telegram_bots=_telegram_bots(env),
        telegram_webhook_secret=_telegram_secret(data_dir, env),
        telegram_webhook_url=(env.get("TELEGRAM_WEBHOOK_URL") or "").rstrip("/"),
        telegram_api_base=(env.get("TELEGRAM_API_BASE") or "https://api.telegram.org").rstrip("/"),
        telegram_erase_after_seconds=_erase_after(env),
        telegram_max_file_bytes=int(env.get("TELEGRAM_MAX_FILE_BYTES") or 10 * 1024 * 1024),
        telegram_intake_threads=int(env.get("TELEGRAM_INTAKE_THREADS") or -1),
        telegram_claim_batch=max(1, int(env.get("TELEGRAM_CLAIM_BATCH") or 10)),
        web_processes=int(env.get("SAFEPASSAGE_WEB_PROCESSES") or -1),
        redis_url=(env.get("SAFEPASSAGE_REDIS_URL") or "").strip(),
        database_pool=max(0, int(env.get("SAFEPASSAGE_DATABASE_POOL") or 4)),
        webchat_max_in_flight=_webchat_max_in_flight(env.get("SAFEPASSAGE_WEBCHAT_MAX_IN_FLIGHT")),
        webchat_new_cases_per_second=_webchat_new_cases_per_second(
            env.get("SAFEPASSAGE_WEBCHAT_NEW_CASES_PER_SECOND")
        ),
        purge_every_seconds=_seconds(env.get("SAFEPASSAGE_PURGE_EVERY_SECONDS"), 3600),
        public_urls=_public_urls(env.get("SAFEPASSAGE_PUBLIC_URLS")),
        hotline_numbers=_list(env.get("SAFEPASSAGE_HOTLINE_NUMBERS")),
        telegram_usernames=_telegram_usernames(env),
        official_public_key=(env.get("SAFEPASSAGE_OFFICIAL_PUBLIC_KEY") or "").strip(),
        official_signature=(env.get("SAFEPASSAGE_OFFICIAL_SIGNATURE") or "").strip(),
        libretranslate_url=(env.get("SAFEPASSAGE_LIBRETRANSLATE_URL") or "").strip().rstrip("/"),
        libretranslate_api_key=(env.get("SAFEPASSAGE_LIBRETRANSLATE_API_KEY") or "").strip(),
        task_backend=_task_backend(env),
        metrics_token=_metrics_token(env),
        log_format=_log_format(env),
        time_zone=_time_zone(env.get("SAFEPASSAGE_TIME_ZONE")),
    )


def _webchat_max_in_flight(value: str | None) -> int:
    if value is None or not value.strip():
        return 8
    try:
        limit = int(value)
    except ValueError:
        limit = -1
    if limit < 0:
        raise SystemExit(
            "SAFEPASSAGE_WEBCHAT_MAX_IN_FLIGHT must be a whole number, 0 (off) or more"
        )
    return limit


def _webchat_new_cases_per_second(value: str | None) -> float:
    if value is None or not value.strip():
        return 4.0
    try:
        rate = float(value)
    except ValueError:
        rate = -1.0
    if not 0 <= rate < float("inf"):  # also refuses nan
        raise SystemExit(
            "SAFEPASSAGE_WEBCHAT_NEW_CASES_PER_SECOND must be a number, 0 (no ration) or more"
        )
    return rate


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def _public_urls(value: str | None) -> tuple[str, ...]:
    urls = tuple(url.rstrip("/") for url in _list(value))
    for url in urls:
        if not re.match(r"^https?://[A-Za-z0-9.-]+(:[0-9]+)?$", url):
            raise SystemExit(
                "SAFEPASSAGE_PUBLIC_URLS must be base URLs like https://example.org (no path)"
            )
    return urls


def _telegram_usernames(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """``TELEGRAM_BOT_USERNAMES="main=ExampleBot"``: the public name of each configured bot,
    for deep links and the official list."""
    slugs = {slug for slug, _token in _telegram_bots(env)}
    pairs: list[tuple[str, str]] = []
    for item in _list(env.get("TELEGRAM_BOT_USERNAMES")):
        slug, sep, name = item.partition("=")
        name = name.strip().lstrip("@")
        if not sep or not re.match(r"^[A-Za-z][A-Za-z0-9_]{3,31}$", name):
            raise SystemExit("TELEGRAM_BOT_USERNAMES must look like slug=BotName,slug2=Bot2")
        if slug.strip() not in slugs:
            raise SystemExit(f"TELEGRAM_BOT_USERNAMES names {slug.strip()!r}, not in TELEGRAM_BOTS")
        pairs.append((slug.strip(), name))
    return tuple(pairs)


def _task_backend(env: dict[str, str]) -> str:
    backend = (env.get("SAFEPASSAGE_TASK_BACKEND") or "database").strip().lower()
    if backend not in {"database", "redis"}:
        raise SystemExit("SAFEPASSAGE_TASK_BACKEND must be database or redis")
    if backend == "redis" and not (env.get("SAFEPASSAGE_REDIS_URL") or "").strip():
        raise SystemExit("SAFEPASSAGE_TASK_BACKEND=redis needs SAFEPASSAGE_REDIS_URL")
    return backend


def _metrics_token(env: dict[str, str]) -> str:
    token = (env.get("SAFEPASSAGE_METRICS_TOKEN") or "").strip()
    if token and len(token) < 24:
        raise SystemExit("SAFEPASSAGE_METRICS_TOKEN must be at least 24 characters")
    return token


def _log_format(env: dict[str, str]) -> str:
    value = (env.get("SAFEPASSAGE_LOG_FORMAT") or "json").strip().lower()
    if value not in {"json", "console"}:
        raise SystemExit("SAFEPASSAGE_LOG_FORMAT must be json or console")
    return value


def _time_zone(value: str | None) -> str:
    """An IANA time zone name (``Europe/Kyiv``); unset: UTC. A name the system's zone database
    does not know stops the start, rather than showing staff times in the wrong zone."""
    name = (value or "").strip() or "UTC"
    if name not in _known_time_zones():
        raise SystemExit(f"SAFEPASSAGE_TIME_ZONE: unknown time zone {name!r} (e.g. Europe/Kyiv)")
    return name


def _known_time_zones() -> set[str]:
    return zoneinfo.available_timezones() | {"UTC"}


MIN_ERASE_AFTER_SECONDS = 60


def _erase_after(env: dict[str, str]) -> int:
    """Erase times are stored to the minute (rounded up, never early); under a minute the bot
    would delete the message that carries the reference and passphrase before it could be read."""
    raw = env.get("TELEGRAM_ERASE_AFTER_SECONDS") or "86400"
    try:
        seconds = int(raw)
    except ValueError:
        seconds = -1
    if seconds < MIN_ERASE_AFTER_SECONDS:
        raise SystemExit(
            f"TELEGRAM_ERASE_AFTER_SECONDS must be a whole number of at least "
            f"{MIN_ERASE_AFTER_SECONDS} seconds (messages are erased to the minute)"
        )
    return seconds


def _seconds(value: str | None, default: float) -> float:
    if value is None or not value.strip():
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise SystemExit("SAFEPASSAGE_PURGE_EVERY_SECONDS must be a number of seconds") from None
    if not 0 <= seconds < 10**9:  # and not NaN or infinite
        raise SystemExit("SAFEPASSAGE_PURGE_EVERY_SECONDS must be 0 (off) or more")
    return seconds


def _telegram_bots(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """``TELEGRAM_BOTS="main=123:abc,spare=456:def"``; ``TELEGRAM_BOT_TOKEN`` alone is "main"."""
    pairs: list[tuple[str, str]] = []
    for item in (env.get("TELEGRAM_BOTS") or "").split(","):
        slug, sep, token = item.strip().partition("=")
        if not item.strip():
            continue
        if not sep or not _SLUG.match(slug.strip()) or not token.strip():
            raise SystemExit("TELEGRAM_BOTS must look like slug=token,slug2=token2")
        pairs.append((slug.strip(), token.strip()))
    if not pairs and env.get("TELEGRAM_BOT_TOKEN"):
        pairs.append(("main", env["TELEGRAM_BOT_TOKEN"].strip()))
    if len({slug for slug, _ in pairs}) != len(pairs):
        raise SystemExit("TELEGRAM_BOTS names one slug twice")
    secret = env.get("TELEGRAM_WEBHOOK_SECRET", "")
    if secret and len(secret) < 16:  # unset is fine: one is generated into the data dir
        raise SystemExit("TELEGRAM_WEBHOOK_SECRET must be at least 16 characters")
    return tuple(pairs)


def _telegram_secret(data_dir: Path, env: dict[str, str]) -> str:
    """The webhook secret; generated once into the data dir so that it is never empty."""
    if env.get("TELEGRAM_WEBHOOK_SECRET"):
        return env["TELEGRAM_WEBHOOK_SECRET"]
    path = data_dir / "telegram-webhook.secret"
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


@lru_cache(maxsize=1)
def get() -> Config:
    return load()
