"""The churn prediction service: a hand-written WSGI application (standard library only).

Endpoints:
    GET  /              a browser (Accept prefers text/html) gets the page: one customer, a whole
                        file, and why; anything else a short JSON index of the service and its routes.
    GET  /ping          200 "PONG" (text/plain): the health check, never behind the API key.
    POST /predict       a customer (JSON object) -> {"churn_probability": float, "churn": bool},
                        plus "customerid" when the customer has one; a batch (JSON array of
                        customers), or a file of them (text/csv, or JSON lines as application/x-ndjson)
                        -> an array of those results, in the same order; as CSV with Accept: text/csv.
                        ?explain=true adds each customer's exact explanation (&top=N or all).
    GET  /model         what model is deployed: version, provenance, test AUC, threshold, inputs.
    GET  /openapi.json  the OpenAPI 3.1 description of these endpoints, built from the model.
    GET  /static/…      the page's script and style.
    GET  /model/card/…  the model card (MODEL_CARD.md) and its charts (SVG), as train.py wrote them.
    GET  /v2/health/live, /v2/health/ready, /v2, /v2/models/<name>[/versions/<version>][/ready]
    POST /v2/models/<name>[/versions/<version>]/infer
                        the Open Inference Protocol (KServe's V2) for the same model and customers
                        (churn/open_inference.py); its errors are {"error": …}.

The health checks, the page, its files and the model card need no API key: they hold no
customer's data and score nothing; the page asks for the key before it calls the API.

Every response carries X-Request-ID (churn/access_log.py). Every error is a JSON problem document
(RFC 9457, Content-Type application/problem+json):
    {"title": "Unprocessable Entity", "status": 422, "detail": "tenure: must not be negative, got -5",
     "errors": [{"field": "tenure", "message": "must not be negative, got -5"}]}
"errors" appears only for invalid customers; each entry also has the customer's "index" in a batch,
or its "line" in a file.
"""

import hmac
import io
import itertools
import time
import traceback

from churn import SERVICE_NAME
from churn.access_log import REQUEST_ID_HEADER, access_line, request_id
from churn.artifact import CARD_CHARTS, CARD_NAME
from churn.config import Settings
from churn.customer_files import CSVWriter, InputError, csv_customers, json_customers
from churn.explain import CANNOT_EXPLAIN, DEFAULT_TOP, parse_top
from churn.model import describe_model
from churn.open_inference import (
    BINARY_HEADER,
    ProtocolError,
    customers_of,
    inference_response,
    model_metadata,
    server_metadata,
)
from churn.openapi import openapi_document
from churn.page import STATIC_FILES, asset, file_response, page_response, static_assets
from churn.results import predictions
from churn.schema import InvalidCustomer, describe, validate_customer
from churn.text import echo
from churn.web import (
    CSV_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    JSON_LINES_CONTENT_TYPE,
    STATUS_LINES,
    TEXT_CONTENT_TYPE,
    HTTPError,
    Response,
    decode_utf8,
    error_response,
    json_response,
    media_type,
    preferred,
    query_parameters,
    read_body,
    read_json,
)

MAX_REPORTED_ERRORS = 20
CARD_PATH = "/model/card"
V2 = "/v2"
_V2_MODELS = f"{V2}/models/"
HTML_CONTENT_TYPE = "text/html"
_POSITIONS = {"index": "customer", "line": "line", "row": "row"}  # where an invalid customer is -> its name
_VARY_ACCEPT = (("Vary", "Accept"),)


def index(environ, model, settings):
    """An index of the service: its model version and routes; a browser gets the page instead."""
    if _wants_page(environ):
        return page_response(environ, _VARY_ACCEPT)
    routes = {f"{method} {path}": handler.__doc__.splitlines()[0] for (method, path), handler in ROUTES.items()}
    document = {"service": SERVICE_NAME, "model_version": model.version, "routes": routes}
    return json_response(200, document, _VARY_ACCEPT)


def ping(environ, model, settings):
    """Health check: answers PONG."""
    return Response(200, TEXT_CONTENT_TYPE, b"PONG")


def predict(environ, model, settings):
    """Score a customer (JSON object), a batch (JSON array) or a file (CSV, JSON lines); ?explain=true says why."""
    explain_top = _explain_top(environ.get("QUERY_STRING"), model)
    kind = media_type(environ)
    if kind == JSON_CONTENT_TYPE:
        payload = read_json(environ, settings.max_body_bytes)
        if type(payload) is dict:
            scores = predictions(model, [_validate_one(payload, model)], explain_top)[0]
        else:
            scores = predictions(model, _validate_batch(payload, model, settings.max_batch), explain_top)
    elif kind in (CSV_CONTENT_TYPE, JSON_LINES_CONTENT_TYPE):
        scores = predictions(model, _validate_file(kind, environ, model, settings), explain_top)
    else:
        raise _unsupported_media_type(environ)
    accept = environ.get("HTTP_ACCEPT")
    if accept and "csv" in accept and preferred(accept, (JSON_CONTENT_TYPE, CSV_CONTENT_TYPE)) == CSV_CONTENT_TYPE:
        return _csv_response(scores, explain_top)
    # No Vary: answers to POST are not cached without freshness, which these never carry.
    return json_response(200, scores)


def model_info(environ, model, settings):
    """The deployed model: version, training date and rows, test AUC, threshold, features."""
    return json_response(200, describe_model(model))


def openapi(environ, model, settings):
    """The OpenAPI 3.1 document of this service, with the model's fields and allowed values."""
    document = openapi_document(model, ROUTES, OPEN_PATHS, settings.max_batch, settings.api_key is not None)
    return json_response(200, document)


def v2_live(environ, model, settings):
    """Open Inference Protocol: the server is live (a liveness probe)."""
    return json_response(200, {"live": True})


def v2_ready(environ, model, settings):
    """Open Inference Protocol: the server is ready: its model is loaded and checked (a readiness probe)."""
    # The app exists only around a loaded, checked model: anything that reaches it may be scored.
    return json_response(200, {"ready": True})


def v2_server_metadata(environ, model, settings):
    """Open Inference Protocol: the server's name, version and extensions (none)."""
    return json_response(200, server_metadata())


def v2_model_metadata(environ, model, settings):
    """Open Inference Protocol: the model's name, version, inputs (one per field) and outputs."""
    return json_response(200, model_metadata(model.name, model.version, model.schema))


def v2_model_ready(environ, model, settings):
    """Open Inference Protocol: the model is ready."""
    return json_response(200, {"name": model.name, "ready": True})


def v2_infer(environ, model, settings):
    """Open Inference Protocol: score the customers of a columnar request, exactly as /predict does."""
    if environ.get(BINARY_HEADER) is not None:
        raise HTTPError(400, "the binary tensor data extension is not supported: send the tensors as JSON")
    # The protocol's body is JSON whatever Content-Type says: tritonclient sends none, curl -d a form's.
    request = read_json(environ, settings.max_body_bytes)
    try:
        raw, outputs = customers_of(request, model.schema, settings.max_batch)
    except ProtocolError as error:
        raise HTTPError(400, str(error)) from None
    results = predictions(model, _validate_all(enumerate(raw), model, "row"))
    return json_response(200, inference_response(model.name, model.version, results, outputs, request.get("id")))


def static_file(environ, model, settings):
    """A file of the page: its script, style or icon."""
    return file_response(environ, static_assets()[STATIC_FILES[environ["PATH_INFO"]]])


def model_card_file(environ, model, settings):
    """The model card (Markdown) or one of its charts (SVG), as train.py wrote them beside the model."""
    name = environ["PATH_INFO"].rpartition("/")[2]
    if not model.card or name not in model.card:
        raise HTTPError(404, f"this model has no {name} beside it; train.py writes the card and its charts")
    return file_response(environ, asset(name, model.card[name]))


# The Open Inference Protocol's paths of the served model, by its name and, optionally, version: a
# request's path is matched with the model's own name and version in their place (_route).
V2_MODEL, V2_VERSION = f"{V2}/models/{{model}}", f"{V2}/models/{{model}}/versions/{{version}}"
ROUTES = {
    ("GET", "/"): index,
    ("GET", "/ping"): ping,
    ("POST", "/predict"): predict,
    ("GET", "/model"): model_info,
    ("GET", "/openapi.json"): openapi,
    **{("GET", path): static_file for path in STATIC_FILES},
    **{("GET", f"{CARD_PATH}/{name}"): model_card_file for name in (CARD_NAME, *CARD_CHARTS)},
    ("GET", f"{V2}/health/live"): v2_live,
    ("GET", f"{V2}/health/ready"): v2_ready,
    ("GET", V2): v2_server_metadata,
    **{("GET", base): v2_model_metadata for base in (V2_MODEL, V2_VERSION)},
    **{("GET", f"{base}/ready"): v2_model_ready for base in (V2_MODEL, V2_VERSION)},
    **{("POST", f"{base}/infer"): v2_infer for base in (V2_MODEL, V2_VERSION)},
}
# Open to anyone: the health checks, which platforms call without a key, and the page's files and the
# model card (the page itself is GET / for a browser: see _is_open).
OPEN_PATHS = frozenset(
    {"/ping", f"{V2}/health/live", f"{V2}/health/ready", *STATIC_FILES}
    | {path for _, path in ROUTES if path.startswith(CARD_PATH)}
)


def create_app(model, settings=None):
    """Build the WSGI callable around an already-loaded model (and Settings, else the defaults)."""
    settings = settings or Settings()
    static_assets()  # read the page's files now: a missing one stops the start, not a request

    def app(environ, start_response):
        started = time.perf_counter() if settings.access_log else None
        request = request_id(environ)
        response = _respond(environ, model, settings)
        if response.status == 304:  # no body, so neither its type nor its length (RFC 9110, 15.4.5)
            headers = [(REQUEST_ID_HEADER, request), *response.headers]
        else:
            headers = [
                ("Content-Type", response.content_type),
                ("Content-Length", str(len(response.body))),
                (REQUEST_ID_HEADER, request),
                *response.headers,
            ]
        start_response(STATUS_LINES[response.status], headers)
        body = b"" if environ["REQUEST_METHOD"] == "HEAD" else response.body
        if settings.access_log is not None:
            settings.access_log(access_line(environ, response.status, len(body), started, request))
        return [body]

    return app


def _respond(environ, model, settings):
    try:
        return _dispatch(environ, model, settings)
    except HTTPError as error:
        return _error_response(environ, error)
    except Exception:
        # The client learns only that it failed; the operator gets the traceback.
        environ["wsgi.errors"].write(traceback.format_exc())
        return _error_response(environ, HTTPError(500, "the server could not answer this request"))


def _error_response(environ, error):
    """A problem document, or on the inference protocol's paths its own {"error": …}."""
    path = environ.get("PATH_INFO", "")
    if path == V2 or path.startswith(f"{V2}/"):
        status = 400 if error.status == 422 else error.status  # the protocol says 400 for a bad request
        return json_response(status, {"error": error.detail}, error.headers)
    return error_response(error)


def _allowed_methods(routes):
    """path -> the methods it answers, HEAD wherever GET is."""
    allowed = {}
    for method, path in routes:
        allowed.setdefault(path, []).extend([method, "HEAD"] if method == "GET" else [method])
    return {path: sorted(methods) for path, methods in allowed.items()}


_ALLOWED_METHODS = _allowed_methods(ROUTES)
# The routes by their paths as requested, and those that name the model (a {placeholder}) by template.
_EXACT_ROUTES = {route: handler for route, handler in ROUTES.items() if "{" not in route[1]}
_TEMPLATE_ROUTES = {route: handler for route, handler in ROUTES.items() if "{" in route[1]}


def _dispatch(environ, model, settings):
    path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
    # The key first: without it, a client learns nothing, not even which paths or models exist.
    if settings.api_key is not None and not _is_open(environ, path):
        _authorize(environ, settings.api_key)
    method_route = "GET" if method == "HEAD" else method
    handler, route = _EXACT_ROUTES.get((method_route, path)), path
    if handler is None and path.startswith(_V2_MODELS):  # after the exact routes: /predict pays nothing
        route = _route(path, model)
        handler = _TEMPLATE_ROUTES.get((method_route, route))
    if handler is None:
        allowed = _ALLOWED_METHODS.get(route)
        if allowed is None:
            raise HTTPError(404, f"no such endpoint: {echo(path)}; see GET /openapi.json")
        raise HTTPError(405, f"{path} does not accept {echo(method)}", headers=[("Allow", ", ".join(allowed))])
    return handler(environ, model, settings)


def _route(path, model):
    """The route of an inference protocol path: the model's name and version in it replaced by their
    placeholders; 404 for another model or version."""
    parts = path.split("/")  # "", "v2", "models", name, ["versions", version,] …
    if parts[3] != model.name:
        raise HTTPError(404, f"no model {echo(parts[3])} here; this server serves {model.name}")
    parts[3] = "{model}"
    if len(parts) > 5 and parts[4] == "versions":
        if parts[5] != model.version:
            raise HTTPError(404, f"model {model.name} has no version {echo(parts[5])}; it serves {model.version}")
        parts[5] = "{version}"
    return "/".join(parts)


def _is_open(environ, path):
    return path in OPEN_PATHS or (path == "/" and _wants_page(environ))


def _wants_page(environ):
    return preferred(environ.get("HTTP_ACCEPT"), (JSON_CONTENT_TYPE, HTML_CONTENT_TYPE)) == HTML_CONTENT_TYPE


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
    parameters = query_parameters(query)
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


def _validate_one(payload, model):
    try:
        return validate_customer(payload, model.schema)
    except InvalidCustomer as invalid:
        raise HTTPError(422, str(invalid), errors=invalid.errors) from None


def _validate_batch(payload, model, max_batch):
    if not isinstance(payload, list):
        raise HTTPError(400, "the body must be a customer (JSON object) or a list of customers (JSON array)")
    if len(payload) > max_batch:
        raise HTTPError(422, f"the batch has {len(payload)} customers; the limit is {max_batch} per request")
    return _validate_all(enumerate(payload), model, "index")


def _validate_file(kind, environ, model, settings):
    """The customers of a file in the body, read as predict.py reads them, each named by its line."""
    text = decode_utf8(read_body(environ, settings.max_body_bytes))
    if not text.strip():
        raise HTTPError(400, "the body is empty; send customers as CSV with a header row, or as JSON lines")
    stream = io.StringIO(text, newline="")
    rows = csv_customers(stream, model.schema.fields) if kind == CSV_CONTENT_TYPE else json_customers(stream, False)
    try:
        rows = list(itertools.islice(rows, settings.max_batch + 1))
    except InputError as error:
        raise HTTPError(400, str(error)) from None
    if len(rows) > settings.max_batch:
        limit = settings.max_batch
        raise HTTPError(422, f"the file has more than {limit} customers; the limit is {limit} per request")
    return _validate_all(rows, model, "line")


def _validate_all(rows, model, position):
    """Every (position, raw customer) of `rows` validated; one invalid refuses them all, naming each."""
    customers, errors = [], []
    for where, raw in rows:
        try:
            customers.append(validate_customer(raw, model.schema))
        except InvalidCustomer as invalid:
            errors.extend({position: where, **error} for error in invalid.errors)
    if errors:
        raise _unprocessable(errors, position)
    return customers


def _unprocessable(errors, position):
    shown = errors[:MAX_REPORTED_ERRORS]
    by_customer = itertools.groupby(shown, key=lambda error: error[position])
    detail = "; ".join(f"{_POSITIONS[position]} {where}: {describe(list(group))}" for where, group in by_customer)
    if len(errors) > len(shown):
        detail += f"; and {len(errors) - len(shown)} more errors"
    return HTTPError(422, detail, errors=shown)


def _unsupported_media_type(environ):
    sent = echo(environ.get("CONTENT_TYPE", "")) or "none"
    return HTTPError(
        415,
        "send the body as JSON with 'Content-Type: application/json', or a file of customers as "
        f"{CSV_CONTENT_TYPE} or {JSON_LINES_CONTENT_TYPE} (got {sent})",
    )


def _csv_response(scores, explain_top):
    """The scores (one, or a list) as CSV: predict.py's columns."""
    out = io.StringIO()
    writer = CSVWriter(out, explain_top)
    for score in scores if isinstance(scores, list) else [scores]:
        writer.write(score)
    return Response(200, f"{CSV_CONTENT_TYPE}; charset=utf-8", out.getvalue().encode("utf-8"))
