"""How the service counts customers for drift: every customer binned at a modest rate, a weighted
systematic sample above it, and the window of the last hour taken from shared snapshots."""

import concurrent.futures
import json
import math
import time

import pytest
import webtest

from app import create_app
from bench.hostile_lifecycle import extreme_customer
from churn.core.model import score
from churn.core.reference import bin_of, psi
from churn.http.drift import BINNED_PER_REQUEST, BINNED_PER_SECOND, EPOCH_SECONDS, BinCounts, Bins, Window
from churn.training.table import TARGET


@pytest.fixture(scope="module")
def bins(model):
    return Bins(model.reference, first_index=0, row_fields=model.row_fields)


def _through_turns(counts, rows, probabilities):
    """What the service does for each customer it scores: bin its row, in its turn."""
    for row, probability in zip(rows, probabilities, strict=True):
        if next(counts.turns):
            counts.count(row, probability)


def _feature_counts(row, bins, name):
    start = bins.at[name]
    return row[start : start + len(bins.features[name]["shares"])]


def test_below_the_rate_every_customer_is_binned_exactly(bins, model, customers):
    inputs = [
        {field: value for field, value in customer.items() if field != TARGET}
        for customer in customers[:BINNED_PER_SECOND]
    ]
    probabilities = score(model, inputs)
    counts, row = BinCounts(bins, now=0.0), [0.0] * bins.end
    _through_turns(counts, [model.row(c) for c in inputs], probabilities)
    counts.flush(row, now=1.0)
    for name, feature in model.reference["features"].items():
        exact = [0] * len(feature["shares"])
        for customer in inputs:
            exact[bin_of(feature, customer[name])] += 1
        assert _feature_counts(row, bins, name) == exact, name
    exact_scores = [0] * len(model.reference["score"]["shares"])
    for probability in probabilities:
        exact_scores[bin_of(model.reference["score"], probability)] += 1
    assert _feature_counts(row, bins, "score") == exact_scores
    assert counts.step == 1


def test_above_the_rate_a_sample_stands_for_every_customer_and_the_rate_falling_ends_it(bins, model, customers):
    inputs = [{field: value for field, value in customer.items() if field != TARGET} for customer in customers[:6000]]
    probabilities = score(model, inputs)
    counts, row = BinCounts(bins, now=0.0), [0.0] * bins.end
    _through_turns(counts, [model.row(c) for c in inputs[:3000]], probabilities[:3000])
    counts.flush(row, now=1.0)  # 3,000 in a second: one in three from now on
    assert counts.step == math.ceil(3000 / BINNED_PER_SECOND)
    _through_turns(counts, [model.row(c) for c in inputs[3000:]], probabilities[3000:])
    assert len(counts.scores) == 3000 // counts.step
    counts.flush(row, now=2.0)
    for name, feature in model.reference["features"].items():
        counted = _feature_counts(row, bins, name)
        assert sum(counted) == 6000, name
        exact = [0] * len(feature["shares"])
        for customer in inputs:
            exact[bin_of(feature, customer[name])] += 1
        assert psi([count / 6000 for count in exact], counted) < 0.01, name
    _through_turns(counts, [model.row(c) for c in inputs[:500]], probabilities[:500])
    counts.flush(row, now=4.0)  # 250 a second
    assert counts.step == 1


def test_the_window_is_the_last_hour_from_the_snapshots_noted_each_epoch():
    start = (int(time.time() // EPOCH_SECONDS) + 10_000) * EPOCH_SECONDS  # epochs no other snapshot holds
    window = Window(2)
    window.note([0.0, 0.0], now=start)
    window.note([10.0, 1.0], now=start + EPOCH_SECONDS)
    window.note([99.0, 9.0], now=start + EPOCH_SECONDS + 1)  # the epoch has its snapshot already
    assert window.counts([30.0, 5.0], now=start + 30 * 60) == [30.0, 5.0]
    assert window.counts([30.0, 5.0], now=start + 3600) == [20.0, 4.0]  # the first epoch has left the hour


def test_a_request_bins_at_most_its_share_evenly_spaced(bins, model, customers):
    inputs = [{field: value for field, value in customer.items() if field != TARGET} for customer in customers[:1000]]
    rows, probabilities = [model.row(c) for c in inputs], score(model, inputs)
    counts, row = BinCounts(bins, now=0.0), [0.0] * bins.end
    counts.sample(rows, probabilities)
    counts.add_to(row)
    assert sum(_feature_counts(row, bins, "tenure")) == BINNED_PER_REQUEST
    spaced = BinCounts(bins, now=0.0)
    stride = len(rows) // BINNED_PER_REQUEST
    _through_turns(spaced, rows[::stride], probabilities[::stride])
    assert (counts.inputs, counts.scores) == (bytearray(), bytearray())  # added: nothing held
    expected = [0.0] * bins.end
    spaced.add_to(expected)
    assert row == expected


@pytest.mark.parametrize("normal_requests", [0, 72], ids=["alone", "beside the test split's traffic"])
def test_one_clients_extreme_batches_cannot_move_a_field_past_stable(model, customers, normal_requests):
    """Three requests of 10,000 extreme customers, alone in the window (then no verdict: they weigh as
    60 customers), or beside the traffic of 1,440 real customers in requests of 20."""
    app = webtest.TestApp(create_app(model))
    real = [{field: value for field, value in customer.items() if field != TARGET} for customer in customers]
    for start in range(0, normal_requests * BINNED_PER_REQUEST, BINNED_PER_REQUEST):
        app.post_json("/predict", real[start : start + BINNED_PER_REQUEST])
    for _ in range(3):
        app.post_json("/predict", [extreme_customer(model)] * 10_000)
    monitoring = app.get("/model/monitoring").json
    features = [*monitoring["features"], monitoring["score"]]
    if normal_requests:
        assert all(feature["status"] == "stable" for feature in features), [(f["feature"], f["psi"]) for f in features]
    else:
        assert all(feature["status"] is None and feature["customers"] == 60 for feature in features)


@pytest.mark.slow
@pytest.mark.parametrize("server_name", ["gunicorn", "waitress"])
def test_the_customers_binned_by_any_thread_are_in_the_window_at_once(serve, server_name, book_customer):
    """Waitress's threads each bin into a row of their own, and a thread may not serve again for long:
    each adds what it binned as it ends a request. (A gunicorn worker, once a second.)"""
    server = serve(server_name, env={"WEB_CONCURRENCY": "1"})
    body = json.dumps([book_customer] * BINNED_PER_REQUEST).encode()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: server.post("/predict", body, "application/json")[0], range(40)))
    assert statuses == [200] * 40
    if server_name == "gunicorn":
        time.sleep(1.1)
        assert server.get("/ping")[0] == 200  # a request ended after the second: the worker adds its bins
    monitoring = json.loads(server.get("/model/monitoring")[1])
    assert monitoring["score"]["customers"] == 40 * BINNED_PER_REQUEST
