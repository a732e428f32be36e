"""The churn prediction service: a hand-written WSGI application (standard library only).

Endpoints:
    GET  /              a short index: the service, its model version, these routes.
    GET  /ping          200 "PONG" (text/plain): the health check, never behind the API key.
    POST /predict       a customer (JSON object) -> {"churn_probability": float, "churn": bool},
                        plus "customerid" when the customer has one; a batch (JSON array of
                        customers) -> an array of those results, in the same order.
                        ?explain=true adds each customer's exact explanation (&top=N or all).
    GET  /model         what model is deployed: version, provenance, test AUC, threshold, inputs.
    GET  /openapi.json  the OpenAPI 3.1 description of these endpoints, built from the model.

Every response carries X-Request-ID: the request's own, when it is 1-64 letters, digits or ._:-,
else a new one. With an access log, each request writes one logfmt line, e.g.
    time=2026-11-24T09:30:00.123Z method=POST path=/predict status=200 duration_ms=0.412 bytes=86 request_id=3f…

Every error is a JSON problem document (RFC 9457, Content-Type application/problem+json):
    {"title": "Unprocessable Entity", "status": 422, "detail": "tenure: must not be negative, got -5",
     "errors": [{"field": "tenure", "message": "must not be negative, got -5"}]}
"errors" appears only for invalid customers; in a batch each entry also has the customer's "index".
"""

import hmac
import itertools
import json
import os
import re
import time
import traceback
import urllib.parse
from http import HTTPStatus
from typing import NamedTuple

from churn.config import Settings
from churn.explain import CANNOT_EXPLAIN, DEFAULT_TOP, parse_top
from churn.model import describe_model
from churn.openapi import openapi_document
from churn.results import predictions
from churn.schema import InvalidCustomer, describe, validate_customer
from churn.text import ECHO_CHARS, echo, whole_number

JSON_CONTENT_TYPE = "application/json"
PROBLEM_CONTENT_TYPE = "application/problem+json"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
MAX_REPORTED_ERRORS = 20
OPEN_PATHS = frozenset({"/ping"})  # health checks must work without the API key
_READ_CHUNK_BYTES = 64 * 1024
# json.loads and json.dumps with default arguments, without their per-call argument handling.
_decode_json = json.JSONDecoder().decode
_encode_json = json.JSONEncoder(check_circular=False).encode  # our documents are trees
REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # nothing that could forge a log line or header
_LOGGED_PATH_CHARS = 200
_LOGFMT_PLAIN = re.compile(r"[!#-<>-~]+")  # printable ASCII but space, " and =


class HTTPError(Exception):
    """An error response: raised anywhere, turned into a problem document in one place (`app`)."""

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


SERVICE_NAME = "churn prediction service"


def index(environ, model, settings):
    """An index of the service: its model version and routes."""
    routes = {f"{method} {path}": handler.__doc__.splitlines()[0] for (method, path), handler in ROUTES.items()}
    return _json_response(200, {"service": SERVICE_NAME, "model_version": model.version, "routes": routes})


def ping(environ, model, settings):
    """Health check: answers PONG."""
    return Response(200, TEXT_CONTENT_TYPE, b"PONG")


def predict(environ, model, settings):
    """Score one customer (JSON object) or a batch (JSON array of customers); ?explain=true says why."""
    explain_top = _explain_top(environ.get("QUERY_STRING"), model)
    payload = _read_json(environ, settings.max_body_bytes)
    if isinstance(payload, dict):
        customers = [_validate_one(payload, model)]
    elif isinstance(payload, list):
        customers = _validate_batch(payload, model, settings.max_batch)
    else:
        raise HTTPError(400, "the body must be a customer (JSON object) or a list of customers (JSON array)")
    results = predictions(model, customers, explain_top)
    return _json_response(200, results[0] if isinstance(payload, dict) else results)


def model_info(environ, model, settings):
    """The deployed model: version, training date and rows, test AUC, threshold, features."""
    return _json_response(200, describe_model(model))


def openapi(environ, model, settings):
    """The OpenAPI 3.1 document of this service, with the model's fields and allowed values."""
    document = openapi_document(model.schema, ROUTES, OPEN_PATHS, settings.max_batch, settings.api_key is not None)
    return _json_response(200, document)


ROUTES = {
    ("GET", "/"): index,
    ("GET", "/ping"): ping,
    ("POST", "/predict"): predict,
    ("GET", "/model"): model_info,
    ("GET", "/openapi.json"): openapi,
}


def create_app(model, settings=None):
    """Build the WSGI callable around an already-loaded model (and Settings, else the defaults)."""
    settings = settings or Settings()

    def app(environ, start_response):
        started = time.perf_counter() if settings.access_log else None
        request_id = _request_id(environ)
        response = _respond(environ, model, settings)
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            (REQUEST_ID_HEADER, request_id),
            *response.headers,
        ]
        start_response(_STATUS_LINES[response.status], headers)
        body = b"" if environ["REQUEST_METHOD"] == "HEAD" else response.body
        if settings.access_log is not None:
            settings.access_log(_access_line(environ, response.status, len(body), started, request_id))
        return [body]

    return app


def _respond(environ, model, settings):
    try:
        return _dispatch(environ, model, settings)
    except HTTPError as error:
        return _error_response(error)
    except Exception:
        # The client learns only that it failed; the operator gets the traceback.
        environ["wsgi.errors"].write(traceback.format_exc())
        return _error_response(HTTPError(500, "the server could not answer this request"))


def _request_id(environ):
    given = environ.get("HTTP_X_REQUEST_ID")
    return given if given and _VALID_REQUEST_ID.fullmatch(given) else os.urandom(16).hex()


def _access_line(environ, status, size, started, request_id):
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


_last_second = [None, ""]  # (second, its text): strftime once a second, not once a request


def _timestamp(now):
    second = int(now)
    if second != _last_second[0]:
        _last_second[:] = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return f"{_last_second[1]}.{int(now % 1 * 1000):03d}Z"


def _logfmt(value):
    # Quoted, with JSON's escapes, when it holds anything that would break the line into other fields.
    return value if _LOGFMT_PLAIN.fullmatch(value) else json.dumps(value)


def _allowed_methods(routes):
    """path -> the methods it answers, HEAD wherever GET is."""
    allowed = {}
    for method, path in routes:
        allowed.setdefault(path, []).extend([method, "HEAD"] if method == "GET" else [method])
    return {path: sorted(methods) for path, methods in allowed.items()}


_ALLOWED_METHODS = _allowed_methods(ROUTES)
_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


def _dispatch(environ, model, settings):
    path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
    handler = ROUTES.get(("GET" if method == "HEAD" else method, path))
    if handler is None:
        allowed = _ALLOWED_METHODS.get(path)
        if allowed is None:
            raise HTTPError(404, f"no such endpoint: {echo(path)}; see GET /openapi.json")
        raise HTTPError(405, f"{path} does not accept {echo(method)}", headers=[("Allow", ", ".join(allowed))])
    if settings.api_key is not None and path not in OPEN_PATHS:
        _authorize(environ, settings.api_key)
    return handler(environ, model, settings)


def _authorize(environ, api_key):
    scheme, _, credentials = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        raise HTTPError(
            401, "send the API key as 'Authorization: Bearer <key>'", headers=[("WWW-Authenticate", "Bearer")]
        )
    # Constant-time comparison, so response timing does not reveal how much of the key matched.
    if not hmac.compare_digest(credentials.strip().encode(), api_key.encode()):
        raise HTTPError(401, "the API key is not valid", headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')])


def _explain_top(query, model):
    """How many factors of each explanation to give: None when no explanation is asked for."""
    if not query:
        return None
    parameters = _query_parameters(query)
    explain = parameters.get("explain", "false")
    if explain not in ("true", "false", "1", "0"):
        raise HTTPError(400, f"explain must be true or false, not {echo(explain)}")
    try:
        top = parse_top(parameters.get("top", str(DEFAULT_TOP)), len(model.schema.fields))
    except ValueError as error:
        raise HTTPError(400, f"top {error}") from None
    if explain in ("false", "0"):
        return None
    if model.explainer is None:
        raise HTTPError(400, CANNOT_EXPLAIN)
    return top


def _query_parameters(query):
    """name -> value of a query string; the last of a repeated name wins."""
    pairs = (part.partition("=")[::2] for part in query.split("&"))
    # Decoding only what needs it: "explain=true" has nothing to decode.
    return {_unquote(name): _unquote(value) for name, value in pairs}


def _unquote(text):
    return urllib.parse.unquote_plus(text) if "%" in text or "+" in text else text


def _read_json(environ, max_body_bytes):
    _require_json_content_type(environ)
    body = _read_body(environ, max_body_bytes)
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HTTPError(400, "the body is not valid UTF-8") from None
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


def _require_json_content_type(environ):
    if environ.get("CONTENT_TYPE") == JSON_CONTENT_TYPE:
        return  # the usual case, without parsing
    media_type, *parameters = environ.get("CONTENT_TYPE", "").split(";")
    charset = next((p.split("=", 1)[1] for p in parameters if p.strip().lower().startswith("charset=")), "utf-8")
    if media_type.strip().lower() != JSON_CONTENT_TYPE or charset.strip(' "').lower() not in ("utf-8", "utf8"):
        sent = echo(environ.get("CONTENT_TYPE", "")) or "none"
        raise HTTPError(415, f"send the body as JSON with 'Content-Type: application/json' (got {sent})")


def _read_body(environ, max_body_bytes):
    """Read at most `max_body_bytes`: up front from Content-Length, else while reading a chunked body."""
    length = _content_length(environ)
    if length is not None:
        if length > max_body_bytes:
            raise HTTPError(413, f"the body is {length} bytes; the limit is {max_body_bytes} bytes")
        return _read_exactly(environ["wsgi.input"], length) if length else b""
    if not _is_chunked(environ):
        return b""  # PEP 3333: no Content-Length and no chunked framing means no body
    return _read_until_end(environ["wsgi.input"], max_body_bytes)


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


def _validate_one(payload, model):
    try:
        return validate_customer(payload, model.schema)
    except InvalidCustomer as invalid:
        raise HTTPError(422, str(invalid), errors=invalid.errors) from None


def _validate_batch(payloads, model, max_batch):
    if len(payloads) > max_batch:
        raise HTTPError(422, f"the batch has {len(payloads)} customers; the limit is {max_batch} per request")
    customers, errors = [], []
    for index, payload in enumerate(payloads):
        try:
            customers.append(validate_customer(payload, model.schema))
        except InvalidCustomer as invalid:
            errors.extend({"index": index, **error} for error in invalid.errors)
    if errors:
        raise _unprocessable_batch(errors)
    return customers


def _unprocessable_batch(errors):
    shown = errors[:MAX_REPORTED_ERRORS]
    by_customer = itertools.groupby(shown, key=lambda error: error["index"])
    detail = "; ".join(f"customer {index}: {describe(list(group))}" for index, group in by_customer)
    if len(errors) > len(shown):
        detail += f"; and {len(errors) - len(shown)} more errors"
    return HTTPError(422, detail, errors=shown)


def _json_response(status, document):
    return Response(status, JSON_CONTENT_TYPE, _encode_json(document).encode("utf-8"))


def _error_response(error):
    document = {"title": HTTPStatus(error.status).phrase, "status": error.status, "detail": error.detail}
    if error.errors:
        document["errors"] = error.errors
    body = json.dumps(document).encode("utf-8")
    return Response(error.status, PROBLEM_CONTENT_TYPE, body, error.headers)
