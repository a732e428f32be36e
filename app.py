"""The churn prediction service: a hand-written WSGI application (standard library only).

Endpoints:
    GET  /ping     200 "PONG" (text/plain), for health checks.
    POST /predict  a customer as a JSON object -> {"churn_probability": float, "churn": bool};
                   a JSON array of customers -> an array of those results, in the same order.

Every error is a JSON problem document (RFC 9457, Content-Type application/problem+json):
    {"title": "Unprocessable Entity", "status": 422, "detail": "tenure: is required",
     "errors": [{"field": "tenure", "message": "is required"}]}
"errors" appears only for invalid customers; in a batch each entry also has the customer's "index".
"""

import itertools
import json
import traceback
from dataclasses import dataclass
from http import HTTPStatus

from churn.model import score
from churn.schema import InvalidCustomer, describe, validate_customer

JSON_CONTENT_TYPE = "application/json"
PROBLEM_CONTENT_TYPE = "application/problem+json"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
MAX_BODY_BYTES = 1_000_000
MAX_REPORTED_ERRORS = 20


@dataclass(frozen=True)
class Settings:
    """Operational limits of one app instance."""

    max_body_bytes: int = MAX_BODY_BYTES


class HTTPError(Exception):
    """An error response: raised anywhere, turned into a problem document in one place (`app`)."""

    def __init__(self, status, detail, errors=None, headers=()):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = list(headers)


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes
    headers: tuple = ()


def ping(environ, model, settings):
    """Health check."""
    return Response(200, TEXT_CONTENT_TYPE, b"PONG")


def predict(environ, model, settings):
    """Score one customer (JSON object) or a batch (JSON array of customers)."""
    payload = _read_json(environ, settings.max_body_bytes)
    if isinstance(payload, dict):
        customers = [_validate_one(payload, model)]
    elif isinstance(payload, list):
        customers = _validate_batch(payload, model)
    else:
        raise HTTPError(400, "the body must be a customer (JSON object) or a list of customers (JSON array)")
    results = [_result(probability, model.threshold) for probability in score(model, customers)]
    return _json_response(200, results[0] if isinstance(payload, dict) else results)


ROUTES = {
    ("GET", "/ping"): ping,
    ("POST", "/predict"): predict,
}


def create_app(model, settings=Settings()):
    """Build the WSGI callable around an already-loaded model."""

    def app(environ, start_response):
        try:
            response = _dispatch(environ, model, settings)
        except HTTPError as error:
            response = _error_response(error)
        except Exception:
            # The client learns only that it failed; the operator gets the traceback.
            environ["wsgi.errors"].write(traceback.format_exc())
            response = _error_response(HTTPError(500, "the server could not answer this request"))
        headers = [("Content-Type", response.content_type), ("Content-Length", str(len(response.body)))]
        start_response(f"{response.status} {HTTPStatus(response.status).phrase}", headers + list(response.headers))
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else response.body]

    return app


def _dispatch(environ, model, settings):
    path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
    allowed = sorted(route_method for route_method, route_path in ROUTES if route_path == path)
    if not allowed:
        raise HTTPError(404, f"no such endpoint: {path[:80]}; try GET /ping or POST /predict")
    if "GET" in allowed:
        allowed.append("HEAD")
    if method == "HEAD" and "GET" in allowed:
        method = "GET"
    if method not in allowed:
        raise HTTPError(405, f"{path} does not accept {method[:20]}", headers=[("Allow", ", ".join(allowed))])
    return ROUTES[(method, path)](environ, model, settings)


def _read_json(environ, max_body_bytes):
    length = _content_length(environ)
    if length > max_body_bytes:
        raise HTTPError(413, f"the body is {length} bytes; the limit is {max_body_bytes} bytes")
    body = environ["wsgi.input"].read(length) if length else b""
    if not body.strip():
        raise HTTPError(400, "the body is empty; send a customer as JSON")
    try:
        return json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise HTTPError(400, "the body is not valid UTF-8") from None
    except (ValueError, RecursionError) as error:
        raise HTTPError(400, f"the body is not valid JSON: {str(error)[:100]}") from None


def _content_length(environ):
    # PEP 3333: a missing or empty CONTENT_LENGTH means no body.
    text = environ.get("CONTENT_LENGTH", "") or "0"
    if not text.isdigit():
        raise HTTPError(400, f"invalid Content-Length: {text[:20]}")
    return int(text)


def _validate_one(payload, model):
    try:
        return validate_customer(payload, model.schema)
    except InvalidCustomer as invalid:
        raise HTTPError(422, str(invalid), errors=invalid.errors) from None


def _validate_batch(payloads, model):
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


def _result(probability, threshold):
    return {"churn_probability": probability, "churn": probability >= threshold}


def _json_response(status, document):
    return Response(status, JSON_CONTENT_TYPE, json.dumps(document).encode("utf-8"))


def _error_response(error):
    document = {"title": HTTPStatus(error.status).phrase, "status": error.status, "detail": error.detail}
    if error.errors:
        document["errors"] = error.errors
    body = json.dumps(document).encode("utf-8")
    return Response(error.status, PROBLEM_CONTENT_TYPE, body, tuple(error.headers))
