"""Counters that every worker of an instance adds to and any worker reads whole: a table of floats in
shared memory, made before the workers are forked, with a row per worker slot.

Each process (each thread, under waitress) adds only to its own row, so no add waits for a lock and
none is lost; a reader sums the rows. A row outlives the worker that wrote it: a worker that is
killed, recycled or restarted by SIGHUP leaves its counts in its row, and the next worker given that
slot adds to them, so that a sum never decreases while the instance lives. Gauges (memory, open
files) are the exception: a slot's gauges are zeroed when its worker is gone. Nothing grows: the
table's size is fixed when it is made. The process that made the table (gunicorn's master) gives the
slots out (claim_slot) and takes them back (release_slot): the table, made with the app, outlives a
reload of the server's configuration (SIGHUP), so that no slot is given to a worker while another
still counts in it. Standard library only.
"""

import math
import mmap
import threading

_FLOAT_BYTES = 8
_USED = 1


class CounterTable:
    """`width` floats a slot, for `slots` slots, in memory shared with the processes forked after it
    is made. `use_slot` chooses the calling process's row; a thread without one takes a free row."""

    def __init__(self, width, slots):
        self.width, self.slots = width, slots
        self._memory = mmap.mmap(-1, width * slots * _FLOAT_BYTES)  # anonymous and shared (MAP_SHARED)
        self._values = memoryview(self._memory).cast("d")
        # A byte a slot, set once the slot has been used: a reader sums the rows up to the last one set.
        # Each process sets only its own slot's byte: two workers forked at once, each raising one
        # shared maximum, could lower it (read, read, write, write), and a reader would skip a row.
        self._used = mmap.mmap(-1, slots)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._next_free = 0  # the first slot no thread of this process has taken yet
        self._claimed = set()  # the slots given to live workers (by the master, claim_slot)

    def claim_slot(self):
        """A slot no live worker counts in, given to the worker about to be forked; until every slot is
        taken: then the last, shared (size the table for twice the workers, for a reload's overlap)."""
        free = next((slot for slot in range(self.slots) if slot not in self._claimed), self.slots - 1)
        self._claimed.add(free)
        return free

    def release_slot(self, slot):
        """The worker of `slot` is gone: the slot may be given again."""
        self._claimed.discard(slot)

    def use_slot(self, slot):
        """Add this process's counts to row `slot` from now on (a gunicorn worker, just forked)."""
        if not 0 <= slot < self.slots:
            raise ValueError(f"slot {slot} is not one of the table's {self.slots}")
        self._local = _ProcessSlot(self.row_of(slot))
        self._used[slot] = _USED

    def row(self):
        """This process's (or thread's) row, floats to add to: row()[index] += amount."""
        try:
            return self._local.row
        except AttributeError:
            return self._take_slot()

    def add(self, index, amount=1.0):
        """Add `amount` to counter `index` of this process's (or thread's) row."""
        self.row()[index] += amount

    @property
    def values(self):
        """The table's floats, row after row."""
        return self._values

    def totals(self, first=0, end=None):
        """Each counter (of those from `first` to before `end`) summed over every row."""
        width, values, used = self.width, self._values, max(self._used.rfind(bytes([_USED])) + 1, 1)
        end = width if end is None else end
        rows = (values[start + first : start + end] for start in range(0, width * used, width))
        return [math.fsum(column) for column in zip(*rows, strict=True)]

    def zero(self, slot, indexes):
        """Set counters `indexes` of row `slot` to 0: the gauges of a worker that is gone."""
        row = self.row_of(slot)
        for index in indexes:
            row[index] = 0.0

    def row_of(self, slot):
        """Row `slot`, floats (for the master: the row of a worker that is gone)."""
        return self._values[slot * self.width : (slot + 1) * self.width]

    def _take_slot(self):
        """A row for a thread that has none (waitress's threads, or a process that chose none): the next
        free one, or the last row, shared, once all are taken (then adds may race: size slots for it)."""
        with self._lock:
            slot = min(self._next_free, self.slots - 1)
            self._next_free += 1
        self._used[slot] = _USED
        self._local.row = self.row_of(slot)
        return self._local.row


class _ProcessSlot:
    """The row of every thread of a process: a gunicorn worker's gevent greenlets share it."""

    def __init__(self, row):
        self.row = row
