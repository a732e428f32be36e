"""The service's endpoints: a handler each, and the routing table (ROUTES) that names it, its summary,
its OpenAPI operation and whether it needs the API key. The / index, /openapi.json and the key check
are all built from these rows: a new endpoint is a handler and a row here, and its operation in
churn/http/openapi.py. app.py's docstring lists what each answers.

A handler takes the Request (churn.http.application) and returns a Response (churn.http.web), or
raises HTTPError. POST /predict's is churn/http/customers.py's, with the customers it reads. Standard
library only.
"""

from churn import SERVICE_NAME
from churn.core.artifact import CARD_CHARTS, CARD_NAME
from churn.core.customer_files import InputError
from churn.core.model import describe_model
from churn.core.output_formats import JSON_MEDIA_TYPE
from churn.core.prediction import DECISION, PROBABILITY
from churn.http import openapi, openapi_v2
from churn.http.card_page import CARD_PAGE_NAME, card_page
from churn.http.customers import CustomerLimit, input_error, predict, scored
from churn.http.metrics import EXPOSITION_CONTENT_TYPE
from churn.http.open_inference import (
    BINARY_HEADER,
    INFERENCE_REQUEST,
    ProtocolError,
    column_pieces,
    columns_of,
    inference_response,
    model_metadata,
    read_request,
    server_metadata,
)
from churn.http.openapi import openapi_document
from churn.http.routing import V2, V2_MODEL, V2_VERSION, Route
from churn.http.static_files import (
    STATIC_FILES,
    asset,
    file_response,
    html_response,
    page_response,
    static_assets,
)
from churn.http.web import (
    TEXT_CONTENT_TYPE,
    HTTPError,
    Response,
    body_json_reader,
    json_response,
    preferred,
    read_json,
)

CARD_PATH = "/model/card"
NO_REFERENCE = (
    "this model has no reference distributions to watch its inputs against (an older artifact, or the "
    "book's pickle); retrain it with train.py, which writes them into the artifact"
)
HTML_CONTENT_TYPE = "text/html"
_VARY_ACCEPT = (("Vary", "Accept"),)


def index(request):
    if _wants_page(request.environ):
        return page_response(request.environ, _VARY_ACCEPT)
    routes = {f"{route.method} {route.path}": route.summary for route in ROUTES}
    document = {"service": SERVICE_NAME, "model_version": request.service.model.version, "routes": routes}
    return json_response(200, document, _VARY_ACCEPT)


def ping(request):
    return Response(200, TEXT_CONTENT_TYPE, b"PONG")


def metrics_text(request):
    metrics = request.service.metrics
    if metrics is None:
        raise HTTPError(404, "metrics are off (METRICS=off)")
    return Response(200, EXPOSITION_CONTENT_TYPE, metrics.exposition())


def model_monitoring(request):
    metrics, model = request.service.metrics, request.service.model
    if metrics is None:
        raise HTTPError(404, "metrics are off (METRICS=off): nothing is counted to watch")
    watched = metrics.monitoring()
    if watched is None:
        return json_response(200, {"model_version": model.version, "reference": False, "detail": NO_REFERENCE})
    return json_response(200, {"model_version": model.version, "reference": True, **watched})


def model_info(request):
    return json_response(200, describe_model(request.service.model))


def openapi_json(request):
    service = request.service
    document = openapi_document(service.model, ROUTES, service.settings.max_batch, service.settings.api_key is not None)
    return json_response(200, document)


def v2_live(request):
    return json_response(200, {"live": True})


def v2_ready(request):
    # The app exists only around a loaded, checked model: anything that reaches it may be scored.
    return json_response(200, {"ready": True})


def v2_server_metadata(request):
    return json_response(200, server_metadata())


def v2_model_metadata(request):
    model = request.service.model
    return json_response(200, model_metadata(model.name, model.version, model.schema))


def v2_model_ready(request):
    return json_response(200, {"name": request.service.model.name, "ready": True})


def v2_infer(request):
    if request.environ.get(BINARY_HEADER) is not None:
        raise HTTPError(400, "the binary tensor data extension is not supported: send the tensors as JSON")
    service = request.service
    max_batch = service.settings.max_batch
    # The protocol's body is JSON whatever Content-Type says: tritonclient sends none, curl -d a form's.
    try:
        body, columns = _inference_request(request)
        columns, outputs = columns_of(body, service.model.schema, max_batch, columns)
    except ProtocolError as error:
        raise HTTPError(400, str(error)) from None
    limit = CustomerLimit("request", max_batch)
    scores = scored(request, "v2", column_pieces(columns), "row", limit, score=service.scorer.score_columns)
    answered = {PROBABILITY: scores.probabilities, DECISION: scores.decisions}
    model = service.model
    return json_response(200, inference_response(model.name, model.version, answered, outputs, body.get("id")))


def _inference_request(request):
    """The inference request, and its inputs as columns when it was large and read a tensor at a time."""
    environ, settings = request.environ, request.service.settings
    if not request.large:
        return read_json(environ, settings.max_body_bytes, INFERENCE_REQUEST), None
    reader = body_json_reader(environ, settings.max_body_bytes)
    try:
        return read_request(reader, request.service.model.schema, settings.max_batch)
    except InputError as error:
        raise input_error(error) from None


def static_file(request):
    return file_response(request.environ, static_assets()[STATIC_FILES[request.environ["PATH_INFO"]]])


def model_card_page(request):
    card = request.service.model.card
    if not card:
        raise HTTPError(404, f"this model has no card beside it; train.py writes {CARD_NAME} and its charts")
    return html_response(request.environ, asset(CARD_PAGE_NAME, card_page(card[CARD_NAME])))


def model_card_file(request):
    card = request.service.model.card
    name = request.environ["PATH_INFO"].rpartition("/")[2]
    if not card or name not in card:
        raise HTTPError(404, f"this model has no {name} beside it; train.py writes the card and its charts")
    return file_response(request.environ, asset(name, card[name]))


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


def _wants_page(environ):
    return preferred(environ.get("HTTP_ACCEPT"), (JSON_MEDIA_TYPE, HTML_CONTENT_TYPE)) == HTML_CONTENT_TYPE
