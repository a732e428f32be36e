"""The observers (churn.http.observers): who is told of what, and a lone customer counted, binned and
logged as the same customer in a batch is."""

import json

import webtest

from app import create_app
from bench.servers import metric_samples
from churn.core.prediction_log import PredictionLog, open_log
from churn.core.scorer import Scores
from churn.http.config import Settings
from churn.http.observers import Events


class _Batches:
    """An observer of customers scored that takes them as Scores only."""

    def __init__(self):
        self.told = []

    def customers_scored(self, request, interface, scores):
        self.told.append((request, interface, scores))


class _Lone(_Batches):
    """One that also takes a lone customer as such."""

    def customer_scored(self, request, interface, row, customerid, probability, decision):
        self.told.append((request, interface, row, customerid, probability, decision))


class _Answers:
    def request_answered(self, request, status, size):
        pass


def test_each_event_tells_the_observers_that_take_it_in_their_order():
    batches, lone, answers = _Batches(), _Lone(), _Answers()
    events = Events([batches, None, answers, lone])
    assert events.scored == (batches.customers_scored, lone.customers_scored)
    assert events.answered == (answers.request_answered,)
    assert events.started == events.refused == ()
    assert len(events.scored_one) == 2 and events.scored_one[1] == lone.customer_scored


def test_a_lone_customer_reaches_an_observer_of_batches_as_the_scores_of_one():
    batches, lone = _Batches(), _Lone()
    for notify in Events([batches, lone]).scored_one:
        notify("request", "json", ("row",), "7590-VHVEG", 0.25, False)
    assert batches.told == [("request", "json", Scores((("row",),), ("7590-VHVEG",), (0.25,), (False,), ()))]
    assert lone.told == [("request", "json", ("row",), "7590-VHVEG", 0.25, False)]


def _customer_lines(exposition):
    """The samples of the customers scored and their probabilities, all interfaces' summed by decision."""
    samples = metric_samples(exposition)
    return {
        key: value
        for key, value in samples.items()
        if key[0].startswith("churn_prediction_probability") or key[0] == "churn_customers_scored_total"
    }


def test_a_lone_customer_is_counted_and_binned_as_the_same_customer_in_a_batch(model, book_customer):
    risky = dict(book_customer, contract="month-to-month", tenure=1)
    lone, batch = webtest.TestApp(create_app(model)), webtest.TestApp(create_app(model))
    for customer in (book_customer, risky):
        lone.post_json("/predict", customer)
        batch.post_json("/predict", [customer])
    assert _customer_lines(lone.get("/metrics").text) == _customer_lines(batch.get("/metrics").text)
    assert lone.get("/model/monitoring").json == batch.get("/model/monitoring").json  # the drift's bins


def test_a_lone_customer_is_logged_as_the_same_customer_in_a_batch(model, book_customer, tmp_path):
    lines = {}
    for shape, body in (("lone", book_customer), ("batch", [book_customer])):
        path = tmp_path / f"{shape}.jsonl"
        log = PredictionLog(open_log(path), model, flush_seconds=3600)
        app = webtest.TestApp(create_app(model, Settings(prediction_log=log)))
        app.post_json("/predict", body, headers={"X-Request-ID": "same-request"})
        log.close()
        [line] = path.read_text().splitlines()
        lines[shape] = {key: value for key, value in json.loads(line).items() if key != "time"}
    assert lines["lone"] == lines["batch"]
