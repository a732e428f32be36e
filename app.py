"""The churn prediction service: a hand-written WSGI application (standard library only).

Endpoints:
    GET  /              a browser (Accept prefers text/html) gets the page: one customer, a whole
                        file, and why; anything else a short JSON index of the service and its routes.
    GET  /ping          200 "PONG" (text/plain): the health check, never behind the API key.
    POST /predict       a customer (JSON object) -> {"churn_probability": float, "churn": bool},
                        plus "customerid" when the customer has one; a batch (JSON array of
                        customers), or a file of them (text/csv, or JSON lines as application/x-ndjson)
                        -> an array of those results, in the same order; as CSV or JSON lines with
                        Accept: text/csv or application/x-ndjson.
                        ?explain=true adds each customer's exact explanation (&top=N or all).
    GET  /model         what model is deployed: version, provenance, test AUC, threshold, inputs.
    GET  /openapi.json  the OpenAPI 3.1 description of these endpoints, built from the model.
    GET  /static/…      the page's script and style.
    GET  /model/card/…  the model card as a page (MODEL_CARD.html), and as train.py wrote it
                        (MODEL_CARD.md) with its charts (SVG).
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
from churn.core.explain import DEFAULT_TOP, ExplainRequestError, requested_top
from churn.core.messages import echo
from churn.core.model import describe_model
from churn.core.output_formats import (
    CSV_MEDIA_TYPE,
    FORMAT_FOR_MEDIA_TYPE,
    JSON_LINES_MEDIA_TYPE,
    JSON_MEDIA_TYPE,
    OUTPUT_FORMATS,
)
from churn.core.prediction import DECISION, PROBABILITY, churns, prediction_columns
from churn.core.prediction_log import NOT_LOGGED
from churn.core.schema import ID_FIELD
from churn.http import openapi, openapi_v2
from churn.http.access_log import REQUEST_ID_HEADER, access_line, request_id
from churn.http.admission import Admission
from churn.http.card_page import CARD_PAGE_NAME, card_page
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
from churn.http.metrics import EXPOSITION_CONTENT_TYPE, NOT_COUNTED, Metrics
from churn.http.open_inference import (
    BINARY_HEADER,
    INFERENCE_REQUEST,
    ProtocolError,
    customers_of,
    inference_response,
    model_metadata,
    read_request,
    server_metadata,
)
from churn.http.openapi import openapi_document
from churn.http.routing import V2, V2_MODEL, V2_VERSION, Route, Router
from churn.http.static_files import (
    STATIC_FILES,
    asset,
    file_response,
    html_response,
    page_response,
    static_assets,
)
from churn.http.web import (
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
METRICS_KEY = "churn.metrics"  # the Recorder that counts a request in the instance's metrics, in its environ
REQUEST_ID_KEY = "churn.request_id"  # the request's id (X-Request-ID), in its environ
NO_REFERENCE = (
    "this model has no reference distributions to watch its inputs against (an older artifact, or the "
    "book's pickle); retrain it with train.py, which writes them into the artifact"
)
HTML_CONTENT_TYPE = "text/html"
_VARY_ACCEPT = (("Vary", "Accept"),)
_ANSWER_TYPES = tuple(output.media_type for output in OUTPUT_FORMATS)
_JSON_ANSWER = OUTPUT_FORMATS[0]


# The handlers: (environ, model, settings) -> Response. What each answers is its row in ROUTES.


def index(environ, model, settings):
    if _wants_page(environ):
        return page_response(environ, _VARY_ACCEPT)
    routes = {f"{route.method} {route.path}": route.summary for route in ROUTES}
    document = {"service": SERVICE_NAME, "model_version": model.version, "routes": routes}
    return json_response(200, document, _VARY_ACCEPT)


def ping(environ, model, settings):
    return Response(200, TEXT_CONTENT_TYPE, b"PONG")


def predict(environ, model, settings):
    explain_top = _explain_top(environ.get("QUERY_STRING"), model)
    sent_as = media_type(environ)
    accept = environ.get("HTTP_ACCEPT")
    # Most callers send no Accept, or */*: they pay for no negotiation.
    answer_format = _answer_format(accept) if accept and accept != "*/*" else _JSON_ANSWER
    # No Vary: answers to POST are not cached without freshness, which these never carry.
    if sent_as == JSON_MEDIA_TYPE:
        counts, lines = _counts(environ, "json"), _lines(environ, settings, "json")
        customers, one = json_body_customers(environ, model, settings, explain_top, counts, lines)
        if one is not None:
            return one_customer_response(model, one, explain_top, answer_format, counts, lines)
    elif sent_as in (CSV_MEDIA_TYPE, JSON_LINES_MEDIA_TYPE):
        counts, lines = _counts(environ, "file"), _lines(environ, settings, "file")
        customers = file_customers(sent_as, environ, model, settings, explain_top, counts, lines)
    else:
        raise _unsupported_media_type(environ)
    lines.write()  # every customer is valid: each will be answered
    return scores_response(model, customers, explain_top, answer_format, counts)


def _counts(environ, interface):
    """What counts this request's customers: the instance's metrics for `interface`, or nothing."""
    recorder = environ.get(METRICS_KEY)
    return NOT_COUNTED if recorder is None else recorder.interfaces[interface]


def _lines(environ, settings, interface):
    """Where this request notes its scored customers for the prediction log (RequestLines), or nowhere."""
    log = settings.prediction_log
    return NOT_LOGGED if log is None else log.request(interface, environ[REQUEST_ID_KEY])


def _answer_format(accept):
    """The OutputFormat the Accept header prefers (JSON when it prefers none of them)."""
    return FORMAT_FOR_MEDIA_TYPE[preferred(accept, _ANSWER_TYPES)]


def metrics_text(environ, model, settings):
    recorder = environ.get(METRICS_KEY)
    if recorder is None:
        raise HTTPError(404, "metrics are off (METRICS=off)")
    return Response(200, EXPOSITION_CONTENT_TYPE, recorder.metrics.exposition())


def model_monitoring(environ, model, settings):
    recorder = environ.get(METRICS_KEY)
    if recorder is None:
        raise HTTPError(404, "metrics are off (METRICS=off): nothing is counted to watch")
    watched = recorder.metrics.monitoring()
    if watched is None:
        return json_response(200, {"model_version": model.version, "reference": False, "detail": NO_REFERENCE})
    return json_response(200, {"model_version": model.version, "reference": True, **watched})


def model_info(environ, model, settings):
    return json_response(200, describe_model(model))


def openapi_json(environ, model, settings):
    document = openapi_document(model, ROUTES, settings.max_batch, settings.api_key is not None)
    return json_response(200, document)


def v2_live(environ, model, settings):
    return json_response(200, {"live": True})


def v2_ready(environ, model, settings):
    # The app exists only around a loaded, checked model: anything that reaches it may be scored.
    return json_response(200, {"ready": True})


def v2_server_metadata(environ, model, settings):
    return json_response(200, server_metadata())


def v2_model_metadata(environ, model, settings):
    return json_response(200, model_metadata(model.name, model.version, model.schema))


def v2_model_ready(environ, model, settings):
    return json_response(200, {"name": model.name, "ready": True})


def v2_infer(environ, model, settings):
    if environ.get(BINARY_HEADER) is not None:
        raise HTTPError(400, "the binary tensor data extension is not supported: send the tensors as JSON")
    # The protocol's body is JSON whatever Content-Type says: tritonclient sends none, curl -d a form's.
    try:
        request, columns = _inference_request(environ, model, settings)
        raw, outputs = customers_of(request, model.schema, settings.max_batch, columns)
    except ProtocolError as error:
        raise HTTPError(400, str(error)) from None
    limit = CustomerLimit("request", settings.max_batch)
    counts, lines = _counts(environ, "v2"), _lines(environ, settings, "v2")
    probabilities = validated(enumerate(raw), model, "row", limit, _scored_noted(model, counts, lines), counts)
    lines.write()
    columns = prediction_columns(model, probabilities)
    counts.scored(columns[PROBABILITY], columns[DECISION])
    return json_response(200, inference_response(model.name, model.version, columns, outputs, request.get("id")))


def _scored_noted(model, counts, lines):
    """raw customer -> its probability, its inputs counted and its score noted in `lines`."""

    def probability(raw):
        customer, churn_probability = scored(model, raw)
        counts.inputs(customer)
        lines.add(customer, churn_probability, churns(model, churn_probability))
        return churn_probability

    return probability


def _inference_request(environ, model, settings):
    """The inference request, and its inputs as columns when it was large and read a tensor at a time."""
    if not is_large(environ):
        return read_json(environ, settings.max_body_bytes, INFERENCE_REQUEST), None
    reader = JSONReader(body_text(environ, settings.max_body_bytes))
    try:
        return read_request(reader, model.schema, settings.max_batch)
    except InputError as error:
        raise input_error(error) from None


def static_file(environ, model, settings):
    return file_response(environ, static_assets()[STATIC_FILES[environ["PATH_INFO"]]])


def model_card_page(environ, model, settings):
    if not model.card:
        raise HTTPError(404, f"this model has no card beside it; train.py writes {CARD_NAME} and its charts")
    return html_response(environ, asset(CARD_PAGE_NAME, card_page(model.card[CARD_NAME])))


def model_card_file(environ, model, settings):
    name = environ["PATH_INFO"].rpartition("/")[2]
    if not model.card or name not in model.card:
        raise HTTPError(404, f"this model has no {name} beside it; train.py writes the card and its charts")
    return file_response(environ, asset(name, model.card[name]))


# The routing table: the / index, /openapi.json and the API key check are built from its rows.
# needs_key=_PUBLIC: answered without the API key. The health checks, which platforms call without one,
# and the page's files and the model card, which hold no customer's data and score nothing.
_PUBLIC = False


def _not_for_the_page(environ):
    """The index needs the key, but the page (/ for a browser) does not: it asks for the key itself."""
    return not _wants_page(environ)


ROUTES = (
    Route("GET", "/", index, "An index of the service: its model version and routes; a browser gets the page instead.",
          openapi.INDEX, needs_key=_not_for_the_page),
    Route("GET", "/ping", ping, "Health check: answers PONG.", openapi.PING, needs_key=_PUBLIC),
    Route("POST", "/predict", predict,
          "Score a customer (JSON object), a batch (JSON array) or a file (CSV, JSON lines); ?explain=true says why.",
          openapi.PREDICT),
    Route("GET", "/metrics", metrics_text,
          "The instance's counts, every worker's summed, in the Prometheus text exposition format.", openapi.METRICS),
    Route("GET", "/model/monitoring", model_monitoring,
          "The model's inputs and score against its training data: each feature's PSI over the last hour.",
          openapi.MODEL_MONITORING),
    Route("GET", "/model", model_info,
          "The deployed model: version, training date and rows, test AUC, threshold, features.", openapi.MODEL_INFO),
    Route("GET", "/openapi.json", openapi_json,
          "The OpenAPI 3.1 document of this service, with the model's fields and allowed values.", openapi.OPENAPI),
    *(Route("GET", path, static_file, "A file of the page: its script, style or icon.", openapi.STATIC_FILE,
            needs_key=_PUBLIC) for path in STATIC_FILES),
    Route("GET", f"{CARD_PATH}/{CARD_PAGE_NAME}", model_card_page,
          "The model card as a page to read, with its charts: data, quality, intended use and limits.",
          openapi.MODEL_CARD_PAGE, needs_key=_PUBLIC),
    *(Route("GET", f"{CARD_PATH}/{name}", model_card_file,
            "The model card (Markdown) or one of its charts (SVG), as train.py wrote them beside the model.",
            openapi.MODEL_CARD_FILE, needs_key=_PUBLIC) for name in (CARD_NAME, *CARD_CHARTS)),
    Route("GET", f"{V2}/health/live", v2_live, "Open Inference Protocol: the server is live (a liveness probe).",
          openapi_v2.LIVE, needs_key=_PUBLIC),
    Route("GET", f"{V2}/health/ready", v2_ready,
          "Open Inference Protocol: the server is ready: its model is loaded and checked (a readiness probe).",
          openapi_v2.READY, needs_key=_PUBLIC),
    Route("GET", V2, v2_server_metadata, "Open Inference Protocol: the server's name, version and extensions (none).",
          openapi_v2.SERVER_METADATA),
    *(Route("GET", base, v2_model_metadata,
            "Open Inference Protocol: the model's name, version, inputs (one per field) and outputs.",
            openapi_v2.MODEL_METADATA) for base in (V2_MODEL, V2_VERSION)),
    *(Route("GET", f"{base}/ready", v2_model_ready, "Open Inference Protocol: the model is ready.",
            openapi_v2.MODEL_READY) for base in (V2_MODEL, V2_VERSION)),
    *(Route("POST", f"{base}/infer", v2_infer,
            "Open Inference Protocol: score the customers of a columnar request, exactly as /predict does.",
            openapi_v2.INFER) for base in (V2_MODEL, V2_VERSION)),
)  # fmt: skip
_ROUTER = Router(ROUTES)


def create_app(model, settings=None):
    """Build the WSGI callable around an already-loaded model (and Settings, else the defaults). Its
    `metrics` (None when they are off) are made here: under gunicorn, in the master, before the
    workers are forked, so that they all count in one table."""
    settings = settings or Settings()
    static_assets()  # read the page's files now: a missing one stops the start, not a request
    admission = Admission(settings.large_requests, settings.large_requests_waiting, settings.large_request_wait_seconds)
    metrics = _metrics(model) if settings.metrics else None
    timed = settings.access_log is not None or metrics is not None

    def app(environ, start_response):
        started = time.perf_counter() if timed else None
        environ[REQUEST_ID_KEY] = request = request_id(environ)
        if metrics is not None:
            environ[METRICS_KEY] = recorder = metrics.started()
        response, release, route = _respond(environ, model, settings, admission)
        start_response(STATUS_LINES[response.status], _headers(response, request))

        def sent(size):
            release()
            if settings.access_log is not None:
                settings.access_log(access_line(environ, response.status, size, started, request))
            if metrics is not None:
                path = route and route.path
                recorder.finished(path, environ["REQUEST_METHOD"], response.status, started, time.perf_counter())

        if type(response.body) is not bytes:
            return StreamedBody(response.body, sent)
        body = b"" if environ["REQUEST_METHOD"] == "HEAD" else response.body
        sent(len(body))
        return [body]

    app.metrics = metrics
    return app


def _metrics(model):
    """The instance's Metrics: its routes, the model's fields (for invalid ones), what model it serves."""
    info = {"name": model.name, "version": model.version, "trained_at": model.metadata.get("trained_at") or "",
            "threshold": model.threshold}  # fmt: skip
    return Metrics((route.path for route in ROUTES), (*model.schema.fields, ID_FIELD), info, model.reference)


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
    """The response, the function to call once it is sent (it gives back a large request's place), and
    the request's Route (None when it matched none)."""
    route = None
    try:
        route = _route(environ, model, settings)
        if not is_large(environ):
            return route.handler(environ, model, settings), _nothing, route
        release = admission.enter()
        try:
            return route.handler(environ, model, settings), release, route
        except BaseException:
            release()
            raise
    except HTTPError as error:
        if error.status == 503 and METRICS_KEY in environ:
            environ[METRICS_KEY].shed()
        return _error_response(environ, error), _nothing, route
    except Exception:
        # The client learns only that it failed; the operator gets the traceback.
        environ["wsgi.errors"].write(traceback.format_exc())
        return _error_response(environ, HTTPError(500, "the server could not answer this request")), _nothing, route


def _nothing():
    pass


def _error_response(environ, error):
    """A problem document, or on the inference protocol's paths its own {"error": …}."""
    path = environ.get("PATH_INFO", "")
    if path == V2 or path.startswith(f"{V2}/"):
        status = 400 if error.status == 422 else error.status  # the protocol says 400 for a bad request
        return json_response(status, {"error": error.detail}, error.headers)
    return error_response(error)


def _route(environ, model, settings):
    """The request's Route; 401, 404 or 405 when there is none for this client."""
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    route, missing = _ROUTER.exact.get((method, path)), None
    if route is None:
        route, missing = _ROUTER.find(method, path, model)
    # The key first: without it, a client learns nothing, not even which paths or models exist.
    if settings.api_key is not None and (route is None or route.needs_key_for(environ)):
        _authorize(environ, settings.api_key)
    if route is None:
        raise missing
    return route


def _wants_page(environ):
    return preferred(environ.get("HTTP_ACCEPT"), (JSON_MEDIA_TYPE, HTML_CONTENT_TYPE)) == HTML_CONTENT_TYPE


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
    try:
        return requested_top(parameters.get("explain", "false"), parameters.get("top", str(DEFAULT_TOP)), model)
    except ExplainRequestError as error:
        raise HTTPError(400, str(error)) from None


def _unsupported_media_type(environ):
    sent = echo(environ.get("CONTENT_TYPE", "")) or "none"
    return HTTPError(
        415,
        "send the body as JSON with 'Content-Type: application/json', or a file of customers as "
        f"{CSV_MEDIA_TYPE} or {JSON_LINES_MEDIA_TYPE} (got {sent})",
    )
