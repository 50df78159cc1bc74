"""The `safepassage` command line.

safepassage serve [--host 127.0.0.1] [--port 8000]   everything in one process: migrate, first
                                                      admin, web, task worker, scheduler, sender
safepassage web [--host 127.0.0.1] [--port 8000]     the web processes alone
safepassage worker                                    runs background tasks (database or RQ)
safepassage scheduler                                 enqueues the periodic tasks, once per due time
safepassage sender                                    the Telegram outbox (and long polling)
safepassage check                                     flows, catalogs, Django checks
safepassage audit verify                              verify the audit hash chain
safepassage campaigns create|codes|qr|official-list|keygen|sign|verify   (--help for each)
safepassage manage <django command> ...               any Django management command
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import threading

FIRST_ADMIN_FILE = "first-admin.txt"


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "safepassage.settings")
    import django

    django.setup()


def ensure_first_admin() -> tuple[str, str] | None:
    """Create the first admin if there is no user at all; return its one-time credentials."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    user_model = get_user_model()
    from safepassage.console.models import Role, StaffProfile
    from safepassage.privacy import keyring

    with transaction.atomic():
        if user_model.objects.exists():
            return None
        password = secrets.token_urlsafe(18)
        admin = user_model.objects.create_superuser(username="admin", email="", password=password)
        # The password is one-time: it only lets the admin choose their own (console.first_login).
        StaffProfile.objects.create(user=admin, role=Role.ADMIN, must_choose_password=True)
        if keyring.active_key() is None:
            # The program key pair is born wrapped for the first admin alone, to bootstrap: the
            # admin grants it to the first supervisors and loses it once two of them hold it
            # (console.key_grants). From here on the server can seal what applicants say.
            keyring.do_create_program_key(admin, password)
    return "admin", password


def show_first_admin(user: str, password: str, console_url: str) -> None:
    """Shown once. On a terminal it is printed; where output goes to a log (a service manager,
    a container), the password would stay in that log, so it goes to a 0600 file instead."""
    from safepassage import config

    lines = [
        "First admin account. The password is one-time: log in and choose your own, which",
        "voids it (and deletes this file, if it is one). Until then it opens the program key.",
        f"  username: {user}",
        f"  password: {password}",
        f"  console:  {console_url}",
    ]
    if sys.stdout.isatty() and not os.environ.get("SAFEPASSAGE_ADMIN_FILE_ONLY"):
        print("\n".join(["=" * 64, *lines, "=" * 64]), flush=True)
        return
    path = config.get().data_dir / FIRST_ADMIN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print(
        f"First admin account written to {path} (mode 0600): log in with it and choose your own"
        " password, which deletes the file.",
        flush=True,
    )


def _pending_migrations() -> int | None:
    """How many migrations the database still lacks, or None when it cannot be reached."""
    from django.db import DatabaseError, connection
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connection)
        return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    except DatabaseError:
        return None


def _warn_key_state() -> int:
    """Warnings about the program key: the first admin's file still there, alarms about key
    rows (privacy.key_checks). Returns how many alarms there are."""
    from safepassage.console.first_login import first_admin_warning
    from safepassage.privacy.key_checks import alarms

    warning = first_admin_warning()
    if warning:
        print(warning, file=sys.stderr, flush=True)
    found = alarms()
    for alarm in found:
        print(f"ALARM: {alarm}", file=sys.stderr, flush=True)
    return len(found)


def _metrics_dir() -> None:
    """prometheus-client's multiprocess mode, chosen by an environment variable that must be set
    before it is first imported (safepassage.metrics): a fresh directory for the counter files
    of this `serve` and its web processes, which inherit the variable."""
    import shutil

    from safepassage import config

    path = config.get().data_dir / "metrics"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o700)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


def serve(host: str, port: int) -> int:
    _metrics_dir()
    _setup()
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    from safepassage import config
    from safepassage.splog import configure

    configure()
    try:
        call_command("check", fail_level="ERROR")
    except SystemCheckError as error:
        print(f"Safe Passage will not start:\n{error}", file=sys.stderr)
        return 2
    call_command("migrate", interactive=False, verbosity=0)
    credentials = ensure_first_admin()
    if credentials:
        show_first_admin(*credentials, f"http://{host}:{port}/console/")
    else:
        _warn_key_state()
    cfg = config.get()
    print(
        f"Safe Passage on http://{host}:{port}/chat/ and http://{host}:{port}/console/"
        f" (data in {cfg.data_dir},"
        f" database {'PostgreSQL' if cfg.is_postgres else 'SQLite'},"
        f" {cfg.web_process_count} web process(es))",
        flush=True,
    )

    from safepassage import tasks
    from safepassage.channels.telegram import polling

    stop = threading.Event()
    if polling.start_background(stop):
        mode = "webhook" if cfg.telegram_webhook_url else "long polling"
        print(f"Telegram: {len(cfg.telegram_bots)} bot(s), {mode}, outbox sender", flush=True)
    # Here, in the process that supervises the web processes (they are started below and run
    # no background work): one task worker thread and one scheduler per serve. Several serves
    # share the queue, and the scheduler enqueues each due job once whatever their number.
    tasks.start_worker(stop)
    tasks.start_scheduler(stop)
    try:
        run_web_processes(host, port, cfg.web_process_count)
    finally:
        stop.set()
    return 0


def web(host: str, port: int) -> int:
    """The web processes alone (migrations are applied by `safepassage manage migrate` before
    the roles start; the first admin is created here if there is none)."""
    _setup()
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    from safepassage import config
    from safepassage.splog import configure

    configure()
    try:
        call_command("check", fail_level="ERROR")
    except SystemCheckError as error:
        print(f"Safe Passage will not start:\n{error}", file=sys.stderr)
        return 2
    credentials = ensure_first_admin()
    if credentials:
        show_first_admin(*credentials, f"http://{host}:{port}/console/")
    else:
        _warn_key_state()
    cfg = config.get()
    print(f"Safe Passage web on http://{host}:{port}/ ({cfg.web_process_count} process(es))")
    run_web_processes(host, port, cfg.web_process_count)
    return 0


def run_web_processes(host: str, port: int, count: int) -> None:
    """uvicorn on ``count`` processes; several listen on sockets of their own (listening.py)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from safepassage.web import listening

    options = {
        "host": host,
        "port": port,
        "access_log": False,
        "log_level": "warning",
        "lifespan": "off",
        "server_header": False,
        "workers": count,
    }
    if count == 1:
        uvicorn.run("safepassage.asgi:application", **options)  # type: ignore[arg-type]
        return
    web = uvicorn.Config("safepassage.asgi:application", **options)  # type: ignore[arg-type]
    try:
        sock = listening.bind(host, port)
    except OSError as error:
        print(f"Safe Passage cannot listen on {host}:{port}: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(web, sockets=[sock]).run()


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM (systemd, a container) or SIGINT (Ctrl-C)."""
    import signal

    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def worker() -> int:
    """Background tasks: the database backend's worker loop, or an RQ worker."""
    _setup()
    from safepassage import config, tasks
    from safepassage.jobs import worker as jobs_worker
    from safepassage.splog import configure

    configure()
    backend = config.get().task_backend
    print(f"Safe Passage task worker ({backend})", flush=True)
    if backend == "redis":
        tasks.run_rq_worker()
    else:
        jobs_worker.run(_stop_on_signals())
    return 0


def scheduler() -> int:
    """Enqueues each periodic task once per due time, however many schedulers run."""
    _setup()
    from safepassage import tasks
    from safepassage.jobs import scheduler as jobs_scheduler
    from safepassage.splog import configure

    configure()
    jobs = tasks.schedule()
    print(f"Safe Passage scheduler: {', '.join(job.name for job in jobs)}", flush=True)
    jobs_scheduler.run(_stop_on_signals(), lambda: jobs)
    return 0


def sender() -> int:
    """The outbox senders (and pollers, without a webhook URL) without the web server."""
    _setup()
    from safepassage.channels.telegram import bots, polling
    from safepassage.splog import configure

    configure()
    if not bots.enabled():
        print("No Telegram bot configured (TELEGRAM_BOTS): nothing to do.", flush=True)
        return 1
    stop = _stop_on_signals()
    threads = polling.start_background(stop)
    print(f"Telegram sender: {len(threads)} thread(s)", flush=True)
    for thread in threads:
        while thread.is_alive():
            thread.join(1.0)
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
    p_web = sub.add_parser("web", help="run the web processes alone")
    p_web.add_argument("--host", default="127.0.0.1")
    p_web.add_argument("--port", type=int, default=8000)
    sub.add_parser("worker", help="run background tasks")
    sub.add_parser("scheduler", help="enqueue the periodic tasks, once per due time")
    sub.add_parser("sender", help="run the Telegram outbox sender (and long polling)")
    sub.add_parser("check", help="validate flows, catalogs and settings")
    sub.add_parser("purge", help="erase personal data past its retention period")
    p_audit = sub.add_parser("audit", help="audit log tools")
    p_audit.add_argument("action", choices=["verify"])
    p_keys = sub.add_parser("keys", help="program keys: init, grant, revoke, rotate")
    p_keys.add_argument("action", choices=["init", "grant", "revoke", "rotate", "password"])
    p_keys.add_argument("--user", required=True, help="the staff member acting (or revoked)")
    p_keys.add_argument("--to", help="with grant: the staff member receiving the keys")
    p_keys.add_argument("--stdin", action="store_true", help="read passwords from stdin")
    from safepassage import campaigns_cli

    campaigns_cli.register(sub)
    p_manage = sub.add_parser("manage", help="run a Django management command")
    p_manage.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    if args.command == "serve":
        return serve(args.host, args.port)
    if args.command == "web":
        return web(args.host, args.port)
    if args.command == "worker":
        return worker()
    if args.command == "scheduler":
        return scheduler()
    if args.command == "sender":
        return sender()
    if args.command == "campaigns" and args.action in campaigns_cli.OFFLINE:
        return campaigns_cli.run(args)  # the offline machine has no database
    _setup()
    from django.core.management import call_command, execute_from_command_line

    if args.command == "check":
        from django.core.management.base import SystemCheckError

        try:
            call_command("check", fail_level="ERROR")
        except SystemCheckError as error:
            print(error, file=sys.stderr)
            return 2
        print("flows, catalogs and settings: OK")
        pending = _pending_migrations()
        if pending is None:
            print("database: not reachable, the program key was not checked", file=sys.stderr)
            return 2
        if pending:
            # Before the first `serve` (which migrates): nothing to check the keys against yet.
            print(f"database: {pending} migration(s) not applied yet; program key not checked")
            return 0
        if _warn_key_state():
            return 1
        return 0
    if args.command == "purge":
        from safepassage import config, retention, tasks

        print(retention.purge_expired())
        # From cron or a timer: the health page's "last purge" and lag expect it this often.
        tasks.record_run("retention-purge", config.get().purge_every_seconds or 3600, ok=True)
        return 0
    if args.command == "keys":
        from django.core.exceptions import ValidationError

        from safepassage import keys_cli
        from safepassage.privacy import keyring

        try:
            print(keys_cli.run(args.action, args.user, args.to, args.stdin))
        except (keyring.KeyringError, ValidationError) as error:
            print(f"refused: {error}", file=sys.stderr)
            return 2
        return 0
    if args.command == "campaigns":
        return campaigns_cli.run(args)
    if args.command == "audit":
        from safepassage.privacy import audit

        report = audit.verify()
        if report.ok:
            print(f"audit chain intact: {report.checked} records, head {report.head}")
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
