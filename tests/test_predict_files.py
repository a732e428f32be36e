"""POST /predict takes files of customers (CSV, JSON lines) and answers CSV on request, as predict.py does."""

import csv
import io
import json
import random
import subprocess
import sys
import zipfile

import pytest
import webtest

from app import create_app
from churn.core.output_formats import OUTPUT_FORMATS
from churn.http.config import Settings
from churn.http.customers import MAX_REPORTED_ERRORS
from churn.http.web import WHOLE_TEXT_BYTES

CSV, JSON_LINES = "text/csv", "application/x-ndjson"


@pytest.fixture(scope="module")
def raw_csv(data_path):
    """The raw Telco CSV, as published."""
    return data_path.read_bytes()


def _first_lines(text, count):
    return "".join(text.splitlines(keepends=True)[:count])


def _csv_of(customers):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(customers[0]))
    writer.writeheader()
    writer.writerows(customers)
    return out.getvalue()


def test_the_raw_csv_scores_as_the_same_customers_sent_as_json(app, raw_csv, data_path):
    with open(data_path, newline="") as file:
        as_json = app.post_json("/predict", list(csv.DictReader(file))).json
    assert app.post("/predict", raw_csv, content_type=CSV).json == as_json


def test_csv_answered_as_csv_is_what_predict_py_writes(app, raw_csv, data_path, project_dir, tmp_path):
    answer = app.post("/predict?explain=true", raw_csv, content_type=CSV, headers={"Accept": CSV})
    assert answer.content_type == CSV
    output = tmp_path / "scores.csv"
    command = [sys.executable, "predict.py", str(data_path), "--explain", "--output", str(output)]
    subprocess.run(command, cwd=project_dir, check=True, capture_output=True)
    assert answer.body == output.read_bytes()


def test_json_lines_score_as_the_same_customers_sent_as_json(app, book_customer):
    customers = [book_customer, dict(book_customer, customerid="second", contract="month-to-month")]
    body = "".join(json.dumps(customer) + "\n" for customer in customers)
    assert app.post("/predict", body, content_type=JSON_LINES).json == app.post_json("/predict", customers).json


def test_one_customer_sent_as_json_can_be_answered_as_csv(app, book_customer):
    one = app.post_json("/predict", book_customer, headers={"Accept": "text/csv, application/json;q=0.5"})
    result = app.post_json("/predict", book_customer).json
    row = [book_customer["customerid"], repr(result["churn_probability"]), str(result["churn"]).lower()]
    assert list(csv.reader(io.StringIO(one.text))) == [["customerid", "churn_probability", "churn"], row]


@pytest.mark.parametrize("accept", ["*/*", "application/json", "text/csv;q=0.5, application/json", "text/html"])
def test_json_is_the_answer_unless_another_format_is_preferred(app, book_customer, accept):
    assert app.post_json("/predict", [book_customer], headers={"Accept": accept}).content_type == "application/json"


def test_json_lines_can_be_answered_as_json_lines_as_predict_py_writes_them(app, book_customer, project_dir, tmp_path):
    customers = [book_customer, dict(book_customer, customerid="second", contract="month-to-month")]
    body = "".join(json.dumps(customer) + "\n" for customer in customers)
    answer = app.post("/predict?explain=true", body, content_type=JSON_LINES, headers={"Accept": JSON_LINES})
    assert answer.content_type == JSON_LINES
    assert [json.loads(line) for line in answer.text.splitlines()] == app.post_json(
        "/predict?explain=true", customers
    ).json
    path, output = tmp_path / "customers.jsonl", tmp_path / "scores.jsonl"
    path.write_text(body)
    command = [sys.executable, "predict.py", str(path), "--explain", "--format", "jsonl", "--output", str(output)]
    subprocess.run(command, cwd=project_dir, check=True, capture_output=True)
    assert answer.body == output.read_bytes()


def test_predict_py_writes_a_json_array_as_the_service_answers_a_batch(app, book_customer, project_dir, tmp_path):
    customers = [book_customer, dict(book_customer, customerid=7590)]
    path = tmp_path / "customers.json"
    path.write_text(json.dumps(customers))
    command = [sys.executable, "predict.py", str(path), "--format", "json"]
    printed = subprocess.run(command, cwd=project_dir, check=True, capture_output=True).stdout
    assert printed == app.post_json("/predict", customers).body


def test_the_answer_formats_documented_are_the_ones_served(app):
    document = app.get("/openapi.json").json
    answers = document["paths"]["/predict"]["post"]["responses"]["200"]["content"]
    assert set(answers) == {output.media_type for output in OUTPUT_FORMATS}


def test_an_invalid_row_is_named_by_its_line_in_the_file(app, raw_csv):
    lines = raw_csv.decode().splitlines(keepends=True)[:6]
    lines[3] = lines[3].replace("Month-to-month", "Weekly")
    problem = app.post("/predict", "".join(lines), content_type=CSV, status=422).json
    assert problem["detail"].startswith('line 4: contract: unknown value "weekly"; allowed values: ')
    assert [(error["line"], error["field"]) for error in problem["errors"]] == [(4, "contract")]


def test_a_bad_json_line_is_named_by_its_line(app, book_customer):
    body = json.dumps(book_customer) + "\n\n" + json.dumps(dict(book_customer, tenure=-1)) + "\n{oops\n"
    problem = app.post("/predict", body, content_type=JSON_LINES, status=400).json
    assert problem["detail"].startswith("line 4: not valid JSON: ")


def test_a_row_with_more_values_than_the_header_gets_400_with_its_line(app, raw_csv):
    lines = raw_csv.decode().splitlines(keepends=True)[:4]
    lines[2] = lines[2].rstrip("\r\n") + ",extra\n"
    problem = app.post("/predict", "".join(lines), content_type=CSV, status=400).json
    assert problem["detail"] == "line 3: 1 more values than the header has columns"


def test_a_csv_whose_header_lacks_the_models_columns_gets_400_naming_them(app, model):
    header = ",".join(field.upper() for field in model.schema.fields if field != "tenure")
    problem = app.post("/predict", f"customerid,{header}\n", content_type=CSV, status=400).json
    assert problem["detail"] == (
        "line 1: the header has no column for tenure: a table needs a column for each of the model's "
        f"{len(model.schema.required)} required fields (names ignore case)"
    )


def test_a_csv_whose_header_names_none_of_the_models_columns_asks_whether_it_is_one(app, model):
    problem = app.post("/predict", "Name,Plan\nAda,gold\n", content_type=CSV, status=400).json
    assert problem["detail"] == (
        f"line 1: the header names none of the model's {len(model.schema.required)} fields "
        f"({', '.join(model.schema.required[:3])}, …): is the first line a header?"
    )


def test_a_json_line_that_is_an_array_is_an_invalid_customer_not_a_batch(app):
    problem = app.post("/predict", "[]\n", content_type=JSON_LINES, status=422).json
    assert problem["errors"] == [{"line": 1, "field": "customer", "message": "must be a JSON object, not an array"}]


def test_errors_of_a_large_file_are_capped_and_say_how_many_more(app, model):
    rows = "".join(",".join(["x"] * len(model.schema.fields)) + "\n" for _ in range(10))
    problem = app.post("/predict", ",".join(model.schema.fields) + "\n" + rows, content_type=CSV, status=422).json
    assert len(problem["errors"]) == MAX_REPORTED_ERRORS
    assert problem["detail"].startswith("line 2: gender: unknown value")
    assert problem["detail"].endswith(f"and {10 * len(model.schema.fields) - MAX_REPORTED_ERRORS} more errors")


def test_a_file_over_the_batch_limit_gets_422_with_the_limit(model, raw_csv):
    app = webtest.TestApp(create_app(model, Settings(max_batch=3)))
    text = raw_csv.decode()
    problem = app.post("/predict", _first_lines(text, 5), content_type=CSV, status=422).json
    assert problem["detail"] == "the file has more than 3 customers; the limit is 3 per request"
    assert len(app.post("/predict", _first_lines(text, 4), content_type=CSV).json) == 3


def test_a_file_over_the_size_limit_gets_413(model, raw_csv):
    app = webtest.TestApp(create_app(model, Settings(max_body_bytes=1000)))
    assert app.post("/predict", raw_csv, content_type=CSV, status=413).json["status"] == 413


@pytest.mark.parametrize("body", [b"", b" \n"])
def test_an_empty_file_gets_400_saying_what_to_send(app, body):
    problem = app.post("/predict", body, content_type=CSV, status=400).json
    assert problem["detail"] == "the body is empty; send customers as CSV with a header row, or as JSON lines"


def test_a_header_without_rows_scores_no_customer(app, model):
    assert app.post("/predict", ",".join(model.schema.fields) + "\n", content_type=CSV).json == []


def test_a_file_that_is_not_utf8_gets_400(app):
    assert app.post("/predict", b"gender\n\xff\xfe\n", content_type=CSV, status=400).json["detail"] == (
        'the body is not UTF-8 text (byte 0xFF at line 2); if Excel wrote it, save it as "CSV UTF-8" '
        "(in Excel: File > Save As)"
    )


def _windows_1252_file(customers, rows):
    """A CSV as Excel's plain "CSV" writes it on Windows: Windows-1252, an accented id on its last row."""
    last = dict(customers[-1], customerid="café")
    return _csv_of([*customers[:-1] * rows, last]).encode("cp1252")


@pytest.mark.parametrize("rows", [1, 5000])  # read whole, and read as it arrives (over WHOLE_TEXT_BYTES)
def test_a_windows_1252_file_gets_400_saying_how_to_save_it(app, book_customer, rows):
    body = _windows_1252_file([book_customer, book_customer], rows)
    detail = app.post("/predict", body, content_type=CSV, status=400).json["detail"]
    assert detail.startswith("the body is not UTF-8 text (byte 0xE9")
    assert detail.endswith('save it as "CSV UTF-8" (in Excel: File > Save As)')
    assert (f" at line {rows + 2})" in detail) == (len(body) <= WHOLE_TEXT_BYTES)


def _workbook(size):
    """A zip archive of `size` bytes or more, as an xlsx is (tests/test_spreadsheets.py has Calc's own)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/worksheets/sheet1.xml", random.Random(0).randbytes(size))
    return buffer.getvalue()


@pytest.mark.parametrize("size", [1000, 2 * WHOLE_TEXT_BYTES])
@pytest.mark.parametrize("content_type", [CSV, JSON_LINES, "application/json"])
def test_a_spreadsheet_gets_400_saying_it_is_one(app, size, content_type):
    detail = app.post("/predict", _workbook(size), content_type=content_type, status=400).json["detail"]
    assert detail == (
        "the body is a zip archive, as an Excel .xlsx or a LibreOffice .ods workbook is, not CSV or JSON text: "
        'save it as "CSV UTF-8" (in Excel: File > Save As)'
    )


def test_synthetic_customers_in_our_column_names_score_as_json(app, model, book_customer):
    customers = [dict(book_customer, customerid=f"c{n}", tenure=n) for n in range(5)]
    assert app.post("/predict", _csv_of(customers), content_type=CSV).json == app.post_json("/predict", customers).json
