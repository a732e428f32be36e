"""Floors: WSGI apps that answer a constant, as fast as a server allows.

The service's speed is judged against `app` under exactly the same server settings. `parsing_app`
also decodes the request's JSON, the one step no JSON service can skip: the distance between the
two floors is what reading the request costs.
"""

import json

BODY = b'{"churn_probability": 0.06187568559832739, "churn": false}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    """Read the body, answer a constant."""
    length = environ.get("CONTENT_LENGTH")
    if length:
        environ["wsgi.input"].read(int(length))
    start_response("200 OK", HEADERS)
    return [BODY]


def parsing_app(environ, start_response):
    """Read and decode the body, answer a constant."""
    length = environ.get("CONTENT_LENGTH")
    if length:
        json.loads(environ["wsgi.input"].read(int(length)))
    start_response("200 OK", HEADERS)
    return [BODY]
