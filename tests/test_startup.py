"""A model that is wrong in any way stops the start: one line naming the file and the problem, exit 4."""

import json
import math
import os
import pickle
import subprocess
import tempfile
from pathlib import Path

import pytest

from bench import process_group
from bench.servers import COMMANDS
from churn.core.artifact import DEFAULT_MODEL_PATH, with_content_hash
from churn.http.config import EXIT_CANNOT_START
from helpers import require_process_groups

pytestmark = pytest.mark.slow  # each test starts a real server process

SERVERS = ("gunicorn", "waitress")


def _start(server, cwd, env):
    """Start a server that should refuse to start (on port 0: any); whatever happens, its whole
    process group is stopped."""
    require_process_groups()
    command, _ = COMMANDS[server](0, "wsgi:app", ())
    return process_group.run(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60
    )


def _shipped():
    return json.loads(DEFAULT_MODEL_PATH.read_text())


def _changed(**changes):
    """The shipped artifact changed and hashed again: wrong content that passes the hash."""
    return json.dumps(with_content_hash({**_shipped(), **changes}))


def _without(key):
    document = _shipped()
    del document[key]
    return json.dumps(document)


def _disagreeing_schema():
    document = _shipped()
    document["schema"]["categorical"]["contract"].append("weekly")
    document["schema"]["fields"]["contract"]["value_labels"].append("Weekly")
    return json.dumps(with_content_hash(document))


GADGET_MARKER = Path(tempfile.gettempdir()) / "churn-service-pwned-by-model"


class _Gadget:
    def __reduce__(self):
        return os.system, (f"touch {GADGET_MARKER}",)


BROKEN_MODELS = {
    "missing": (None, "No such file or directory"),
    "directory": ("directory", "Is a directory"),
    "not json": ('{"format_version": 1, "weights": {', "not valid JSON"),
    "unknown format": (_changed(format_version=2), "unknown format_version 2"),
    "missing keys": (_without("weights"), "missing keys: weights"),
    "non-finite weight": (_changed(intercept=math.nan), "intercept is not a finite number"),
    "schema and weights disagree": (_disagreeing_schema(), "no weight for feature 'contract=weekly'"),
    "hash mismatch": (json.dumps({**_shipped(), "threshold": 0.1}), "does not match its sha256"),
    "pickle gadget": (pickle.dumps(_Gadget()), "refusing to load posix.system"),
}


def _write(tmp_path, content):
    path = tmp_path / "model"
    if content == "directory":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("case", BROKEN_MODELS)
def test_a_broken_model_stops_the_start_with_one_line(server, case, tmp_path, project_dir):
    content, problem = BROKEN_MODELS[case]
    path = _write(tmp_path, content)
    GADGET_MARKER.unlink(missing_ok=True)
    result = _start(server, project_dir, {**os.environ, "MODEL_PATH": str(path)})
    ours = [line for line in result.stderr.splitlines() if "churn service" in line]
    assert result.returncode == EXIT_CANNOT_START, result.stderr
    said = f"churn service: cannot start: MODEL_PATH: cannot load model {path}: "
    assert len(ours) == 1 and said in ours[0], result.stderr
    assert problem in ours[0]
    assert "Traceback" not in result.stderr
    assert not GADGET_MARKER.exists()


def test_gunicorn_without_preload_also_stops_instead_of_restarting_workers(tmp_path, project_dir):
    path = _write(tmp_path, "not json")
    env = {**os.environ, "MODEL_PATH": str(path), "PYTHONPATH": str(project_dir)}
    # gunicorn's own command, from another directory: gunicorn.conf.py is not read, and each worker
    # loads the app itself.
    result = _start("plain gunicorn", tmp_path, env)
    assert result.returncode == EXIT_CANNOT_START
    assert "App failed to load" in result.stderr


@pytest.mark.parametrize(("variable", "value"), [("CHURN_THRESHOLD", "1.5"), ("MAX_BATCH", "lots")])
def test_a_bad_setting_stops_the_start_naming_the_variable(variable, value, project_dir):
    result = _start("gunicorn", project_dir, {**os.environ, variable: value})
    assert result.returncode == EXIT_CANNOT_START
    assert f"churn service: cannot start: {variable} must be" in result.stderr
