"""Django settings, derived entirely from :mod:`safepassage.config`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url

from safepassage import config as _config

CONFIG = _config.get()
BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = CONFIG.secret_key
DEBUG = CONFIG.debug
ALLOWED_HOSTS = list(CONFIG.allowed_hosts)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "safepassage.privacy",
    "safepassage.campaigns",
    "safepassage.cases",
    "safepassage.replies",
    "safepassage.conversations",
    "safepassage.channels",
    "safepassage.console",
    "safepassage.analytics",
    "safepassage.jobs",
]

MIDDLEWARE = [
    # First: counts web chat requests in flight, waiting ones included (webchat.admission).
    "safepassage.channels.webchat.admission.InFlightMiddleware",
    "safepassage.web.middleware.SecurityHeadersMiddleware",
    "safepassage.web.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "safepassage.web.middleware.SameOriginNullOriginMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "safepassage.console.middleware.StaffTimeZoneMiddleware",
    "safepassage.privacy.session.UnlockCookieMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "safepassage.urls"
ASGI_APPLICATION = "safepassage.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "safepassage.web.context.stylesheets",
                "safepassage.console.context.console_nav",
            ],
        },
    }
]


def _database(url: str) -> dict[str, Any]:
    db: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=0))
    if db["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets the web chat read while a write commits; IMMEDIATE avoids upgrade deadlocks.
        db["OPTIONS"] = {
            # secure_delete zeroes erased rows, so an erased case leaves no ciphertext or
            # wrapped key behind in free pages of the file.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
            " PRAGMA busy_timeout=5000; PRAGMA secure_delete=ON;",
            "transaction_mode": "IMMEDIATE",
        }
        db["TEST"] = {"NAME": str(CONFIG.data_dir / "test-safepassage.sqlite3")}
    else:
        db.setdefault("OPTIONS", {})
        db["OPTIONS"].setdefault("connect_timeout", 3)
        if CONFIG.database_pool > 0:
            # Django's backend with a pool that tells a flood from an outage (pgpool/base.py).
            db["ENGINE"] = "safepassage.pgpool"
            db["OPTIONS"]["pool"] = _pool(CONFIG)
    return db


def _pool(cfg: _config.Config) -> dict[str, Any]:
    """psycopg's pool, the connection budget of one process (docs/operations.md, "Connection
    budget"). Requests borrow a connection and return it when they end; each long-lived thread
    (the main one, the webhook appliers, each bot's sender and poller, the task worker and the
    scheduler) keeps its own, so they get one each on top of the requests' share and never
    wait behind a flood. The pool opens connections on demand, up to ``max_size``; how long a
    request waits for one is pgpool's choice (10 s behind a flood, 2 s for a database away)."""
    threads = 1 + max(cfg.telegram_intake_threads, 1) + 2 * len(cfg.telegram_bots) + 2
    return {
        "min_size": 1,
        "max_size": cfg.database_pool + threads,
        # Reconnecting after a failed attempt backs off (1 s, 2 s, …); give up after 2 s so
        # that the pool counts PostgreSQL as away (pgpool) and the next request that waits
        # starts a fresh attempt: a database back after a long outage is used within seconds,
        # not after a backoff of minutes.
        "reconnect_timeout": 2.0,
        "name": "safepassage",
    }


DATABASES = {"default": _database(CONFIG.database_url)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = ["safepassage.console.auth_backend.UnlockingBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:inbox"

# Sessions. The row is keyed by a hash of the cookie (privacy.session_store), and a visitor
# who has not answered anything has none: the CSRF token lives in a cookie of its own, ending
# with the browser, HttpOnly and SameSite=Strict as the session cookie (docs/threat-model.md).
SESSION_ENGINE = "safepassage.privacy.session_store"
SESSION_COOKIE_NAME = "sp"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Strict"
SESSION_COOKIE_SECURE = CONFIG.https
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_AGE = 60 * 60 * 8
CSRF_USE_SESSIONS = False
CSRF_COOKIE_NAME = "spc"
CSRF_COOKIE_AGE = None
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Strict"
CSRF_COOKIE_SECURE = CONFIG.https
CSRF_FAILURE_VIEW = "safepassage.web.errors.csrf_failure"
LANGUAGE_COOKIE_NAME = "sp_lang_unused"  # never set: we do not use set_language

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "no-referrer"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = False  # onion services speak HTTP; TLS is terminated by the proxy if any
SECURE_HSTS_SECONDS = 31536000 if CONFIG.https else 0
if CONFIG.https:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# `check --deploy` is clean in both deployment modes; what is silenced, and why
# (docs/operations.md, "Deployment checks"):
SILENCED_SYSTEM_CHECKS = [
    # The TLS proxy of a clearnet mirror redirects to HTTPS; the same process may also serve an
    # onion address over plain HTTP, which a redirect here would break.
    "security.W008",
    # Mirror domains change as they are blocked: no HSTS preload or subdomain pinning.
    "security.W005",
    "security.W021",
]
if not CONFIG.https:
    # Onion-only: Tor authenticates and encrypts the connection; there is no TLS to pin, and a
    # Secure cookie would never be sent back over the onion's http:// URL.
    SILENCED_SYSTEM_CHECKS += ["security.W004", "security.W012", "security.W016"]

# Console (issue 4): idle timeout, second factor, response-time targets per urgency (minutes).
CONSOLE_IDLE_SECONDS = 30 * 60
CONSOLE_RESPONSE_TARGET_MINUTES = {"now": 5, "days": 60, "later": 24 * 60}
# Login throttle (console.auth, docs/threat-model.md). Failures from one address (never the
# loopback of the onion service or a local proxy) refuse that address for that username, and
# for every username past a larger count; failures per username only slow every attempt at it
# down (a delay doubling per failure, capped), so the holder still gets in.
CONSOLE_LOGIN_WINDOW_SECONDS = 15 * 60
CONSOLE_LOGIN_FAILURES_PER_SOURCE = 5  # per username and address, in the window
CONSOLE_LOGIN_FAILURES_PER_ADDRESS = 30  # per address over all usernames, in the window
CONSOLE_LOGIN_SLOWDOWN_AFTER = 5  # failures per username in the window before delays start
CONSOLE_LOGIN_SLOWDOWN_BASE_SECONDS = 0.5
CONSOLE_LOGIN_SLOWDOWN_CAP_SECONDS = 8.0
# Reference + passphrase checks (web chat's return page, the hotline's identify form): wrong
# pairs refuse their address (or staff member) past a count; past a count over everybody they
# slow every check down a little. A right pair from anyone not refused always opens.
CREDENTIALS_WINDOW_SECONDS = 60 * 60
CREDENTIALS_FAILURES_PER_SOURCE = 10
CREDENTIALS_SLOWDOWN_AFTER = 60  # wrong pairs from everybody in a minute
CREDENTIALS_SLOWDOWN_BASE_SECONDS = 0.05
CREDENTIALS_SLOWDOWN_CAP_SECONDS = 2.0
SAFEPASSAGE_REDIS_URL = CONFIG.redis_url  # privacy.ratelimit's shared store; unset: the database
# Beyond this many web chat requests in flight in one process, new cases wait (0: never).
SAFEPASSAGE_WEBCHAT_MAX_IN_FLIGHT = CONFIG.webchat_max_in_flight
# While a web process is under pressure, it takes this many new cases a second (0: no ration).
SAFEPASSAGE_WEBCHAT_NEW_CASES_PER_SECOND = CONFIG.webchat_new_cases_per_second
# Background tasks (django-tasks; safepassage.jobs, safepassage.tasks): in the database by
# default, no other server; in Redis through RQ when SAFEPASSAGE_TASK_BACKEND=redis.
if CONFIG.task_backend == "redis":
    INSTALLED_APPS.append("django_rq")
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    RQ_QUEUES = {"default": {"URL": CONFIG.redis_url}}
else:
    TASKS = {
        "default": {"BACKEND": "safepassage.jobs.backend.DatabaseBackend", "QUEUES": ["default"]}
    }
OTP_TOTP_ISSUER = "Safe Passage"

# Console languages (the operator's, independent of the applicant's).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("uk", "Українська"), ("ru", "Русский")]
LOCALE_PATHS = [BASE_DIR / "locale" / "console"]
USE_I18N = True
USE_TZ = True
# Stored times are UTC; Django's current zone (what forms read and templates show) is UTC
# except in the console, where console.middleware.StaffTimeZoneMiddleware activates the staff
# member's own zone, or this deployment default (SAFEPASSAGE_TIME_ZONE).
TIME_ZONE = "UTC"
CONSOLE_DEFAULT_TIME_ZONE = CONFIG.time_zone

DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024  # 4,000 characters of any script fit easily
FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "null": {"class": "logging.NullHandler"},
        "security": {"class": "safepassage.splog.SecurityEventHandler"},
    },
    "loggers": {
        # Refused posts, hostile Host headers, bad sessions: one line of their kind, no path,
        # no header value, no traceback.
        "django.security": {"handlers": ["security"], "level": "INFO", "propagate": False},
        # Django's request logger prints paths and exceptions; ours is scrubbed instead.
        "django.request": {"handlers": ["null"], "propagate": False},
        "django.server": {"handlers": ["null"], "propagate": False},
        # httpx logs every Bot API URL, and the URL holds the bot token.
        "httpx": {"handlers": ["null"], "propagate": False},
        "httpcore": {"handlers": ["null"], "propagate": False},
    },
}
