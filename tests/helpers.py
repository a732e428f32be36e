"""Small helpers that test modules share (the fixtures are in conftest.py)."""

import csv
import dataclasses
import io
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from churn.core.schema import Schema
from churn.http.access_log import AccessLog
from churn.http.config import Settings
from churn.training.data import file_sha256


def skip_or_fail(reason):
    """Skip a test whose premise does not hold here; under CI=true, where it always must, fail it."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def required_command(name, install):
    """The path of command `name`; skip_or_fail, saying how to `install` it, when there is none."""
    found = shutil.which(name)
    if found is None:
        skip_or_fail(f"no {name} here ({install})")
    return found


def require_trained_on(metadata, data_path):
    """Skip a test of the shipped model's own figures when model/ was trained on other data (retrained)."""
    if metadata["data_sha256"] != file_sha256(data_path):
        skip_or_fail(f"model/ was trained on other data than {data_path} (retrained?)")


def require_process_groups():
    """Servers are started in a process group of their own, and stopped with it: POSIX only."""
    if not hasattr(os, "killpg"):
        pytest.skip("starting and stopping servers with their process group needs POSIX (not Windows)")


def reference_probability(artifact, customer):
    """The churn probability the artifact's weights give, computed the way DictVectorizer and
    LogisticRegression compute it, feature by feature: an oracle independent of churn.core.model."""
    schema = artifact["schema"]
    prepared = Schema.of(schema["categorical"], schema["numerical"], schema.get("fields")).prepare(customer)
    logit = artifact["intercept"]
    for feature, weight in artifact["weights"].items():
        field, one_hot, value = feature.partition("=")
        logit += weight * (prepared[field] == value if one_hot else prepared[field])
    if logit < 0:  # the same function, written so that exp() cannot overflow
        return math.exp(logit) / (1 + math.exp(logit))
    return 1 / (1 + math.exp(-logit))


def documentation_files(project_dir):
    """The user's documentation: the README, then docs/ by name."""
    return [project_dir / "README.md", *sorted((project_dir / "docs").glob("*.md"))]


def documentation_text(project_dir):
    """The README and docs/ as one text, in that order, for tests that find an example by its words."""
    return "\n".join(path.read_text() for path in documentation_files(project_dir))


def logged_lines(settings=None):
    """Settings with an access log kept in memory, and a function that gives its lines so far."""
    stream = io.StringIO()
    log = AccessLog(stream, flush_seconds=3600)  # written when asked for: flush()

    def lines():
        log.flush()
        return stream.getvalue().splitlines()

    return dataclasses.replace(settings or Settings(), access_log=log), lines


class CountingStream(io.BytesIO):
    """A request body that counts the bytes the app reads from it."""

    bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data


# --- the documentation's commands, run as written ---------------------------------------------------

DOCUMENTED_DATA = "data/WA_Fn-UseC_-Telco-Customer-Churn.csv"  # where train.py downloads the data set


def documented_checkout(folder, project_dir, data_path, names):
    """`folder` as a clone looks after the README's install: the files `names`, .venv and data/."""
    for name in names:
        (folder / name).symlink_to(project_dir / name)
    (folder / ".venv").symlink_to(Path(sys.prefix))
    (folder / "data").mkdir()
    (folder / DOCUMENTED_DATA).symlink_to(data_path)
    return folder


def run_documented(command, folder):
    """What a documented command prints (stdout, then stderr), run by bash in `folder`; it must succeed."""
    result = subprocess.run(["bash", "-c", command], cwd=folder, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result.stdout + result.stderr


def shown_after(text, marker):
    """The text block that follows the first bash block that contains `marker`."""
    found = re.search(rf"^```bash\n[^`]*{re.escape(marker)}[^`]*^```$.*?^```text\n(.*?)^```$", text, re.M | re.S)
    return found.group(1).strip()


def same_as_shown(answer, shown, exact=True):
    """Equal, each value of the same type; floats exactly, or (not `exact`) to 1e-12."""
    if isinstance(shown, float):
        close = not exact and isinstance(answer, float) and math.isclose(answer, shown, rel_tol=1e-12)
        return isinstance(answer, float) and answer == shown or close
    if isinstance(shown, dict):
        return (
            isinstance(answer, dict)
            and answer.keys() == shown.keys()
            and all(same_as_shown(answer[k], shown[k], exact) for k in shown)
        )
    if isinstance(shown, list):
        return (
            isinstance(answer, list)
            and len(answer) == len(shown)
            and all(same_as_shown(a, s, exact) for a, s in zip(answer, shown, strict=True))
        )
    return type(answer) is type(shown) and answer == shown


def assert_as_shown(answer, shown, context):
    """What was answered is what the documentation shows, to the last digit. The documentation's numbers
    were made on Linux (glibc's exp()), where CI checks them exactly; elsewhere exp() may round a
    float's last digit otherwise, and a difference of no more than that skips the check, saying so."""
    if same_as_shown(answer, shown):
        return
    if same_as_shown(answer, shown, exact=False):
        skip_or_fail(f"this platform's exp() rounds a last digit otherwise than the documentation's: {context}")
    raise AssertionError(f"{context}\nanswered {answer}\nshown    {shown}")


def as_pattern(shown):
    """What the documentation shows, as a regular expression in which only times may differ: a number of
    seconds ("0.17 s") or of rows a second ("41,021 rows/s"); every other number, a model's, is as shown."""
    return re.sub(r"[0-9][0-9,]*(\\\.[0-9]+)?(?=\\ (s\b|rows/s))", "[0-9][0-9,.]*", re.escape(shown))


def write_csv(path, rows):
    """Write dicts as a CSV with a header of the first one's keys; return the path."""
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path
