import copy
import json
import math

import pytest

from churn.core.artifact import ModelError, with_content_hash
from churn.core.model import describe_model, load_model, model_from_artifact, score

# A two-field model small enough to check by hand.
TINY_ARTIFACT = with_content_hash(
    {
        "format_version": 1,
        "intercept": -1.0,
        "weights": {"contract=monthly": 2.0, "contract=yearly": -1.0, "seniorcitizen": 0.5, "tenure": -0.1},
        "schema": {
            "categorical": {"contract": ["monthly", "yearly"], "seniorcitizen": [0, 1]},
            "numerical": ["tenure"],
        },
        "threshold": 0.5,
        "metadata": {},
    }
)


def _artifact(**changes):
    """TINY_ARTIFACT changed and hashed again, as a buggy exporter would write it."""
    document = copy.deepcopy(TINY_ARTIFACT)
    document.update(changes)
    return with_content_hash(document)


def test_score_is_the_sigmoid_of_the_weighted_sum():
    model = model_from_artifact(TINY_ARTIFACT)
    customers = [
        {"contract": "monthly", "seniorcitizen": 1, "tenure": 10},
        {"contract": "yearly", "seniorcitizen": 0, "tenure": 0},
    ]
    expected_logits = [-1.0 + 2.0 + 0.5 - 1.0, -1.0 - 1.0]
    assert score(model, customers) == pytest.approx([1 / (1 + math.exp(-z)) for z in expected_logits], abs=1e-15)


def test_score_does_not_overflow_on_extreme_logits():
    model = model_from_artifact(TINY_ARTIFACT)
    low, high = score(
        model,
        [
            {"contract": "yearly", "seniorcitizen": 0, "tenure": 1e6},
            {"contract": "monthly", "seniorcitizen": 1, "tenure": 0},
        ],
    )
    assert low == 0.0 and 0.5 < high < 1.0


def test_load_model_reads_the_shipped_artifact(model):
    assert model.threshold == 0.5
    assert len(model.schema.fields) == 19
    assert model.schema.categorical["contract"] == ("month-to-month", "one_year", "two_year")


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ([], "not a JSON object"),
        ({"format_version": 1}, "missing keys: intercept, weights, schema, threshold, metadata, sha256"),
        (_artifact(format_version=99), "unknown format_version 99"),
        ({**TINY_ARTIFACT, "intercept": 5.0}, "its content does not match its sha256 .*: changed after export"),
        ({**TINY_ARTIFACT, "sha256": "0" * 64}, "its content does not match its sha256"),
        (_artifact(intercept=float("nan")), "intercept is not a finite number"),
        (_artifact(weights={**TINY_ARTIFACT["weights"], "tenure": "big"}), "weight of 'tenure' is not a finite number"),
        (
            _artifact(weights={**TINY_ARTIFACT["weights"], "tenure": 10**400}),
            "weight of 'tenure' is not a finite number",
        ),
        (_artifact(weights={**TINY_ARTIFACT["weights"], "tenure": True}), "weight of 'tenure' is not a finite number"),
        (
            _artifact(weights={**TINY_ARTIFACT["weights"], "contract=weekly": 1.0}),
            "weights for features the schema does not describe: contract=weekly",
        ),
        (
            _artifact(
                schema={
                    "categorical": {"contract": ["monthly", "yearly", "weekly"], "seniorcitizen": [0, 1]},
                    "numerical": ["tenure"],
                }
            ),
            "no weight for feature 'contract=weekly'",
        ),
        (_artifact(schema={"categorical": []}), "schema must be"),
        (_artifact(threshold=1.5), "threshold must be a number between 0 and 1, not 1.5"),
        (_artifact(threshold=True), "threshold must be a number between 0 and 1, not True"),
        (_artifact(metadata=[]), "metadata must be a JSON object"),
    ],
)
def test_an_artifact_that_is_wrong_is_refused_with_the_reason(document, problem):
    with pytest.raises(ModelError, match=problem):
        model_from_artifact(document)


def test_load_model_names_the_file_when_it_is_missing(tmp_path):
    with pytest.raises(ModelError, match=f"cannot load model {tmp_path / 'absent.json'}: .*No such file"):
        load_model(tmp_path / "absent.json")


def test_load_model_names_the_file_when_it_is_not_json(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(TINY_ARTIFACT)[:50])
    with pytest.raises(ModelError, match=f"cannot load model {path}: "):
        load_model(path)


def test_the_hash_covers_values_not_formatting(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(TINY_ARTIFACT, indent=7, sort_keys=True))
    assert load_model(path).sha256 == TINY_ARTIFACT["sha256"]


def test_load_model_names_the_file_when_it_is_a_directory(tmp_path):
    with pytest.raises(ModelError, match=f"cannot load model {tmp_path}: Is a directory"):
        load_model(tmp_path)


def test_the_version_is_a_short_prefix_of_the_sha256_that_changes_with_the_model():
    model, changed = model_from_artifact(TINY_ARTIFACT), model_from_artifact(_artifact(intercept=-1.5))
    assert TINY_ARTIFACT["sha256"].startswith(model.version) and 8 <= len(model.version) < 64
    assert changed.version != model.version


def test_describe_model_says_what_is_deployed(model, shipped_artifact):
    description = describe_model(model)
    assert description["version"] == model.version and description["sha256"] == shipped_artifact["sha256"]
    assert description["format_version"] == shipped_artifact["format_version"]
    assert description["test_auc"] == shipped_artifact["metadata"]["test_auc"]
    assert description["training_rows"] == shipped_artifact["metadata"]["training_rows"]
    assert description["threshold"] == shipped_artifact["threshold"]
    schema = shipped_artifact["schema"]
    assert description["features"] == {"categorical": schema["categorical"], "numerical": schema["numerical"]}
    assert description["table"]["id_column"] == schema["id_column"]
    assert description["table"]["target"] == shipped_artifact["metadata"]["target"]
