"""The prediction log: one JSON line per scored customer, from every interface, so that what the model
said can later be joined with what the customers did (evaluate.py).

A line (schema 1):

    {"schema": 1, "time": "2026-12-02T21:15:00.123Z", "request_id": "3f…", "interface": "json",
     "model_version": "c30537a74c42", "customerid": "7590-VHVEG", "inputs": {…the 19 fields…},
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
import itertools
import os
import stat
import time
from json.encoder import encode_basestring_ascii

from churn.core.log_lines import BatchedLines, utc_time, whole_line_pieces
from churn.core.model import tuple_getter
from churn.core.prediction import decision_json

SCHEMA_VERSION = 1
INTERFACES = ("json", "file", "v2", "predict.py")
HASH_PREFIX = "hmac-sha256:"
ID_KEY_VARIABLE = "PREDICTION_LOG_ID_KEY"
MIN_ID_KEY_CHARS = 16
# POSIX's least PIPE_BUF: a write of at most this many bytes to a pipe is atomic on every system.
_POSIX_PIPE_BUF = 512
# The longest line: the fixed fields, 19 inputs of the model's spellings, and a customerid of up to
# MAX_ID_CHARS characters written as \uXXXX escapes; far below Linux's PIPE_BUF (4096).
MAX_LINE_BYTES = 4096


def customerid_hash(customerid, key):
    """The keyed hash a log holds for this customerid: HMAC-SHA256 of its text under `key` (bytes)."""
    return HASH_PREFIX + hmac.new(key, str(customerid).encode(), hashlib.sha256).hexdigest()


def id_key(environ):
    """The key of customerid_hash: PREDICTION_LOG_ID_KEY as bytes, or None when it is not set.
    LogError when it is too short to keep the ids secret."""
    key = environ.get(ID_KEY_VARIABLE, "")
    if not key:
        return None
    if len(key) < MIN_ID_KEY_CHARS:
        raise LogError(
            f"{ID_KEY_VARIABLE} must be a secret of at least {MIN_ID_KEY_CHARS} characters, not {len(key)}: "
            "a short key lets anyone who reads the log find the customer ids by trying them"
        )
    return key.encode()


class LogError(ValueError):
    """The prediction log cannot be written where it was asked to be; the message says why."""


class PredictionLog:
    """Makes the lines of a model's scored customers, and writes them to a file descriptor. Without
    `fd`, it only makes them (for processes that hand them to another)."""

    def __init__(self, fd, model, id_key=None, clock=time.time, flush_seconds=None):
        self.fd, self.id_key, self.clock = fd, id_key, clock
        self.atomic_bytes = atomic_bytes(fd) if fd is not None else None
        # With flush_seconds, lines are written a batch at a time (the service); else at once.
        self._batch = BatchedLines(self._write_now, flush_seconds, "prediction log") if flush_seconds else None
        self._version = encode_basestring_ascii(model.version)
        self._inputs = _InputsWriter(model.schema.fields, model.row_fields)

    def lines(self, interface, request_id, scores):
        """The log lines of scored customers (churn.core.scorer.Scores), as bytes."""
        head = self._head(interface, request_id)
        line = self.line
        return list(map(line, itertools.repeat(head), scores.rows, scores.ids, scores.probabilities, scores.decisions))

    def _head(self, interface, request_id):
        if interface not in INTERFACES:
            raise ValueError(f"interface must be one of {', '.join(INTERFACES)}, not {interface!r}")
        return (
            f'{{"schema": {SCHEMA_VERSION}, "time": "{utc_time(self.clock())}", '
            f'"request_id": {encode_basestring_ascii(str(request_id))}, "interface": "{interface}", '
            f'"model_version": {self._version}'
        )

    def line(self, head, row, customerid, probability, decision):
        """One customer's line after the `head` of its request (its fields up to the model version)."""
        if customerid is None:
            named = ""
        elif self.id_key is not None:
            named = f', "customerid_hash": "{customerid_hash(customerid, self.id_key)}"'
        else:
            named = f', "customerid": {_value_text(customerid)}'
        score = f'"churn_probability": {probability!r}, "churn": {decision_json(decision)}'
        line = f'{head}{named}, "inputs": {self._inputs(row)}, {score}}}\n'
        encoded = line.encode("ascii")
        if len(encoded) > MAX_LINE_BYTES:  # cannot happen for a validated customer: a bug, said loudly
            raise ValueError(f"a prediction log line of {len(encoded)} bytes, over {MAX_LINE_BYTES}")
        return encoded

    def write(self, lines):
        """Write whole lines (a list), as few writes as fit in `atomic_bytes` each: now, or with
        flush_seconds, within that many seconds."""
        if self._batch is not None:
            self._batch.add(lines)
        else:
            self._write_now(lines)

    def flush(self):
        """Write the lines kept for the next batch, now."""
        if self._batch is not None:
            self._batch.flush()

    def close(self):
        """Write what is kept, and close the file descriptor: nothing more is written to it, which
        could be another file's once its number is reused."""
        self.flush()
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)

    def _write_now(self, lines):
        if self.fd is None:
            raise ValueError("the prediction log is closed")
        for piece in whole_line_pieces(b"".join(lines), self.atomic_bytes):
            _write_all(self.fd, piece)


class _InputsWriter:
    """A customer's row (churn.core.model) as the JSON object of its `fields`, in their order, that
    json.dumps writes, at a third of its cost: a template of the names, the values of the categories
    encoded once (they are few), the numbers as Python writes them, which for an int or a finite float
    is JSON's own spelling."""

    def __init__(self, fields, row_fields):
        self._values = tuple_getter([row_fields.index(field) for field in fields])
        self._template = "{" + ", ".join(f"{encode_basestring_ascii(field)}: %s" for field in fields) + "}"
        self._texts = {}

    def __call__(self, row):
        texts = self._texts
        values = [
            (texts.get(value) or self._text(value)) if type(value) is str else "null" if value is None else value
            for value in self._values(row)
        ]  # None: a number left blank, where the model allows it
        return self._template % tuple(values)

    def _text(self, value):
        text = encode_basestring_ascii(value)
        if len(self._texts) < _REMEMBERED_TEXTS:  # validated categories are a few dozen
            self._texts[value] = text
        return text


_REMEMBERED_TEXTS = 1024


def _value_text(value):
    """A value as JSON: text, a number, or null (a number left blank, where the model allows it)."""
    if type(value) is str:
        return encode_basestring_ascii(value)
    return "null" if value is None else repr(value)


def atomic_bytes(fd):
    """How many bytes a write to `fd` may hold without being interleaved with other processes':
    PIPE_BUF for a pipe, 64 KiB for a file (opened with O_APPEND, or shared by inheritance). LogError
    when a pipe takes less than the longest line at once (macOS's: 512 bytes)."""
    if not _is_pipe(fd):
        return 1 << 16
    size = _pipe_buf(fd)
    if size < MAX_LINE_BYTES:
        raise LogError(
            f"this system writes at most {size} bytes to a pipe at once, and a line may be "
            f"{MAX_LINE_BYTES}: lines of several workers could interleave. Log to a file instead"
        )
    return size


def open_log(path):
    """A file descriptor to append lines to the file at `path`, made if missing (mode 0640)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0), 0o640)


def is_log_file(fd):
    """Whether an open file is one a log can go to: a regular file or a pipe, not a device, nor a file
    of a kernel's pseudo-filesystem (/proc, /sys), which takes writes as commands or refuses them."""
    found = os.fstat(fd)
    if stat.S_ISFIFO(found.st_mode) or stat.S_ISSOCK(found.st_mode):
        return True
    pseudo = {os.stat(root).st_dev for root in ("/proc", "/sys") if os.path.isdir(root)}
    return stat.S_ISREG(found.st_mode) and found.st_dev not in pseudo


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
