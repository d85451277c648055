"""CPU time by process group during one benchmark phase, from /proc (Linux): the server (the
gunicorn process and its workers), PostgreSQL (every ``postgres`` process), Redis
(``redis-server``) and the load generator (this process's finished children). Divided by the
requests answered, it gives the cost of one request on each component: the sizing numbers of
docs/operations.md."""
from __future__ import annotations

import os
import resource
from collections import Counter

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
GROUPS = ("app", "postgres", "redis", "load")


def _processes() -> dict[int, tuple[str, int, float]]:
    """pid -> (command name, parent pid, CPU seconds used so far)."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as stat:
                text = stat.read()
        except OSError:  # it exited meanwhile
            continue
        comm, fields = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        found[int(name)] = (comm, int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND)
    return found


def snapshot(server_pid: int) -> Counter[str]:
    """CPU seconds so far per group; the server is ``server_pid`` and its descendants."""
    processes = _processes()
    tree, grown = {server_pid}, True
    while grown:
        children = {pid for pid, (_, parent, _) in processes.items() if parent in tree} - tree
        tree |= children
        grown = bool(children)
    used: Counter[str] = Counter()
    for pid, (comm, _, seconds) in processes.items():
        group = "app" if pid in tree else "postgres" if comm.startswith("postgres") else \
            "redis" if comm.startswith("redis-server") else None
        if group:
            used[group] += seconds
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    used["load"] = children.ru_utime + children.ru_stime
    return used


def per_request(before: Counter[str], after: Counter[str], requests: float) -> dict[str, float]:
    """Milliseconds of CPU per request for each group (``cpu_<group>_ms``)."""
    return {f"cpu_{group}_ms": 1000 * (after[group] - before[group]) / max(requests, 1) for group in GROUPS}
