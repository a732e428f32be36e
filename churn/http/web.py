"""HTTP as the app speaks it, standard library only: one error type and the response tuple (its body
whole, or streamed), reading a request's body within a limit (whole, or as a text stream read as it
is parsed), media types and content negotiation, JSON and problem responses."""

import codecs
import io
import json
import urllib.parse
from collections.abc import Iterator
from http import HTTPStatus
from typing import NamedTuple

from churn.core.customer_files import JSONReader
from churn.core.messages import TOO_DEEP, TOO_MANY_DIGITS, WHOLE_DIGITS, echo
from churn.core.not_text import HEAD_BYTES, not_utf8_problem, spreadsheet_problem
from churn.core.output_formats import JSON_MEDIA_TYPE

PROBLEM_CONTENT_TYPE = "application/problem+json"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}
_READ_CHUNK_BYTES = 64 * 1024
# A body up to this size is read whole and decoded at once: a customer, or a batch of about 100. A
# larger one (or one of unknown length) is a large request: read as it is parsed, and admitted by
# churn/http/admission.py.
SMALL_BODY_BYTES = 64 * 1024
# A larger body read as text is read whole, up to this size, and decoded at once (in C, where reading it
# as it arrives went through the text layer's chunks): a few MiB at most, whatever it holds.
WHOLE_TEXT_BYTES = 1024 * 1024
# The most a streamed answer hands the server in one write: a quarter of the socket's send buffer
# (churn/http/config.py: SEND_BUFFER_BYTES), so that a write into a full buffer waits for a slow reader
# to take a quarter of it, not for the whole answer.
PIECE_BYTES = 64 * 1024
BODY = "the body"  # how the messages of churn.core.not_text name what is not text
# json.loads and json.dumps with default arguments, without their per-call argument handling.
_DECODER = json.JSONDecoder()
_encode_json = json.JSONEncoder(check_circular=False).encode  # our documents are trees
_BODY_LENGTH, _UNKNOWN = "churn.body_length", object()


class HTTPError(Exception):
    """An error response: raised anywhere, turned into a problem document in one place (app.py)."""

    def __init__(self, status, detail, errors=None, headers=()):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = tuple(headers)


class Response(NamedTuple):  # a tuple: built once per request, so it must be cheap
    """What a handler answers: the status, the body and its type, and any further headers. The body
    is bytes, or an iterator of bytes for an answer sent as it is made (a streamed answer)."""

    status: int
    content_type: str
    body: bytes | Iterator[bytes]
    headers: tuple = ()


class StreamedBody:
    """A streamed answer as a WSGI iterable: its pieces as they are made, at most PIECE_BYTES each, so
    that the server's limit on a silent client applies to each piece, not to the whole answer; once
    the server is done with it (PEP 3333's close, also when the client went away), `on_close` is
    called once with the number of bytes sent."""

    def __init__(self, pieces, on_close):
        self._pieces, self._on_close, self.sent = pieces, on_close, 0

    def __iter__(self):
        for piece in self._pieces:
            for start in range(0, len(piece), PIECE_BYTES):
                part = piece[start : start + PIECE_BYTES]
                self.sent += len(part)
                yield part

    def close(self):
        """Stop making the answer, and say how much of it was sent."""
        if self._on_close is not None:
            self._pieces.close()
            on_close, self._on_close = self._on_close, None
            on_close(self.sent)


def json_response(status, document, headers=()):
    """`document` as JSON."""
    return Response(status, JSON_MEDIA_TYPE, _encode_json(document).encode("utf-8"), headers)


def error_response(error):
    """An HTTPError as a problem document (RFC 9457): title, status, detail and, when given, errors."""
    document = {"title": HTTPStatus(error.status).phrase, "status": error.status, "detail": error.detail}
    if error.errors:
        document["errors"] = error.errors
    body = json.dumps(document).encode("utf-8")
    return Response(error.status, PROBLEM_CONTENT_TYPE, body, error.headers)


def media_type(environ):
    """The request's media type, lower-cased, without parameters; 415 for a charset other than UTF-8."""
    content_type = environ.get("CONTENT_TYPE", "")
    if content_type == JSON_MEDIA_TYPE:
        return content_type  # the usual case, without parsing
    essence, *parameters = content_type.split(";")
    charset = next((p.split("=", 1)[1] for p in parameters if p.strip().lower().startswith("charset=")), "utf-8")
    if charset.strip(' "').lower() not in ("utf-8", "utf8"):
        raise HTTPError(415, f"send the body in UTF-8 (got {echo(content_type)})")
    return essence.strip().lower()


def preferred(accept, offered):
    """Which of `offered` (media types) the Accept header `accept` prefers: the highest quality, the
    first offered on a tie, and the first when nothing offered is acceptable or there is no header."""
    if not accept:
        return offered[0]
    ranges = [_media_range(part) for part in accept.split(",")]
    qualities = [_quality(ranges, essence) for essence in offered]
    return offered[max(range(len(offered)), key=lambda i: (qualities[i], -i))]


def _media_range(text):
    """("type/subtype", quality) of one Accept entry."""
    essence, *parameters = text.split(";")
    quality = 1.0
    for parameter in parameters:
        name, _, value = parameter.strip().partition("=")
        if name.lower() == "q":
            try:
                quality = min(max(float(value), 0.0), 1.0)
            except ValueError:
                quality = 0.0
    return essence.strip().lower(), quality


def _quality(ranges, essence):
    """The quality of the most specific range that matches `essence` (RFC 9110, 12.5.1), 0 if none does."""
    specific = [(_specificity(pattern, essence), quality) for pattern, quality in ranges]
    return max(((rank, quality) for rank, quality in specific if rank >= 0), default=(-1, 0.0))[1]


def _specificity(pattern, essence):
    if pattern == essence:
        return 2
    if pattern.endswith("/*") and essence.startswith(pattern[:-1]):
        return 1
    return 0 if pattern == "*/*" else -1


def body_length(environ):
    """The body's length from Content-Length; None when it comes chunked, its length unknown; 0 for
    none. Worked out once per request, and kept in the environ."""
    length = environ.get(_BODY_LENGTH, _UNKNOWN)
    if length is _UNKNOWN:
        length = _content_length(environ)
        if length is None:
            length = None if _is_chunked(environ) else 0  # PEP 3333: no Content-Length, no chunks: no body
        environ[_BODY_LENGTH] = length
    return length


def is_large(environ):
    """Whether the request's body is larger than SMALL_BODY_BYTES, or of a length not known beforehand."""
    length = body_length(environ)
    return length is None or length > SMALL_BODY_BYTES


def read_body(environ, max_body_bytes):
    """Read at most `max_body_bytes`: up front from Content-Length, else while reading a chunked body."""
    length = body_length(environ)
    if length is None:
        return _read_until_end(environ["wsgi.input"], max_body_bytes)
    if length > max_body_bytes:
        raise _longer_than(length, max_body_bytes)
    body = _read_input(environ["wsgi.input"], length) if length else b""
    if len(body) < length:  # a client that half-closed early: the prefix sent may still parse, never score it
        raise HTTPError(400, _ended_early(len(body), length))
    return body


def body_json_reader(environ, max_body_bytes):
    """A JSONReader (churn.core.customer_files) of the body as body_text reads it: at once, when held whole."""
    text = body_text(environ, max_body_bytes)
    return JSONReader(text, in_memory=text.in_memory)


def body_text(environ, max_body_bytes):
    """The body as a text stream (UTF-8, a byte order mark dropped): read whole when its length is at most
    WHOLE_TEXT_BYTES, else from the client as it is read here; read_body's limits apply as the bytes
    arrive, and text that is not UTF-8 is a 400."""
    length = body_length(environ)
    if length is not None and length > max_body_bytes:
        raise _longer_than(length, max_body_bytes)
    if length is not None and length <= WHOLE_TEXT_BYTES:
        return _Text(io.StringIO(decode_utf8(read_body(environ, max_body_bytes)), newline=""), in_memory=True)
    raw = io.BufferedReader(_BodyReader(environ["wsgi.input"], length, max_body_bytes), _READ_CHUNK_BYTES)
    _refuse_a_spreadsheet(raw.peek(HEAD_BYTES))  # a workbook's zip may start as valid UTF-8 does
    return _Text(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))


def decode_utf8(body):
    """The body as text (a byte order mark is dropped); 400 when it is not UTF-8, saying so, or that it
    is a spreadsheet."""
    try:  # not .decode("utf-8-sig"), a Python-level codec: 7 times slower
        return body[3:].decode() if body.startswith(codecs.BOM_UTF8) else body.decode()
    except UnicodeDecodeError as error:
        _refuse_a_spreadsheet(body)
        raise HTTPError(400, not_utf8_problem(error, BODY, body)) from None


def _refuse_a_spreadsheet(head):
    problem = spreadsheet_problem(head, BODY)
    if problem:
        raise HTTPError(400, problem)


def empty_body(expected):
    """The 400 for a body with nothing in it; `expected` says what to send ("a customer as JSON")."""
    return HTTPError(400, f"the body is empty; send {expected}")


def read_json(environ, max_body_bytes, expected):
    """The JSON document the body holds (read_body's limits apply); 400 saying why when it holds none,
    and what to send (`expected`) when it is empty."""
    text = decode_utf8(read_body(environ, max_body_bytes))
    try:
        return _decode_json(text)
    except json.JSONDecodeError as error:
        if not text.strip():
            raise empty_body(expected) from None
        raise HTTPError(400, f"the body is not valid JSON: {error}") from None
    except RecursionError:
        raise HTTPError(400, f"the body is not valid JSON: {TOO_DEEP}") from None
    except ValueError:  # Python's limit on integer digits, whose own message is advice for Python programmers
        raise HTTPError(400, f"the body is not valid JSON: {TOO_MANY_DIGITS}") from None


def _decode_json(text):
    """json.loads(text). A body that is one object, the usual one, is scanned at once: JSONDecoder.decode's
    checks of white space around it took a sixth of its time."""
    if text[:1] == "{":
        try:
            document, end = _DECODER.scan_once(text, 0)
        except StopIteration:  # not JSON: decode() says where and why
            return _DECODER.decode(text)
        if end == len(text) or not text[end:].strip(" \t\n\r"):  # JSON's white space only
            return document
    return _DECODER.decode(text)


def query_parameters(query):
    """name -> value of a query string; the last of a repeated name wins."""
    pairs = (part.partition("=")[::2] for part in query.split("&"))
    # Decoding only what needs it: "explain=true" has nothing to decode.
    return {_unquote(name): _unquote(value) for name, value in pairs}


def _unquote(text):
    return urllib.parse.unquote_plus(text) if "%" in text or "+" in text else text


def _longer_than(length, max_body_bytes):
    """The 413 for a body whose Content-Length is over the limit: refused before any of it is read."""
    return HTTPError(413, f"the body is {length} bytes; the limit is {max_body_bytes} bytes")


def _ended_early(received, length):
    return f"the body ended after {received} of the {length} bytes its Content-Length announced"


def _read_input(stream, size):
    """wsgi.input.read(size), with what can go wrong on the client's side answered as such."""
    try:
        return stream.read(size)
    except TimeoutError:  # the server's limit on a silent client (gunicorn.conf.py: IDLE_SECONDS)
        raise HTTPError(408, "the body stopped arriving before its end; send it again, whole") from None
    except OSError:  # the client went away, or left a chunked body unfinished
        raise HTTPError(400, "the body was cut off: the connection broke before its end") from None
    except Exception as error:  # the server's parser of the framing (gunicorn: an invalid chunk size, …)
        raise HTTPError(400, f"the body's chunked framing is invalid: {echo(str(error))}") from None


def _content_length(environ):
    text = environ.get("CONTENT_LENGTH", "")
    if not text:
        return None
    # 1*DIGIT (RFC 9110, 8.6): churn.core.messages.whole_number's rule, without a call (and a module
    # more in the walk) on every request
    if not (text.isascii() and text.isdigit()):
        raise HTTPError(400, f"invalid Content-Length: {echo(text)}")
    if len(text) > WHOLE_DIGITS and len(text.lstrip("0")) > WHOLE_DIGITS:  # int() reads 4,300 digits at most
        raise HTTPError(413, f"the body is longer than any limit: its Content-Length has {len(text)} digits")
    return int(text)


def _is_chunked(environ):
    # Not wsgi.input_terminated: gunicorn sets it on every request, those without a body too.
    return "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()


def _read_until_end(stream, max_body_bytes):
    chunks, size = [], 0
    while chunk := _read_input(stream, min(_READ_CHUNK_BYTES, max_body_bytes + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_body_bytes:
            raise _larger_than(max_body_bytes)
    return b"".join(chunks)


def _larger_than(max_body_bytes):
    return HTTPError(413, f"the body is larger than the limit of {max_body_bytes} bytes")


class _BodyReader(io.RawIOBase):
    """wsgi.input as a raw stream: exactly `length` bytes (None: to the end of a chunked body, at most
    `max_body_bytes`), each read's failure answered as _read_input says."""

    def __init__(self, stream, length, max_body_bytes):
        super().__init__()
        self._stream, self._length, self._max_body_bytes, self._received = stream, length, max_body_bytes, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        limit = self._max_body_bytes + 1 if self._length is None else self._length
        data = _read_input(self._stream, min(len(buffer), limit - self._received)) if limit > self._received else b""
        if not data and self._length is not None and self._received < self._length:
            raise HTTPError(400, _ended_early(self._received, self._length))
        self._received += len(data)
        if self._received > self._max_body_bytes:
            raise _larger_than(self._max_body_bytes)
        buffer[: len(data)] = data
        return len(data)


class _Text:
    """A text stream whose text that is not UTF-8 is answered with 400; `blank` while all it has
    given is white space; `in_memory` when it is held whole."""

    def __init__(self, stream, in_memory=False):
        self._stream, self.blank, self.in_memory = stream, True, in_memory

    def read(self, size=-1):
        """At most `size` characters."""
        return self._seen(self._stream.read, size)

    def readline(self, size=-1):
        """One line, of at most `size` characters."""
        return self._seen(self._stream.readline, size)

    def _seen(self, read, size):
        try:
            text = read(size)
        except UnicodeDecodeError as error:
            raise HTTPError(400, not_utf8_problem(error, BODY)) from None
        if self.blank and text and not text.isspace():
            self.blank = False
        return text
