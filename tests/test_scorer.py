"""One scorer for every interface: a rule given to the model's schema holds, with the same words, for a
JSON customer, a CSV file, the Open Inference Protocol, predict.py on text and on Parquet (the Arrow
path), and /openapi.json says it."""

import contextlib
import csv
import dataclasses
import io
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import webtest

import predict
from app import create_app
from churn.batch.files import Outputs
from churn.batch.run import run
from churn.batch.tables import BatchScorer
from churn.core.customer_files import InputError
from churn.core.scorer import Scorer
from churn.http.open_inference import inference_request

MAXIMUM = 72  # months: a bound on tenure that the shipped model does not have
REFUSED = f"tenure: must be at most {MAXIMUM}"


@pytest.fixture(scope="module")
def bounded(model):
    """The shipped model with one more rule: a tenure of at most MAXIMUM months."""
    rule = dataclasses.replace(model.schema.rule("tenure"), maximum=MAXIMUM)
    return dataclasses.replace(model, schema=model.schema.with_rule(rule))


@pytest.fixture
def customers(book_customer):
    """The book's customer, and the same customer a month past the bound."""
    return [book_customer, dict(book_customer, customerid="too-long-a-customer", tenure=MAXIMUM + 1)]


def test_the_rule_is_in_the_openapi_document(bounded):
    document = webtest.TestApp(create_app(bounded)).get("/openapi.json").json
    tenure = document["components"]["schemas"]["Customer"]["properties"]["tenure"]
    assert tenure["oneOf"][0]["maximum"] == MAXIMUM


def test_the_rule_refuses_a_json_customer_naming_the_field(bounded, customers):
    app = webtest.TestApp(create_app(bounded))
    assert app.post_json("/predict", customers[0]).json["customerid"] == customers[0]["customerid"]
    assert app.post_json("/predict", customers[1], status=422).json["detail"] == REFUSED
    assert app.post_json("/predict", customers, status=422).json["detail"] == f"customer 1: {REFUSED}"


def test_the_rule_refuses_a_line_of_a_csv_file(bounded, customers):
    app = webtest.TestApp(create_app(bounded))
    problem = app.post("/predict", _csv(customers), content_type="text/csv", status=422).json
    assert problem["detail"] == f"line 3: {REFUSED}"


def test_the_rule_refuses_a_row_of_an_inference_request(bounded, customers):
    app = webtest.TestApp(create_app(bounded))
    request = inference_request(customers, bounded.schema)
    assert app.post_json(f"/v2/models/{bounded.name}/infer", request, status=400).json == {"error": f"row 1: {REFUSED}"}


def test_the_rule_refuses_a_line_of_predict_pys_text_file(bounded, customers, tmp_path):
    source = tmp_path / "customers.csv"
    source.write_text(_csv(customers))
    with pytest.raises(InputError, match=f"^line 3: {REFUSED}$"):
        _predict(bounded, source, "--output", tmp_path / "scores.csv")


# predict.py sends the model it read to each process it scores with: the rule goes with it.
_IN_OTHER_PROCESSES = """
import contextlib, dataclasses, sys
import predict
from churn.batch.files import Outputs
from churn.batch.run import run
from churn.core.customer_files import InputError
from churn.core.model import load_model
model = load_model("model/churn-model.json")
rule = dataclasses.replace(model.schema.rule("tenure"), maximum=int(sys.argv[3]))
model = dataclasses.replace(model, schema=model.schema.with_rule(rule))
args = predict.parse_args([sys.argv[1], "--jobs", "2", "--output", sys.argv[2]])
try:
    with contextlib.ExitStack() as stack:
        run(model, args, Outputs(stack, args.output, None, None), cpus=2)
except InputError as error:
    print(error)
"""


def test_the_rule_goes_with_the_model_to_predict_pys_other_processes(project_dir, customers, tmp_path):
    source = tmp_path / "customers.csv"
    source.write_text(_csv(customers))
    command = [sys.executable, "-c", _IN_OTHER_PROCESSES, source, tmp_path / "scores.csv", str(MAXIMUM)]
    completed = subprocess.run(command, cwd=project_dir, capture_output=True, text=True, timeout=120)
    assert completed.stdout == f"line 3: {REFUSED}\n", completed.stderr


def test_the_rule_refuses_a_row_of_predict_pys_parquet_file(bounded, customers, tmp_path):
    source = tmp_path / "customers.parquet"
    pq.write_table(pa.Table.from_pylist(customers), source)
    with pytest.raises(InputError, match=f"^row 2: {REFUSED}$"):
        _predict(bounded, source, "--output", tmp_path / "scores.parquet")


def test_the_rule_refuses_a_row_of_an_arrow_batch(bounded, customers):
    batch = pa.RecordBatch.from_pylist(customers)
    scored = BatchScorer(bounded, batch.schema.names).score(batch)
    assert scored.rejects == [(1, "too-long-a-customer", REFUSED)] and scored.results.num_rows == 1


def test_the_scorer_names_each_refused_customer_by_its_place_and_id(model, book_customer):
    scores = Scorer(model).score([book_customer, {"customerID": "x1", "tenure": -1}, book_customer])
    assert len(scores.rows) == 2 and scores.ids == [book_customer["customerid"]] * 2
    [refused] = scores.refused
    assert refused.index == 1 and refused.customerid == "x1"
    assert {"field": "tenure", "message": "must not be negative, got -1"} in refused.errors


def _csv(customers):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(customers[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(customers)
    return out.getvalue()


def _predict(model, source, *options):
    """predict.py's run on `source` with `model`, as its command line would run it."""
    args = predict.parse_args([str(source), *map(str, options)])
    with contextlib.ExitStack() as stack:
        return run(model, args, Outputs(stack, args.output, args.rejects, args.prediction_log), cpus=1)
