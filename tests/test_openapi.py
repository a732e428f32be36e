"""The OpenAPI document describes the service as it behaves: schemathesis fuzzes the app against it."""

import os

import schemathesis
from hypothesis import HealthCheck, settings

from app import create_app
from churn.artifact import DEFAULT_MODEL_PATH
from churn.config import MAX_BATCH
from churn.model import load_model

FUZZ_EXAMPLES = 500
api_schema = schemathesis.openapi.from_wsgi("/openapi.json", create_app(load_model(DEFAULT_MODEL_PATH)))


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
    case.call_and_validate()


def test_openapi_lists_the_models_allowed_values(app, model):
    document = app.get("/openapi.json").json
    customer = document["components"]["schemas"]["Customer"]
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {"/", "/ping", "/predict", "/model", "/openapi.json"}
    assert customer["properties"]["contract"]["enum"] == list(model.schema.categorical["contract"])
    assert set(customer["required"]) == set(model.schema.fields)
    batch = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]["oneOf"][1]
    assert batch["maxItems"] == MAX_BATCH
