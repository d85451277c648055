"""``dgc2-verify``: decide on one code as a gate would, and print the decision as JSON.

    dgc2-verify --root-key FILE --trust-list FILE --deny-list FILE --scene SCENE [--now UNIX] CODE

``--root-key``: ``{"root_kid", "alg", "public_key"}`` (what ``citizencard offline root-key``
prints); ``--trust-list``: the trust-list endpoint's JSON; ``--deny-list``: the deny-list
endpoint's bytes. Prints ``{"accepted": bool, "reason": str|null, "step": int}`` on stdout.
Extra options: ``--terminal-id``, ``--direction``, and ``--state FILE`` (the gate's seen-set,
anti-passback memory and records, read before and written after, so a replay can be tried).
Exit status 0 accepted, 1 refused, 2 unusable input (the message is on stderr).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .denylist import DenyListError, read_deny_list
from .gate import Gate
from .trust import TrustListError, read_root_key, read_trust_list


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dgc2-verify", description="Verify a DGC2 code offline, as a gate does.")
    parser.add_argument("--root-key", required=True, type=Path, help="root public key JSON")
    parser.add_argument("--trust-list", required=True, type=Path, help="trust list JSON")
    parser.add_argument("--deny-list", required=True, type=Path, help="deny list (binary)")
    parser.add_argument("--scene", required=True, help="the terminal's scene, e.g. transit")
    parser.add_argument("--now", type=int, default=None, help="Unix seconds (default: this machine's clock)")
    parser.add_argument("--terminal-id", default="dgc2-verify")
    parser.add_argument("--direction", default=None, choices=("entry", "exit"),
                        help="entry or exit, kept in the upload record (the platform refuses other values)")
    parser.add_argument("--state", type=Path, default=None, help="JSON file holding the gate's memory between runs")
    parser.add_argument("code", help="the scanned text, DGC2:...")
    return parser


def _gate(args: argparse.Namespace) -> Gate:
    root = read_root_key(json.loads(args.root_key.read_text()))
    trust = read_trust_list(args.trust_list.read_text(), root)
    deny = read_deny_list(args.deny_list.read_bytes(), trust.deny_list_key)
    gate = Gate(args.terminal_id, args.scene, trust, deny, args.direction)
    if args.state is not None and args.state.exists():
        gate.restore(json.loads(args.state.read_text()))
    return gate


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        gate = _gate(args)
    except (OSError, ValueError, TrustListError, DenyListError) as exc:  # JSON and key errors are ValueErrors
        print(f"dgc2-verify: {exc}", file=sys.stderr)
        return 2
    decision = gate.scan(args.code, int(time.time()) if args.now is None else args.now)
    if args.state is not None:
        args.state.write_text(json.dumps(gate.state()))
    print(json.dumps(decision.to_json()))
    return 0 if decision.accepted else 1


if __name__ == "__main__":
    sys.exit(main())
