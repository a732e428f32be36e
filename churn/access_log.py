"""Request ids and the access log: one logfmt line per request, written by the app itself, so that
gunicorn and waitress log alike. Standard library only.

    time=2026-11-24T09:30:00.123Z method=POST path=/predict status=200 duration_ms=0.412 bytes=86 request_id=3f…
"""

import json
import os
import re
import time

from churn.text import ECHO_CHARS

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # nothing that could forge a log line or header
_LOGGED_PATH_CHARS = 200
_LOGFMT_PLAIN = re.compile(r"[!#-<>-~]+")  # printable ASCII but space, " and =


def request_id(environ):
    """The request's own X-Request-ID when it is 1-64 letters, digits or ._:-, else a new one."""
    given = environ.get("HTTP_X_REQUEST_ID")
    return given if given and _VALID_REQUEST_ID.fullmatch(given) else os.urandom(16).hex()


def access_line(environ, status, size, started, request_id):
    """One logfmt line: when, what was asked, how it was answered, how long it took, which request."""
    milliseconds = (time.perf_counter() - started) * 1000
    method, path = (
        _logfmt(environ["REQUEST_METHOD"][:ECHO_CHARS]),
        _logfmt(environ.get("PATH_INFO", "")[:_LOGGED_PATH_CHARS]),
    )
    return (
        f"time={_timestamp(time.time())} method={method} path={path} "
        f"status={status} duration_ms={milliseconds:.3f} bytes={size} request_id={request_id}"
    )


def access_log_writer(stream):
    """The service's access log: each line written to `stream` and flushed at once."""

    def write(line):
        stream.write(line + "\n")
        stream.flush()  # a line now, not when a buffer fills: logs are read as they come

    return write


_last_second = [None, ""]  # (second, its text): strftime once a second, not once a request


def _timestamp(now):
    second = int(now)
    if second != _last_second[0]:
        _last_second[:] = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return f"{_last_second[1]}.{int(now % 1 * 1000):03d}Z"


def _logfmt(value):
    # Quoted, with JSON's escapes, when it holds anything that would break the line into other fields.
    return value if _LOGFMT_PLAIN.fullmatch(value) else json.dumps(value)
