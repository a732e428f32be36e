"""Threads that each do one thing again and again while a context lasts: the benchmark's probes and
loads. Standard library only."""

import threading


class Loops:
    """A thread per key, each calling step(key) until the context ends; a subclass says what a step is."""

    def __init__(self, keys):
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(key,)) for key in keys]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join()

    @property
    def stopping(self):
        """The event set when the context ends: a step may wait on it."""
        return self._stop

    def _loop(self, key):
        while not self._stop.is_set():
            self.step(key)

    def step(self, key):
        raise NotImplementedError
