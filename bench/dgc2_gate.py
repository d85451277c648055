"""DGC2 offline codes (issue 16): the gate's check per code, and the deny list's size and cost.

Run by hand, not in CI (figures go in the report and docs/offline-codes.md):

    .venv/bin/python bench/dgc2_gate.py                  # about a minute on 2 loaded cores
    .venv/bin/python bench/dgc2_gate.py --codes 500      # quicker

1. **Terminal check per code**: ``Gate.scan`` (steps 1-13: base45, parse, two signatures, time
   windows, scene, a binary search in a 200,000-entry deny list, the seen-set) on distinct valid
   codes, Ed25519 and SM2; median and p99 in microseconds, one code at a time on one core.
2. **Deny list for 10,000,000 cards, 2 % revoked per day, 24 h certificates**: a minute-by-minute
   simulation (a revoked card has 1 or 2 unexpired certificates, each with a uniformly random
   remaining life up to 24 h; only unexpired serials are listed; a version a minute) over two days,
   then the steady-state entries, full-list bytes, delta bytes per minute, and the time to build
   and sign a full version and a delta (Ed25519 deny-list key), and the gate's time to read one.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "terminal")]

from dgc2 import keys
from dgc2.denylist import read_deny_delta, read_deny_list, write_deny_delta, write_deny_list
from dgc2.format import issue_certificate, make_code
from dgc2.gate import Gate
from dgc2.trust import IssuingKey, RootKey, read_trust_list, write_trust_list

NOW = int(time.time())


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def gate_check(alg: str, codes: int, deny_entries: int) -> dict:
    root, deny_key, issuer = keys.generate(keys.ED25519), keys.generate(keys.ED25519), keys.generate(alg)
    trust = read_trust_list(write_trust_list(root, 1, version=1, issued_at=NOW, next_update=NOW + 3600,
                                             keys=[IssuingKey(1, issuer.verifying_key(), NOW - 86400, NOW + 86400)],
                                             deny_list_key=deny_key.verifying_key()), RootKey(1, root.verifying_key()))
    deny = read_deny_list(write_deny_list(deny_key, version=1, issued_at=NOW, next_update=NOW + 60,
                                          serials=[os.urandom(8) for _ in range(deny_entries)]), deny_key.verifying_key())
    texts = []
    for _ in range(codes):  # a different phone for each code, as at a real gate
        device = keys.generate(alg)
        cert = issue_certificate(issuer, kid=1, serial=os.urandom(8), nbf=NOW - 600, exp=NOW + 80000, scenes=1, fare_class=0,
                                 flags=1, device_public_key=device.public_key)
        texts.append(make_code(cert, device, t=NOW, ctr=0).text)
    gate = Gate("bench-gate", "transit", trust, deny)
    timings = []
    for text in texts:
        start = time.perf_counter_ns()
        decision = gate.scan(text, NOW)
        timings.append((time.perf_counter_ns() - start) / 1000)
        assert decision.accepted, decision
    return {"alg": alg, "codes": codes, "deny_entries": len(deny), "median_us": statistics.median(timings),
            "p99_us": _percentile(timings, 0.99)}


def deny_list_model(cards: int, revoked_per_day: float, days: int, seed: int = 16) -> dict:
    rng = random.Random(seed)
    per_minute = cards * revoked_per_day / 1440
    listed: set[bytes] = set()
    expiring: dict[int, list[bytes]] = {}  # minute -> serials whose certificate expires then
    deltas = []
    for minute in range(days * 1440):
        revoked = int(per_minute) + (rng.random() < per_minute % 1)
        adds = [rng.randbytes(8) for _ in range(revoked) for _ in range(rng.choice((1, 2)))]
        for serial in adds:
            expiring.setdefault(minute + rng.randint(1, 1440), []).append(serial)
        expired = expiring.pop(minute, [])
        listed.difference_update(expired)
        listed.update(adds)
        deltas.append((len(adds), len(expired)))
    key = keys.generate(keys.ED25519)
    start = time.perf_counter()
    full = write_deny_list(key, version=2, issued_at=NOW, next_update=NOW + 60, serials=listed)
    build_full = time.perf_counter() - start
    adds, removes = deltas[-1]
    start = time.perf_counter()
    delta = write_deny_delta(key, from_version=1, to_version=2, issued_at=NOW, adds=[os.urandom(8) for _ in range(adds)],
                             removes=list(listed)[:removes])
    build_delta = time.perf_counter() - start
    start = time.perf_counter()
    read_deny_list(full, key.verifying_key())
    read_full = time.perf_counter() - start
    start = time.perf_counter()
    read_deny_delta(delta, key.verifying_key())
    read_delta = time.perf_counter() - start
    last_day = deltas[-1440:]
    delta_bytes = [20 + 4 + 8 * (a + r) + 64 for a, r in last_day]
    return {"cards": cards, "revoked_per_day": int(cards * revoked_per_day), "entries": len(listed), "full_bytes": len(full),
            "delta_bytes_median": statistics.median(delta_bytes), "delta_bytes_max": max(delta_bytes),
            "delta_bytes_per_day": sum(delta_bytes), "build_sign_full_ms": build_full * 1000,
            "build_sign_delta_ms": build_delta * 1000, "gate_read_full_ms": read_full * 1000, "gate_read_delta_ms": read_delta * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description="DGC2 gate check and deny-list figures")
    parser.add_argument("--codes", type=int, default=2000)
    parser.add_argument("--deny-entries", type=int, default=200_000)
    parser.add_argument("--cards", type=int, default=10_000_000)
    parser.add_argument("--revoked-per-day", type=float, default=0.02)
    parser.add_argument("--days", type=int, default=2)
    args = parser.parse_args()
    for alg in (keys.ED25519, keys.SM2):
        result = gate_check(alg, args.codes, args.deny_entries)
        print(f"gate check {alg:8} {result['codes']} codes, {result['deny_entries']:,} denied serials: "
              f"median {result['median_us']:.0f} us, p99 {result['p99_us']:.0f} us")
    model = deny_list_model(args.cards, args.revoked_per_day, args.days)
    print(f"deny list, {model['cards']:,} cards, {model['revoked_per_day']:,} revoked a day, 24 h certificates: "
          f"{model['entries']:,} entries, full list {model['full_bytes'] / 1024:.0f} KiB; "
          f"delta a minute median {model['delta_bytes_median'] / 1024:.1f} KiB (max {model['delta_bytes_max'] / 1024:.1f} KiB, "
          f"{model['delta_bytes_per_day'] / 1048576:.1f} MiB a day)")
    print(f"build + sign: full {model['build_sign_full_ms']:.0f} ms, delta {model['build_sign_delta_ms']:.1f} ms; "
          f"gate reads (verify + check order): full {model['gate_read_full_ms']:.0f} ms, delta {model['gate_read_delta_ms']:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
