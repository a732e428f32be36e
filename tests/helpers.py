"""Small helpers that test modules share (the fixtures are in conftest.py)."""

import io
import math
import os

import pytest

from churn.core.features import prepare_customer
from churn.training.data import file_sha256


def skip_or_fail(reason):
    """Skip a test whose premise does not hold here; under CI=true, where it always must, fail it."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


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
    prepared = prepare_customer(customer)
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


class CountingStream(io.BytesIO):
    """A request body that counts the bytes the app reads from it."""

    bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data
