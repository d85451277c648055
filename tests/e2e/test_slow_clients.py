"""Slow clients (slowloris) cannot tie up every worker of ``citizencard serve`` (issue 8).

64 connections each send a request line and then one header line per second, never finishing
their headers. Under the former ``gthread`` workers (3 workers x 4 threads) every request after
them timed out; under ``gevent`` each slow client holds one greenlet and other requests are
answered at once.
"""
from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .. import backends
from .test_gunicorn import Server

pytestmark = pytest.mark.e2e
SLOW_CLIENTS = 64


@pytest.fixture
def embedded_server(tmp_path: Path) -> Iterator[Server]:
    env = {**os.environ, "DATABASE_URL": backends.migrated_sqlite(tmp_path, "slow.sqlite"), "CARD_INSTANCE_PATH": str(tmp_path)}
    env.pop("REDIS_URL", None)
    server = Server(env, tmp_path / "gunicorn.log")
    server.start()
    yield server
    server.stop()


def _trickle(sockets: list[socket.socket], stop: threading.Event) -> None:
    while not stop.wait(1.0):
        for sock in sockets:
            with contextlib.suppress(OSError):  # the server closed it: fine
                sock.sendall(b"X-Slow: 1\r\n")


def test_other_requests_are_answered_while_slow_clients_hold_connections(embedded_server: Server) -> None:
    sockets = [socket.create_connection(("127.0.0.1", embedded_server.port), timeout=5) for _ in range(SLOW_CLIENTS)]
    stop = threading.Event()
    try:
        for sock in sockets:
            sock.sendall(b"POST /api/partner/v1/verifications HTTP/1.1\r\nHost: card\r\n")
        threading.Thread(target=_trickle, args=(sockets, stop), daemon=True).start()
        time.sleep(2)  # every slow client has started its request and been picked up by a worker
        for _ in range(10):
            started = time.monotonic()
            answer = requests.get(embedded_server.base + "/api/openapi.json", timeout=10)
            assert answer.status_code == 200
            assert time.monotonic() - started < 2
    finally:
        stop.set()
        for sock in sockets:
            sock.close()
