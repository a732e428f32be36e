"""docs/batch.md's commands are real: the local ones run as written and print what it shows, the
cluster ones give predict_spark.py only options it takes and ship what it needs, and the benchmark
runs every way it names."""

import json
import re
import shlex
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

import predict_spark
from helpers import as_pattern, documented_checkout, run_documented, shown_after

_CHECKOUT = ("predict.py", "predict_spark.py", "churn", "model", "requirements-batch.txt", "requirements-spark.txt")


@pytest.fixture(scope="module")
def batch_doc(project_dir):
    return (project_dir / "docs" / "batch.md").read_text()


def _blocks(text, language):
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.M | re.S)


def _commands(block):
    """The block's commands, a line continued by \\ joined to the next."""
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


@pytest.fixture
def checkout(project_dir, data_path, tmp_path):
    """A folder as a clone looks after the README's install."""
    return documented_checkout(tmp_path, project_dir, data_path, _CHECKOUT)


@pytest.mark.slow
def test_the_local_commands_run_verbatim_and_print_what_the_doc_shows(batch_doc, checkout):
    section = batch_doc.split("### On a cluster")[0]
    commands = [command for block in _blocks(section, "bash") for command in _commands(block)]
    printed = {command: run_documented(command, checkout) for command in commands}
    by_predict = pq.read_table(checkout / "scores.parquet").to_pylist()
    by_spark = {row["customerid"]: row for row in pq.read_table(checkout / "scores").to_pylist()}
    assert len(by_predict) == len(by_spark) == 7043 and (checkout / "scores_rejects").is_dir()
    for row in by_predict:
        assert by_spark[row["customerid"]]["churn_probability"] == pytest.approx(row["churn_probability"], abs=1e-12)
    for marker in ("predict.py customers.parquet", "spark-submit"):
        output = next(output for command, output in printed.items() if marker in command)
        shown = shown_after(batch_doc, marker)
        assert re.search(as_pattern(shown), output) and "7043 customers" in output, (shown, output[-1000:])


def _predict_spark_arguments(words):
    """What a cluster command gives predict_spark.py: the words after it (from an EMR step's Args too)."""
    if words[:3] == ["aws", "emr", "add-steps"]:
        steps = words[words.index("--steps") + 1]
        words = re.search(r"Args=\[(.*)\]", steps).group(1).split(",")
    script = next(index for index, word in enumerate(words) if word.endswith("predict_spark.py"))
    return words[:script], words[script + 1 :]


def _cluster_submissions(batch_doc):
    cluster = batch_doc.split("### On a cluster")[1].split("## How fast")[0]
    submissions = [
        shlex.split(command)
        for block in _blocks(cluster, "sh")
        for command in _commands(block)
        if "spark-submit" in command or "add-steps" in command
    ]
    [databricks] = _blocks(cluster, "json")
    parameters = json.loads(databricks)["spark_submit_task"]["parameters"]
    return [*map(_predict_spark_arguments, submissions), _predict_spark_arguments(parameters)]


def test_the_cluster_commands_give_predict_spark_only_options_it_takes(batch_doc):
    submissions = _cluster_submissions(batch_doc)
    assert len(submissions) == 4  # YARN, Kubernetes, EMR, Databricks
    for submit, arguments in submissions:
        options = predict_spark.parse_args(arguments)
        assert options.output.endswith("/2026-12-02/") and options.model.endswith("churn-model.json")
        assert any(word.endswith("churn.zip") for word in submit) and "--py-files" in submit


def test_the_cluster_commands_ship_the_model_they_name(batch_doc):
    for submit, arguments in _cluster_submissions(batch_doc):
        model = predict_spark.parse_args(arguments).model
        on_storage = re.match(r"[a-z0-9]+:/", model)  # s3://, dbfs:/
        assert on_storage or "--files" in submit and any(word.endswith(f"/{model}") for word in submit), model


@pytest.mark.slow
def test_the_benchmark_runs_every_way_and_writes_its_figures(tmp_path, project_dir):
    output = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, "bench/batch.py", "--copies", "1", "--output", output],
        cwd=project_dir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(output.read_text())
    assert figures["rows"] == 7043 and len(figures["figures"]) == 8
    assert all(figure["rows_per_second"] > 0 and figure["peak_mib"] > 0 for figure in figures["figures"].values())
    assert result.stdout.startswith("| way (7,043 rows) |")
