"""CPU time by process group during one benchmark phase, from /proc (Linux): the server (the
gunicorn process and its workers), PostgreSQL (the bench database's sessions and the server's
own background processes; other databases' sessions are left out), Redis (the ``redis-server``
on the bench's port) and the load generator (this process's finished children). Divided by the
requests answered, it gives the cost of one request on each component: the sizing numbers of
docs/operations.md. Work that others cause on the same PostgreSQL background processes or the
same Redis still counts: measure on a machine doing nothing else."""
from __future__ import annotations

import os
import resource
from collections import Counter
from dataclasses import dataclass

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
GROUPS = ("app", "postgres", "redis", "load")


def _processes() -> dict[int, tuple[str, int, float]]:
    """pid -> (command line, parent pid, CPU seconds used so far)."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as stat:
                text = stat.read()
            with open(f"/proc/{name}/cmdline", encoding="utf-8", errors="replace") as cmdline:
                command = cmdline.read().replace("\0", " ")
        except OSError:  # it exited meanwhile
            continue
        fields = text[text.rindex(")") + 2:].split()
        found[int(name)] = (command, int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND)
    return found


def _group(command: str, database: str, redis_ports: tuple[int, ...]) -> str | None:
    if command.startswith("postgres: "):  # a session's title: "postgres: 15/main: user database host(port) state"
        session = "(" in command
        return "postgres" if not session or f" {database} " in command else None
    if command.startswith("/usr/lib/postgresql/"):
        return "postgres"
    return "redis" if command.startswith("redis-server") and any(f":{port} " in command + " " for port in redis_ports) else None


@dataclass(frozen=True)
class Scope:
    """What to count: the server's process (and its descendants), the bench's database, Redis's
    ports (one, or a cluster's six)."""

    server_pid: int
    database: str
    redis_ports: tuple[int, ...]


def snapshot(scope: Scope) -> Counter[str]:
    """CPU seconds so far per group."""
    processes = _processes()
    tree, grown = {scope.server_pid}, True
    while grown:
        children = {pid for pid, (_, parent, _) in processes.items() if parent in tree} - tree
        tree |= children
        grown = bool(children)
    used: Counter[str] = Counter()
    for pid, (command, _, seconds) in processes.items():
        group = "app" if pid in tree else _group(command, scope.database, scope.redis_ports)
        if group:
            used[group] += seconds
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    used["load"] = children.ru_utime + children.ru_stime
    return used


def per_request(before: Counter[str], after: Counter[str], requests: float) -> dict[str, float]:
    """Milliseconds of CPU per request for each group (``cpu_<group>_ms``)."""
    return {f"cpu_{group}_ms": 1000 * (after[group] - before[group]) / max(requests, 1) for group in GROUPS}
