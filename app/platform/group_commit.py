"""Group commit: requests that each must write one row before they answer share one INSERT.

The first request to arrive becomes the *leader* and writes every row waiting at that moment in
one statement and one commit; requests that arrive meanwhile wait, and the next of them leads
the next batch. Nobody answers before their own row is committed (or its error is known), so
durability is what one INSERT per request gives; under load a batch grows to the number of
requests in flight (PostgreSQL's ``commit_delay`` idea, in the app), and alone a request writes
its row at once with no added wait.

Works with real threads and with gevent's patched ``threading`` alike (``citizencard serve``).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from app.platform import metrics

Row = TypeVar("Row")
Result = TypeVar("Result")

#: ``write(rows)`` returns one result per row, or raises: every row of the batch gets the error.
BatchWriter = Callable[[list[Any]], list[Any]]


@dataclass
class _Waiting(Generic[Row]):
    row: Row
    wake: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    result: Any = None
    error: BaseException | None = None


class GroupCommit(Generic[Row, Result]):
    """One per process and table; ``submit(row, write)`` returns ``write``'s result for ``row``."""

    def __init__(self, max_batch: int = 200) -> None:
        self.max_batch = max_batch
        self._lock = threading.Lock()  # guards _waiting
        self._leading = threading.Lock()  # held by the one leader
        self._waiting: list[_Waiting[Row]] = []

    def submit(self, row: Row, write: BatchWriter) -> Result:
        """Write ``row`` (alone, or in a batch led by this or another request); raises ``write``'s error."""
        entry: _Waiting[Row] = _Waiting(row)
        with self._lock:
            self._waiting.append(entry)
        while not entry.done:
            if self._leading.acquire(blocking=False):
                try:
                    self._lead(write)
                finally:
                    self._leading.release()
                    self._wake_next()
            else:
                entry.wake.wait()
                entry.wake.clear()
        if entry.error is not None:
            raise entry.error
        return entry.result  # type: ignore[no-any-return]

    def _lead(self, write: BatchWriter) -> None:
        with self._lock:
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch:]
        if not batch:
            return
        metrics.group_commit_batch(len(batch))
        try:
            results = write([entry.row for entry in batch])
            for entry, result in zip(batch, results, strict=True):
                entry.result = result
        except Exception as exc:  # handed to every request of the batch, which raises it
            for entry in batch:
                entry.error = exc
        except BaseException:  # the leader itself is stopped (e.g. a worker shutting down): the others fail plainly
            for entry in batch:
                entry.error = RuntimeError("the request writing this batch was interrupted")
            raise
        finally:
            for entry in batch:
                entry.done = True
                entry.wake.set()

    def _wake_next(self) -> None:
        """The first request still waiting leads the next batch (it may be asleep)."""
        with self._lock:
            first = self._waiting[0] if self._waiting else None
        if first is not None:
            first.wake.set()
