"""predict.py scores files with the service's own code: the same numbers, streamed."""

import csv
import io
import json
import os
import subprocess
import sys

import pytest

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
