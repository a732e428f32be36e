"""The model's inputs watched against its training data, on the real data: the test split replayed is
stable on every feature; a shifted population drifts on exactly what was shifted, and on the score."""

import dataclasses
import math
import shutil
import subprocess

import pytest
import webtest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.model_selection import train_test_split

from app import create_app
from churn.core.features import FIELDS
from churn.core.model import score
from churn.core.reference import build_reference
from train import RANDOM_STATE, TEST_SIZE


@pytest.fixture(scope="module")
def split(customers):
    return train_test_split(customers, test_size=TEST_SIZE, random_state=RANDOM_STATE)


@pytest.fixture(scope="module")
def watched_model(model, split):
    """The shipped model with the reference train.py would write for it."""
    training, test = split
    schema = {"categorical": dict(model.schema.categorical), "numerical": list(model.schema.numerical)}
    inputs = [{field: customer[field] for field in FIELDS} for customer in test]
    return dataclasses.replace(model, reference=build_reference(training, schema, score(model, inputs)))


def _replayed(model, customers):
    app = webtest.TestApp(create_app(model))
    batch = [{field: customer[field] for field in FIELDS} for customer in customers]
    for start in range(0, len(batch), 1000):
        app.post_json("/predict", batch[start : start + 1000])
    return app.get("/model/monitoring").json


def _psi(monitoring):
    return {feature["feature"]: feature["psi"] for feature in [*monitoring["features"], monitoring["score"]]}


def test_the_test_split_replayed_is_stable_on_every_feature_and_the_score(watched_model, split):
    monitoring = _replayed(watched_model, split[1])
    assert monitoring["reference"] is True
    assert all(psi < 0.1 for psi in _psi(monitoring).values()), _psi(monitoring)
    assert all(feature["status"] == "stable" for feature in monitoring["features"])


@pytest.mark.parametrize(
    ("shift", "shifted"),
    [
        (lambda c: {**c, "contract": "month-to-month"}, {"contract"}),
        (lambda c: {**c, "tenure": c["tenure"] // 4}, {"tenure"}),
        (lambda c: {**c, "internetservice": "fiber_optic"}, {"internetservice"}),
    ],
    ids=["only month-to-month", "tenure shortened", "only fiber optic"],
)
def test_a_shifted_population_drifts_on_exactly_what_was_shifted_and_moves_the_score(
    watched_model, split, shift, shifted
):
    # The test split with one field changed for everyone: that field, and no other, drifts. The score
    # moves with it (PSI 0.14 for month-to-month, 0.06 for fiber optic, 1.7 for tenure / 4: a
    # selection such as "only the month-to-month customers" drifts the score past 0.25, but also
    # every field that goes with the contract). WIP, issue 20: decide which the issue means.
    psi = _psi(_replayed(watched_model, [shift(customer) for customer in split[1]]))
    assert psi.pop("score") > 0.05
    assert {feature for feature, index in psi.items() if index >= 0.25} == shifted, psi


def test_metrics_expose_each_features_psi_bins_and_reference_shares_cleanly(watched_model, split):
    app = webtest.TestApp(create_app(watched_model))
    app.post_json("/predict", [{field: customer[field] for field in FIELDS} for customer in split[1][:1000]])
    text = app.get("/metrics").text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    psi = {sample.labels["feature"]: sample.value for sample in families["churn_feature_psi"].samples}
    assert set(psi) == {*FIELDS, "score"} and all(value < 0.1 for value in psi.values())
    shares = [s for s in families["churn_feature_reference_share"].samples if s.labels["feature"] == "contract"]
    assert math.fsum(sample.value for sample in shares) == pytest.approx(1)
    counted = [s for s in families["churn_feature_customers"].samples if s.labels["feature"] == "tenure"]
    assert sum(sample.value for sample in counted) == 1000
    promtool = shutil.which("promtool")
    if promtool is not None:
        checked = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True)
        assert checked.returncode == 0 and checked.stdout == checked.stderr == b"", checked
