"""Counters in shared memory: every worker adds to its own row, a reader sums them all, and no count is
lost when a worker dies."""

import os
import signal
import threading

import pytest

from churn.http.counters import CounterTable

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")


def _in_a_child(function):
    """Run `function` in a forked child, as gunicorn runs a worker; wait for it to end."""
    pid = os.fork()
    if pid == 0:
        try:
            function()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


@needs_fork
def test_what_forked_workers_add_is_summed_by_any_reader():
    table = CounterTable(width=3, slots=4)
    for slot in range(3):
        _in_a_child(lambda slot=slot: (table.use_slot(slot), [table.add(1, 1.0) for _ in range(1000)]))
    assert table.totals() == [0.0, 3000.0, 0.0]


@needs_fork
def test_workers_that_take_their_slots_at_the_same_moment_are_all_summed():
    """gunicorn forks a reload's workers together: each marks its slot as used at once, and a reader
    must still sum every row (a shared maximum raised by each could be lowered by another)."""
    for _ in range(20):
        table = CounterTable(width=1, slots=16)
        read, write = os.pipe()
        children = []
        for slot in range(16):
            pid = os.fork()
            if pid == 0:
                os.read(read, 1)  # all released at once
                table.use_slot(slot)
                table.add(0)
                os._exit(0)
            children.append(pid)
        os.write(write, b"x" * 16)
        for pid in children:
            os.waitpid(pid, 0)
        os.close(read)
        os.close(write)
        assert table.totals() == [16.0]


@needs_fork
def test_a_worker_killed_midway_leaves_its_counts_and_its_successor_adds_to_them():
    table = CounterTable(width=1, slots=2)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        table.use_slot(0)
        for _ in range(500):
            table.add(0)
        os.write(write, b"x")
        signal.pause()
        os._exit(0)
    os.read(read, 1)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    before = table.totals()[0]
    _in_a_child(lambda: (table.use_slot(0), table.add(0, 7)))
    assert before == 500 and table.totals()[0] == 507


def test_threads_without_a_slot_each_add_to_a_row_of_their_own():
    table = CounterTable(width=1, slots=8)

    def add_many():
        for _ in range(1000):
            table.add(0)

    threads = [threading.Thread(target=add_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(table.values[:8]) == [0.0] * 4 + [1000.0] * 4  # waitress's threads never share a row
    assert table.totals() == [4000.0]


def test_a_gauge_of_a_gone_worker_is_zeroed_and_its_counters_stay():
    table = CounterTable(width=2, slots=2)
    table.use_slot(1)
    table.add(0, 3)  # a counter
    table.add(1, 2)  # a gauge: requests in flight
    table.zero(1, [1])
    assert table.totals() == [3.0, 0.0]


def test_a_slot_outside_the_table_is_refused():
    with pytest.raises(ValueError, match="slot 2 is not one of the table's 2"):
        CounterTable(width=1, slots=2).use_slot(2)
