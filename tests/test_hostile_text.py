"""Text no client can turn into a 5xx: a lone surrogate (JSON's "\\ud800", which is no character, so no
UTF-8 answer, log or file can hold it) is refused as the customerid it was sent as, the same in every
format, with the prediction log's id key, and by predict.py; a number's text reads as far as its bounds."""

import csv
import io
import json
import re

import pytest
import webtest

from app import create_app
from churn.core.customer_files import InputError
from churn.core.prediction_log import PredictionLog, open_log
from churn.core.schema import MAX_NUMBER, NOT_TEXT
from churn.http.config import Settings
from test_scorer import _predict

LONE = "x\ud800"
REFUSED = f"customerid: {NOT_TEXT}"
_KEY = b"a secret of sixteen or more"


def _body(customers):
    return json.dumps(customers).encode()  # ensure_ascii: the surrogate travels as \ud800, legal JSON


@pytest.mark.parametrize("accept", ["application/json", "text/csv", "application/x-ndjson"])
def test_a_lone_surrogate_id_is_refused_in_every_answer_format(app, book_customer, accept):
    one = dict(book_customer, customerid=LONE)
    answer = app.post("/predict", _body(one), content_type="application/json", headers={"Accept": accept}, status=422)
    assert answer.json["detail"] == REFUSED
    many = [dict(book_customer, customerid=f"c{n}") for n in range(1500)] + [one]  # past where answers stream
    answer = app.post("/predict", _body(many), content_type="application/json", headers={"Accept": accept}, status=422)
    assert answer.json["detail"] == f"customer 1500: {REFUSED}"
    lines = b"\n".join(_body(customer) for customer in (book_customer, one))
    answer = app.post("/predict", lines, content_type="application/x-ndjson", headers={"Accept": accept}, status=422)
    assert answer.json["detail"] == f"line 2: {REFUSED}"


def test_a_lone_surrogate_id_is_refused_with_the_logs_id_key_and_the_batch_with_it(model, book_customer, tmp_path):
    log = PredictionLog(open_log(str(tmp_path / "predictions.jsonl")), model, _KEY)
    app = webtest.TestApp(create_app(model, Settings(prediction_log=log)))
    answer = app.post("/predict", _body([book_customer, dict(book_customer, customerid=LONE)]),
                      content_type="application/json", status=422)  # fmt: skip
    assert answer.json["detail"] == f"customer 1: {REFUSED}"
    assert app.post_json("/predict", dict(book_customer, customerid="c1")).json["customerid"] == "c1"


def test_predict_py_refuses_a_lone_surrogate_id_by_its_line_and_writes_it_as_a_reject(model, book_customer, tmp_path):
    source = tmp_path / "customers.jsonl"
    source.write_bytes(b"\n".join(_body(c) for c in (book_customer, dict(book_customer, customerid=LONE))) + b"\n")
    with pytest.raises(InputError, match=f"^line 2: {re.escape(REFUSED)}$"):
        _predict(model, source, "--output", tmp_path / "scores.csv")
    _predict(model, source, "--output", tmp_path / "scores.csv", "--skip-invalid")
    with open(tmp_path / "scores.rejects.csv", encoding="utf-8", newline="") as rejects:
        assert list(csv.reader(rejects))[1] == ["2", "", REFUSED]


def test_a_numbers_text_reads_as_far_as_its_bounds_as_the_number_does(app, book_customer):
    at_bound = app.post_json("/predict", dict(book_customer, totalcharges=str(MAX_NUMBER))).json
    assert at_bound == app.post_json("/predict", dict(book_customer, totalcharges=float(MAX_NUMBER))).json
    over = app.post_json("/predict", dict(book_customer, totalcharges=str(MAX_NUMBER + 1)), status=422).json
    assert over["detail"] == f'totalcharges: must be a number, not "{MAX_NUMBER + 1}"'  # as its pattern documents


def test_numbers_of_thousands_of_digits_in_a_query_or_header_get_a_4xx_in_our_words(model, app, book_customer):
    problem = app.post_json("/predict?explain=true&top=" + "9" * 5000, book_customer, status=400).json["detail"]
    assert problem.startswith("top must be a whole number from 1 to ") and "digits" not in problem
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/predict", "CONTENT_TYPE": "application/json",
               "CONTENT_LENGTH": "9" * 5000, "wsgi.input": io.BytesIO(b"{}"), "wsgi.errors": io.StringIO()}  # fmt: skip
    statuses = []
    answer = b"".join(create_app(model)(environ, lambda status, headers: statuses.append(status)))
    assert statuses == ["413 Request Entity Too Large"]
    assert json.loads(answer)["detail"] == "the body is longer than any limit: its Content-Length has 5000 digits"
