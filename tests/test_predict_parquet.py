"""predict.py on Parquet: the same scores as on the CSV they were made from, on any number of jobs,
and invalid rows named by their row or written to the rejects file."""

import csv
import io
import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from bench.batch import run_measured

PREDICT = [sys.executable, "predict.py"]


def _run(project_dir, *args):
    return subprocess.run([*PREDICT, *map(str, args)], cwd=project_dir, capture_output=True, text=True, timeout=300)


def _raw_table(data_path, as_text):
    """The raw data set as Arrow reads it: every column as text, or numbers where they look like it."""
    header = data_path.read_text(encoding="utf-8").split("\n", 1)[0].split(",")
    options = pcsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string())) if as_text else None
    return pcsv.read_csv(data_path, convert_options=options)


@pytest.fixture(scope="module")
def csv_scores(project_dir, data_path, tmp_path_factory):
    """predict.py's scores of the raw CSV, explained: customerid -> row."""
    output = tmp_path_factory.mktemp("csv") / "scores.csv"
    assert _run(project_dir, data_path, "--explain", "--output", output).returncode == 0
    return {row["customerid"]: row for row in csv.DictReader(io.StringIO(output.read_text()))}


@pytest.mark.parametrize("as_text", [True, False], ids=["text columns", "typed columns"])
def test_the_whole_data_set_scores_from_parquet_as_from_its_csv(
    project_dir, data_path, tmp_path, csv_scores, model, as_text
):
    source, output = tmp_path / "customers.parquet", tmp_path / "scores.parquet"
    pq.write_table(_raw_table(data_path, as_text), source)
    result = _run(project_dir, source, "--explain", "--output", output)
    assert result.returncode == 0, result.stderr
    scores = pq.read_table(output).to_pylist()
    assert [row["customerid"] for row in scores] == list(csv_scores)  # all of them, in the input's order
    for row in scores:
        expected = csv_scores[row["customerid"]]
        assert row["churn_probability"] == pytest.approx(float(expected["churn_probability"]), abs=1e-12)
        assert str(row["churn"]).lower() == expected["churn"]
        factors = "; ".join(factor["text"] for factor in json.loads(row["explanation"])["factors"])
        if as_text:  # typed, a whole number of monthlycharges reads 20.0, not 20
            assert factors == expected["explanation"]
    assert {row["model_version"] for row in scores} == {model.version}


def test_parquet_scored_to_csv_is_what_the_csv_gives(project_dir, data_path, tmp_path):
    # The same text but for a probability's last bit, where NumPy's exp() rounds unlike the C library's.
    source = tmp_path / "customers.parquet"
    pq.write_table(_raw_table(data_path, as_text=True), source)
    from_parquet = _run(project_dir, source, "--format", "csv", "--explain")
    from_csv = _run(project_dir, data_path, "--explain")
    assert from_parquet.returncode == 0
    got, expected = (list(csv.reader(io.StringIO(run.stdout))) for run in (from_parquet, from_csv))
    assert [row[:1] + row[2:] for row in got] == [row[:1] + row[2:] for row in expected]
    assert [float(row[1]) for row in got[1:]] == pytest.approx([float(row[1]) for row in expected[1:]], abs=1e-12)


def test_parquet_scored_to_json_lines_is_what_the_csv_gives(project_dir, data_path, tmp_path):
    source = tmp_path / "customers.parquet"
    pq.write_table(_raw_table(data_path, as_text=True), source)
    from_parquet = _run(project_dir, source, "--format", "jsonl", "--explain", "--top", "all")
    from_csv = _run(project_dir, data_path, "--format", "jsonl", "--explain", "--top", "all")
    got, expected = ([json.loads(line) for line in run.stdout.splitlines()] for run in (from_parquet, from_csv))
    assert len(got) == len(expected) == 7043
    for result, wanted in zip(got, expected, strict=True):
        assert result["churn_probability"] == pytest.approx(wanted["churn_probability"], abs=1e-12)
        assert {**result, "churn_probability": None} == {**wanted, "churn_probability": None}


def _many_batches_with_bad_rows(data_path, tmp_path):
    """Ten copies of the data set (several batches), a contract unknown in two rows."""
    table = pa.concat_tables([_raw_table(data_path, as_text=False)] * 10)
    contracts = table.column("Contract").to_pylist()
    for row in (5, 70_000):
        contracts[row] = "weekly"
    table = table.set_column(table.schema.get_field_index("Contract"), "Contract", pa.array(contracts))
    path = tmp_path / "customers.parquet"
    pq.write_table(table, path, row_group_size=30_000)
    return path, table


def test_a_bad_row_stops_the_run_naming_its_row(project_dir, data_path, tmp_path):
    source, _ = _many_batches_with_bad_rows(data_path, tmp_path)
    result = _run(project_dir, source, "--output", tmp_path / "scores.parquet")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f'predict.py: {source}: row 6: contract: unknown value "weekly"' in result.stderr
    assert not (tmp_path / "scores.parquet").exists()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_skipped_rows_go_to_the_rejects_file_and_the_rest_in_order_on_any_jobs(project_dir, data_path, tmp_path, jobs):
    source, table = _many_batches_with_bad_rows(data_path, tmp_path)
    output = tmp_path / "scores.parquet"
    result = _run(project_dir, source, "--skip-invalid", "--jobs", jobs, "--output", output)
    assert result.returncode == 0, result.stderr
    ids = table.column("customerID").to_pylist()
    assert pq.read_table(output).column("customerid").to_pylist() == [
        ids[row] for row in range(len(ids)) if row not in (5, 70_000)
    ]
    rejects = list(csv.DictReader(io.StringIO((tmp_path / "scores.rejects.csv").read_text())))
    assert [(row["row"], row["customerid"]) for row in rejects] == [("6", ids[5]), ("70001", ids[70_000])]
    assert rejects[0]["problem"].startswith('contract: unknown value "weekly"; allowed values:')


def test_a_missing_column_is_named(project_dir, data_path, tmp_path):
    source = tmp_path / "customers.parquet"
    pq.write_table(_raw_table(data_path, as_text=False).drop_columns(["tenure"]), source)
    result = _run(project_dir, source)
    assert result.returncode == 1 and "the header has no column for tenure" in result.stderr


def test_parquet_needs_a_named_output_and_a_named_input(project_dir, data_path, tmp_path):
    source = tmp_path / "customers.parquet"
    pq.write_table(_raw_table(data_path, as_text=False).slice(0, 3), source)
    no_output = _run(project_dir, source, "--format", "parquet")
    assert no_output.returncode == 2 and "Parquet is written to a file: name it with --output" in no_output.stderr
    from_stdin = subprocess.run([*PREDICT, "-"], cwd=project_dir, input=source.read_bytes(), capture_output=True)
    assert from_stdin.returncode == 2 and b"Parquet is read from a file" in from_stdin.stderr


def test_a_parquet_file_of_another_name_is_known_by_how_it_begins(project_dir, data_path, tmp_path):
    source = tmp_path / "customers.data"
    pq.write_table(_raw_table(data_path, as_text=False).slice(0, 3), source)
    result = _run(project_dir, source, "--format", "jsonl")
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 3


def test_csv_scored_to_parquet_has_the_batch_columns(project_dir, data_path, tmp_path):
    output = tmp_path / "scores.parquet"
    assert _run(project_dir, data_path, "--output", output).returncode == 0
    table = pq.read_table(output)
    assert table.column_names == ["customerid", "churn_probability", "churn", "model_version"]
    assert table.num_rows == 7043
    documented = {  # docs/batch.md's table of the columns: name -> type
        row.split("|")[1].strip(" `"): row.split("|")[2].strip()
        for row in (project_dir / "docs" / "batch.md").read_text().splitlines()
        if row.startswith("| `")
    }
    assert table.schema.field("model_version").type == pa.dictionary(pa.int32(), pa.string())
    assert documented["model_version"].startswith("string, dictionary-encoded")
    assert table.schema.field("churn").type == pa.bool_() and documented["churn"] == "boolean"
    assert table.schema.field("churn_probability").type == pa.float64() and documented["churn_probability"] == "double"


def _peak_kib_scoring(source, tmp_path):
    _, peak_kib, _ = run_measured([*PREDICT, source, "--jobs", "1", "--output", tmp_path / "scores.parquet"])
    return peak_kib


@pytest.mark.slow
def test_memory_stays_the_same_for_a_file_eight_times_as_long(data_path, tmp_path):
    # Arrow's pre-buffering, on by default, keeps every row group read: about 20 MiB more per million rows.
    table = _raw_table(data_path, as_text=False)
    peaks = []
    for copies in (45, 360):  # about 317,000 and 2,535,000 rows, in row groups of 64 Ki rows
        source = tmp_path / f"{copies}.parquet"
        pq.write_table(pa.concat_tables([table] * copies), source, row_group_size=1 << 16)
        peaks.append(_peak_kib_scoring(source, tmp_path))
    assert peaks[1] - peaks[0] < 16 * 1024, peaks


def test_without_pyarrow_parquet_is_one_clear_error(project_dir, data_path, tmp_path):
    source = tmp_path / "customers.parquet"
    pq.write_table(_raw_table(data_path, as_text=False).slice(0, 3), source)
    without_arrow = (
        "import sys, runpy; sys.modules['pyarrow'] = None; sys.argv = sys.argv[1:]; "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", without_arrow, "predict.py", str(source)],
        cwd=project_dir,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Parquet needs pyarrow and NumPy: pip install --require-hashes -r requirements-batch.txt" in result.stderr


@pytest.mark.parametrize("jobs", ["0", "-1", "two", "1.5"])
def test_jobs_must_be_a_whole_number_from_one(project_dir, data_path, jobs):
    result = _run(project_dir, data_path, "--jobs", jobs)
    assert result.returncode == 2 and "--jobs: must be a whole number from 1" in result.stderr
