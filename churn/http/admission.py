"""How many large requests a process serves at once. The others wait their turn for a moment, then
are turned away with 503 and Retry-After, instead of queueing without end. Standard library only.

A large request (churn.http.web.is_large: a body over 64 KiB, or of unknown length) holds its place from
before its body is read until the server is done with its answer (PEP 3333's close: under gunicorn,
its last byte sent; waitress reads a body whole before the app sees it and buffers the answer): the
memory and CPU that large requests take in a worker stay bounded, whatever clients send and however
slowly they read.
"""

import math
import threading
import time

from churn.http.web import SMALL_BODY_BYTES, HTTPError

_POLL_SECONDS = 0.01


class Admission:
    """Places for `at_once` large requests; `waiting` more may wait up to `wait_seconds` for one."""

    def __init__(self, at_once, waiting, wait_seconds):
        self.at_once, self.waiting, self.wait_seconds = at_once, waiting, wait_seconds
        # Never held across a wait: under gevent no other greenlet can find it taken.
        self._lock = threading.Lock()
        self._taken = self._queued = 0

    def enter(self):
        """Take a place, waiting for one if need be; return the function that gives it back (once).
        Raises HTTPError 503 with Retry-After when none is free in time, or too many already wait."""
        with self._lock:
            if self._take():
                return self._release_once()
            if self._queued >= self.waiting:
                raise self._busy()
            self._queued += 1
        try:
            return self._wait()
        finally:
            with self._lock:
                self._queued -= 1

    def _wait(self):
        deadline = time.monotonic() + self.wait_seconds
        while time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)  # gevent's workers patch it: the worker goes on serving meanwhile
            with self._lock:
                if self._take():
                    return self._release_once()
        raise self._busy()

    def _take(self):
        if self._taken >= self.at_once:
            return False
        self._taken += 1
        return True

    def _release_once(self):
        released = []

        def release():
            if not released:
                released.append(True)
                with self._lock:
                    self._taken -= 1

        return release

    def _busy(self):
        retry = max(1, math.ceil(self.wait_seconds))
        return HTTPError(
            503,
            f"the server is busy with other large requests (a body over {SMALL_BODY_BYTES // 1024} KiB); "
            f"try again in {retry} s",
            headers=[("Retry-After", str(retry))],
        )
