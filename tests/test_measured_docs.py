"""The figures the documentation quotes are the runs the repository holds, as their scripts print them:
docs/performance.md's tables are bench/benchmark.py's and bench/mlserver.py's reports of
bench/results.json and bench/mlserver_results.json, and bench/trace_request.py's walk of the code as
it is; docs/batch.md's table is bench/batch.py's of bench/batch_results.json. Git keeps those files."""

import json
import re
import subprocess
import sys

import pytest

from bench import batch, benchmark, mlserver
from helpers import skip_or_fail

TEXT_BLOCK, MARKDOWN_TABLE = "```text\n{}\n```", "\n\n{}\n\n"  # how a document shows what a script printed


def _batch_table(results):
    return batch.table(results["figures"], results["rows"])


RESULTS = {  # results file: (the document, how the script prints it, how the document shows that)
    "bench/results.json": ("docs/performance.md", benchmark.report, TEXT_BLOCK),
    "bench/mlserver_results.json": ("docs/performance.md", mlserver.report, TEXT_BLOCK),
    "bench/batch_results.json": ("docs/batch.md", _batch_table, MARKDOWN_TABLE),
}


@pytest.mark.parametrize("results_path", RESULTS)
def test_the_documents_show_the_runs_the_repository_holds(project_dir, results_path):
    document, report, shown = RESULTS[results_path]
    results = json.loads((project_dir / results_path).read_text())
    text = (project_dir / document).read_text()
    assert shown.format(report(results)) in text, f"{document} does not show {results_path} as its script prints it"


@pytest.mark.parametrize("results_path", RESULTS)
def test_git_keeps_the_runs_the_documents_quote(project_dir, results_path):
    if not (project_dir / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", results_path], cwd=project_dir)
    assert ignored.returncode == 1, f"git ignores {results_path}"


@pytest.fixture(scope="module")
def trace(project_dir, tmp_path_factory):
    """(what bench/trace_request.py printed, its numbers) for the code as it is."""
    output = tmp_path_factory.mktemp("trace") / "trace.json"
    command = [sys.executable, "bench/trace_request.py", "--output", str(output)]
    completed = subprocess.run(command, cwd=project_dir, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout, json.loads(output.read_text())


def test_the_walk_of_a_request_is_shown_as_the_code_walks_it_now(project_dir, trace, model):
    printed, _ = trace
    text = (project_dir / "docs" / "performance.md").read_text()
    [version] = re.findall(r"the model: version (\w+)", text)
    if version != model.version:  # another model may take another walk
        skip_or_fail(f"model/ holds version {model.version}, the walk shown is of version {version}")
    assert TEXT_BLOCK.format(printed.rstrip()) in text


def test_a_request_visits_few_modules_and_predict_py_opens_the_model_once(trace):
    _, walks = trace
    one = walks["POST /predict, one customer as JSON, through wsgi:app"]
    assert one["modules"] <= 10 and one["module switches"] <= 15, one
    assert walks["POST /predict, CSV, one row"]["calls for every extra row"] <= 60
    [parquet] = [walk for name, walk in walks.items() if name.startswith("predict.py")]
    assert parquet["artifact opened"] == 1
