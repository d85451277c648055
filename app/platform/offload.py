"""CPU-heavy calls (password and PIN hashes) run off the gevent event loop.

Under gunicorn's gevent workers every request of a worker shares one OS thread: an argon2id
verification (tens of milliseconds of CPU, 64 MiB) run there stops every other request of the
worker until it is done, and 24 simultaneous console log-ins stalled the partner API for seconds
(issue 15, item 7). :func:`off_loop` runs such a call in a pool of real OS threads of the worker
process (``OFFLOAD_THREADS``, one: workers are one per core, so a burst hashes at most one per
core at a time and holds one hash's memory per worker; the rest wait in the pool's queue
without blocking the loop); the calling greenlet waits, the others go on. argon2-cffi and
``hashlib.scrypt`` release the GIL while they hash. The pool's thread runs at a lower CPU
priority (``OFFLOAD_NICENESS``): on a busy machine the loop's thread, which answers every other
request, comes first, and log-ins wait longer instead. bench/login_burst.py measures it.

Without gevent's monkey-patching (the CLI, tests, a threaded server) the call simply runs here.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
OFFLOAD_THREADS = 1  # per worker; workers are one per core (CARD_WORKERS): one hash per core at a time
OFFLOAD_NICENESS = 10  # the loop's thread gets about ten times a hashing thread's share of a busy core
_base_niceness = 0
_pool: Any = None
_pool_pid: int | None = None


def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, run in the worker's hashing thread pool under gevent, here otherwise; its
    exception is raised here."""
    if not _gevent_patched():
        return fn(*args)
    return _threadpool().apply(_lowered, (fn, *args))


def _lowered(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a pool thread that yields the CPU to the event loop: its nice value is
    ``OFFLOAD_NICENESS`` above the process's (on Linux ``setpriority(PRIO_PROCESS, 0)`` sets the
    calling thread's; threads the hash starts inherit it)."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux or not permitted: the thread still keeps the loop free
        os.setpriority(os.PRIO_PROCESS, 0, _base_niceness + OFFLOAD_NICENESS)
    return fn(*args)


def _gevent_patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency of the server
        return False
    return bool(monkey.is_module_patched("threading"))


def _threadpool() -> Any:
    """This process's pool (made at first use, so a forked worker never inherits its parent's)."""
    global _pool, _pool_pid, _base_niceness
    from gevent.threadpool import ThreadPool

    if _pool is None or _pool_pid != os.getpid():
        _pool, _pool_pid = ThreadPool(OFFLOAD_THREADS), os.getpid()
        _base_niceness = os.getpriority(os.PRIO_PROCESS, 0)
    return _pool
