"""The model's reference distributions: built from training, binning live customers alike, and the
population stability index that compares them."""

import copy
import random

import pytest

from churn.core.reference import InvalidReference, bin_of, build_reference, checked_reference, psi, status


@pytest.fixture(scope="module")
def reference(model, raw_rows):
    customers = [model.schema.prepare(row) for row in raw_rows]
    schema = {"categorical": dict(model.schema.categorical), "numerical": list(model.schema.numerical)}
    probabilities = [random.Random(number).random() for number in range(1000)]
    return build_reference(customers, schema, probabilities), customers


def test_each_numeric_bin_holds_about_a_tenth_and_each_categorical_share_is_the_datas(reference, model):
    document, customers = reference
    tenure = document["features"]["tenure"]
    assert len(tenure["edges"]) <= 9 and abs(sum(tenure["shares"]) - 1) < 1e-12
    assert max(tenure["shares"]) < 0.2  # deciles, ties merged
    contract = document["features"]["contract"]
    month = sum(customer["contract"] == "month-to-month" for customer in customers) / len(customers)
    assert contract["shares"][contract["values"].index("month-to-month")] == pytest.approx(month)
    assert checked_reference(document, model.schema) is document


def test_the_training_population_itself_is_stable_and_a_shifted_one_drifts(reference):
    document, customers = reference
    for field, feature in document["features"].items():
        counts = [0] * len(feature["shares"])
        for customer in customers:
            counts[bin_of(feature, customer[field])] += 1
        assert psi(feature["shares"], counts) < 1e-9, field
    contract = document["features"]["contract"]
    only_monthly = [0] * len(contract["shares"])
    only_monthly[contract["values"].index("month-to-month")] = 1000
    assert status(psi(contract["shares"], only_monthly)) == "drifted"


@pytest.mark.parametrize(("index", "verdict"), [(None, None), (0.0, "stable"), (0.0999, "stable"), (0.1, "watch"),
                                                (0.2499, "watch"), (0.25, "drifted")])  # fmt: skip
def test_status_reads_the_psi_as_practitioners_do(index, verdict):
    assert status(index) == verdict


def test_no_live_customer_gives_no_psi():
    assert psi([0.5, 0.5], [0, 0]) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format=2), "format 1"),
        (lambda d: d["features"].pop("tenure"), "every field"),
        (lambda d: d["features"]["contract"].update(values=["x"]), "each allowed value"),
        (lambda d: d["features"]["tenure"].update(edges=[5, 1]), "edges in order"),
        (lambda d: d["features"]["tenure"].update(edges=["a"]), "edges in order"),
        (lambda d: d["score"].update(shares=[1.0]), "a share per bin"),
    ],
)
def test_a_broken_reference_is_refused_saying_what_is_wrong(reference, model, change, message):
    document = copy.deepcopy(reference[0])
    change(document)
    with pytest.raises(InvalidReference, match=message):
        checked_reference(document, model.schema)
