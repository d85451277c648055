"""CPU-heavy calls (password and PIN hashes) run outside the worker process, after everything else.

Under gunicorn's gevent workers every request of a worker shares one OS thread: an argon2id
verification (about 0.2 s of CPU, 64 MiB) run there stops every other request of the worker
until it is done, and 24 simultaneous console log-ins stalled the partner API for seconds
(issue 15, item 7). :func:`off_loop` runs a hash of app/platform/hasher.py's ``OPS`` instead in
a child process of the worker (started at first use, again if it died), which:

- runs at ``SCHED_IDLE``: it gets a core only when no worker, PostgreSQL or Redis wants one, and
  a waking worker preempts it at once. A thread of the worker at nice +10 (the first version)
  left the p99 of ``POST /verifications`` at 6.8x its idle value during 64-way log-in bursts on a
  quiet machine, and at SCHED_IDLE a thread was worse on a busy one: it could be preempted while
  holding the worker's GIL or memory-map lock, and the loop waited for it (bench/README.md);
- hashes one request at a time under a machine-wide ``flock`` slot (``<instance>/hashing.lock``):
  one argon2id hash already keeps both cores of the development machine busy (4 lanes).

A call also takes the worker's :func:`turn` (one at a time per worker), which console.LogInTurns
holds for a whole ``POST /console/login``: a burst of log-ins waits there, outside the loop's
run queue, instead of every log-in's session, CSRF, form, limits and page being runnable at once
in the loop that answers the partner API.

The calling greenlet waits, the others go on. Each call waits at most ``OFFLOAD_WAIT`` seconds
(in the worker's queue, for the slot, and for the hash), then raises 503 ``busy`` with
``Retry-After``: a burst of log-ins is answered, never left hanging. A log-in counted against
its limits and answered ``busy`` was not evaluated (app/service_desk/staff.py takes its count
back).

Without gevent's monkey-patching (the CLI, tests, a threaded server) the call simply runs here.
bench/login_burst.py measures it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from app.platform import hasher
from app.platform.errors import AppError

log = logging.getLogger(__name__)
OFFLOAD_WAIT = 10.0  # seconds a hash may wait and run before the request is answered 503 busy
SLOT_FILE = "hashing.lock"
_child: Any = None
_turn: Any = None
_turn_pid: int | None = None
_deadline = 0.0


def off_loop(op: str, *args: Any) -> Any:
    """``hasher.OPS[op](*args)``: in the worker's hashing process under gevent, here otherwise; an
    exception it raised is raised here. Under gevent it takes this worker's :func:`turn`: 503
    ``busy`` (``Retry-After``) when it could not be done within ``OFFLOAD_WAIT`` seconds."""
    if not _gevent_patched():
        return hasher.OPS[op](*args)
    with turn() as deadline:
        outcome, value = _in_child(deadline, op, args)
    if outcome == "ok":
        return value
    if outcome == "raised":
        raise value
    raise _busy()


@contextlib.contextmanager
def turn() -> Iterator[float]:
    """This worker's one turn at hashing work (reentrant for the greenlet holding it), waited for
    at most ``OFFLOAD_WAIT`` seconds, else 503 ``busy``; yields the deadline (``time.time()``).

    A request whose hash is only part of its work (a console log-in: form, limits, a query, the
    page) may hold the turn for all of it: of a burst of log-ins one per worker is then worked on
    at a time, and a verification arriving in the middle waits behind one log-in's steps in the
    event loop, not behind every log-in's. Without gevent: no waiting, a deadline of
    ``OFFLOAD_WAIT`` from now."""
    global _turn, _turn_pid, _deadline
    if not _gevent_patched():
        yield time.time() + OFFLOAD_WAIT
        return
    from gevent.lock import RLock

    if _turn is None or _turn_pid != os.getpid():  # a worker never shares its parent's
        _turn, _turn_pid = RLock(), os.getpid()
    outermost = not _turn._is_owned()
    deadline = time.time() + OFFLOAD_WAIT if outermost else _deadline
    if not _turn.acquire(timeout=max(0.0, deadline - time.time())):
        raise _busy()
    _deadline = deadline
    try:
        yield deadline
    finally:
        _turn.release()


def _busy() -> AppError:
    return AppError("busy", 503, "too many log-ins at once; retry shortly", headers={"Retry-After": str(max(1, round(OFFLOAD_WAIT)))})


def _in_child(deadline: float, op: str, args: tuple[Any, ...]) -> tuple[str, Any]:
    """``(outcome, value)`` from this worker's hashing process, ``("expired", None)`` past the
    deadline. An answer that comes too late is read and dropped by the next call (the process is
    not killed: a new one would cost the worker a spawn, on the loop)."""
    import gevent

    child = _process()
    try:
        with gevent.Timeout(max(0.0, deadline - time.time()) + 0.5):  # the child refuses at the deadline itself
            while child.late:
                hasher.receive(child.answers)
                child.late -= 1
            hasher.send(child.requests, (deadline, op, args))
            child.late += 1
            answer = hasher.receive(child.answers)
            child.late -= 1
            return answer  # type: ignore[no-any-return]
    except gevent.Timeout:
        log.warning("hashing process too slow: %d answers late", child.late)
        return ("expired", None)
    except (EOFError, OSError) as exc:
        log.error("hashing process gone: %s", type(exc).__name__)
        child.end()
        return ("expired", None)


_CHILD_ENV = {name: os.environ[name] for name in ("PATH", "LANG", "LC_ALL") if name in os.environ}  # no keys, no URLs


class _Child:
    """The hashing process (app/platform/hasher.py), started with ``posix_spawn`` (no copy of the
    worker's memory map, unlike a fork) and talked to over two pipes read cooperatively."""

    def __init__(self, slot_path: str) -> None:
        from gevent.fileobject import FileObjectPosix

        their_in, ours_out = os.pipe()
        ours_in, their_out = os.pipe()
        try:
            self.pid = os.posix_spawn(sys.executable, [sys.executable, "-I", hasher.__file__, slot_path], _CHILD_ENV,
                                      file_actions=[(os.POSIX_SPAWN_DUP2, their_in, 0), (os.POSIX_SPAWN_DUP2, their_out, 1)])
        finally:
            os.close(their_in)
            os.close(their_out)
        self.requests, self.answers = FileObjectPosix(ours_out, "wb"), FileObjectPosix(ours_in, "rb")
        self.owner, self.late, self.ended = os.getpid(), 0, False

    def end(self) -> None:
        """Close the pipes (the process exits at end of input) and reap it if it has exited."""
        self.ended = True
        for stream in (self.requests, self.answers):
            with contextlib.suppress(OSError):
                stream.close()
        with contextlib.suppress(OSError):
            os.waitpid(self.pid, os.WNOHANG)


def _process() -> _Child:
    """This worker's hashing process (started now if there is none, it ended, or it was a parent's)."""
    global _child
    if _child is None or _child.ended or _child.owner != os.getpid():
        _child = _Child(_slot_path())
    return _child


def _slot_path() -> str:
    """``<instance folder>/hashing.lock`` of the running app; "" (no machine-wide slot) outside one."""
    from flask import current_app, has_app_context

    if not has_app_context():
        return ""
    try:
        os.makedirs(current_app.instance_path, exist_ok=True)
    except OSError:  # not writable here: each worker's process still hashes one at a time
        return ""
    return os.path.join(current_app.instance_path, SLOT_FILE)


def _gevent_patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency of the server
        return False
    return bool(monkey.is_module_patched("threading"))
