"""The model's inputs watched against its training data, on the real data: the test split replayed is
stable on every feature; a selected population drifts on the score and on exactly the fields whose
distribution moved; one field changed for everyone drifts on that field alone."""

import dataclasses
import math
import shutil
import subprocess

import jsonschema
import numpy as np
import pytest
import webtest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.model_selection import train_test_split

from app import create_app
from churn.core.model import score
from churn.core.reference import build_reference
from churn.http.drift import BINNED_PER_REQUEST
from churn.training.table import TARGET
from train import RANDOM_STATE, TEST_SIZE


@pytest.fixture(scope="module")
def split(customers):
    return train_test_split(customers, test_size=TEST_SIZE, random_state=RANDOM_STATE)


@pytest.fixture(scope="module")
def watched_model(model, split):
    """The shipped model with the reference train.py would write for it."""
    training, test = split
    schema = {"categorical": dict(model.schema.categorical), "numerical": list(model.schema.numerical)}
    inputs = [{field: value for field, value in customer.items() if field != TARGET} for customer in test]
    return dataclasses.replace(model, reference=build_reference(training, schema, score(model, inputs)))


def _replayed(model, customers):
    app = webtest.TestApp(create_app(model))
    _post(app, customers)
    return app.get("/model/monitoring").json


def _post(app, customers):
    """Post the customers' model fields in requests of BINNED_PER_REQUEST: each customer is binned."""
    batch = [{field: value for field, value in customer.items() if field != TARGET} for customer in customers]
    for start in range(0, len(batch), BINNED_PER_REQUEST):
        app.post_json("/predict", batch[start : start + BINNED_PER_REQUEST])


def _psi(monitoring):
    return {feature["feature"]: feature["psi"] for feature in [*monitoring["features"], monitoring["score"]]}


def test_the_test_split_replayed_is_stable_on_every_feature_and_the_score(watched_model, split):
    monitoring = _replayed(watched_model, split[1])
    assert monitoring["reference"] is True
    assert all(psi < 0.1 for psi in _psi(monitoring).values()), _psi(monitoring)
    assert all(feature["status"] == "stable" for feature in monitoring["features"])


@pytest.mark.parametrize(
    ("field", "value"), [("contract", "month-to-month"), ("internetservice", "fiber_optic")],
    ids=["only month-to-month", "only fiber optic"],
)  # fmt: skip
def test_a_selected_population_drifts_on_the_score_and_on_exactly_the_fields_whose_distribution_moved(
    watched_model, split, field, value
):
    # "Only month-to-month contracts" moves the contract, and with it tenure and total charges; "only
    # fiber optic" moves the internet service and every field that depends on having one. The fields
    # flagged are those whose PSI, computed here with NumPy from the training split, is 0.25 or more.
    training, test = split
    population = [customer for customer in test if customer[field] == value]
    served = _psi(_replayed(watched_model, population))
    assert served["score"] == pytest.approx(_score_psi_by_numpy(watched_model, population), rel=1e-9)
    assert served.pop("score") >= 0.25
    expected = _psi_by_numpy(training, population, watched_model.reference)
    assert served == pytest.approx(expected, rel=1e-9)
    flagged = {name for name, index in served.items() if index >= 0.25}
    assert field in flagged and flagged == {name for name, index in expected.items() if index >= 0.25}


@pytest.mark.parametrize(
    ("shift", "shifted"),
    [
        (lambda c: {**c, "contract": "month-to-month"}, "contract"),
        (lambda c: {**c, "tenure": c["tenure"] // 4}, "tenure"),
        (lambda c: {**c, "internetservice": "fiber_optic"}, "internetservice"),
    ],
    ids=["all made month-to-month", "tenure shortened", "all made fiber optic"],
)
def test_one_field_changed_for_everyone_flags_that_field_alone(watched_model, split, shift, shifted):
    # The test split with one field changed for each customer: that field drifts, no other does. The
    # score moves as far as the model's weights carry it (the shipped model's, in docs/monitoring.md:
    # 1.7 for tenure / 4; 0.14 for month-to-month and 0.06 for fiber optic).
    population = [shift(customer) for customer in split[1]]
    psi = _psi(_replayed(watched_model, population))
    assert psi.pop("score") == pytest.approx(_score_psi_by_numpy(watched_model, population), rel=1e-9)
    assert {feature for feature, index in psi.items() if index >= 0.25} == {shifted}, psi


def _psi_by_numpy(training, population, reference):
    """Each field's PSI of `population` against the training split, by NumPy from the customers: the
    reference's bins (its values; its edges, a number on an edge in the bin below), its floor of 1e-4
    for a share one side leaves empty, and shares counted here."""
    index = {}
    for field, feature in reference["features"].items():
        expected, actual = (_shares_by_numpy(customers, field, feature) for customers in (training, population))
        expected, actual = np.maximum(expected, 1e-4), np.maximum(actual, 1e-4)
        index[field] = float(np.sum((actual - expected) * np.log(actual / expected)))
    return index


def _score_psi_by_numpy(model, population):
    """The PSI of the churn probabilities the model gives `population` against the reference's."""
    probabilities = score(
        model, [{field: value for field, value in customer.items() if field != TARGET} for customer in population]
    )
    edges = model.reference["score"]["edges"]
    counts = np.bincount(np.searchsorted(np.array(edges), probabilities, side="left"), minlength=len(edges) + 1)
    expected = np.maximum(np.array(model.reference["score"]["shares"]), 1e-4)
    actual = np.maximum(counts / counts.sum(), 1e-4)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _shares_by_numpy(customers, field, feature):
    values = np.array([customer[field] for customer in customers], dtype=object)
    if "values" in feature:
        bins = np.array([np.flatnonzero(values == value).size for value in feature["values"]])
    else:
        positions = np.searchsorted(np.array(feature["edges"]), values.astype(float), side="left")
        bins = np.bincount(positions, minlength=len(feature["edges"]) + 1)
    return bins / bins.sum()


def test_metrics_expose_each_features_psi_bins_and_reference_shares_cleanly(watched_model, split):
    app = webtest.TestApp(create_app(watched_model))
    _post(app, split[1][:1000])
    text = app.get("/metrics").text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    psi = {sample.labels["feature"]: sample.value for sample in families["churn_feature_psi"].samples}
    assert set(psi) == {*watched_model.schema.fields, "score"} and all(value < 0.1 for value in psi.values())
    shares = [s for s in families["churn_feature_reference_share"].samples if s.labels["feature"] == "contract"]
    assert math.fsum(sample.value for sample in shares) == pytest.approx(1)
    counted = [s for s in families["churn_feature_customers"].samples if s.labels["feature"] == "tenure"]
    assert sum(sample.value for sample in counted) == 1000
    promtool = shutil.which("promtool")
    if promtool is not None:
        checked = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True)
        assert checked.returncode == 0 and checked.stdout == checked.stderr == b"", checked


def test_every_monitoring_answer_is_the_one_openapi_describes(watched_model, split):
    without_reference = webtest.TestApp(create_app(dataclasses.replace(watched_model, reference=None)))
    app = webtest.TestApp(create_app(watched_model))
    document = app.get("/openapi.json").json
    validator = jsonschema.Draft202012Validator({"$ref": "#/components/schemas/Monitoring", **document})
    answers = [without_reference.get("/model/monitoring").json, app.get("/model/monitoring").json]
    _post(app, split[1][:300])
    answers.append(app.get("/model/monitoring").json)
    assert [answer["reference"] for answer in answers] == [False, True, True]
    assert answers[1]["score"]["psi"] is None and answers[2]["score"]["psi"] is not None
    for answer in answers:
        validator.validate(answer)
