"""Private, throw-away Redis and PostgreSQL servers that the fault tests may kill and restart.

Each runs as a child process of the test run on a free port of 127.0.0.1 (never the shared
servers on 5432/6379), with its files in a temporary directory removed at the end. PostgreSQL
refuses to run as root, so under root the cluster is created and run as the ``postgres`` user
(``subprocess.Popen(user=...)``: no ``su`` wrapper between us and the postmaster, so signals
reach it directly).
"""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import redis

START_TIMEOUT_SECONDS = 30


class Missing(RuntimeError):
    """A binary or the unprivileged user needed to run a private server is not available."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_run(count: int, bus_offset: int = 10000) -> int:
    """The first of ``count`` consecutive free ports of 127.0.0.1 whose ports + ``bus_offset`` (a
    Redis Cluster's bus ports) are free too, from a random start in 20000-29000."""
    for _ in range(200):
        first = random.randrange(20000, 29000)
        ports = [port + offset for port in range(first, first + count) for offset in (0, bus_offset)]
        try:
            with contextlib.ExitStack() as held:
                for port in ports:
                    sock = held.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {count} consecutive free ports found")


def _wait(ready, process: subprocess.Popen[bytes], log: Path, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not become ready in {START_TIMEOUT_SECONDS} s:\n{log.read_text(errors='replace')}")


class PrivateRedis:
    """``redis-server`` without persistence: a restart comes back empty, as after a crash."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise Missing("redis-server is not on PATH")
        self.binary, self.workdir = binary, workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = workdir / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--dir", str(self.workdir), "--logfile", ""]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _wait(self._answers, self.process, self.log, "private redis-server")

    def _answers(self) -> bool:
        try:
            with redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-conversation and loses every key."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def flush(self) -> None:
        with redis.Redis(host="127.0.0.1", port=self.port) as client:
            client.flushall()


def _postgres_bindir() -> Path:
    override = os.environ.get("PG_BINDIR")
    candidates = [override] if override else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
                         if Path(p).parent.name.isdigit() else 0, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for candidate in candidates:
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "postgres").is_file():
            return Path(candidate)
    raise Missing("PostgreSQL server binaries (initdb, postgres) not found under /usr/lib/postgresql/*/bin, "
                  "PG_BINDIR or PATH")


class PrivatePostgres:
    """A one-off cluster (trust auth, no fsync) served by ``postgres -D`` on a free port."""

    def __init__(self) -> None:
        self.bindir = _postgres_bindir()
        self.run_as: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self.run_as = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise Missing("running as root and there is no 'postgres' user to run initdb/postgres as") from exc
        self.root = Path(tempfile.mkdtemp(prefix="cc-faults-pg-"))
        if self.run_as is not None:
            os.chown(self.root, self.run_as.pw_uid, self.run_as.pw_gid)
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.conninfo = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres connect_timeout=1"
        self.process: subprocess.Popen[bytes] | None = None

    def _user(self) -> dict[str, object]:
        if self.run_as is None:
            return {}
        return {"user": self.run_as.pw_uid, "group": self.run_as.pw_gid, "extra_groups": []}

    def initdb(self) -> None:
        args = [str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                "--no-sync", "-E", "UTF8", "--locale=C"]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, cwd=self.root,
                              **self._user())  # type: ignore[call-overload]
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        args = [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                "-c", "fsync=off", "-c", "full_page_writes=off",
                "-c", "max_connections=60"]
        log = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self.process = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=self.root,
                                            **self._user())  # type: ignore[call-overload]
        finally:
            os.close(log)
        _wait(self._answers, self.process, self.log, "private postgres")

    def _answers(self) -> bool:
        try:
            with psycopg.connect(self.conninfo) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def stop(self, mode: str = "immediate") -> None:
        """``immediate`` (SIGQUIT: every backend dies at once, as in a crash; crash recovery on the
        next start) or ``fast`` (SIGINT: clean shutdown, clients disconnected)."""
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        self.process.send_signal(signal.SIGQUIT if mode == "immediate" else signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self, mode: str = "immediate") -> None:
        self.stop(mode)
        self.start()

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("fast")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateCluster:
    """A Redis Cluster of 3 primaries and 3 replicas started by ``scripts/redis-cluster`` on six
    free ports (files in ``workdir``), whose nodes a test may kill and start again."""

    def __init__(self, workdir: Path) -> None:
        from ..backends import REDIS_CLUSTER_SCRIPT

        self.script, self.workdir = REDIS_CLUSTER_SCRIPT, workdir
        self.first = free_port_run(6)
        self.ports = list(range(self.first, self.first + 6))
        self.nodes = ",".join(f"127.0.0.1:{port}" for port in self.ports)  # CARD_REDIS_CLUSTER_NODES

    def _run(self, action: str) -> None:
        done = subprocess.run([str(self.script), action, str(self.first)], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "REDIS_CLUSTER_DIR": str(self.workdir)}, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"scripts/redis-cluster {action} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        """Start every node that is down and wait until all six agree the cluster is ok."""
        self._run("start")

    def stop(self) -> None:
        self._run("stop")

    def primary_of(self, key: str) -> int:
        """The port of the primary that serves ``key``'s slot now (asked of a node that answers)."""
        from redis.crc import key_slot

        slot = key_slot(key.encode())
        for port in self.ports:
            try:
                with redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, socket_timeout=1) as client:
                    for start, end, primary, *_ in client.execute_command("CLUSTER SLOTS"):
                        if start <= slot <= end:
                            return int(primary[1])
            except redis.RedisError:
                continue
        raise RuntimeError("no node answers CLUSTER SLOTS")

    def kill(self, port: int) -> None:
        """SIGKILL the node on ``port`` (its pid file is the script's): it vanishes mid-conversation."""
        pid = int((self.workdir / str(port) / "redis.pid").read_text())
        os.kill(pid, signal.SIGKILL)
