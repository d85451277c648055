"""app.platform.offload: a hash runs in a real OS thread under gevent, so other greenlets go on."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

from app.platform.offload import off_loop


def test_without_gevent_the_call_runs_here() -> None:
    assert off_loop(lambda a, b: (a + b, threading.get_ident()), 1, 2) == (3, threading.get_ident())
    with pytest.raises(ZeroDivisionError):
        off_loop(lambda: 1 / 0)


# A monkey-patched interpreter (as a gunicorn gevent worker is): while four greenlets each hash a
# password with argon2id, a ticker greenlet must keep running every 10 ms.
UNDER_GEVENT = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import os, threading, time
    import gevent
    from argon2 import PasswordHasher
    from app.platform.offload import off_loop

    hasher = PasswordHasher()
    stored = hasher.hash("a password of some length")
    main = threading.get_native_id()
    ran_in, gaps, niceness = [], [], []

    def hashed():
        hasher.verify(stored, "a password of some length")
        niceness.append(os.getpriority(os.PRIO_PROCESS, 0))
        return threading.get_native_id()

    def login():
        ran_in.append(off_loop(hashed))

    def ticker():
        last = time.perf_counter()
        while len(ran_in) < 4:
            gevent.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    try:
        off_loop(lambda: 1 / 0)
    except ZeroDivisionError:
        pass
    else:
        raise SystemExit("the exception was lost")
    gevent.joinall([gevent.spawn(ticker)] + [gevent.spawn(login) for _ in range(4)])
    assert main not in ran_in, "hashed in the loop's thread"
    assert min(niceness) > os.getpriority(os.PRIO_PROCESS, 0), "the hashing threads compete with the loop at its priority"
    print(max(gaps))
""")


def test_under_gevent_a_hash_runs_in_another_thread_and_the_loop_keeps_going() -> None:
    done = subprocess.run([sys.executable, "-c", UNDER_GEVENT], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    # Four hashes in the loop's thread stop it for their whole time (4 x tens of ms at least).
    assert float(done.stdout) < 0.25, done.stdout
