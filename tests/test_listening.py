"""Several web processes each listen on a socket of their own (SO_REUSEPORT), so the kernel
spreads Telegram's long-lived connections over them instead of one process taking them all."""

from __future__ import annotations

import multiprocessing
import os
import socket
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler

import pytest

from safepassage import cli
from safepassage.web import listening


def _accept_forever(sock: socket.socket, report: Connection) -> None:
    """In a spawned process, as a web process: listen, tell which socket, answer with the pid."""
    sock.listen(64)
    report.send(os.fstat(sock.fileno()).st_ino)
    while True:
        conn, _ = sock.accept()
        with conn:
            conn.sendall(str(os.getpid()).encode())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_each_process_listens_on_its_own_socket_and_gets_connections() -> None:
    port = _free_port()
    shared = listening.bind("127.0.0.1", port)
    spawn = multiprocessing.get_context("spawn")
    pipes = [spawn.Pipe() for _ in range(2)]
    processes = [
        spawn.Process(target=_accept_forever, args=(shared, child), daemon=True)
        for _, child in pipes
    ]
    for process in processes:
        process.start()
    try:
        sockets = {parent.recv() for parent, _ in pipes}
        assert len(sockets) == 2  # two sockets, not one shared copy
        assert os.fstat(shared.fileno()).st_ino not in sockets
        answered = set()
        for _ in range(40):  # the kernel hashes each connection to one of the two
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                answered.add(conn.recv(32))
        assert len(answered) == 2
    finally:
        for process in processes:
            process.kill()
            process.join(5)
        shared.close()


def test_a_port_in_use_is_refused_not_shared() -> None:
    port = _free_port()
    first = listening.bind("127.0.0.1", port)
    # What a web process receives (spawn sends the socket with this pickler), listening.
    worker = ForkingPickler.loads(ForkingPickler.dumps(first))
    worker.listen()
    try:
        with pytest.raises(OSError):
            listening.bind("127.0.0.1", port)  # a second serve would otherwise share it
    finally:
        worker.close()
        first.close()
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        with pytest.raises(OSError):
            listening.bind("127.0.0.1", port)


def test_serve_on_a_taken_port_says_so_and_exits(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = int(other.getsockname()[1])
        with pytest.raises(SystemExit) as exited:
            cli.run_web_processes("127.0.0.1", port, 2)
    assert exited.value.code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
