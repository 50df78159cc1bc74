"""ASGI entry point: ``uvicorn safepassage.asgi:application``."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys

from django.core.asgi import get_asgi_application


def _die_with_parent() -> None:
    """In one of several web processes (uvicorn's workers): ask Linux to end this process when
    the process that started it dies, even by SIGKILL, so that no orphan keeps the port (and
    answers webhooks) after ``safepassage serve`` was killed."""
    parent = multiprocessing.parent_process()
    if parent is None or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    if libc.prctl(pr_set_pdeathsig, signal.SIGKILL) != 0:
        return  # not granted: the worker still runs, as uvicorn's workers do elsewhere
    if os.getppid() != parent.pid:  # the parent died before the request above was made
        os._exit(1)


_die_with_parent()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "safepassage.settings")
django_application = get_asgi_application()

from safepassage.channels.telegram import asgi_lane  # noqa: E402 (needs Django set up)
from safepassage.channels.webchat import lane  # noqa: E402

# Telegram's webhook is answered before Django's request stack (see asgi_lane); so is a web
# chat first answer deferred under overload (webchat.lane, which also counts the chat's load).
application = lane.wrap(asgi_lane.wrap(django_application))
