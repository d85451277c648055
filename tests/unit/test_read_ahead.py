"""read_ahead (app.money.disbursement): order kept, producer errors raised in the consumer,
an early stop does not leave the producer thread hanging."""
from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from app.money.disbursement import read_ahead


def test_items_arrive_in_order() -> None:
    assert list(read_ahead(iter(range(100)))) == list(range(100))


def test_an_error_of_the_producer_is_raised_in_the_consumer() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("line 3: not a readable UTF-8 CSV file")

    seen = []
    with pytest.raises(ValueError, match="line 3"):
        for item in read_ahead(failing()):
            seen.append(item)
    assert seen == [1]


def test_stopping_early_ends_the_producer() -> None:
    before = threading.active_count()
    items = read_ahead(iter(range(10_000)), depth=1)
    assert next(items) == 0
    items.close()
    assert threading.active_count() == before
