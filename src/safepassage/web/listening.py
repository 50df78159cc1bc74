"""One listening socket per web process, so that Linux spreads connections over the processes.

uvicorn's workers share the one socket their supervisor bound, and whichever process wakes
first accepts every connection waiting. Telegram keeps up to 40 connections open for as long
as it can and sends every update over them; opened in a burst, they all land in one process,
and the other processes (a core each) sit idle while that one is saturated (measured: 16 of 16
connections in one of two processes). With ``SO_REUSEPORT`` each process listens on a socket
of its own bound to the same address, and the kernel hashes each new connection to one of them.

The supervisor binds a :class:`ReusePortSocket`; uvicorn sends it to every worker it spawns,
and a worker receives, instead of a copy of the supervisor's socket, a new socket bound to the
same address (the reducer below), which it then listens on.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from multiprocessing.reduction import ForkingPickler
from typing import Any


class ReusePortSocket(socket.socket):
    """A socket bound with ``SO_REUSEPORT``; see the module's docstring for how it travels."""


def bind(host: str, port: int) -> ReusePortSocket:
    """The supervisor's socket (bound, not listening), or OSError when the port is taken.

    A plain bind first: every socket in a ``SO_REUSEPORT`` group shares the port, so without
    it a second ``safepassage serve`` on the same port would silently share it with a running
    first one instead of refusing to start. (Both start-ups in the same few seconds, before
    the first one's processes listen, still share it.)
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    sock = ReusePortSocket(family)
    _share_port(sock, (host, port))
    return sock


def _share_port(sock: socket.socket, address: tuple[Any, ...]) -> None:
    # Not inheritable (Python's default): a program a web process started must not keep a
    # socket of the group listening after that process died, or the kernel would go on
    # handing it connections nobody accepts.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)


def _rebuild(family: int, address: tuple[Any, ...]) -> socket.socket:
    """In the web process: its own socket in the group."""
    sock = socket.socket(family)
    _share_port(sock, address)
    return sock


def _reduce(
    sock: ReusePortSocket,
) -> tuple[Callable[[int, tuple[Any, ...]], socket.socket], tuple[int, tuple[Any, ...]]]:
    # The whole address: an IPv6 one carries its flow info and scope id.
    return _rebuild, (int(sock.family), tuple(sock.getsockname()))


ForkingPickler.register(ReusePortSocket, _reduce)
