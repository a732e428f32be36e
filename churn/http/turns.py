"""Long work in turns: a request that reads, validates or scores thousands of customers pauses every
few milliseconds, and the other requests of its process run meanwhile. Standard library only.
"""

import time

TURN_SECONDS = 0.005
# The pause between turns. Not 0: gevent runs greenlets that yielded with sleep(0) again before it
# looks at the sockets, up to 50 in a row, so a probe waited for 50 turns (p50 220 ms with 8 clients
# of expensive requests on 4 workers); after a pause of any length it looks first (p50 6 ms).
TURN_PAUSE_SECONDS = 0.0001
# Results made in one turn: a unit is a customer scored, plus one per factor of its explanation,
# about a microsecond each.
TURN_COST = 1000


def take_turn():
    """Let the other requests of this process run before this one goes on."""
    # gunicorn's gevent workers patch time.sleep: it switches to the worker's other connections.
    # Under waitress's threads it hands over the interpreter lock.
    time.sleep(TURN_PAUSE_SECONDS)


class Turns:
    """Takes a turn whenever TURN_SECONDS have passed since the last: for work whose pieces differ in
    cost (a customer with 5,000 extra fields, one line of a CSV)."""

    __slots__ = ("_clock", "_pause", "_due")

    def __init__(self, clock=time.perf_counter, pause=take_turn):
        self._clock, self._pause = clock, pause
        self._due = clock() + TURN_SECONDS

    def tick(self):
        """One piece of work done: take a turn if it is time."""
        if self._clock() >= self._due:
            self._pause()
            self._due = self._clock() + TURN_SECONDS


def customers_per_turn(explain_top):
    """How many customers make a turn's work, scored and explained with `explain_top` factors (or not)."""
    return max(1, TURN_COST // (1 + (explain_top or 0)))


def in_turns(items):
    """The items, taking a turn after each when it is time (Turns)."""
    turns = Turns()
    for item in items:
        yield item
        turns.tick()


def parts_in_turns(items, size):
    """The list `items` in parts of `size`, taking a turn between one part and the next."""
    for start in range(0, len(items), size):
        if start:
            take_turn()
        yield items[start : start + size]
