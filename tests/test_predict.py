"""predict.py scores files with the service's own code: the same numbers, streamed."""

import csv
import io
import json
import os
import signal
import subprocess
import sys

import pytest

from churn.core.artifact import DEFAULT_MODEL_PATH, with_content_hash
from conftest import start_process

PREDICT = [sys.executable, "predict.py"]


def _run(project_dir, *args, stdin=None):
    return subprocess.run(
        [*PREDICT, *map(str, args)], cwd=project_dir, input=stdin, capture_output=True, text=True, timeout=120
    )


def test_the_whole_raw_csv_scores_exactly_as_the_service(project_dir, data_path, app):
    result = _run(project_dir, data_path)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    with open(data_path, newline="") as file:
        raw = list(csv.DictReader(file))
    served = app.post_json("/predict", raw).json
    assert len(rows) == len(served) == len(raw)
    for row, answer in zip(rows, served, strict=True):
        assert row["customerid"] == answer["customerid"]
        assert float(row["churn_probability"]) == answer["churn_probability"]
        assert row["churn"] == str(answer["churn"]).lower()
    assert f"predict.py: scored {len(raw)} customers in" in result.stderr and "rows/s" in result.stderr


def test_json_lines_with_explanations_match_the_service(project_dir, tmp_path, book_customer, app):
    customers = [book_customer, dict(book_customer, customerid="risky", contract="month-to-month", tenure=1)]
    path = tmp_path / "customers.jsonl"
    path.write_text("".join(json.dumps(customer) + "\n" for customer in customers))
    result = _run(project_dir, path, "--format", "jsonl", "--explain", "--top", "all")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == app.post_json("/predict?explain=true&top=all", customers).json


@pytest.mark.parametrize("layout", ["array", "pretty array", "json lines"])
def test_standard_input_takes_any_json_layout(project_dir, book_customer, layout):
    customers = [book_customer, dict(book_customer, customerid="second")]
    text = {
        "array": json.dumps(customers),
        "pretty array": json.dumps(customers, indent=4),
        "json lines": "\n".join(map(json.dumps, customers)),
    }[layout]
    result = _run(project_dir, "-", stdin=text)
    assert result.returncode == 0, result.stderr
    assert [row["customerid"] for row in csv.DictReader(io.StringIO(result.stdout))] == ["8879-zkjof", "second"]


def test_one_customer_prints_like_the_books_script(project_dir, model, book_probability):
    result = _run(project_dir, project_dir / "examples" / "customer.json")  # the book's customer, as shipped
    prediction, verdict = result.stdout.splitlines()
    assert prediction.startswith("prediction: ") and len(prediction.split(".")[1]) == 3
    assert float(prediction.removeprefix("prediction: ")) == pytest.approx(book_probability, abs=0.0005 + 1e-12)
    assert verdict == ("verdict: Churn" if book_probability >= model.threshold else "verdict: Not churn")


def test_a_bad_row_stops_with_its_line_number(project_dir, tmp_path, data_path):
    lines = data_path.read_text().splitlines()[:6]
    lines[3] = lines[3].replace("Month-to-month", "Weekly")
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(lines) + "\n")
    result = _run(project_dir, path)
    assert result.returncode == 1
    assert f"predict.py: {path}: line 4: contract: unknown value" in result.stderr
    assert "--skip-invalid" in result.stderr


def test_skip_invalid_scores_the_rest_and_counts_what_it_skipped(project_dir, tmp_path, data_path):
    lines = data_path.read_text().splitlines()[:6]
    lines[3] = lines[3].replace("Month-to-month", "Weekly")
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(lines) + "\n")
    result = _run(project_dir, path, "--skip-invalid")
    assert result.returncode == 0
    assert len(list(csv.DictReader(io.StringIO(result.stdout)))) == 4
    assert "skipped line 4" in result.stderr and "skipped 1 invalid" in result.stderr


def test_a_row_with_more_values_than_columns_stops_with_its_line_not_a_traceback(project_dir, tmp_path, data_path):
    lines = data_path.read_text().splitlines()[:4]
    lines[2] += ",extra"
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(lines) + "\n")
    result = _run(project_dir, path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"predict.py: {path}: line 3: 1 more values than the header has columns" in result.stderr


def _customers_with_a_bad_third(book_customer, tmp_path):
    customers = [dict(book_customer, customerid=str(number)) for number in range(5)]
    customers[2]["tenure"] = -1
    path = tmp_path / "customers.jsonl"
    path.write_text("".join(json.dumps(customer) + "\n" for customer in customers))
    return path


def test_output_is_written_whole_or_not_at_all_when_a_later_row_fails(project_dir, tmp_path, book_customer):
    output = tmp_path / "out" / "scores.csv"
    output.parent.mkdir()
    result = _run(project_dir, _customers_with_a_bad_third(book_customer, tmp_path), "--output", output)
    assert result.returncode == 1 and "line 3: tenure" in result.stderr
    assert list(output.parent.iterdir()) == []


def test_a_failed_run_leaves_an_earlier_output_as_it_was(project_dir, tmp_path, book_customer):
    output = tmp_path / "scores.csv"
    output.write_text("an earlier run\n")
    result = _run(project_dir, _customers_with_a_bad_third(book_customer, tmp_path), "--output", output)
    assert result.returncode == 1 and output.read_text() == "an earlier run\n"


def test_a_successful_run_replaces_the_output_with_a_file_others_may_read(project_dir, tmp_path, book_customer):
    output = tmp_path / "out" / "scores.csv"
    output.parent.mkdir()
    result = _run(
        project_dir, _customers_with_a_bad_third(book_customer, tmp_path), "--skip-invalid", "--output", output
    )
    assert result.returncode == 0
    assert [row["customerid"] for row in csv.DictReader(io.StringIO(output.read_text()))] == ["0", "1", "3", "4"]
    rejects = output.with_suffix(".rejects.csv")
    assert sorted(output.parent.iterdir()) == sorted([rejects, output])
    if os.name == "posix":
        assert {path.stat().st_mode & 0o777 for path in (output, rejects)} == {0o666 & ~_umask()}


def test_skipped_rows_are_written_beside_the_output_with_their_line_and_problem(project_dir, tmp_path, book_customer):
    output = tmp_path / "scores.csv"
    result = _run(
        project_dir, _customers_with_a_bad_third(book_customer, tmp_path), "--skip-invalid", "--output", output
    )
    rejects = output.with_suffix(".rejects.csv")
    assert list(csv.DictReader(io.StringIO(rejects.read_text()))) == [
        {"line": "3", "customerid": "2", "problem": "tenure: must not be negative, got -1"}
    ]
    assert f"skipped 1 invalid (written to {rejects})" in result.stderr


def test_rejects_go_where_rejects_names(project_dir, tmp_path, book_customer):
    rejects = tmp_path / "bad rows.csv"
    result = _run(
        project_dir, _customers_with_a_bad_third(book_customer, tmp_path), "--skip-invalid", "--rejects", rejects
    )
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 1 + 4
    assert rejects.read_text().splitlines()[1].startswith('3,2,"tenure:')


def test_rejects_without_skip_invalid_is_a_usage_error(project_dir, tmp_path, book_customer):
    result = _run(project_dir, _customers_with_a_bad_third(book_customer, tmp_path), "--rejects", tmp_path / "r.csv")
    assert result.returncode == 2 and "--rejects names where --skip-invalid writes" in result.stderr


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_every_job_count_writes_the_same_output_in_the_inputs_order(project_dir, data_path, tmp_path, jobs):
    # Many pieces (RESULTS_PER_PIECE each) and a bad row among them, skipped in its place.
    text = data_path.read_text(encoding="utf-8")
    header, *rows = text.splitlines()
    rows[5000] = (
        rows[5000].replace("Month-to-month", "Weekly").replace("One year", "Weekly").replace("Two year", "Weekly")
    )
    path = tmp_path / "customers.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    one = _run(project_dir, path, "--skip-invalid", "--jobs", "1", "--output", tmp_path / "one.csv")
    many = _run(project_dir, path, "--skip-invalid", "--jobs", jobs, "--output", tmp_path / "many.csv")
    assert one.returncode == many.returncode == 0, many.stderr
    assert (tmp_path / "one.csv").read_text() == (tmp_path / "many.csv").read_text()
    rejected = list(csv.DictReader(io.StringIO((tmp_path / "many.rejects.csv").read_text())))
    assert [(row["line"], row["customerid"]) for row in rejected] == [("5002", rows[5000].split(",")[0])]


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_missing_file_is_one_clear_error(project_dir, tmp_path):
    result = _run(project_dir, tmp_path / "absent.csv")
    assert result.returncode == 2 and result.stderr.startswith("predict.py: error: ")


def test_ids_that_begin_like_a_formula_are_written_as_text_and_keep_the_quote_on_a_round_trip(
    project_dir, tmp_path, book_customer
):
    customers = [dict(book_customer, customerid=formula) for formula in ('=HYPERLINK("http://x","y")', "@SUM(A1)")]
    path = tmp_path / "customers.json"
    path.write_text(json.dumps(customers))
    first = _run(project_dir, path)
    ids = [row["customerid"] for row in csv.DictReader(io.StringIO(first.stdout))]
    assert ids == ['\'=HYPERLINK("http://x","y")', "'@SUM(A1)"]
    again = tmp_path / "again.json"  # the scored ids, sent back as the README says: with their quote
    again.write_text(json.dumps([dict(book_customer, customerid=customerid) for customerid in ids]))
    assert [row["customerid"] for row in csv.DictReader(io.StringIO(_run(project_dir, again).stdout))] == ids


def test_model_path_is_read_as_the_service_reads_it_relative_to_where_it_was_run(project_dir, tmp_path, book_customer):
    (tmp_path / "models").mkdir()
    artifact = json.loads(DEFAULT_MODEL_PATH.read_text())
    artifact["threshold"] = 0.01  # every customer churns, with this model
    (tmp_path / "models" / "eager.json").write_text(json.dumps(with_content_hash(artifact)))
    (tmp_path / "customer.json").write_text(json.dumps(book_customer))
    result = subprocess.run(
        [*PREDICT[:1], str(project_dir / "predict.py"), "customer.json"],
        cwd=tmp_path, env={**os.environ, "MODEL_PATH": "models/eager.json"}, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == "verdict: Churn"


def test_a_model_path_that_cannot_be_read_is_named(project_dir, book_customer, tmp_path):
    (tmp_path / "customer.json").write_text(json.dumps(book_customer))
    result = subprocess.run(
        [*PREDICT, tmp_path / "customer.json"], cwd=project_dir, env={**os.environ, "MODEL_PATH": "absent.json"},
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "absent.json" in result.stderr


def test_one_customer_is_counted_in_the_singular(project_dir, tmp_path, book_customer):
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(book_customer) + "\n")
    result = _run(project_dir, path, "--format", "csv")
    assert result.returncode == 0 and "predict.py: scored 1 customer in " in result.stderr


@pytest.mark.parametrize(
    ("name", "head", "what"),
    [
        ("customers.xlsx", b"PK\x03\x04", "is a zip archive, as an Excel .xlsx or a LibreOffice .ods workbook is"),
        ("customers.csv", b"PK\x03\x04", "is a zip archive, as an Excel .xlsx or a LibreOffice .ods workbook is"),
        ("customers.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "is an Excel .xls workbook"),
    ],
)
def test_a_spreadsheet_is_refused_in_one_line_saying_how_to_save_it(project_dir, tmp_path, name, head, what):
    path = tmp_path / name
    path.write_bytes(head + bytes(range(256)) * 40)
    result = _run(project_dir, path)
    assert result.returncode == 1
    advice = 'save it as "CSV UTF-8" (in Excel: File > Save As)'
    assert result.stderr == f"predict.py: {path}: the file {what}, not CSV or JSON text: {advice}\n"


@pytest.mark.parametrize("rows", [1, 20_000])  # the bad byte in the first block read, or far past it
def test_a_windows_1252_csv_is_refused_in_one_line_naming_the_byte(project_dir, tmp_path, data_path, rows):
    header, first = data_path.read_text().splitlines()[:2]
    path = tmp_path / "customers.csv"
    path.write_bytes("\n".join([header, *[first] * rows, first.replace(first.split(",")[0], "café")]).encode("cp1252"))
    result = _run(project_dir, path)
    assert result.returncode == 1
    assert result.stderr == (
        f"predict.py: {path}: the file is not UTF-8 text (byte 0xE9); if Excel wrote it, save it as "
        '"CSV UTF-8" (in Excel: File > Save As)\n'
    )


@pytest.mark.parametrize("skip_invalid", [[], ["--skip-invalid"]])
def test_a_missing_column_says_what_the_table_needs_and_no_hint_that_cannot_help(
    project_dir, tmp_path, data_path, skip_invalid
):
    lines = data_path.read_text().splitlines()[:3]
    drop = lines[0].split(",").index("Contract")
    path = tmp_path / "customers.csv"
    path.write_text("".join(",".join(v for i, v in enumerate(line.split(",")) if i != drop) + "\n" for line in lines))
    result = _run(project_dir, path, *skip_invalid)
    assert result.returncode == 1
    assert result.stderr == (
        f"predict.py: {path}: line 1: the header has no column for contract: a table needs a column for each of "
        "the model's 18 required fields (names ignore case)\n"  # totalcharges may be blank
    )


def test_ctrl_c_stops_with_one_line_status_130_and_nothing_written(project_dir, tmp_path):
    fifo, output = tmp_path / "customers.csv", tmp_path / "scores.csv"
    os.mkfifo(fifo)
    process = start_process([*PREDICT, fifo, "--output", output], cwd=project_dir, stderr=subprocess.PIPE, text=True)
    with open(fifo, "w"):  # opens once predict.py has: it is scoring, waiting for the first line
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr == f"predict.py: interrupted: nothing written to {output}\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["customers.csv"]
