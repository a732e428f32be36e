"""The routing table's rows, and finding a request's route: by method then path, the served model's
name and version standing for their {placeholders}.

A route is one row: its handler, its summary (the / index and OpenAPI show it), its OpenAPI
operation, and whether it needs the API key. The index, /openapi.json and the key check are all
built from these rows, so a new endpoint is one function and one row.
"""

from collections.abc import Callable
from dataclasses import dataclass

from churn.core.messages import echo
from churn.http.web import HTTPError

V2 = "/v2"
_V2_MODELS = f"{V2}/models/"
# The Open Inference Protocol's paths of the served model, by its name and, optionally, version.
V2_MODEL, V2_VERSION = f"{V2}/models/{{model}}", f"{V2}/models/{{model}}/versions/{{version}}"


@dataclass(frozen=True)
class Route:
    """One endpoint: what answers it, how the API describes it, and who may call it."""

    method: str
    path: str
    handler: Callable  # (environ, model, settings) -> Response
    summary: str
    operation: Callable  # (model, max_batch) -> its OpenAPI operation, but for summary and security
    # True: only with the API key (when one is set); False: anyone (health checks, the page's files);
    # or a function of the request's environ, for a path that is open to some requests only.
    needs_key: bool | Callable = True

    def needs_key_for(self, environ):
        return self.needs_key(environ) if callable(self.needs_key) else self.needs_key


class Router:
    """The routes of a table, found by a request's method and path."""

    def __init__(self, routes):
        self.routes = tuple(routes)
        # (method, path) -> route, for the paths without placeholders: the lookup of nearly every request.
        self.exact = {(r.method, r.path): r for r in self.routes if "{" not in r.path}
        self._templates = {(r.method, r.path): r for r in self.routes if "{" in r.path}
        self._allowed = _allowed_methods(self.routes)

    def find(self, method, path, model):
        """(the route, None), or (None, the HTTPError to answer: 404, or 405 with Allow)."""
        answered_as = "GET" if method == "HEAD" else method
        route = self.exact.get((answered_as, path))
        if route is not None:
            return route, None
        template = path
        if path.startswith(_V2_MODELS):  # after the exact routes: /predict pays nothing for these
            template, missing = _template(path, model)
            if missing is not None:
                return None, missing
            route = self._templates.get((answered_as, template))
        if route is not None:
            return route, None
        allowed = self._allowed.get(template)
        if allowed is None:
            return None, HTTPError(404, f"no such endpoint: {echo(path)}; see GET /openapi.json")
        return None, HTTPError(405, f"{path} does not accept {echo(method)}", headers=[("Allow", ", ".join(allowed))])


def _allowed_methods(routes):
    """path -> the methods it answers, HEAD wherever GET is."""
    allowed = {}
    for route in routes:
        allowed.setdefault(route.path, []).extend([route.method, "HEAD"] if route.method == "GET" else [route.method])
    return {path: sorted(methods) for path, methods in allowed.items()}


def _template(path, model):
    """An inference protocol path with the served model's name and version replaced by their
    placeholders, or the 404 for another model or version."""
    parts = path.split("/")  # "", "v2", "models", name, ["versions", version,] …
    if parts[3] != model.name:
        return None, HTTPError(404, f"no model {echo(parts[3])} here; this server serves {model.name}")
    parts[3] = "{model}"
    if len(parts) > 5 and parts[4] == "versions":
        if parts[5] != model.version:
            return None, HTTPError(
                404, f"model {model.name} has no version {echo(parts[5])}; it serves {model.version}"
            )
        parts[5] = "{version}"
    return "/".join(parts), None
