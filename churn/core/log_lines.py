"""What the service's two logs share, the access log's and the prediction log's: times in UTC, writes of
whole lines, and lines written a batch at a time. Standard library only.

A write per request (a system call, and a flush) cost the access log 7 % of a served /predict's time,
and the prediction log nearly a quarter of a lone customer's. Lines are instead kept, and written by
a thread of their own (under gevent, a greenlet) at most `flush_seconds` after they were added, and
at exit; a process killed outright (SIGKILL, the OOM killer) loses at most that long of its lines.
At exit (a graceful stop), the lines still kept are written for at most EXIT_SECONDS, a thousand at a
time: a reader too slow to take them by then (a stalled pipe) makes the process say on stderr how
many lines it could not write, and exit without them.
"""

import atexit
import os
import sys
import threading
import time

FLUSH_SECONDS = 0.1  # the service's: its lines reach their log within this long
# A writer that cannot keep up (a slow disk) makes the requests that add lines write them themselves
# past this many: the lines a process keeps are bounded (about 70 MB of prediction log lines).
MAX_KEPT_LINES = 100_000
# How long a stopping process writes the lines it still keeps: within gunicorn's graceful_timeout (8 s)
# and waitress's stop, below Docker's and Kubernetes' 10 s, with time left for the requests in flight.
EXIT_SECONDS = 5.0
_EXIT_LINES = 1000  # written at once at exit, between looks at the clock


class BatchedLines:
    """Calls `write(lines)` with the lines added since the last call, every `flush_seconds`, from a
    thread each process starts with its first line."""

    def __init__(self, write, flush_seconds, name):
        self._write, self._flush_seconds, self._name = write, flush_seconds, name
        self._lines, self._lock, self._writing = [], threading.Lock(), False
        self._write_lock = threading.Lock()  # one write at a time, so batches stay in order
        if hasattr(os, "register_at_fork"):  # POSIX: a forked worker starts its own writer
            os.register_at_fork(after_in_child=self._forget_writer)

    def add(self, lines):
        """Keep `lines` (a list) for the next write."""
        with self._lock:
            self._lines.extend(lines)
            kept = len(self._lines)
        self._added(kept)

    def add_line(self, line):
        """Keep one line for the next write (add([line]), without the list)."""
        with self._lock:
            self._lines.append(line)
            kept = len(self._lines)
        self._added(kept)

    def _added(self, kept):
        """After lines were added, `kept` of them now: see that they will be written."""
        if not self._writing:
            self._start_writer()
        if kept > MAX_KEPT_LINES:
            self.flush()

    def flush(self):
        """Write the lines added since the last write, now."""
        with self._write_lock:
            with self._lock:
                lines, self._lines = self._lines, []
            if lines:
                self._write(lines)

    def flush_at_exit(self, seconds=EXIT_SECONDS):
        """Write the lines kept, a thousand at a time, for at most `seconds` (from a thread, so that a
        write a stalled reader blocks cannot hold the exit); say on stderr how many could not be
        written. Returns that count."""
        unwritten = [None]  # None: the lines are not taken yet (a write before this one still holds them)
        done = threading.Event()
        deadline = time.monotonic() + seconds

        def write():
            try:
                with self._write_lock:
                    with self._lock:
                        lines, self._lines = self._lines, []
                    unwritten[0] = len(lines)
                    for start in range(0, len(lines), _EXIT_LINES):
                        if time.monotonic() > deadline:
                            break
                        chunk = lines[start : start + _EXIT_LINES]
                        self._write(chunk)
                        unwritten[0] -= len(chunk)
            except (OSError, ValueError):  # nowhere left to write: they are lost, and said
                pass
            finally:
                done.set()

        threading.Thread(target=write, name=f"{self._name} at exit", daemon=True).start()
        done.wait(seconds + 0.5)
        lost = len(self._lines) if unwritten[0] is None else unwritten[0]
        if lost:
            print(
                f"churn service: the {self._name} could not write its last {lost} lines at the stop "
                f"within {seconds:g} s (its reader is too slow, or gone)",
                file=sys.stderr,
                flush=True,
            )
        return lost

    def _start_writer(self):
        self._writing = True
        threading.Thread(target=self._write_every, name=self._name, daemon=True).start()
        atexit.register(self.flush_at_exit)

    def _forget_writer(self):
        self._writing = False

    def _write_every(self):
        while True:
            time.sleep(self._flush_seconds)
            try:
                self.flush()
            except ValueError:  # the stream was closed: there is nowhere left to write
                return
            except OSError as error:  # a full disk, say: said, and the next lines are tried again
                print(f"churn service: the {self._name} lost lines it could not write: {error}", file=sys.stderr)


def utc_time(seconds):
    """`seconds` since the epoch as ISO 8601 in UTC, to the millisecond: 2026-12-02T21:15:00.123Z.
    strftime once a second, not once a request."""
    whole, milliseconds = divmod(round(seconds * 1000), 1000)
    if whole != _last_second[0]:
        _last_second[:] = whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return _last_second[1] + _MILLISECONDS[milliseconds]


_last_second = [None, ""]  # (second, its text)
_MILLISECONDS = tuple(f".{milliseconds:03d}Z" for milliseconds in range(1000))


def whole_line_pieces(text, size):
    """`text` (whole lines, each ending in a newline: str, or bytes) in pieces of at most `size`
    characters (bytes), each ending at a line's end, but a longer line alone: what one write() each may
    hold, never cutting a line."""
    newline = "\n" if isinstance(text, str) else b"\n"
    start = 0
    while len(text) - start > size:
        cut = text.rfind(newline, start, start + size)
        if cut < 0:  # a line longer than `size`: alone, whole
            cut = text.index(newline, start + size)
        yield text[start : cut + 1]
        start = cut + 1
    if start < len(text):
        yield text[start:]
