"""app.platform.group_commit: every request gets its own row's result, batches form under concurrency,
an error reaches every request of its batch and no other."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.platform.group_commit import GroupCommit


class Recorder:
    """A batch writer that remembers its batches; slow, so that requests pile up behind it."""

    def __init__(self, delay: float = 0.0, fail_when: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.delay, self.fail_when = delay, fail_when
        self._lock = threading.Lock()

    def __call__(self, rows: list[int]) -> list[int]:
        with self._lock:
            self.batches.append(list(rows))
        time.sleep(self.delay)
        if self.fail_when in rows:
            raise RuntimeError(f"row {self.fail_when} cannot be written")
        return [row * 10 for row in rows]


def submit_all(group: GroupCommit, write: Recorder, rows: range) -> list[object]:
    barrier = threading.Barrier(len(rows))

    def one(row: int) -> object:
        barrier.wait()
        try:
            return group.submit(row, write)
        except RuntimeError as exc:
            return exc

    with ThreadPoolExecutor(len(rows)) as pool:
        return list(pool.map(one, rows))


def test_alone_a_row_is_written_at_once_in_a_batch_of_one() -> None:
    write = Recorder()
    assert GroupCommit().submit(7, write) == 70
    assert write.batches == [[7]]


def test_concurrent_rows_share_batches_and_each_gets_its_own_result() -> None:
    write = Recorder(delay=0.02)
    results = submit_all(GroupCommit(), write, range(40))
    assert results == [row * 10 for row in range(40)]
    written = sorted(row for batch in write.batches for row in batch)
    assert written == list(range(40))  # every row exactly once
    assert len(write.batches) < 40 and max(map(len, write.batches)) > 1


def test_a_batch_is_at_most_max_batch_rows() -> None:
    write = Recorder(delay=0.02)
    results = submit_all(GroupCommit(max_batch=3), write, range(20))
    assert results == [row * 10 for row in range(20)]
    assert max(map(len, write.batches)) <= 3


def test_an_error_reaches_every_row_of_its_batch_and_only_those() -> None:
    write = Recorder(delay=0.02, fail_when=5)
    results = submit_all(GroupCommit(), write, range(30))
    failed_batch = next(batch for batch in write.batches if 5 in batch)
    for row, result in enumerate(results):
        if row in failed_batch:
            assert isinstance(result, RuntimeError) and "row 5" in str(result)
        else:
            assert result == row * 10
    assert GroupCommit().submit(1, Recorder()) == 10


def test_a_writer_answering_for_the_wrong_number_of_rows_fails_the_batch_instead_of_hanging() -> None:
    with pytest.raises(ValueError):
        GroupCommit().submit(1, lambda rows: [])


@pytest.mark.parametrize("rows", [1, 2, 50])
def test_nobody_waits_forever(rows: int) -> None:
    """Whoever arrives while a batch is written leads the next one: every submit returns."""
    group, write = GroupCommit(max_batch=4), Recorder(delay=0.005)
    with ThreadPoolExecutor(rows) as pool:
        futures = [pool.submit(group.submit, row, write) for row in range(rows)]
        assert [future.result(timeout=10) for future in futures] == [row * 10 for row in range(rows)]
