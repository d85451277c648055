"""The password and PIN hashes, and the process that runs them for a gunicorn worker.

:data:`OPS` names every CPU-heavy hash the app runs on a request (argon2id verification of a
staff password, scrypt of a card PIN). app/platform/offload.py runs them: in place without gevent,
and under gevent in a separate process started with this file as its script (:func:`serve`), so
the hashes never hold the worker's GIL, memory map or event loop.

The process lowers itself to ``SCHED_IDLE`` (Linux, sched(7)): it runs only when no normal task
wants the CPU, and a normal task that wakes preempts it at once, so the workers, PostgreSQL and
Redis always come first (nice +10 only gives a hash a tenth of a busy core's share, and keeps it
running until its slice ends). It hashes one request at a time, and holds an ``flock`` on the
slot file named on its command line while it does, so the hashes of every worker of the machine
take turns: an argon2id hash with the library's defaults (RFC 9106's second recommendation:
t=3, 64 MiB, 4 lanes) keeps both cores of a small machine busy on its own.

Imports only the standard library and argon2-cffi (not the app): the process starts in tens of
milliseconds. Protocol on stdin/stdout, each message a 4-byte big-endian length and a pickle:
request ``(deadline, op, args)`` (``deadline`` in ``time.time()`` seconds), answer
``("ok", result)``, ``("raised", exception)`` or ``("expired", None)`` when the deadline passed
before the hash began. The pipes connect only the worker and the child it started; the child
gets no environment beyond PATH and the locale (no keys, no database URL).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pickle
import struct
import sys
import time
from collections.abc import Callable
from typing import Any, BinaryIO

from argon2 import PasswordHasher

SCRYPT_MAXMEM = 64 * 1024 * 1024
_HEADER = struct.Struct(">I")
_argon2 = PasswordHasher()  # verify reads its parameters from the stored hash


def argon2_verify(stored: str, password: str) -> bool:
    """argon2-cffi's ``PasswordHasher.verify``: True, or VerificationError / InvalidHashError."""
    return bool(_argon2.verify(stored, password))


def scrypt(secret: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    """``hashlib.scrypt`` (RFC 7914), 32 bytes, at most ``SCRYPT_MAXMEM`` of memory."""
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=32)


OPS: dict[str, Callable[..., Any]] = {"argon2_verify": argon2_verify, "scrypt": scrypt}


def send(stream: BinaryIO, message: Any) -> None:
    """One length-prefixed pickle."""
    body = pickle.dumps(message)
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def receive(stream: BinaryIO) -> Any:
    """One length-prefixed pickle; EOFError when the other end has closed."""
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError
    body = stream.read(_HEADER.unpack(head)[0])
    return pickle.loads(body)  # noqa: S301 - from the worker that started this process, over its own pipe


def lower_priority() -> None:
    """SCHED_IDLE for this process (threads it starts inherit it); nice 19 where that is refused."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux: the lowest nice value instead
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, 0, 19)


def answer(slot: int | None, request: tuple[float, str, tuple[Any, ...]]) -> tuple[str, Any]:
    """Run one request while holding the machine's hashing slot (blocking ``flock``)."""
    deadline, op, args = request
    if slot is not None:
        fcntl.flock(slot, fcntl.LOCK_EX)
    try:
        if time.time() > deadline:
            return ("expired", None)
        return ("ok", OPS[op](*args))
    except Exception as exc:  # noqa: BLE001 - handed to the caller, who raises it
        return ("raised", exc)
    finally:
        if slot is not None:
            fcntl.flock(slot, fcntl.LOCK_UN)


def serve(slot_path: str | None) -> None:
    """Answer requests from stdin until it closes (the worker ended)."""
    lower_priority()
    try:
        slot = os.open(slot_path, os.O_RDWR | os.O_CREAT, 0o600) if slot_path else None
    except OSError as exc:  # an unwritable instance folder: hash without the machine-wide slot, say so once
        print(f"hashing process: no slot file ({type(exc).__name__}); hashing without it", file=sys.stderr)
        slot = None
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            request = receive(stdin)
        except EOFError:
            return
        send(stdout, answer(slot, request))


if __name__ == "__main__":
    serve(sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else None)
