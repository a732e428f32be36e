"""Customers read from files and their scores written to files: the formats that predict.py and
POST /predict share.

Readers yield (line, raw customer) one at a time, the line where the customer is in the file, and
raise InputError naming the line of anything that is not CSV or JSON. Writers write one result at
a time. Standard library only.
"""

import csv
import json
import re

from churn.features import normalise
from churn.results import DECISION, PROBABILITY
from churn.schema import ID_FIELD

_CHUNK_CHARS = 1 << 16
_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")
_MAX_VALUE_CHARS = 16 << 20  # a single customer larger than this is not a customer
SCORE_COLUMNS = (ID_FIELD, PROBABILITY, DECISION)


class InputError(ValueError):
    """The input cannot be read as customers; the message says where and why."""


class _JSONReader:
    """Top-level JSON values from a text stream, decoded one at a time with their line numbers."""

    def __init__(self, stream):
        self.stream, self.buffer, self.position, self.line, self.at_end = stream, "", 0, 1, False
        self.decoder = json.JSONDecoder()

    def peek(self):
        """The next character that is not white space ("" at the end)."""
        while True:
            self._advance(_JSON_WHITESPACE.match(self.buffer, self.position).end() - self.position)
            if self.position < len(self.buffer) or not self._read_more():
                return self.buffer[self.position : self.position + 1]

    def skip(self, character):
        """Step over `character`, the next one that is not white space, or name what is there instead."""
        if self.peek() != character:
            found = repr(self.peek()) if self.peek() else "the end"
            raise InputError(f"line {self.line}: expected {character!r}, found {found}")
        self._advance(1)

    def value(self):
        """The next JSON value and the line it starts on."""
        self.peek()
        line = self.line
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.position)
            except json.JSONDecodeError as error:
                if self._read_more():
                    continue  # most likely the value is not all in the buffer yet
                raise InputError(f"line {line}: not valid JSON: {error.msg}") from None
            if end == len(self.buffer) and self._read_more():
                continue  # a number cut at the end of the buffer would decode short
            self._advance(end - self.position)
            return value, line

    def _advance(self, characters):
        self.line += self.buffer.count("\n", self.position, self.position + characters)
        self.position += characters

    def _read_more(self):
        if self.at_end:
            return False
        if len(self.buffer) - self.position > _MAX_VALUE_CHARS:
            raise InputError(f"line {self.line}: a JSON value longer than {_MAX_VALUE_CHARS} characters")
        chunk = self.stream.read(_CHUNK_CHARS)
        self.at_end = not chunk
        self.buffer = self.buffer[self.position :] + chunk  # keep only what is not decoded yet
        self.position = 0
        return bool(chunk)


def json_customers(stream, arrays=True):
    """(line, customer) from a JSON array, one JSON object, or JSON lines; without `arrays`, JSON lines
    only: a line that holds an array is one (invalid) customer, not a list of them."""
    reader = _JSONReader(stream)
    if reader.peek() != "[" or not arrays:
        while reader.peek():
            value, line = reader.value()
            yield line, value
        return
    reader.skip("[")
    if reader.peek() == "]":
        return
    while True:
        value, line = reader.value()
        yield line, value
        if reader.peek() == "]":
            return
        reader.skip(",")


def csv_customers(stream, columns=()):
    """(line, row) from CSV with a header, such as the raw Telco data set; the line is the row's last.
    The header must name `columns`, in any case and with spaces for underscores."""
    reader = csv.DictReader(stream)
    try:
        named = {normalise(name) for name in reader.fieldnames or ()}
        missing = [column for column in columns if column not in named]
        if missing:
            raise InputError(f"line 1: the header has no column for {', '.join(missing)}")
        for row in reader:
            if None in row:  # DictReader keeps the values beyond the header's columns under None
                raise InputError(f"line {reader.line_num}: {len(row[None])} more values than the header has columns")
            yield reader.line_num, row
    except csv.Error as error:
        raise InputError(f"line {reader.line_num + 1}: not valid CSV: {error}") from None  # the line being read


class CSVWriter:
    """Scores as CSV: customerid, churn_probability, churn, and with explanations their factors."""

    def __init__(self, out, explain):
        self.writer, self.explain = csv.writer(out, lineterminator="\n"), explain
        self.writer.writerow([*SCORE_COLUMNS, *(["explanation"] if explain else [])])

    def write(self, result):
        """One result as a CSV row."""
        row = [result.get(ID_FIELD, ""), repr(result[PROBABILITY]), str(result[DECISION]).lower()]
        if self.explain:
            row.append("; ".join(factor["text"] for factor in result["explanation"]["factors"]))
        self.writer.writerow(row)


class JSONLinesWriter:
    """Scores as JSON lines: each result as /predict answers it."""

    def __init__(self, out, explain):
        self.out = out

    def write(self, result):
        """One result as a JSON line."""
        self.out.write(json.dumps(result) + "\n")


WRITERS = {"csv": CSVWriter, "jsonl": JSONLinesWriter}
