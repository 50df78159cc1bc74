"""The `safepassage` command line.

safepassage serve [--host 127.0.0.1] [--port 8000]   migrate, first admin, serve (ASGI)
safepassage worker                                    the Telegram outbox (and polling)
safepassage check                                     flows, catalogs, Django checks
safepassage audit verify                              verify the audit hash chain
safepassage manage <django command> ...               any Django management command
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "safepassage.settings")
    import django

    django.setup()


def ensure_first_admin() -> tuple[str, str] | None:
    """Create the first admin if there is no user at all; return its one-time credentials."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    user_model = get_user_model()
    with transaction.atomic():
        if user_model.objects.exists():
            return None
        password = secrets.token_urlsafe(18)
        user_model.objects.create_superuser(username="admin", email="", password=password)
    return "admin", password


def serve(host: str, port: int) -> int:
    _setup()
    import uvicorn
    from django.core.management import call_command

    from safepassage import config
    from safepassage.splog import configure

    configure()
    call_command("check", fail_level="ERROR")
    call_command("migrate", interactive=False, verbosity=0)
    credentials = ensure_first_admin()
    if credentials:
        user, password = credentials
        print(
            "\n".join(
                [
                    "=" * 64,
                    "First admin account (shown once, never stored in clear):",
                    f"  username: {user}",
                    f"  password: {password}",
                    f"  console:  http://{host}:{port}/console/",
                    "=" * 64,
                ]
            ),
            flush=True,
        )
    cfg = config.get()
    print(
        f"Safe Passage on http://{host}:{port}/chat/ (data in {cfg.data_dir},"
        f" database {'PostgreSQL' if cfg.is_postgres else 'SQLite'})",
        flush=True,
    )
    import threading

    from safepassage.channels.telegram import polling

    stop = threading.Event()
    if polling.start_background(stop):
        mode = "webhook" if cfg.telegram_webhook_url else "long polling"
        print(f"Telegram: {len(cfg.telegram_bots)} bot(s), {mode}, outbox worker", flush=True)
    uvicorn.run(
        "safepassage.asgi:application",
        host=host,
        port=port,
        access_log=False,
        log_level="warning",
        lifespan="off",
        server_header=False,
    )
    stop.set()
    return 0


def worker() -> int:
    """The outbox senders (and pollers, without a webhook URL) without the web server."""
    _setup()
    import threading

    from safepassage.channels.telegram import bots, polling
    from safepassage.splog import configure

    configure()
    if not bots.enabled():
        print("No Telegram bot configured (TELEGRAM_BOTS): nothing to do.", flush=True)
        return 1
    stop = threading.Event()
    threads = polling.start_background(stop)
    print(f"Telegram worker: {len(threads)} thread(s)", flush=True)
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(1.0)
    except KeyboardInterrupt:
        stop.set()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="safepassage",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the platform")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=8000)
    sub.add_parser("worker", help="run the Telegram outbox worker")
    sub.add_parser("check", help="validate flows, catalogs and settings")
    p_audit = sub.add_parser("audit", help="audit log tools")
    p_audit.add_argument("action", choices=["verify"])
    p_manage = sub.add_parser("manage", help="run a Django management command")
    p_manage.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    if args.command == "serve":
        return serve(args.host, args.port)
    if args.command == "worker":
        return worker()
    _setup()
    from django.core.management import call_command, execute_from_command_line

    if args.command == "check":
        call_command("check", fail_level="ERROR")
        print("flows, catalogs and settings: OK")
        return 0
    if args.command == "audit":
        from safepassage.privacy import audit

        report = audit.verify()
        if report.ok:
            print(f"audit chain intact: {report.checked} records")
            return 0
        print(
            f"audit chain BROKEN at record {report.broken_at}: {report.reason} "
            f"({report.checked} records before it are intact)"
        )
        return 1
    execute_from_command_line(["safepassage", *args.args])
    return 0


if __name__ == "__main__":
    sys.exit(main())
