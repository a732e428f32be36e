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

Each endpoint is a handler and a row of the routing table in churn/http/routes.py; the WSGI callable
is churn/http/application.py. This module only wires them: the model, its Scorer, the settings, and
the observers of what the service does (churn/http/observers.py), subscribed here and nowhere else.

The health checks, the page, its files and the model card need no API key: they hold no
customer's data and score nothing; the page asks for the key before it calls the API.

Every response carries X-Request-ID (churn/http/access_log.py). Every error is a JSON problem document
(RFC 9457, Content-Type application/problem+json):
    {"title": "Unprocessable Entity", "status": 422, "detail": "tenure: must not be negative, got -5",
     "errors": [{"field": "tenure", "message": "must not be negative, got -5"}]}
"errors" appears only for invalid customers; each entry also has the customer's "index" in a batch,
or its "line" in a file.
"""

from churn.core.schema import ID_FIELD
from churn.core.scorer import Scorer
from churn.http.admission import Admission
from churn.http.application import Application, Service
from churn.http.config import Settings
from churn.http.metrics import Counting, Metrics
from churn.http.observers import Events, PredictionLogging
from churn.http.routes import ROUTES
from churn.http.routing import Router
from churn.http.static_files import static_assets


def create_app(model, settings=None):
    """The WSGI callable around an already-loaded model (and Settings, else the defaults), with the
    observers the settings switch on. Its `metrics` (None when they are off) are made here: under
    gunicorn, in the master, before the workers are forked, so that they all count in one table."""
    settings = settings or Settings()
    static_assets()  # read the page's files now: a missing one stops the start, not a request
    metrics = _metrics(model) if settings.metrics else None
    observers = (
        metrics and Counting(metrics),
        settings.prediction_log and PredictionLogging(settings.prediction_log),
        settings.access_log,
    )
    service = Service(model, Scorer(model), settings, Events(observers), metrics)
    admission = Admission(settings.large_requests, settings.large_requests_waiting, settings.large_request_wait_seconds)
    return Application(service, Router(ROUTES), admission)


def _metrics(model):
    """The instance's Metrics: its routes, the model's fields (for invalid ones), what model it serves."""
    info = {"name": model.name, "version": model.version, "trained_at": model.metadata.get("trained_at") or "",
            "threshold": model.threshold}  # fmt: skip
    routes = (route.path for route in ROUTES)
    return Metrics(routes, (*model.schema.fields, ID_FIELD), info, model.reference, model.row_fields)
