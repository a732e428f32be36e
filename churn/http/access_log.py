"""The access log: one logfmt line per request, written by the app itself, so that gunicorn and
waitress log alike; the request's id is the app's (churn/http/application.py). Standard library only.

    time=2026-11-24T09:30:00.123Z method=POST path=/predict status=200 duration_ms=0.412 bytes=86 request_id=3f…
"""

import json
import re
import time

from churn.core.log_lines import FLUSH_SECONDS, BatchedLines, utc_time, whole_line_pieces
from churn.core.messages import ECHO_CHARS

_LOGGED_PATH_CHARS = 200
_REMEMBERED_REQUESTS = 256
_LOGFMT_PLAIN = re.compile(r"[!#-<>-~]+")  # printable ASCII but space, " and =


_ATOMIC_CHARS = 4096  # Linux's PIPE_BUF, in characters: a line is ASCII (json.dumps escapes the rest)


def access_line(now, method, path, status, size, seconds, request_id):
    """One logfmt line: when, what was asked, how it was answered, how long it took, which request."""
    return (
        f"time={utc_time(now)} {_request_fields(method, path)} "
        f"status={status} duration_ms={seconds * 1000:.3f} bytes={size} request_id={request_id}"
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
    """The service's access log on `stream`, an observer of the requests answered
    (churn.http.observers): a line for each, written with the others of its batch
    (churn/core/log_lines.py), in writes of whole lines within PIPE_BUF, so that other workers' lines,
    and the prediction log's on the same standard output, fall between them."""

    def __init__(self, stream, flush_seconds=FLUSH_SECONDS):
        self._stream = stream
        self._batch = BatchedLines(self._write, flush_seconds, "access log")

    def request_answered(self, request, status, size):
        environ, seconds = request.environ, time.perf_counter() - request.started
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        self._batch.add_line(access_line(time.time(), method, path, status, size, seconds, request.id))

    def flush(self):
        """Write the lines of the requests answered since the last flush."""
        self._batch.flush()

    def _write(self, lines):
        for piece in whole_line_pieces("\n".join(lines) + "\n", _ATOMIC_CHARS):
            self._stream.write(piece)
            self._stream.flush()


def _logfmt(value):
    # Quoted, with JSON's escapes, when it holds anything that would break the line into other fields.
    return value if _LOGFMT_PLAIN.fullmatch(value) else json.dumps(value)
