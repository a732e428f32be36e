"""predict_spark.py in Spark's local[2] mode, run by spark-submit as the docs run it: the whole data set
scored as predict.py scores it, and no invalid row lost."""

import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow

SPARK_SUBMIT = Path(sys.executable).parent / "spark-submit"


@pytest.fixture(scope="module")
def shipped_code(project_dir, tmp_path_factory):
    """churn.zip, made as the docs make it."""
    folder = tmp_path_factory.mktemp("code")
    subprocess.run([sys.executable, "-m", "zipfile", "-c", folder / "churn.zip", "churn/"], cwd=project_dir, check=True)
    return folder / "churn.zip"


def _submit(project_dir, shipped_code, *args, spark=("--master", "local[2]")):
    """predict_spark.py with `args`, by spark-submit with the `spark` options."""
    if shutil.which("java") is None:
        pytest.fail("Spark needs Java 17 or newer: .ci/run installs it")
    environment = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    command = [SPARK_SUBMIT, *spark, "--py-files", shipped_code, "predict_spark.py", *args]
    # The driver's standard error comes out on spark-submit's standard output: both, as one.
    return subprocess.run(
        list(map(str, command)),
        cwd=project_dir,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )


def test_the_whole_data_set_scores_as_predict_py_scores_it(project_dir, data_path, shipped_code, tmp_path, model):
    expected_file = tmp_path / "expected.parquet"
    subprocess.run([sys.executable, "predict.py", data_path, "--output", expected_file], cwd=project_dir, check=True)
    result = _submit(project_dir, shipped_code, data_path, "--output", tmp_path / "scores")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "predict_spark.py: scored 7043 customers, rejected 0, in " in result.stdout
    got = {row["customerid"]: row for row in pq.read_table(tmp_path / "scores").to_pylist()}
    expected = pq.read_table(expected_file).to_pylist()
    assert len(got) == len(expected) == 7043
    for row in expected:
        scored = got[row["customerid"]]
        assert scored["churn_probability"] == pytest.approx(row["churn_probability"], abs=1e-12)
        assert (scored["churn"], scored["model_version"]) == (row["churn"], model.version)
    assert pq.read_table(tmp_path / "scores_rejects").num_rows == 0


def test_invalid_rows_go_to_the_rejects_with_their_problem_and_none_is_lost(
    project_dir, data_path, shipped_code, tmp_path
):
    table = pa.csv.read_csv(data_path)
    tenure = table.column("tenure").to_pylist()
    contract = table.column("Contract").to_pylist()
    tenure[10], contract[20], tenure[30] = -1, "Weekly", None
    table = table.set_column(table.schema.get_field_index("tenure"), "tenure", pa.array(tenure))
    table = table.set_column(table.schema.get_field_index("Contract"), "Contract", pa.array(contract))
    pq.write_table(table, tmp_path / "customers.parquet")
    result = _submit(
        project_dir,
        shipped_code,
        tmp_path / "customers.parquet",
        "--output",
        tmp_path / "scores",
        "--rejects",
        tmp_path / "bad",
        "--explain",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    ids = table.column("customerID").to_pylist()
    rejects = {row["customerID"]: row for row in pq.read_table(tmp_path / "bad").to_pylist()}
    assert set(rejects) == {ids[10], ids[20], ids[30]}
    assert rejects[ids[10]]["problem"] == "tenure: must not be negative, got -1"
    assert rejects[ids[20]]["problem"].startswith('contract: unknown value "weekly"')
    assert rejects[ids[30]]["problem"] == "tenure: must be a number, not null"
    assert rejects[ids[20]]["Contract"] == "Weekly"  # the row as it was read
    scores = pq.read_table(tmp_path / "scores")
    assert scores.num_rows + len(rejects) == table.num_rows
    assert set(scores.column("customerid").to_pylist()) == set(ids) - set(rejects)
    assert scores.column_names == ["customerid", "churn_probability", "churn", "model_version", "explanation"]


def test_empty_csv_cells_are_read_as_predict_py_reads_them(project_dir, data_path, shipped_code, tmp_path):
    # An empty totalcharges is 0, as the book reads a blank one; an empty contract is an unknown value.
    header, first, second, *_ = data_path.read_text(encoding="utf-8").splitlines()
    columns = header.split(",")
    first_cells, second_cells = first.split(","), second.split(",")
    first_cells[columns.index("TotalCharges")] = ""
    second_cells[columns.index("Contract")] = ""
    source = tmp_path / "customers.csv"
    source.write_text("\n".join([header, ",".join(first_cells), ",".join(second_cells)]) + "\n")
    expected = subprocess.run(
        [sys.executable, "predict.py", source, "--skip-invalid", "--output", tmp_path / "expected.csv"],
        cwd=project_dir,
        capture_output=True,
        text=True,
    )
    assert expected.returncode == 0, expected.stderr
    result = _submit(project_dir, shipped_code, source, "--output", tmp_path / "scores")
    assert result.returncode == 0, result.stdout[-3000:]
    [scored] = pq.read_table(tmp_path / "scores").to_pylist()
    [by_predict] = list(csv.DictReader(io.StringIO((tmp_path / "expected.csv").read_text())))
    assert scored["customerid"] == by_predict["customerid"] == first_cells[0]
    assert scored["churn_probability"] == pytest.approx(float(by_predict["churn_probability"]), abs=1e-12)
    [rejected] = pq.read_table(tmp_path / "scores_rejects").to_pylist()
    [rejected_by_predict] = list(csv.DictReader(io.StringIO((tmp_path / "expected.rejects.csv").read_text())))
    assert rejected["problem"] == rejected_by_predict["problem"] and rejected["Contract"] == ""


def test_a_missing_column_stops_with_its_name(project_dir, data_path, shipped_code, tmp_path):
    text = data_path.read_text(encoding="utf-8").replace(",tenure,", ",months,", 1)
    (tmp_path / "customers.csv").write_text(text)
    result = _submit(project_dir, shipped_code, tmp_path / "customers.csv", "--output", tmp_path / "scores")
    assert result.returncode == 1 and "the header has no column for tenure" in result.stdout
    assert "Traceback" not in result.stdout


def test_the_packed_environment_runs_the_job_as_on_a_cluster(project_dir, shipped_code, tmp_path, data_path):
    # docs/batch.md's recipe for a cluster: NumPy and pyarrow (requirements-batch.txt) packed by venv-pack
    # and sent with --archives. Spark's local-cluster mode starts executors of their own, each in a
    # working folder of its own where the archive is unpacked, as YARN's and Kubernetes' are; pyspark
    # is not in the environment, as a cluster brings its own.
    environment = tmp_path / "batch-env"
    subprocess.run([sys.executable, "-m", "venv", environment], check=True)
    install = [environment / "bin" / "pip", "install", "-q", "--require-hashes", "-r", "requirements-batch.txt"]
    subprocess.run(install, cwd=project_dir, check=True, capture_output=True)
    pack = [Path(sys.executable).parent / "venv-pack", "-q", "-p", environment, "-o", tmp_path / "batch-env.tar.gz"]
    subprocess.run(pack, check=True, capture_output=True)
    cluster = [
        "--master", "local-cluster[2,1,1024]",
        "--archives", f"{tmp_path / 'batch-env.tar.gz'}#environment",
        "--conf", "spark.pyspark.python=./environment/bin/python",
        "--conf", f"spark.pyspark.driver.python={sys.executable}",
    ]  # fmt: skip
    result = _submit(project_dir, shipped_code, data_path, "--output", tmp_path / "scores", spark=cluster)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "predict_spark.py: scored 7043 customers, rejected 0, in " in result.stdout
    # The executors could only start ./environment/bin/python from the unpacked archive: in plain local
    # mode, where nothing is unpacked there, the same command fails with "Cannot run program".
    assert pq.read_table(tmp_path / "scores").num_rows == 7043


def test_another_tables_model_scores_its_table_as_predict_py_does(
    project_dir, credit_card_path, credit_card_model, shipped_code, tmp_path
):
    artifact = credit_card_model / "churn-model.json"
    expected_file = tmp_path / "expected.parquet"
    predict = [sys.executable, "predict.py", credit_card_path, "--model", artifact, "--output", expected_file]
    subprocess.run(predict, cwd=project_dir, check=True)
    result = _submit(project_dir, shipped_code, credit_card_path, "--model", artifact, "--output", tmp_path / "scores")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "predict_spark.py: scored 10127 customers, rejected 0, in " in result.stdout
    got = {row["customerid"]: row["churn_probability"] for row in pq.read_table(tmp_path / "scores").to_pylist()}
    expected = pq.read_table(expected_file).to_pylist()
    assert len(got) == len(expected) == 10127  # CLIENTNUM, the table's own id, names each row
    for row in expected:
        assert got[row["customerid"]] == pytest.approx(row["churn_probability"], abs=1e-12)
