"""Read ahead: items in order, errors where their item would be, a bounded queue, and a reader that stops."""
from __future__ import annotations

import threading
import time

import pytest

from bayesnet.cohort.readahead import read_ahead


def test_items_come_in_order_and_all_of_them():
    assert list(read_ahead(iter(range(100)), depth=3)) == list(range(100))
    assert list(read_ahead(iter([]))) == []


def test_an_error_of_the_source_is_raised_after_the_items_before_it():
    def source():
        yield 1
        yield 2
        raise ValueError("damaged file")

    got = []
    with pytest.raises(ValueError, match="damaged file"):
        for item in read_ahead(source()):
            got.append(item)
    assert got == [1, 2]


def test_the_reader_stays_at_most_depth_items_ahead():
    produced = []

    def source():
        for i in range(50):
            produced.append(i)
            yield i

    items = read_ahead(source(), depth=2)
    assert next(items) == 0
    time.sleep(0.3)  # time for the reader to run as far ahead as it may
    # one item consumed, two waiting in the queue, one read and held by the reader until there is room
    assert len(produced) <= 4
    assert list(items) == list(range(1, 50))


def test_a_consumer_that_stops_early_stops_the_reader_and_closes_the_source():
    closed = threading.Event()
    produced = []

    def source():
        try:
            for i in range(10_000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    items = read_ahead(source(), depth=1)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()
    assert closed.wait(timeout=5), "the source was not closed"
    assert len(produced) < 10
