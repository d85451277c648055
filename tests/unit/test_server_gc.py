"""The gunicorn worker freezes its start-up heap (app.server.freeze_startup_heap)."""
from __future__ import annotations

import gc

from app.server import gunicorn_options


def test_a_worker_that_has_loaded_the_app_moves_what_it_holds_out_of_the_collectors_reach() -> None:
    loaded = {"routes": ["a list the collector tracks"]}
    gc.unfreeze()
    try:
        assert any(obj is loaded for obj in gc.get_objects())
        gunicorn_options("127.0.0.1:0", 1)["post_worker_init"](object())
        assert gc.get_freeze_count() > 0
        assert not any(obj is loaded for obj in gc.get_objects())  # a full collection no longer walks it
        made_later = {"answer": []}
        assert any(obj is made_later for obj in gc.get_objects())
    finally:
        gc.unfreeze()
