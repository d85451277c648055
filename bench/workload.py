"""What each benchmark phase sends (request files) and how it is sent (wrk, or bench/paced.py at a fixed rate).

A request file has one request per line: ``METHOD \\t PATH \\t BODY \\t Header: value ...``
(bench/replay.lua and bench/paced.py both read it). Every load generator prints one
``RESULT key=value ...`` line, parsed by :func:`drive`.
"""
from __future__ import annotations

import json
import random
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cpu
import pyotp
from floor_app import PATH as FLOOR_PATH
from seed import Population, random_seed

from qr import payload, totp
from scenes.signing import authorization_header

BENCH = Path(__file__).resolve().parent
VERIFY_PATH = "/api/partner/v1/verifications"
CODE_PATH = "/api/mp/v1/card/code"
JSON = {"Content-Type": "application/json"}


def request_line(method: str, path: str, body: str, headers: dict[str, str]) -> str:
    """One line of a request file."""
    return "\t".join([method, path, body, *(f"{name}: {value}" for name, value in headers.items())])


def write_requests(lines: list[str], name: str, folder: Path) -> Path:
    """Write a request file; returns its path."""
    path = folder / f"{name}.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def floor_requests(count: int) -> list[str]:
    """``count`` floor bodies, each a fresh random seed with its current code."""
    lines = []
    for _ in range(count):
        seed = random_seed()
        body = json.dumps({"seed": seed, "code": pyotp.TOTP(seed).now()}, separators=(",", ":"))
        lines.append(request_line("POST", FLOOR_PATH, body, JSON))
    return lines


def verification_requests(population: Population, count: int, first: int = 0) -> list[str]:
    """``count`` signed verifications, each a fresh code of a random citizen, each code used once.

    Sequences run outer and citizens inner (in one shuffled order), so one device's successive
    codes are N requests apart and reach the server in order. ``first``: skip the first codes of
    the step (sent by an earlier round of the same run)."""
    step, now, devices = totp.time_step(time.time()), int(time.time()), population.devices
    order = random.sample(range(len(devices)), len(devices))
    lines = []
    for n in range(first, first + count):
        sequence, index = divmod(n, len(devices))
        pseudonym, seed = devices[order[index]]
        code = payload.encode(payload.CodePayload(pseudonym, step, sequence, totp.otp(seed, step, sequence)))
        body = json.dumps({"code": code, "scene": "transit", "terminal_id": f"gate-{index % 500}"}, separators=(",", ":"))
        auth = authorization_header(population.partner_id, population.partner_secret, "POST", VERIFY_PATH,
                                    body.encode(), now, secrets.token_hex(12))
        lines.append(request_line("POST", VERIFY_PATH, body, {**JSON, "Authorization": auth}))
    return lines


def card_code_requests(tokens: list[str]) -> list[str]:
    """One ``GET /card/code`` per bearer token; the load generator cycles through them."""
    return [request_line("GET", CODE_PATH, "", {"Authorization": f"Bearer {token}"}) for token in tokens]


def load_command(file: Path, port: int, duration: int, connections: int, rate: float | None) -> list[str]:
    """wrk (closed loop, as fast as the server answers) or, with ``rate``, bench/paced.py."""
    if rate:
        return [sys.executable, str(BENCH / "paced.py"), "127.0.0.1", str(port), str(file),
                "--rate", str(rate), "--duration", str(duration), "--connections", str(connections)]
    return ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "-s", str(BENCH / "replay.lua"),
            f"http://127.0.0.1:{port}", "--", str(file), "2"]


def drive(file: Path, port: int, duration: int, connections: int, rate: float | None,
          scope: cpu.Scope | None = None) -> dict[str, Any]:
    """Run the load generator in its own process; returns its RESULT line as numbers (wrk's
    ``sent``, distinct lines sent per thread, as text), and with ``server_pid`` the CPU per
    request of the server, PostgreSQL, Redis and the load generator within ``scope`` (bench/cpu.py:
    ``cpu_app_ms`` ...)."""
    before = cpu.snapshot(scope) if scope else None
    out = subprocess.run(load_command(file, port, duration, connections, rate),
                         capture_output=True, text=True, check=True, timeout=duration + 90).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    result: dict[str, Any] = {key: value if key == "sent" else float(value)
                              for key, value in (item.split("=") for item in line.split()[1:])}
    if before is not None and scope is not None:
        result.update(cpu.per_request(before, cpu.snapshot(scope), result["requests"]))
    return result


def sent_lines(file: Path, result: dict[str, Any]) -> list[str]:
    """The lines of ``file`` the load generator sent (each at least once): wrk's thread t sends
    lines t, t+T, ... in order (``sent`` counts them per thread); bench/paced.py sends the first
    ``requests`` lines."""
    lines = file.read_text(encoding="utf-8").splitlines()
    if "sent" not in result:
        return lines[: int(result["requests"])]
    counts = [int(count) for count in result["sent"].split(":")]
    return [line for n, line in enumerate(lines) if n // len(counts) < counts[n % len(counts)]]
