"""Customers read from files: the formats that predict.py and POST /predict share (their scores are
written by churn.core.output_formats).

Readers yield (line, raw customer) one at a time, the line where the customer is in the file, and
raise InputError naming the line of anything that is not CSV or JSON. Memory stays bounded whatever
the input: a customer (a JSON value, a CSV record, however many lines its quoted cells span) longer
than MAX_CUSTOMER_CHARS raises TooLarge before it is decoded, and so does a CSV header longer than
that or with more than MAX_OTHER_COLUMNS columns besides the model's. Standard library only.
"""

import csv
import json
import re

from churn.core.features import normalise
from churn.core.messages import TOO_DEEP, TOO_MANY_DIGITS
from churn.core.schema import ID_FIELD

# The longest JSON value or CSV line read as one customer: a customer takes under 1 KiB, also in the
# raw data set's spellings and with extra fields; decoding 64 KiB of anything takes a few MiB at most.
MAX_CUSTOMER_CHARS = 64 * 1024
_CHUNK_CHARS = 1 << 16
# The columns a CSV header may have besides the model's fields and customerid: a wide export of a
# customer table, with room to spare; more is no table of customers, and each costs a name to compare.
MAX_OTHER_COLUMNS = 1000
# An array's items are decoded a slice of text at a time, of at most this many characters: a hundred
# customers or so in one call of the json module, and a few MiB of objects at most, whatever it holds.
SLICE_CHARS = MAX_CUSTOMER_CHARS
_SLICE_ENDS_TRIED = 4  # the last '}' of a slice may be in a string or a nested object: so many are tried
_decode = json.JSONDecoder().decode
# A tensor's data is decoded at once when its text is at most this many characters a value: a number
# or a category's name, with room to spare; longer values are read one at a time.
VALUE_CHARS = 64
_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")
_raw_decode = json.JSONDecoder().raw_decode
_LONGEST_LITERAL = len("-Infinity")


class InputError(ValueError):
    """The input cannot be read as customers; the message says where and why."""


class InvalidRow(InputError):
    """A row read as a customer whose values the model refuses: predict.py --skip-invalid skips it."""


class TooLarge(InputError):
    """A part of the input is larger than its limit; the message says which and the limit."""


class InvalidJSON(InputError):
    """Text that is not JSON, at a line; `reason` says why."""

    def __init__(self, line, reason):
        super().__init__(f"line {line}: not valid JSON: {reason}")
        self.line, self.reason = line, reason


def _maybe_cut(error):
    """Whether JSON that failed to decode may be a value cut short by the end of the text: an open
    string, or a failure in the last few characters (a literal or number cut, a missing delimiter)."""
    return error.pos >= len(error.doc) - _LONGEST_LITERAL or error.msg.startswith("Unterminated string")


def _too_large(line, max_chars):
    return TooLarge(f"line {line}: a JSON value longer than {max_chars} characters")


class JSONReader:
    """JSON values from a text stream, decoded one at a time with their line numbers; a value longer
    than `max_value_chars` raises TooLarge, with no more than about twice that held at once, unless
    the stream is held whole in memory (`in_memory`): then it is read at once."""

    def __init__(self, stream, max_value_chars=MAX_CUSTOMER_CHARS, in_memory=False):
        self.stream, self.max_value_chars, self.in_memory = stream, max_value_chars, in_memory
        self.buffer, self.position, self.at_end = "", 0, False
        # The line at _counted_to in the buffer: counted forward only when a line is asked for (an error's,
        # a JSON line's), so that an array read a slice at a time counts none.
        self._line, self._counted_to = 1, 0

    def peek(self):
        """The next character that is not white space ("" at the end)."""
        while True:
            self._advance(_JSON_WHITESPACE.match(self.buffer, self.position).end() - self.position)
            if self.position < len(self.buffer) or not self._read_more(0):
                return self.buffer[self.position : self.position + 1]

    def skip(self, character):
        """Step over `character`, the next one that is not white space, or name what is there instead."""
        if self.peek() != character:
            raise InputError(f"line {self.line}: expected {character!r}, found {self._found()}")
        self._advance(1)

    def finish(self):
        """Check that nothing but white space is left: nothing sent is silently ignored."""
        if self.peek():
            raise InputError(f"line {self.line}: expected the end, found {self._found()}")

    def value(self, max_chars=None):
        """The next JSON value and the line it starts on; TooLarge past `max_chars` (else the reader's limit)."""
        max_chars = max_chars or self.max_value_chars
        self.peek()
        line = self.line
        while True:
            try:
                value, end = _raw_decode(self.buffer, self.position)
            except json.JSONDecodeError as error:
                if _maybe_cut(error) and self._read_more(len(self.buffer) - self.position, max_chars):
                    continue  # the value may not be all in the buffer yet
                raise InvalidJSON(line, error.msg) from None
            except RecursionError:
                raise InvalidJSON(line, TOO_DEEP) from None
            except ValueError:  # Python's limit on the digits of an integer
                raise InvalidJSON(line, TOO_MANY_DIGITS) from None
            if end == len(self.buffer) and self._read_more(end - self.position, max_chars):
                continue  # a number cut at the end of the buffer would decode short
            if end - self.position > max_chars:
                raise _too_large(line, max_chars)
            self._advance(end - self.position)
            return value, line

    def array_items(self, max_chars=None):
        """(line, value) of each item of the array that starts here; then past its closing ']'."""
        for _ in self.array_slots():
            value, line = self.value(max_chars)
            yield line, value

    def array_slices(self):
        """The items of the array that starts here, in lists, and then past its closing ']'. Each list
        is the whole objects (customers) of a slice of at most SLICE_CHARS characters, decoded by the
        json module in one call; or, where no slice ends at an object (a value of another kind, or one
        longer than a slice), one item, read as value() reads it, which also names what is wrong."""
        self.skip("[")
        if self.peek() == "]":
            self._advance(1)
            return
        while True:
            yield self._slice() or [self.value()[0]]
            if self.peek() == "]":
                self._advance(1)
                return
            self.skip(",")

    def _slice(self):
        """The objects from here to the last one that ends within SLICE_CHARS, decoded at once; None
        when there is no such end, or the text up to it is not a list of whole items (the end found
        was inside a string, say: then value() reads on, one item at a time)."""
        while len(self.buffer) - self.position < SLICE_CHARS and self._read_more(0):
            pass
        window_end = min(len(self.buffer), self.position + SLICE_CHARS)
        end = self.buffer.rfind("}", self.position, window_end)
        for _ in range(_SLICE_ENDS_TRIED):
            if end < 0:
                return None
            after = _JSON_WHITESPACE.match(self.buffer, end + 1).end()
            if self.buffer[after : after + 1] in (",", "]"):
                break
            end = self.buffer.rfind("}", self.position, end)
        else:
            return None
        try:
            items = _decode(f"[{self.buffer[self.position : end + 1]}]")
        except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
            return None
        self._advance(end + 1 - self.position)
        return items

    def values_array(self, most):
        """The array of values that starts here (each a value, or [value]: not an object, not nested
        deeper), decoded by the json module in one call, and then past its end; None, with nothing
        read, when its text is not that or may hold more than `most` values: judged before it is
        decoded, by counting its commas and brackets, within a slice of at most `most` times
        VALUE_CHARS characters. Then array_slots() and value() read it a value at a time."""
        limit = most * VALUE_CHARS + 2
        if self.peek() != "[":
            return None
        nested = self._peek_after(1) == "["  # [[value], [value], …]: its end is the first "]]"
        closing = "]]" if nested else "]"
        while (end := self.buffer.find(closing, self.position, self.position + limit)) < 0:
            if len(self.buffer) - self.position >= limit or not self._read_more(0):
                return None
        text = self.buffer[self.position : end + len(closing)]
        brackets = text.count("[")
        if "{" in text or brackets != (text.count(",") + 2 if nested else 1) or text.count(",") >= most:
            return None  # an object, a deeper nesting, or too many values (or commas in strings: read slowly)
        try:
            values = _decode(text)
        except (ValueError, RecursionError):
            return None
        if nested and set(map(len, values)) - {1}:
            return None  # a [] or [value, value] among them
        self._advance(len(text))
        return values

    def _peek_after(self, characters):
        """The first character that is not white space, `characters` after the next one."""
        while self.position + characters >= len(self.buffer) and self._read_more(0):
            pass
        at = _JSON_WHITESPACE.match(self.buffer, self.position + characters).end()
        while at >= len(self.buffer) and self._read_more(0):
            at = _JSON_WHITESPACE.match(self.buffer, self.position + characters).end()
        return self.buffer[at : at + 1]

    def array_slots(self):
        """Step through the array that starts here: yields before each item (its line), which the
        caller reads before the next; then steps past the closing ']'."""
        for _ in self._members("[", "]"):
            yield self.line

    def object_keys(self):
        """Step through the object that starts here: yields each key, its ':' passed, whose value the
        caller reads before the next; then steps past the closing '}'."""
        for _ in self._members("{", "}"):
            if self.peek() != '"':
                raise InvalidJSON(self.line, "Expecting property name enclosed in double quotes")
            key, _ = self.value()
            self.skip(":")
            yield key

    def _members(self, opening, closing):
        """Step from an array's or object's opening character to past its closing one, yielding before
        each member (read by the caller) and passing the commas between them."""
        self.skip(opening)
        if self.peek() == closing:
            self._advance(1)
            return
        while True:
            yield
            if self.peek() == closing:
                self._advance(1)
                return
            self.skip(",")

    def _found(self):
        return repr(self.peek()) if self.peek() else "the end"

    @property
    def line(self):
        """The line the reader is at."""
        self._line += self.buffer.count("\n", self._counted_to, self.position)
        self._counted_to = self.position
        return self._line

    def _advance(self, characters):
        self.position += characters

    def _read_more(self, pending, max_chars=0):
        """Read more of the stream: at least as much as the `pending` characters of an undecoded value,
        so that a long value is decoded a few times over, not once per chunk; TooLarge once those
        are more than `max_chars`."""
        if self.at_end:
            return False
        if max_chars and pending > max_chars:
            raise _too_large(self.line, max_chars)
        chunk = self.stream.read(-1 if self.in_memory else max(_CHUNK_CHARS, pending))
        self.at_end = self.in_memory or not chunk
        self._line = self.line  # counted up to what is dropped
        self.buffer = self.buffer[self.position :] + chunk  # keep only what is not decoded yet
        self.position = self._counted_to = 0
        return bool(chunk)


def json_customers(stream, arrays=True):
    """(line, customer) from a JSON array, one JSON object, or JSON lines; without `arrays`, JSON lines
    only: a line that holds an array is one (invalid) customer, not a list of them."""
    reader = JSONReader(stream)
    if arrays and reader.peek() == "[":
        yield from reader.array_items()
        reader.finish()
        return
    while reader.peek():
        value, line = reader.value()
        yield line, value


def csv_customers(stream, columns, optional=(), id_names=(ID_FIELD,)):
    """(line, row) from CSV with a header, such as a training table itself; the line is the row's last.
    The header must name `columns`, each once, in any case and with spaces for underscores, and may
    name the `optional` ones; a row holds those columns and the customer's id (under one of
    `id_names`), if there is one, under their names as `columns` spell them, as text (None for a
    missing cell): other columns are ignored, as other fields are."""
    records = _Records(stream, MAX_CUSTOMER_CHARS)
    reader = csv.reader(records)
    try:
        header = next(reader, [])
        records.next_record(reader.line_num)
        _check_width(header, columns)
        kept = [(normalise(name), index) for name, index in kept_columns(header, columns, optional, id_names)]
        for row in reader:
            records.next_record(reader.line_num)
            if not row:
                continue  # a blank line, as csv.DictReader skips it
            if len(row) > len(header):
                extra = len(row) - len(header)
                raise InputError(f"line {reader.line_num}: {extra} more values than the header has columns")
            yield reader.line_num, {name: row[index] if index < len(row) else None for name, index in kept}
    except csv.Error as error:
        raise InputError(f"line {reader.line_num + 1}: not valid CSV: {error}") from None  # the line being read


def _check_width(header, columns):
    most = len(columns) + 1 + MAX_OTHER_COLUMNS
    if len(header) > most:
        raise TooLarge(f"line 1: the header has {len(header)} columns; at most {most} are read")


def kept_columns(header, columns, optional=(), id_names=(ID_FIELD,)):
    """(name as in the header, its index) of `columns`, of the `optional` ones the header has, and of
    the customer's id (a column of one of `id_names`); InputError if one of `columns` is missing, or
    one is given twice."""
    by_name = {}
    for index, name in enumerate(header):
        by_name.setdefault(normalise(name), []).append((name, index))
    missing = [column for column in columns if column not in by_name]
    if missing:
        raise InputError(f"line 1: {missing_columns(missing, columns)}")
    ids = [found for name in id_names for found in by_name.get(name, ())]
    kept = [by_name[column] for column in (*columns, *optional) if column in by_name] + ([ids] if ids else [])
    twice = [normalise(found[0][0]) for found in kept if len(found) > 1]
    if twice:
        raise InputError(f"line 1: the header has more than one column for {', '.join(twice)} (names ignore case)")
    return [found[0] for found in kept]


def missing_columns(missing, columns):
    """Why a table without the `missing` ones of `columns` (the model's fields) cannot be scored."""
    if len(missing) == len(columns):
        first = ", ".join(columns[:3])
        return f"the header names none of the model's {len(columns)} fields ({first}, …): is the first line a header?"
    return (
        f"the header has no column for {', '.join(missing)}: a table needs a column for each of the model's"
        f" {len(columns)} required fields (names ignore case)"
    )


class _Records:
    """The stream's lines, for csv.reader, one at a time; TooLarge, unread, once the record being read
    (a header or a customer, which quoted line breaks spread over many lines) passes `max_chars`.
    The reader calls next_record() after each record it has read, with the lines it has read."""

    def __init__(self, stream, max_chars):
        self.stream, self.max_chars = stream, max_chars
        self.record_chars, self.record_line = 0, 1

    def __iter__(self):
        return self

    def __next__(self):
        line = self.stream.readline(self.max_chars + 1 - self.record_chars)
        if not line:
            raise StopIteration
        self.record_chars += len(line)
        if self.record_chars > self.max_chars:
            raise TooLarge(f"line {self.record_line}: a CSV record longer than {self.max_chars} characters")
        return line

    def next_record(self, lines_read):
        """A record has been read, ending at line `lines_read` (csv.reader's line_num): the next begins."""
        self.record_chars, self.record_line = 0, lines_read + 1
