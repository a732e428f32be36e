"""Request ids and the access log: one logfmt line per request, written by the app itself, so that
gunicorn and waitress log alike. Standard library only.

    time=2026-11-24T09:30:00.123Z method=POST path=/predict status=200 duration_ms=0.412 bytes=86 request_id=3f…
"""

import atexit
import itertools
import json
import os
import re
import threading
import time

from churn.core.messages import ECHO_CHARS
from churn.core.prediction_log import whole_line_chunks

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # nothing that could forge a log line or header
_LOGGED_PATH_CHARS = 200
_REMEMBERED_REQUESTS = 256
_LOGFMT_PLAIN = re.compile(r"[!#-<>-~]+")  # printable ASCII but space, " and =


FLUSH_SECONDS = 0.1
_ATOMIC_CHARS = 4096  # Linux's PIPE_BUF, in characters: a line is ASCII (json.dumps escapes the rest)


def request_id(environ):
    """The request's own X-Request-ID when it is 1-64 letters, digits or ._:-, else a new one: 32 hex
    digits, this process's random half and a count (os.urandom per request cost a system call each)."""
    given = environ.get("HTTP_X_REQUEST_ID")
    return given if given and _VALID_REQUEST_ID.fullmatch(given) else f"{_process_id[0]}{next(_request_count):016x}"


def _new_process_id():
    _process_id[0] = os.urandom(8).hex()


_process_id, _request_count = [""], itertools.count()
_new_process_id()
if hasattr(os, "register_at_fork"):  # POSIX: each of gunicorn's workers gets its own
    os.register_at_fork(after_in_child=_new_process_id)


def access_line(environ, status, size, started, request_id):
    """One logfmt line: when, what was asked, how it was answered, how long it took, which request."""
    milliseconds = (time.perf_counter() - started) * 1000
    return (
        f"time={_timestamp(time.time())} {_request_fields(environ['REQUEST_METHOD'], environ.get('PATH_INFO', ''))} "
        f"status={status} duration_ms={milliseconds:.3f} bytes={size} request_id={request_id}"
    )


_written_requests = {}  # (method, path) -> their fields: requests are mostly to a few routes


def _request_fields(method, path):
    """'method=… path=…', each quoted if it would break the line."""
    fields = _written_requests.get((method, path))
    if fields is None:
        fields = f"method={_logfmt(method[:ECHO_CHARS])} path={_logfmt(path[:_LOGGED_PATH_CHARS])}"
        if len(_written_requests) < _REMEMBERED_REQUESTS:
            _written_requests[method, path] = fields
    return fields


class AccessLog:
    """The service's access log on `stream`, called with each line: its lines are written and flushed
    a batch at a time, at most `flush_seconds` after they were made, and at exit. A write and flush
    per request were 7 % of a served /predict's time; the batch is written by a thread of its own
    (under gevent, a greenlet), started in each process by its first line."""

    def __init__(self, stream, flush_seconds=FLUSH_SECONDS):
        self._stream, self._flush_seconds = stream, flush_seconds
        self._lines, self._lock, self._writing = [], threading.Lock(), False
        if hasattr(os, "register_at_fork"):  # POSIX: a forked worker starts its own writer
            os.register_at_fork(after_in_child=self._forget_writer)

    def __call__(self, line):
        with self._lock:
            self._lines.append(line)
        if not self._writing:
            self._start_writer()

    def flush(self):
        """Write the lines made since the last flush, a write of whole lines within PIPE_BUF at a time:
        other workers' lines, and the prediction log's on the same standard output, fall between them."""
        with self._lock:
            lines, self._lines = self._lines, []
        for chunk in whole_line_chunks((f"{line}\n" for line in lines), _ATOMIC_CHARS):
            self._stream.write("".join(chunk))
            self._stream.flush()

    def _start_writer(self):
        self._writing = True
        threading.Thread(target=self._write_every, name="access log", daemon=True).start()
        atexit.register(self.flush)

    def _forget_writer(self):
        self._writing = False

    def _write_every(self):
        while True:
            time.sleep(self._flush_seconds)
            try:
                self.flush()
            except ValueError:  # the stream was closed: there is nowhere left to write
                return


_last_second = [None, ""]  # (second, its text): strftime once a second, not once a request
_MILLISECONDS = tuple(f".{milliseconds:03d}Z" for milliseconds in range(1000))


def _timestamp(now):
    second = int(now)
    if second != _last_second[0]:
        _last_second[:] = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return _last_second[1] + _MILLISECONDS[int(now % 1 * 1000)]


def _logfmt(value):
    # Quoted, with JSON's escapes, when it holds anything that would break the line into other fields.
    return value if _LOGFMT_PLAIN.fullmatch(value) else json.dumps(value)
