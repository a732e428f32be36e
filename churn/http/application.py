"""The WSGI application: a request given its id (X-Request-ID), found its route (churn.http.routing),
checked for the API key, admitted when large (churn.http.admission), answered by its handler; every
error turned into its response in this one place; the response's headers and its body, whole or
streamed; and the observers told that the request began and was answered (churn.http.observers).
Standard library only.

The routes and their handlers are churn.http.routes; app.create_app wires them, the model, the
settings and the observers together.
"""

import functools
import hmac
import itertools
import os
import re
import time
import traceback
from dataclasses import dataclass

from churn.http.routing import V2
from churn.http.web import STATUS_LINES, HTTPError, StreamedBody, error_response, is_large, json_response

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # nothing that could forge a log line or header


@dataclass(frozen=True)
class Service:
    """What every handler may read: the model, its Scorer, the Settings, the observers' Events, and the
    instance's Metrics (None when they are off)."""

    model: object  # churn.core.model.ChurnModel
    scorer: object  # churn.core.scorer.Scorer of the model
    settings: object  # churn.http.config.Settings
    events: object  # churn.http.observers.Events
    metrics: object = None  # churn.http.metrics.Metrics


class Request:
    """One request as the app answers it: its environ, its id (its own X-Request-ID when that is 1-64
    letters, digits or ._:-, else a new one), when it began
    (time.perf_counter), its Route once found (None until then, or when it matches none), the Service,
    and whether its body is large."""

    __slots__ = ("environ", "id", "started", "route", "service", "large")

    def __init__(self, environ, service):
        self.environ, self.service, self.route = environ, service, None
        given = environ.get("HTTP_X_REQUEST_ID")
        self.id = given if given and _VALID_REQUEST_ID.fullmatch(given) else _new_request_id()
        self.started = time.perf_counter()
        self.large = False  # whether its body is large (churn.http.web.is_large), once its route is found


class Application:
    """The WSGI callable of a Service: routes found by `router` (churn.http.routing.Router), large
    requests admitted by `admission` (churn.http.admission.Admission)."""

    def __init__(self, service, router, admission):
        self.service, self.router, self.admission = service, router, admission
        self.metrics = service.metrics  # the shared counters gunicorn's hooks give each worker a row of
        self._started, self._answered = service.events.started, service.events.answered

    def __call__(self, environ, start_response):
        request = Request(environ, self.service)
        for notify in self._started:
            notify(request)
        response, release = self._respond(request)
        start_response(STATUS_LINES[response.status], _headers(response, request.id))
        if type(response.body) is not bytes:
            return StreamedBody(response.body, functools.partial(self._sent, request, response.status, release))
        body = b"" if environ["REQUEST_METHOD"] == "HEAD" else response.body
        self._sent(request, response.status, release, len(body))
        return [body]

    def _sent(self, request, status, release, size):
        """The answer's last byte is sent (or the client left): a large request's place is given back,
        and the observers told."""
        release()
        for notify in self._answered:
            notify(request, status, size)

    def _respond(self, request):
        """The response, and the function to call once it is sent (it gives back a large request's place)."""
        environ = request.environ
        try:
            request.route = route = self._route(environ)
            request.large = is_large(environ)
            if not request.large:
                return route.handler(request), _nothing
            release = self.admission.enter()
            try:
                return route.handler(request), release
            except BaseException:
                release()
                raise
        except HTTPError as error:
            return _error_response(environ, error), _nothing
        except Exception:
            # The client learns only that it failed; the operator gets the traceback.
            environ["wsgi.errors"].write(traceback.format_exc())
            return _error_response(environ, HTTPError(500, "the server could not answer this request")), _nothing

    def _route(self, environ):
        """The request's Route; 401, 404 or 405 when there is none for this client."""
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        route, missing = self.router.exact.get((method, path)), None
        if route is None:
            route, missing = self.router.find(method, path, self.service.model)
        # The key first: without it, a client learns nothing, not even which paths or models exist.
        api_key = self.service.settings.api_key
        if api_key is not None and (route is None or route.needs_key_for(environ)):
            _authorize(environ, api_key)
        if route is None:
            raise missing
        return route


def _new_request_id():
    """A request id for a request that sent none (or one that could forge a log line or header): 32
    hex digits, this process's random half and a count (os.urandom per request cost a system call each)."""
    return f"{_process_half[0]}{next(_request_count):016x}"


def _new_process_half():
    _process_half[0] = os.urandom(8).hex()


_process_half, _request_count = [""], itertools.count()
_new_process_half()
if hasattr(os, "register_at_fork"):  # POSIX: each of gunicorn's workers gets its own
    os.register_at_fork(after_in_child=_new_process_half)


def _nothing():
    pass


def _headers(response, request):
    """The response's headers: its type and length, unless it is a 304 (RFC 9110, 15.4.5: it has no
    body) or streamed (the server frames it, chunked); the request's id; the handler's own."""
    headers = [(REQUEST_ID_HEADER, request), *response.headers]
    if response.status == 304:
        return headers
    if isinstance(response.body, bytes):
        return [("Content-Type", response.content_type), ("Content-Length", str(len(response.body))), *headers]
    return [("Content-Type", response.content_type), *headers]


def _error_response(environ, error):
    """A problem document, or on the inference protocol's paths its own {"error": …}."""
    path = environ.get("PATH_INFO", "")
    if path == V2 or path.startswith(f"{V2}/"):
        status = 400 if error.status == 422 else error.status  # the protocol says 400 for a bad request
        return json_response(status, {"error": error.detail}, error.headers)
    return error_response(error)


def _authorize(environ, api_key):
    scheme, _, credentials = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        raise HTTPError(
            401, "send the API key as 'Authorization: Bearer <key>'", headers=[("WWW-Authenticate", "Bearer")]
        )
    # Constant-time comparison, so response timing does not reveal how much of the key matched.
    if not hmac.compare_digest(credentials.strip().encode(), api_key.encode()):
        raise HTTPError(401, "the API key is not valid", headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')])
