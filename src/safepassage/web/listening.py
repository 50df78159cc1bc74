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


def _share_port(sock: socket.socket, address: tuple[str, int]) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.set_inheritable(True)
    sock.bind(address)


def _rebuild(family: int, address: tuple[str, int]) -> socket.socket:
    """In the web process: its own socket in the group."""
    sock = socket.socket(family)
    _share_port(sock, address)
    return sock


def _reduce(
    sock: ReusePortSocket,
) -> tuple[Callable[[int, tuple[str, int]], socket.socket], tuple[int, tuple[str, int]]]:
    host, port = sock.getsockname()[:2]
    return _rebuild, (int(sock.family), (host, port))


ForkingPickler.register(ReusePortSocket, _reduce)
