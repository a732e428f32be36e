"""The OpenAPI document describes the service as it behaves: schemathesis fuzzes the app against it."""

import json
import os

import jsonschema
import pytest
import schemathesis
import webtest
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from app import create_app
from churn.core.artifact import DEFAULT_MODEL_PATH
from churn.core.model import load_model
from churn.core.telco import BOOK_CUSTOMER
from churn.http.config import MAX_BATCH, Settings
from churn.http.routes import ROUTES

FUZZ_EXAMPLES = 500
FILE_MEDIA_TYPES = ("text/csv", "application/x-ndjson")
schemathesis.serializer.alias("application/x-ndjson", "text/plain")  # JSON lines go on the wire as text


@schemathesis.hook
def filter_path_parameters(context, path_parameters):
    """Werkzeug's test client, which carries these requests, takes a ? or # in a path for the start of a
    query or fragment: a model name with one cannot be sent through it (a real client encodes it)."""
    return not any(character in str(value) for value in (path_parameters or {}).values() for character in "?#")


api_schema = schemathesis.openapi.from_wsgi("/openapi.json", create_app(load_model(DEFAULT_MODEL_PATH)))


@pytest.mark.slow
@api_schema.parametrize()
# CI replays the same cases every run (a red CI must mean a change broke something); elsewhere each
# run explores new ones.
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("CI") == "true",
)
def test_every_generated_request_gets_a_documented_answer(case):
    # A schema cannot say everything the service checks: which text is CSV or JSON lines of customers
    # (a file's body is a string to it), or that an inference request's columns hold as many values
    # as their shape says. There, "a request that fits the schema was refused" means nothing.
    beyond_schema = case.media_type in FILE_MEDIA_TYPES or case.path.endswith("/infer")
    case.call_and_validate(excluded_checks=[positive_data_acceptance] if beyond_schema else [])


def test_a_customer_may_not_spell_a_field_twice_as_the_service_refuses_it(app, model, book_customer):
    document = app.get("/openapi.json").json
    validator = jsonschema.Draft202012Validator(document["components"]["schemas"]["Customer"])
    field = model.schema.fields[0]
    assert validator.is_valid({**book_customer, "notes": "any other name is ignored", "customerid": "7590-VHVEG"})
    for other in (field.upper(), field.title(), f" {field}", field.replace("k", "\u212a")):
        twice = {**book_customer, other: book_customer[field]}
        answer = app.post_json("/predict", twice, expect_errors=True)
        assert validator.is_valid(twice) == (answer.status_int == 200), other


def test_openapi_lists_the_models_allowed_values(app, model):
    document = app.get("/openapi.json").json
    customer = document["components"]["schemas"]["Customer"]
    assert document["openapi"] == "3.1.0"
    assert customer["properties"]["contract"]["enum"] == list(model.schema.categorical["contract"])
    assert set(customer["required"]) == {rule.name for rule in model.schema.rules if not rule.optional}
    assert "totalcharges" not in customer["required"]  # blank in training: it may be left out
    batch = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]["oneOf"][1]
    assert batch["maxItems"] == MAX_BATCH


def test_openapi_documents_every_route_with_the_summary_the_index_gives(app):
    paths, index = app.get("/openapi.json").json["paths"], app.get("/").json["routes"]
    documented = {(method.upper(), path) for path, operations in paths.items() for method in operations}
    routes = {(route.method, route.path) for route in ROUTES}
    assert documented == routes | {("HEAD", path) for method, path in routes if method == "GET"}
    for method, path in routes:
        summary = paths[path][method.lower()]["summary"]
        assert summary and "\n" not in summary and index[f"{method} {path}"] == summary


def test_the_operations_documented_as_open_are_the_ones_served_without_the_key(model):
    locked = webtest.TestApp(create_app(model, Settings(api_key="k")))
    document = locked.get("/openapi.json", headers={"Authorization": "Bearer k"}).json
    assert document["security"] == [{"apiKey": []}]
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            values = {
                parameter["name"]: parameter["schema"]["enum"][0] for parameter in operation.get("parameters", [])
            }
            path = template.format(**{name: values.get(name) for name in ("model", "version")})
            response = locked.request(path, method=method.upper(), expect_errors=True)
            assert (response.status_int == 401) is (operation.get("security") != []), (method, path)


def test_the_shipped_example_customer_is_the_books_and_the_one_openapi_shows(app, book_customer, project_dir):
    shared = project_dir.parent / "shared" / "examples" / "customer.json"
    if shared.is_file():
        assert book_customer == json.loads(shared.read_text())
    assert book_customer == BOOK_CUSTOMER
    shown = app.get("/openapi.json").json["components"]["schemas"]["Customer"]["example"]
    # the training table's own row of the book's customer: its id as the table writes it
    assert shown == {**book_customer, "customerid": book_customer["customerid"].upper()}
