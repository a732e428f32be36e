"""Retraining as the documentation says works, and the tests still pass on the model it makes.

Each test copies the project to a temporary directory (with ../shared beside it, as here, and the
data set in its data/, where train.py downloads it) and runs the documented retraining command there,
so the model/ of this checkout is never touched.
"""

import csv
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from churn.training.data import DATA_FILE_NAME

pytestmark = pytest.mark.slow

# Everything but what does not depend on the model (the benchmark, slow clients) and this module
# (it would recurse).
# What does not depend on the model: the benchmark, slow and hostile clients; and this test itself.
NOT_RERUN = ("test_bench.py", "test_slow_clients.py", "test_hostile_clients.py", "test_retrain.py")
_COPY_IGNORES = shutil.ignore_patterns(".git", ".venv", "data", "__pycache__", ".pytest_cache", ".hypothesis")


@pytest.fixture
def project_copy(project_dir, tmp_path, data_path):
    """A copy of the project, with the same ../shared beside it and the data set in data/."""
    copy = tmp_path / "project"
    shutil.copytree(project_dir, copy, ignore=_COPY_IGNORES)
    (copy / "data").mkdir()
    shutil.copyfile(data_path, copy / "data" / DATA_FILE_NAME)
    (tmp_path / "shared").symlink_to(project_dir.parent / "shared", target_is_directory=True)
    return copy


@pytest.fixture(scope="module")
def retraining_example(project_dir):
    """The documented retraining command and the output it shows."""
    text = (project_dir / "docs" / "model.md").read_text()
    section = text[text.index("## Retraining") :]
    command, shown = re.findall(r"^```\w*\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)[:2]
    assert command.startswith(".venv/bin/python train.py")
    return command.split()[1:], shown  # without ".venv/bin/python": the interpreter running the tests


def _train(copy, arguments):
    env = {key: value for key, value in os.environ.items() if key != "CHURN_DATA"}  # data/ of the copy, as documented
    return subprocess.run(
        [sys.executable, *arguments], cwd=copy, env=env, capture_output=True, text=True, check=True, timeout=300
    ).stdout


def _masked(output, copy):
    """The output with what may differ from the documented run masked: the folder, and how many Newton
    steps the last digits of one CPU's arithmetic needed."""
    output = output.replace(str(copy), "…")
    return re.sub(r"\d+ liblinear iterations, \d+ Newton steps?", "N liblinear iterations, N Newton steps", output)


def test_readme_retraining_command_prints_what_the_readme_shows(project_copy, retraining_example):
    arguments, shown = retraining_example
    printed = _train(project_copy, arguments)
    assert _masked(printed, project_copy) == _masked(shown, project_copy)
    artifact = json.loads((project_copy / "model" / "churn-model.json").read_text())
    assert artifact["sha256"] in (project_copy / "model" / "MODEL_CARD.md").read_text()


def test_the_suite_passes_on_a_model_retrained_with_other_data_and_C(
    project_copy, retraining_example, data_path, shipped_artifact
):
    arguments, _ = retraining_example
    other_data = project_copy.parent / "other-customers.csv"
    _write_every_row_but_each_tenth(data_path, other_data)
    _train(project_copy, [*arguments, "--data", str(other_data), "--C", "0.01"])
    metadata = json.loads((project_copy / "model" / "churn-model.json").read_text())["metadata"]
    assert metadata["C"] == 0.01 and metadata["training_rows"] < shipped_artifact["metadata"]["training_rows"]

    tests = sorted(path.name for path in (project_copy / "tests").glob("test_*.py") if path.name not in NOT_RERUN)
    env = {key: value for key, value in os.environ.items() if key != "CI"}  # as on a user's machine
    env["CHURN_DATA"] = str(data_path)
    # A fixed seed: the property tests and the fuzzing replay the same cases on every run of this test.
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-seed=0", "--slow"]
    result = subprocess.run(
        [*command, *[f"tests/{name}" for name in tests]],
        cwd=project_copy, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout.splitlines()[-1])


def _write_every_row_but_each_tenth(source, destination):
    """Other data: the real data set without every tenth customer."""
    with open(source, newline="") as reader, open(destination, "w", newline="") as writer:
        rows = csv.reader(reader)
        output = csv.writer(writer, lineterminator="\n")
        output.writerow(next(rows))
        output.writerows(row for index, row in enumerate(rows) if index % 10 != 9)
