"""Paced (open-loop) load generator: sends pre-built requests at a fixed rate, like wrk2.

wrk cannot pace and wrk2 is not packaged in Debian, so this is a small asyncio client on raw
keep-alive sockets. Request ``i`` is due at ``start + i / rate`` whatever happened before; its
latency counts from that due time (not from when a free connection sent it), so a stalled
server shows in the percentiles instead of slowing the load (no coordinated omission).

    .venv/bin/python bench/paced.py HOST PORT FILE --rate 500 --duration 15 [--connections 32]

FILE has the format of bench/replay.lua; prints the same RESULT line.
"""
from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
from pathlib import Path

DRAIN_SECONDS = 60  # after the last send, how long to wait for the answers still due


@dataclass
class Stats:
    """Counts and latencies (seconds) of finished requests."""

    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    non200: int = 0
    accepted: int = 0
    socket_errors: int = 0

    def record(self, latency: float, status: int, body: bytes) -> None:
        self.latencies.append(latency)
        self.ok += status == 200
        self.non200 += status != 200
        self.accepted += status == 200 and b'"accepted":true' in body


def build_requests(path: str, host: str, port: int) -> list[bytes]:
    """Raw HTTP/1.1 requests, one per line of the file."""
    built = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        method, target, body, *headers = line.split("\t")
        head = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", *headers, f"Content-Length: {len(body.encode())}"]
        built.append(("\r\n".join(head) + "\r\n\r\n" + body).encode())
    return built


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one response with a Content-Length (as gunicorn sends them)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
    return int(lines[0].split()[1]), await reader.readexactly(length)


async def connection(host: str, port: int, queue: asyncio.Queue, stats: Stats) -> None:  # type: ignore[type-arg]
    """One keep-alive connection: take due requests off the queue, send, read, record."""
    loop = asyncio.get_running_loop()
    streams = None
    while (item := await queue.get()) is not None:
        due, raw = item
        try:
            streams = streams or await asyncio.open_connection(host, port)
            streams[1].write(raw)
            status, body = await read_response(streams[0])
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            stats.socket_errors += 1
            if streams:
                streams[1].close()
            streams = None
            continue
        stats.record(loop.time() - due, status, body)


async def run(args: argparse.Namespace) -> tuple[Stats, float, float]:
    """Schedule ``rate * duration`` requests; returns stats, seconds taken and the worst send lag."""
    requests = build_requests(args.file, args.host, args.port)
    loop, queue, stats = asyncio.get_running_loop(), asyncio.Queue(), Stats()  # type: ignore[var-annotated]
    workers = [asyncio.create_task(connection(args.host, args.port, queue, stats)) for _ in range(args.connections)]
    start, worst_lag = loop.time() + 0.05, 0.0
    for i in range(int(args.rate * args.duration)):
        due = start + i / args.rate
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        worst_lag = max(worst_lag, loop.time() - due)
        queue.put_nowait((due, requests[i % len(requests)]))
    for _ in workers:
        queue.put_nowait(None)
    try:
        await asyncio.wait_for(asyncio.gather(*workers), timeout=DRAIN_SECONDS)
    except TimeoutError:  # the server fell far behind: what is still unanswered counts as socket errors
        stats.socket_errors = int(args.rate * args.duration) - len(stats.latencies)
    return stats, loop.time() - start, worst_lag


def percentile(values: list[float], q: float) -> int:
    """The q-th percentile in microseconds (nearest rank)."""
    ordered = sorted(values) or [0.0]
    return int(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("file")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    stats, seconds, lag = asyncio.run(run(args))
    lat = stats.latencies
    print(f"RESULT requests={len(lat) + stats.socket_errors} seconds={seconds:.3f} ok={stats.ok} non200={stats.non200} "
          f"accepted={stats.accepted} socket_errors={stats.socket_errors} p50_us={percentile(lat, 50)} "
          f"p90_us={percentile(lat, 90)} p99_us={percentile(lat, 99)} max_us={percentile(lat, 100)} "
          f"send_lag_max_us={int(lag * 1e6)}")


if __name__ == "__main__":
    main()
