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
                        (churn/http/open_inference.py); its errors are {"error": …}.

The health checks, the page, its files and the model card need no API key: they hold no
customer's data and score nothing; the page asks for the key before it calls the API.

Every response carries X-Request-ID (churn/http/access_log.py). Every error is a JSON problem document
(RFC 9457, Content-Type application/problem+json):
    {"title": "Unprocessable Entity", "status": 422, "detail": "tenure: must not be negative, got -5",
     "errors": [{"field": "tenure", "message": "must not be negative, got -5"}]}
"errors" appears only for invalid customers; each entry also has the customer's "index" in a batch,
or its "line" in a file.
"""

import hmac
import time
import traceback

from churn import SERVICE_NAME
from churn.core.artifact import CARD_CHARTS, CARD_NAME
from churn.core.customer_files import InputError, JSONReader
from churn.core.explain import CANNOT_EXPLAIN, DEFAULT_TOP, parse_top
from churn.core.messages import echo
from churn.core.model import describe_model
from churn.core.prediction import prediction_columns
from churn.http.access_log import REQUEST_ID_HEADER, access_line, request_id
from churn.http.admission import Admission
from churn.http.config import Settings
from churn.http.customer_requests import (
    CustomerLimit,
    file_customers,
    input_error,
    json_body_customers,
    one_customer_response,
    scored,
    scores_response,
    validated,
)
from churn.http.open_inference import (
    BINARY_HEADER,
    ProtocolError,
    customers_of,
    inference_response,
    model_metadata,
    read_request,
    server_metadata,
)
from churn.http.openapi import openapi_document
from churn.http.static_files import STATIC_FILES, asset, file_response, page_response, static_assets
from churn.http.web import (
    CSV_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    JSON_LINES_CONTENT_TYPE,
    STATUS_LINES,
    TEXT_CONTENT_TYPE,
    HTTPError,
    Response,
    StreamedBody,
    body_text,
    error_response,
    is_large,
    json_response,
    media_type,
    preferred,
    query_parameters,
    read_json,
)

CARD_PATH = "/model/card"
V2 = "/v2"
_V2_MODELS = f"{V2}/models/"
HTML_CONTENT_TYPE = "text/html"
_VARY_ACCEPT = (("Vary", "Accept"),)
_ANSWER_TYPES = (JSON_CONTENT_TYPE, CSV_CONTENT_TYPE)


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
    accept = environ.get("HTTP_ACCEPT")
    as_csv = bool(accept) and "csv" in accept and preferred(accept, _ANSWER_TYPES) == CSV_CONTENT_TYPE
    # No Vary: answers to POST are not cached without freshness, which these never carry.
    if kind == JSON_CONTENT_TYPE:
        customers, one = json_body_customers(environ, model, settings, explain_top)
        if one is not None:
            return one_customer_response(model, one, explain_top, as_csv)
    elif kind in (CSV_CONTENT_TYPE, JSON_LINES_CONTENT_TYPE):
        customers = file_customers(kind, environ, model, settings, explain_top)
    else:
        raise _unsupported_media_type(environ)
    return scores_response(model, customers, explain_top, as_csv)


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
    try:
        request, columns = _inference_request(environ, model, settings)
        raw, outputs = customers_of(request, model.schema, settings.max_batch, columns)
    except ProtocolError as error:
        raise HTTPError(400, str(error)) from None
    limit = CustomerLimit("request", settings.max_batch)
    probabilities = validated(enumerate(raw), model, "row", limit, lambda customer: scored(model, customer)[1])
    columns = prediction_columns(model, probabilities)
    return json_response(200, inference_response(model.name, model.version, columns, outputs, request.get("id")))


def _inference_request(environ, model, settings):
    """The inference request, and its inputs as columns when it was large and read a tensor at a time."""
    if not is_large(environ):
        return read_json(environ, settings.max_body_bytes), None
    reader = JSONReader(body_text(environ, settings.max_body_bytes))
    try:
        return read_request(reader, model.schema, settings.max_batch)
    except InputError as error:
        raise input_error(error) from None


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
    admission = Admission(settings.large_requests, settings.large_requests_waiting, settings.large_request_wait_seconds)

    def app(environ, start_response):
        started = time.perf_counter() if settings.access_log else None
        request = request_id(environ)
        response, release = _respond(environ, model, settings, admission)
        start_response(STATUS_LINES[response.status], _headers(response, request))

        def sent(size):
            release()
            if settings.access_log is not None:
                settings.access_log(access_line(environ, response.status, size, started, request))

        if type(response.body) is not bytes:
            return StreamedBody(response.body, sent)
        body = b"" if environ["REQUEST_METHOD"] == "HEAD" else response.body
        sent(len(body))
        return [body]

    return app


def _headers(response, request):
    """The response's headers: its type and length, unless it is a 304 (RFC 9110, 15.4.5: it has no
    body) or streamed (the server frames it, chunked); the request's id; the handler's own."""
    headers = [(REQUEST_ID_HEADER, request), *response.headers]
    if response.status == 304:
        return headers
    if isinstance(response.body, bytes):
        return [("Content-Type", response.content_type), ("Content-Length", str(len(response.body))), *headers]
    return [("Content-Type", response.content_type), *headers]


def _respond(environ, model, settings, admission):
    """The response, and the function to call once it is sent: it gives back a large request's place."""
    try:
        handler = _handler(environ, model, settings)
        if not is_large(environ):
            return handler(environ, model, settings), _nothing
        release = admission.enter()
        try:
            return handler(environ, model, settings), release
        except BaseException:
            release()
            raise
    except HTTPError as error:
        return _error_response(environ, error), _nothing
    except Exception:
        # The client learns only that it failed; the operator gets the traceback.
        environ["wsgi.errors"].write(traceback.format_exc())
        return _error_response(environ, HTTPError(500, "the server could not answer this request")), _nothing


def _nothing():
    pass


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


def _handler(environ, model, settings):
    """The handler of the request's route; 401, 404 or 405 when there is none for this client."""
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
    return handler


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
    key = (query, len(model.schema.fields), model.explainer is not None)
    top = _EXPLAIN_TOPS.get(key, _NOT_READ)
    if top is _NOT_READ:
        top = _read_explain_top(query, model)
        if len(_EXPLAIN_TOPS) < _REMEMBERED_QUERIES:  # callers send the same few queries
            _EXPLAIN_TOPS[key] = top
    return top


_EXPLAIN_TOPS, _NOT_READ, _REMEMBERED_QUERIES = {}, object(), 256


def _read_explain_top(query, model):
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


def _unsupported_media_type(environ):
    sent = echo(environ.get("CONTENT_TYPE", "")) or "none"
    return HTTPError(
        415,
        "send the body as JSON with 'Content-Type: application/json', or a file of customers as "
        f"{CSV_CONTENT_TYPE} or {JSON_LINES_CONTENT_TYPE} (got {sent})",
    )
