"""The prediction log's lines: their schema, the keyed hash of the customerid, and whole lines from
many processes writing to one file or one pipe at once."""

import hashlib
import hmac
import json
import os
import subprocess
import sys

import pytest

from churn.core.log_lines import BatchedLines, utc_time
from churn.core.model import score
from churn.core.prediction_log import (
    HASH_PREFIX,
    MAX_LINE_BYTES,
    SCHEMA_VERSION,
    PredictionLog,
    customerid_hash,
)
from churn.core.schema import ID_FIELD, MAX_ID_CHARS, validate_customer
from churn.core.scorer import Scores


@pytest.fixture
def customer(model, book_customer):
    return validate_customer({**book_customer, "customerid": "7590-VHVEG"}, model.schema)


def _log(tmp_path, model, **options):
    fd = os.open(tmp_path / "predictions.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    return PredictionLog(fd, model, clock=lambda: 1_764_710_100.123, **options)


def _scores(model, customers, probabilities, decisions):
    """Validated customers with these scores, as a Scorer gives them."""
    return Scores([model.row(c) for c in customers], [c.get(ID_FIELD) for c in customers], probabilities, decisions, [])


def test_a_line_holds_the_schema_time_request_model_customer_inputs_and_score(tmp_path, model, customer):
    log = _log(tmp_path, model)
    probability = score(model, [customer])[0]
    [line] = log.lines("json", "req-1", _scores(model, [customer], [probability], [probability >= model.threshold]))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {
        "schema": SCHEMA_VERSION,
        "time": "2025-12-02T21:15:00.123Z",
        "request_id": "req-1",
        "interface": "json",
        "model_version": model.version,
        "customerid": "7590-VHVEG",
        "inputs": {field: customer[field] for field in model.schema.fields},
        "churn_probability": probability,
        "churn": probability >= model.threshold,
    }


def test_with_an_id_key_the_line_holds_the_ids_keyed_hash_and_not_the_id(tmp_path, model, customer):
    log = _log(tmp_path, model, id_key=b"secret")
    [line] = log.lines("file", "req-2", _scores(model, [customer], [0.5], [True]))
    written = json.loads(line)
    assert "customerid" not in written and b"7590-VHVEG" not in line
    expected = hmac.new(b"secret", b"7590-VHVEG", hashlib.sha256).hexdigest()
    assert written["customerid_hash"] == HASH_PREFIX + expected == customerid_hash("7590-VHVEG", b"secret")


def test_a_customer_without_an_id_has_none_in_its_line(tmp_path, model, customer):
    anonymous = {field: value for field, value in customer.items() if field != "customerid"}
    [line] = _log(tmp_path, model).lines("v2", "req-3", _scores(model, [anonymous], [0.25], [False]))
    assert "customerid" not in json.loads(line) and "customerid_hash" not in json.loads(line)


def test_the_longest_customer_makes_a_line_under_the_limit(tmp_path, model, customer):
    longest = {
        field: max(values, key=lambda value: len(json.dumps(value)))
        for field, values in model.schema.categorical.items()
    }
    longest |= {field: 999_999_999.123456789 for field in model.schema.numerical}
    longest["customerid"] = "\u2028" * MAX_ID_CHARS  # each written as \\u2028: six bytes
    [line] = _log(tmp_path, model).lines(
        "predict.py", "r" * 64, _scores(model, [longest], [0.123456789012345678], [False])
    )
    assert 1000 < len(line) < MAX_LINE_BYTES


def test_an_unknown_interface_is_refused(tmp_path, model, customer):
    with pytest.raises(ValueError, match="interface must be one of json, file, v2, predict.py"):
        _log(tmp_path, model).lines("grpc", "r", _scores(model, [customer], [0.5], [True]))


def test_times_are_utc_to_the_millisecond():
    assert utc_time(0.0) == "1970-01-01T00:00:00.000Z" and utc_time(1.9994) == "1970-01-01T00:00:01.999Z"
    assert utc_time(1.9996) == "1970-01-01T00:00:02.000Z"


def test_lines_are_written_in_writes_of_whole_lines_within_the_atomic_size(tmp_path, model, customer, monkeypatch):
    log = _log(tmp_path, model)
    lines = log.lines("json", "r", _scores(model, [customer] * 500, [0.5] * 500, [True] * 500))
    sizes = []
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: sizes.append(len(data)) or real_write(fd, data))
    log.write(lines)
    assert sum(sizes) == sum(map(len, lines)) and max(sizes) <= log.atomic_bytes and len(sizes) > 1
    written = (tmp_path / "predictions.jsonl").read_bytes()
    assert written == b"".join(lines)


_WRITER = """
import os, sys
from churn.core.model import load_model
from churn.core.prediction_log import PredictionLog
from churn.core.schema import validate_customer
from churn.core.scorer import Scores
import json
model = load_model("model/churn-model.json")
customer = validate_customer(json.loads(sys.argv[2]), model.schema)
fd = 1 if sys.argv[1] == "-" else os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
log = PredictionLog(fd, model)
for piece in range(40):
    ids = [f"{os.getpid()}-{piece}-{n}" for n in range(50)]
    scores = Scores([model.row(customer)] * 50, ids, [0.5] * 50, [True] * 50, [])
    log.write(log.lines("predict.py", str(os.getpid()), scores))
"""


def _writers(project_dir, book_customer, destination, stdout=None):
    return [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, destination, json.dumps(book_customer)], cwd=project_dir, stdout=stdout
        )
        for _ in range(4)
    ]


def _assert_whole_lines(text):
    lines = text.splitlines()
    assert len(lines) == 4 * 40 * 50
    assert len({json.loads(line)["customerid"] for line in lines}) == len(lines)  # each line whole, and once


def test_four_processes_appending_to_one_file_never_interleave_their_lines(project_dir, book_customer, tmp_path):
    destination = tmp_path / "predictions.jsonl"
    for writer in _writers(project_dir, book_customer, str(destination)):
        assert writer.wait(timeout=120) == 0
    _assert_whole_lines(destination.read_text())


@pytest.mark.skipif(sys.platform == "win32", reason="a pipe shared by processes, as gunicorn's workers share stdout")
def test_four_processes_writing_to_one_pipe_never_interleave_their_lines(project_dir, book_customer):
    read_end, write_end = os.pipe()
    writers = _writers(project_dir, book_customer, "-", stdout=write_end)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    for writer in writers:
        assert writer.wait(timeout=120) == 0
    _assert_whole_lines(text)


def test_the_services_log_keeps_lines_until_its_batch_is_written_and_writes_nothing_once_closed(
    tmp_path, model, customer
):
    fd = os.open(tmp_path / "predictions.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    log = PredictionLog(fd, model, flush_seconds=3600)
    lines = log.lines("json", "r", _scores(model, [customer] * 3, [0.5] * 3, [True] * 3))
    log.write(lines[:2])
    log.write(lines[2:])
    assert (tmp_path / "predictions.jsonl").read_bytes() == b""
    log.close()  # writes what it kept
    assert (tmp_path / "predictions.jsonl").read_bytes() == b"".join(lines)
    log.write(lines)
    with pytest.raises(ValueError, match="the prediction log is closed"):
        log.flush()


def test_a_writer_that_cannot_keep_up_makes_the_requests_write_their_lines(monkeypatch):
    written = []
    batch = BatchedLines(written.append, 3600, "test")
    monkeypatch.setattr("churn.core.log_lines.MAX_KEPT_LINES", 10)
    batch.add(list(range(10)))
    assert written == []
    batch.add([10])
    assert written == [list(range(11))]
