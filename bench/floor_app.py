"""The floor: the least work a verification endpoint can do, under the product's gunicorn settings.

``POST /verify`` with ``{"seed": "<base32>", "code": "<6 digits>"}``: parse the JSON body, one
``pyotp.TOTP(seed).verify(code, valid_window=1)``, and, when it matches, one Redis
``SET floor:<seed>:<code> 1 NX EX 120`` so no code is accepted twice. Answers
``{"accepted": true|false}``. No database, no signature, no logging of our own.

    .venv/bin/python bench/floor_app.py --bind 127.0.0.1:8100 --workers 5 --redis-url redis://127.0.0.1:6379/15
"""
from __future__ import annotations

if __name__ == "__main__":  # the server process only; bench/workload.py imports PATH from here
    from gevent import monkey

    monkey.patch_all()  # first, as `citizencard serve` does (app.server._GEVENT_LAUNCH)

import argparse  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pyotp  # noqa: E402
import redis  # noqa: E402
from flask import Flask, jsonify, request  # noqa: E402
from gunicorn.app.base import BaseApplication  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.server import gunicorn_options  # noqa: E402

PATH = "/verify"


def create_floor_app(redis_url: str) -> Flask:
    """The minimal Flask app: JSON body, one TOTP check, one Redis SET NX."""
    app = Flask(__name__)
    store = redis.Redis.from_url(redis_url)

    @app.post(PATH)
    def verify() -> Any:
        body = request.get_json()
        valid = pyotp.TOTP(body["seed"]).verify(body["code"], valid_window=1)
        accepted = valid and bool(store.set(f"floor:{body['seed']}:{body['code']}", 1, nx=True, ex=120))
        return jsonify(accepted=accepted)

    return app


class FloorServer(BaseApplication):  # type: ignore[misc]
    """gunicorn with exactly ``app.server.gunicorn_options`` (worker class, timeouts, access log)."""

    def __init__(self, options: dict[str, Any], make_app: Callable[[], Flask]) -> None:
        self.options, self.make_app = options, make_app
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.make_app()  # in each worker, after the fork


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bind", required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    args = parser.parse_args()
    FloorServer(gunicorn_options(args.bind, args.workers), lambda: create_floor_app(args.redis_url)).run()


if __name__ == "__main__":
    main()
