"""predict.py --prediction-log: a line per scored customer, the service's schema, appended only when
the run succeeds; from text and Parquet alike, on any number of jobs."""

import csv
import io
import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from churn.core.prediction_log import customerid_hash

_KEY = "a key of sixteen characters or more"


def _run(project_dir, *args, env=None):
    command = [sys.executable, "predict.py", *map(str, args)]
    environment = {**os.environ, **(env or {})}
    return subprocess.run(command, cwd=project_dir, capture_output=True, text=True, timeout=300, env=environment)


def _logged(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _without_time_and_run(lines):
    return [{key: value for key, value in line.items() if key not in ("time", "request_id")} for line in lines]


@pytest.fixture(scope="module")
def csv_run(project_dir, data_path, tmp_path_factory):
    """The raw data set scored from its CSV, with its prediction log: (scores by row, log lines)."""
    folder = tmp_path_factory.mktemp("csv")
    result = _run(project_dir, data_path, "--output", folder / "s.csv", "--prediction-log", folder / "p.jsonl")
    assert result.returncode == 0, result.stderr
    scores = list(csv.DictReader(io.StringIO((folder / "s.csv").read_text())))
    return scores, _logged(folder / "p.jsonl")


def test_every_scored_customer_is_logged_with_its_score_and_one_run_id(csv_run, model):
    scores, logged = csv_run
    assert [line["customerid"] for line in logged] == [row["customerid"] for row in scores]
    assert [repr(line["churn_probability"]) for line in logged] == [row["churn_probability"] for row in scores]
    assert len({line["request_id"] for line in logged}) == 1
    assert {(line["interface"], line["model_version"], line["schema"]) for line in logged} == {
        ("predict.py", model.version, 1)
    }


@pytest.mark.parametrize(("jobs", "explain"), [("1", False), ("2", False), ("2", True)])
def test_parquet_logs_the_lines_its_csv_logs(project_dir, data_path, tmp_path, csv_run, jobs, explain):
    header = data_path.read_text(encoding="utf-8").split("\n", 1)[0].split(",")
    options = pcsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()))
    pq.write_table(pcsv.read_csv(data_path, convert_options=options), tmp_path / "c.parquet")
    extra = ["--explain"] if explain else []
    log = tmp_path / "p.jsonl"
    arguments = ["--output", tmp_path / "s.parquet", "--jobs", jobs, "--prediction-log", log, *extra]
    result = _run(project_dir, tmp_path / "c.parquet", *arguments)
    assert result.returncode == 0, result.stderr
    logged, expected = _without_time_and_run(_logged(log)), _without_time_and_run(csv_run[1])
    for line, wanted in zip(logged, expected, strict=True):  # NumPy's exp() may differ in the last bit
        assert line["churn_probability"] == pytest.approx(wanted.pop("churn_probability"), abs=1e-12)
        assert {key: value for key, value in line.items() if key != "churn_probability"} == wanted


def test_a_failed_run_appends_nothing_and_a_skipped_row_is_not_logged(project_dir, tmp_path, book_customer):
    log = tmp_path / "p.jsonl"
    log.write_text("an earlier line\n")
    bad = {**book_customer, "tenure": -1}
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(row) + "\n" for row in (book_customer, bad)))
    failed = _run(project_dir, tmp_path / "c.jsonl", "--output", tmp_path / "s.csv", "--prediction-log", log)
    assert failed.returncode == 1 and log.read_text() == "an earlier line\n"
    arguments = ["--output", tmp_path / "s.csv", "--prediction-log", log, "--skip-invalid"]
    assert _run(project_dir, tmp_path / "c.jsonl", *arguments).returncode == 0
    earlier, line = log.read_text().splitlines()
    assert earlier == "an earlier line" and json.loads(line)["customerid"] == book_customer["customerid"]


def test_one_customer_printed_like_the_book_is_logged_and_an_id_key_hides_its_id(project_dir, tmp_path, book_customer):
    (tmp_path / "c.json").write_text(json.dumps(book_customer))
    log = tmp_path / "p.jsonl"
    result = _run(project_dir, tmp_path / "c.json", "--prediction-log", log, env={"PREDICTION_LOG_ID_KEY": _KEY})
    assert result.returncode == 0 and result.stdout.startswith("prediction: ")
    [line] = _logged(log)
    assert line["customerid_hash"] == customerid_hash(book_customer["customerid"], _KEY.encode())
    assert book_customer["customerid"] not in log.read_text()


def test_a_short_id_key_or_a_log_that_cannot_be_written_stops_the_run_before_it_starts(
    project_dir, tmp_path, book_customer
):
    (tmp_path / "c.json").write_text(json.dumps(book_customer))
    short = _run(
        project_dir,
        tmp_path / "c.json",
        "--prediction-log",
        tmp_path / "p.jsonl",
        env={"PREDICTION_LOG_ID_KEY": "short"},
    )
    assert short.returncode == 2 and "PREDICTION_LOG_ID_KEY must be a secret of at least 16 characters" in short.stderr
    nowhere = _run(project_dir, tmp_path / "c.json", "--prediction-log", tmp_path / "missing" / "p.jsonl")
    assert nowhere.returncode == 2 and "No such file or directory" in nowhere.stderr and nowhere.stdout == ""
