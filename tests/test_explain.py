"""Explanations are exact: base value + contributions = log-odds, on every real customer."""

import dataclasses
import json
import math
import pickle
import subprocess
import sys

import pytest
import webtest

from app import create_app
from churn.core.explain import ExplainRequestError, requested_top
from churn.core.model import load_model
from churn.http.config import MAX_BATCH
from churn.http.customers import CustomerLimit


def test_explanations_add_up_to_the_probability_for_every_real_customer(app, model, raw_rows):
    per_request = CustomerLimit("batch", MAX_BATCH, len(model.schema.fields)).count  # explained in full
    batches = [raw_rows[start : start + per_request] for start in range(0, len(raw_rows), per_request)]
    results = [result for batch in batches for result in app.post_json("/predict?explain=true&top=all", batch).json]
    assert len(results) == len(raw_rows)
    for result in results:
        explanation = result["explanation"]
        assert len(explanation["factors"]) == len(model.schema.fields)
        log_odds = explanation["base_value"] + math.fsum(f["contribution"] for f in explanation["factors"])
        assert abs(1 / (1 + math.exp(-log_odds)) - result["churn_probability"]) <= 1e-12


def test_explanation_gives_the_top_three_factors_by_size_with_their_direction(app, book_customer):
    explanation = app.post_json("/predict?explain=true", book_customer).json["explanation"]
    factors = explanation["factors"]
    assert len(factors) == 3
    sizes = [abs(factor["contribution"]) for factor in factors]
    assert sizes == sorted(sizes, reverse=True)
    for factor in factors:
        assert factor["direction"] == ("raises" if factor["contribution"] > 0 else "lowers")
        assert factor["text"] == f"{factor['field']} = {factor['value']}: {factor['contribution']:+.2f}"


def test_one_hot_columns_are_grouped_back_into_their_field(app, book_customer):
    risky = dict(book_customer, contract="month-to-month")
    factors = app.post_json("/predict?explain=true&top=all", risky).json["explanation"]["factors"]
    assert [factor["field"] for factor in factors].count("contract") == 1
    contract = next(factor for factor in factors if factor["field"] == "contract")
    assert contract["value"] == "month-to-month" and contract["direction"] == "raises"


def test_explain_works_for_batches_and_top_is_honoured(app, book_customer):
    results = app.post_json("/predict?explain=1&top=5", [book_customer, book_customer]).json
    assert [len(result["explanation"]["factors"]) for result in results] == [5, 5]


def test_without_explain_the_answer_has_no_explanation(app, book_customer):
    assert "explanation" not in app.post_json("/predict?explain=false", book_customer).json


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("explain=yes", "explain must be true or false, not yes"),
        ("explain=true&top=0", "top must be a whole number from 1 to 19, or all, not 0"),
        ("explain=true&top=20", "top must be a whole number from 1 to 19, or all, not 20"),
        ("top=three", "top must be a whole number from 1 to 19, or all, not three"),
    ],
)
def test_bad_explain_parameters_get_400(app, book_customer, query, detail):
    response = app.post_json(f"/predict?{query}", book_customer, status=400)
    assert response.json["detail"] == detail


def test_a_model_without_training_means_says_it_cannot_explain(tmp_path, book_customer):
    from churn.core.book_pickle import read_book_pickle
    from train import DEFAULT_OUTPUT_DIR, PICKLE_NAME

    (dv, sk_model), _ = read_book_pickle((DEFAULT_OUTPUT_DIR / PICKLE_NAME).read_bytes())
    (tmp_path / "model.bin").write_bytes(pickle.dumps((dv, sk_model)))
    app = webtest.TestApp(create_app(load_model(tmp_path / "model.bin")))
    assert app.post_json("/predict", book_customer).status_int == 200
    response = app.post_json("/predict?explain=true", book_customer, status=400)
    assert "cannot explain" in response.json["detail"]
    assert app.get("/model").json["explains"] is False


@pytest.mark.parametrize(
    ("explain", "top", "option"),
    [
        ("maybe", "0", "explain"),  # explain first
        ("false", "99", "top"),  # top always, also without explanations
        ("true", "none", "top"),  # top before whether the model can explain
    ],
)
def test_a_request_for_explanations_is_checked_in_one_order(model, explain, top, option):
    cannot_explain = dataclasses.replace(model, explainer=None)
    with pytest.raises(ExplainRequestError) as raised:
        requested_top(explain, top, cannot_explain)
    assert raised.value.option == option and str(raised.value).startswith(f"{option} must be")


def test_a_model_that_cannot_explain_is_the_last_reason_and_only_when_explanations_are_asked_for(model):
    cannot_explain = dataclasses.replace(model, explainer=None)
    assert requested_top(False, "all", cannot_explain) is None
    with pytest.raises(ExplainRequestError, match="cannot explain") as raised:
        requested_top("1", "all", cannot_explain)
    assert raised.value.option is None
    assert requested_top(True, "all", model) == requested_top("true", str(len(model.schema.fields)), model)


def test_the_service_and_predict_py_refuse_a_bad_top_alike(app, project_dir, tmp_path, book_customer):
    detail = app.post_json("/predict?top=99", book_customer, status=400).json["detail"]
    path = tmp_path / "customer.json"
    path.write_text(json.dumps(book_customer))
    printed = subprocess.run(
        [sys.executable, "predict.py", str(path), "--top", "99"], cwd=project_dir, capture_output=True, text=True
    )
    assert printed.returncode == 2 and printed.stderr == f"predict.py: error: --{detail}\n"
