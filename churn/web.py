"""HTTP as the app speaks it, standard library only: one error type and the response tuple, reading a
request's body within a limit, media types and content negotiation, JSON and problem responses."""

import json
import urllib.parse
from http import HTTPStatus
from typing import NamedTuple

from churn.text import echo, whole_number

JSON_CONTENT_TYPE = "application/json"
CSV_CONTENT_TYPE = "text/csv"
JSON_LINES_CONTENT_TYPE = "application/x-ndjson"
PROBLEM_CONTENT_TYPE = "application/problem+json"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}
_READ_CHUNK_BYTES = 64 * 1024
# json.loads and json.dumps with default arguments, without their per-call argument handling.
_decode_json = json.JSONDecoder().decode
_encode_json = json.JSONEncoder(check_circular=False).encode  # our documents are trees


class HTTPError(Exception):
    """An error response: raised anywhere, turned into a problem document in one place (app.py)."""

    def __init__(self, status, detail, errors=None, headers=()):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = tuple(headers)


class Response(NamedTuple):  # a tuple: built once per request, so it must be cheap
    """What a handler answers: the status, the body and its type, and any further headers."""

    status: int
    content_type: str
    body: bytes
    headers: tuple = ()


def json_response(status, document, headers=()):
    """`document` as JSON."""
    return Response(status, JSON_CONTENT_TYPE, _encode_json(document).encode("utf-8"), headers)


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
    if content_type == JSON_CONTENT_TYPE:
        return content_type  # the usual case, without parsing
    kind, *parameters = content_type.split(";")
    charset = next((p.split("=", 1)[1] for p in parameters if p.strip().lower().startswith("charset=")), "utf-8")
    if charset.strip(' "').lower() not in ("utf-8", "utf8"):
        raise HTTPError(415, f"send the body in UTF-8 (got {echo(content_type)})")
    return kind.strip().lower()


def preferred(accept, offered):
    """Which of `offered` (media types) the Accept header `accept` prefers: the highest quality, the
    first offered on a tie, and the first when nothing offered is acceptable or there is no header."""
    if not accept:
        return offered[0]
    ranges = [_media_range(part) for part in accept.split(",")]
    qualities = [_quality(ranges, kind) for kind in offered]
    return offered[max(range(len(offered)), key=lambda i: (qualities[i], -i))]


def _media_range(text):
    """("type/subtype", quality) of one Accept entry."""
    kind, *parameters = text.split(";")
    quality = 1.0
    for parameter in parameters:
        name, _, value = parameter.strip().partition("=")
        if name.lower() == "q":
            try:
                quality = min(max(float(value), 0.0), 1.0)
            except ValueError:
                quality = 0.0
    return kind.strip().lower(), quality


def _quality(ranges, kind):
    """The quality of the most specific range that matches `kind` (RFC 9110, 12.5.1), 0 if none does."""
    specific = [(_specificity(pattern, kind), quality) for pattern, quality in ranges]
    return max(((rank, quality) for rank, quality in specific if rank >= 0), default=(-1, 0.0))[1]


def _specificity(pattern, kind):
    if pattern == kind:
        return 2
    if pattern.endswith("/*") and kind.startswith(pattern[:-1]):
        return 1
    return 0 if pattern == "*/*" else -1


def read_body(environ, max_body_bytes):
    """Read at most `max_body_bytes`: up front from Content-Length, else while reading a chunked body."""
    length = _content_length(environ)
    if length is not None:
        if length > max_body_bytes:
            raise HTTPError(413, f"the body is {length} bytes; the limit is {max_body_bytes} bytes")
        return _read_exactly(environ["wsgi.input"], length) if length else b""
    if not _is_chunked(environ):
        return b""  # PEP 3333: no Content-Length and no chunked framing means no body
    return _read_until_end(environ["wsgi.input"], max_body_bytes)


def decode_utf8(body):
    """The body as text (a byte order mark is dropped); 400 when it is not UTF-8."""
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HTTPError(400, "the body is not valid UTF-8") from None


def read_json(environ, max_body_bytes):
    """The JSON document the body holds (read_body's limits apply); 400 saying why when it holds none."""
    text = decode_utf8(read_body(environ, max_body_bytes))
    try:
        return _decode_json(text)
    except json.JSONDecodeError as error:
        if not text.strip():
            raise HTTPError(400, "the body is empty; send a customer as JSON") from None
        raise HTTPError(400, f"the body is not valid JSON: {error}") from None
    except RecursionError:
        raise HTTPError(400, "the body is not valid JSON: it is nested too deeply") from None
    except ValueError:  # Python's limit on integer digits, whose own message is advice for Python programmers
        raise HTTPError(400, "the body is not valid JSON: it has a number with too many digits") from None


def query_parameters(query):
    """name -> value of a query string; the last of a repeated name wins."""
    pairs = (part.partition("=")[::2] for part in query.split("&"))
    # Decoding only what needs it: "explain=true" has nothing to decode.
    return {_unquote(name): _unquote(value) for name, value in pairs}


def _unquote(text):
    return urllib.parse.unquote_plus(text) if "%" in text or "+" in text else text


def _read_exactly(stream, length):
    # A client that half-closes early leaves a prefix, which may still parse: never score it.
    body = stream.read(length)
    if len(body) < length:
        raise HTTPError(400, f"the body ended after {len(body)} of the {length} bytes its Content-Length announced")
    return body


def _content_length(environ):
    text = environ.get("CONTENT_LENGTH", "")
    if not text:
        return None
    length = whole_number(text)
    if length is None:
        raise HTTPError(400, f"invalid Content-Length: {echo(text)}")
    return length


def _is_chunked(environ):
    return bool(environ.get("wsgi.input_terminated")) or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()


def _read_until_end(stream, max_body_bytes):
    chunks, size = [], 0
    while chunk := stream.read(min(_READ_CHUNK_BYTES, max_body_bytes + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_body_bytes:
            raise HTTPError(413, f"the body is larger than the limit of {max_body_bytes} bytes")
    return b"".join(chunks)
