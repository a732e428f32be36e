"""The service's prediction log: a line per customer it scores, from every interface, written only for
requests it answers with scores; whole lines from every worker of a real server."""

import csv
import io
import json
import os
import time

import pytest
import webtest

from app import create_app
from bench.hostile_lifecycle import stop_with_a_slow_reader
from churn.core.log_lines import BatchedLines
from churn.core.prediction_log import PredictionLog, customerid_hash, open_log
from churn.http.config import Settings
from churn.http.open_inference import inference_request
from churn.http.web import SMALL_BODY_BYTES
from conftest import start_process

_KEY = b"sixteen+ characters of secret"


@pytest.fixture
def log_path(tmp_path):
    return tmp_path / "predictions.jsonl"


def _app(model, log_path, id_key=None):
    log = PredictionLog(open_log(log_path), model, id_key)
    return webtest.TestApp(create_app(model, Settings(prediction_log=log)))


def _logged(log_path):
    return [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.exists() else []


def _customers(book_customer, count):
    return [{**book_customer, "customerid": f"C-{n}"} for n in range(count)]


def test_one_customer_is_logged_with_its_request_id_model_inputs_and_the_answer(model, log_path, book_customer):
    answer = _app(model, log_path).post_json("/predict", {**book_customer, "customerid": "7590-VHVEG"})
    [line] = _logged(log_path)
    assert line["request_id"] == answer.headers["X-Request-ID"] and line["interface"] == "json"
    assert line["model_version"] == model.version and line["customerid"] == "7590-VHVEG"
    assert line["churn_probability"] == answer.json["churn_probability"] and line["churn"] == answer.json["churn"]
    assert set(line["inputs"]) == set(model.schema.fields) and line["inputs"]["contract"] == book_customer["contract"]


@pytest.mark.parametrize("explain", [False, True])
def test_a_batch_is_logged_a_line_per_customer_in_order(model, log_path, book_customer, explain):
    customers = _customers(book_customer, 30)
    path = "/predict?explain=true" if explain else "/predict"
    answer = _app(model, log_path).post_json(path, customers, headers={"X-Request-ID": "batch-1"})
    logged = _logged(log_path)
    assert [line["customerid"] for line in logged] == [result["customerid"] for result in answer.json]
    assert [line["churn_probability"] for line in logged] == [result["churn_probability"] for result in answer.json]
    assert {line["request_id"] for line in logged} == {"batch-1"}


def test_a_large_streamed_file_is_logged_whole_as_the_file_interface(model, log_path, book_customer):
    fields = model.schema.fields
    out = io.StringIO()
    writer = csv.DictWriter(out, ["customerid", *fields], extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for n in range(2000):
        writer.writerow({**{field.lower(): value for field, value in book_customer.items()}, "customerid": n})
    assert len(out.getvalue()) > SMALL_BODY_BYTES
    answer = _app(model, log_path).post("/predict", out.getvalue(), content_type="text/csv")
    logged = _logged(log_path)
    assert len(logged) == 2000 == len(answer.json) and {line["interface"] for line in logged} == {"file"}
    assert [line["customerid"] for line in logged] == [str(n) for n in range(2000)]


def test_the_open_inference_protocol_is_logged_as_v2(model, log_path, book_customer):
    request = inference_request(_customers(book_customer, 3), model.schema)
    answer = _app(model, log_path).post_json(f"/v2/models/{model.name}/infer", request).json
    logged = _logged(log_path)
    probabilities = next(output["data"] for output in answer["outputs"] if output["name"] == "churn_probability")
    assert [line["churn_probability"] for line in logged] == probabilities
    assert {line["interface"] for line in logged} == {"v2"}


def test_a_refused_request_logs_nothing(model, log_path, book_customer):
    app = _app(model, log_path)
    customers = [*_customers(book_customer, 5), {**book_customer, "tenure": -1}]
    app.post_json("/predict", customers, status=422)
    app.post_json("/predict", {**book_customer, "contract": "forever"}, status=422)
    app.post_json("/predict", _customers(book_customer, 20_000), status=422)  # over the batch limit
    assert _logged(log_path) == []


def test_with_an_id_key_the_log_holds_only_each_ids_keyed_hash(model, log_path, book_customer):
    _app(model, log_path, id_key=_KEY).post_json("/predict", _customers(book_customer, 2))
    logged = _logged(log_path)
    assert [line["customerid_hash"] for line in logged] == [customerid_hash(f"C-{n}", _KEY) for n in range(2)]
    assert "C-0" not in log_path.read_text()


def test_with_the_log_off_nothing_is_written_and_answers_are_the_same(model, book_customer):
    on = webtest.TestApp(create_app(model, Settings(prediction_log=None)))
    assert on.post_json("/predict", book_customer).json["churn_probability"] > 0


def test_every_worker_of_a_real_server_logs_whole_lines_to_its_standard_output(serve, book_customer, model):
    server = serve("gunicorn", env={"WEB_CONCURRENCY": "2", "PREDICTION_LOG": "stdout", "ACCESS_LOG": "off"})
    batch = json.dumps(_customers(book_customer, 200)).encode()
    for _ in range(20):
        assert server.post("/predict", batch, "application/json")[0] == 200
    server.wait_until(lambda: server.log().count('{"schema": 1') >= 4000)
    lines = [line for line in server.log().splitlines() if line.startswith('{"schema": 1')]
    logged = [json.loads(line) for line in lines]
    assert len(logged) == 4000 and len({line["request_id"] for line in logged}) == 20
    assert all(line["model_version"] == model.version for line in logged)


def test_a_file_log_is_shared_by_every_worker(serve, book_customer, tmp_path):
    path = tmp_path / "predictions.jsonl"
    server = serve("gunicorn", env={"WEB_CONCURRENCY": "2", "PREDICTION_LOG": str(path)})
    body = json.dumps(book_customer).encode()
    for _ in range(300):
        assert server.post("/predict", body, "application/json")[0] == 200
    server.wait_until(lambda: len(_logged(path)) >= 300)  # within FLUSH_SECONDS
    logged = _logged(path)
    assert len(logged) == 300 and len({line["request_id"] for line in logged}) == 300
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o640 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.slow
@pytest.mark.parametrize("server_name", ["gunicorn", "waitress"])
def test_a_graceful_stop_writes_every_line_kept_even_to_a_slow_reader(server_name, tmp_path):
    stopped = stop_with_a_slow_reader(server_name, tmp_path / "stderr.log", start=start_process)
    assert stopped["exit"] == 0 and stopped["customers_answered"] == 20_000, stopped
    assert stopped["prediction_lines"] == 20_000 and stopped["access_lines_of_predict"] == 20, stopped
    assert stopped["said_unwritten"] == [], stopped


def test_lines_a_stalled_reader_cannot_take_at_exit_are_counted_and_said(capsys):
    written = []

    def stalled(lines):
        written.extend(lines)
        time.sleep(10)

    batch = BatchedLines(stalled, flush_seconds=60, name="prediction log")
    batch._lines = [f"line {n}" for n in range(2500)]  # kept, the writer not yet run
    started = time.monotonic()
    assert batch.flush_at_exit(seconds=0.3) == 2500 and written  # the first thousand's write never returned
    assert time.monotonic() - started < 2
    said = capsys.readouterr().err
    assert (
        said == "churn service: the prediction log could not write its last 2500 lines at the stop within 0.3 s"
        " (its reader is too slow, or gone)\n"
    )
