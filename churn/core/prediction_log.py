"""The prediction log: one JSON line per scored customer, from every interface, so that what the model
said can later be joined with what the customers did (evaluate.py).

A line (schema 1):

    {"schema": 1, "time": "2026-12-02T21:15:00.123Z", "request_id": "3f…", "interface": "json",
     "model_version": "df1ddbaf452a", "customerid": "7590-VHVEG", "inputs": {…the 19 fields…},
     "churn_probability": 0.628…, "churn": true}

- `customerid` is as the caller sent it, or absent when none was sent. With an id key, the line holds
  `customerid_hash` instead: "hmac-sha256:" and the hex HMAC-SHA256 of the id's text under the key,
  so that a log can be joined with outcomes by whoever holds the key, and by nobody else.
- `inputs` are the customer's 19 fields as validated (lower-case, underscores: the model's spelling).
- Lines are written whole, a few at a time, each write at most `atomic_bytes` long: writes of at most
  PIPE_BUF bytes to a pipe, and appends to a file opened with O_APPEND, are never interleaved with
  other processes' writes, so several workers may share one log. A line is at most MAX_LINE_BYTES
  (checked), Linux's PIPE_BUF; where pipes take less at once (macOS: 512), a pipe is refused.

Standard library only.
"""

import hashlib
import hmac
import json
import os
import stat
import time
from json.encoder import encode_basestring_ascii

from churn.core.schema import ID_FIELD

SCHEMA_VERSION = 1
INTERFACES = ("json", "file", "v2", "predict.py")
HASH_PREFIX = "hmac-sha256:"
# POSIX's least PIPE_BUF: a write of at most this many bytes to a pipe is atomic on every system.
_POSIX_PIPE_BUF = 512
# The longest line: the fixed fields, 19 inputs of the model's spellings, and a customerid of up to
# MAX_ID_CHARS characters written as \uXXXX escapes; far below Linux's PIPE_BUF (4096).
MAX_LINE_BYTES = 4096
_encode = json.JSONEncoder(check_circular=False, ensure_ascii=True, separators=(", ", ": ")).encode


def customerid_hash(customerid, key):
    """The keyed hash a log holds for this customerid: HMAC-SHA256 of its text under `key` (bytes)."""
    return HASH_PREFIX + hmac.new(key, str(customerid).encode(), hashlib.sha256).hexdigest()


def utc_time(seconds):
    """`seconds` since the epoch as ISO 8601 in UTC, to the millisecond: 2026-12-02T21:15:00.123Z."""
    whole, milliseconds = divmod(round(seconds * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{milliseconds:03d}Z"


class LogError(ValueError):
    """The prediction log cannot be written where it was asked to be; the message says why."""


class PredictionLog:
    """Writes the lines of scored customers to a file descriptor; `fields` are the model's, in order."""

    def __init__(self, fd, model_version, fields, id_key=None, clock=time.time):
        self.fd, self.fields, self.id_key, self.clock = fd, tuple(fields), id_key, clock
        self.atomic_bytes = _pipe_buf(fd) if _is_pipe(fd) else 1 << 16
        if self.atomic_bytes < MAX_LINE_BYTES:  # macOS's pipes: 512 bytes
            raise LogError(
                f"this system writes at most {self.atomic_bytes} bytes to a pipe at once, and a line may be "
                f"{MAX_LINE_BYTES}: lines of several workers could interleave. Log to a file instead"
            )
        self._version = encode_basestring_ascii(model_version)

    def lines(self, interface, request_id, customers, probabilities, decisions):
        """The log lines of validated customers and their scores, as bytes."""
        if interface not in INTERFACES:
            raise ValueError(f"interface must be one of {', '.join(INTERFACES)}, not {interface!r}")
        head = (
            f'{{"schema": {SCHEMA_VERSION}, "time": "{utc_time(self.clock())}", '
            f'"request_id": {encode_basestring_ascii(str(request_id))}, "interface": "{interface}", '
            f'"model_version": {self._version}'
        )
        return [
            self._line(head, customer, probability, decision)
            for customer, probability, decision in zip(customers, probabilities, decisions, strict=True)
        ]

    def _line(self, head, customer, probability, decision):
        text = head
        if ID_FIELD in customer:
            customerid = customer[ID_FIELD]
            if self.id_key is not None:
                text += f', "customerid_hash": "{customerid_hash(customerid, self.id_key)}"'
            else:
                text += f", {_encode(ID_FIELD)}: {_encode(customerid)}"
        inputs = _encode({field: customer[field] for field in self.fields})
        line = f'{text}, "inputs": {inputs}, "churn_probability": {probability!r}, "churn": {_encode(decision)}}}\n'
        encoded = line.encode("ascii")
        if len(encoded) > MAX_LINE_BYTES:  # cannot happen for a validated customer: a bug, said loudly
            raise ValueError(f"a prediction log line of {len(encoded)} bytes, over {MAX_LINE_BYTES}")
        return encoded

    def write(self, lines):
        """Write whole lines, as few writes as fit in `atomic_bytes` each."""
        chunk, size = [], 0
        for line in lines:
            if size + len(line) > self.atomic_bytes and chunk:
                _write_all(self.fd, b"".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            _write_all(self.fd, b"".join(chunk))


def _write_all(fd, data):
    # One write() of at most atomic_bytes; a regular file may take fewer bytes only when it is full,
    # and then the rest follows (OSError once nothing more fits).
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _is_pipe(fd):
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _pipe_buf(fd):
    try:
        return os.fpathconf(fd, "PC_PIPE_BUF")
    except (AttributeError, OSError, ValueError):  # Windows has no fpathconf
        return _POSIX_PIPE_BUF
