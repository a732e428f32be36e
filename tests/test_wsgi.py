"""The entry point, `wsgi:app`, as gunicorn and waitress import it: only the standard library, and a
bad start stops with one line. The only tests that import wsgi (in a process of their own)."""

import json
import os
import subprocess
import sys

from churn.http.config import EXIT_CANNOT_START


def _import_wsgi(project_dir, code="", **env):
    command = [sys.executable, "-c", f"import wsgi\n{code}"]
    return subprocess.run(command, cwd=project_dir, env={**os.environ, **env}, capture_output=True, text=True)


def test_serving_imports_no_scikit_learn_numpy_or_scipy(project_dir):
    code = "print(json.dumps(sorted(m for m in ('sklearn', 'numpy', 'scipy') if m in sys.modules)))"
    result = _import_wsgi(project_dir, f"import json, sys; {code}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_importing_the_entry_point_says_once_which_model_it_serves(project_dir, model):
    result = _import_wsgi(project_dir)
    assert result.returncode == 0, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("churn service: model ") and f"version {model.version}" in line


def test_a_bad_setting_stops_the_import_with_one_line_and_exit_4(project_dir):
    result = _import_wsgi(project_dir, MAX_BATCH="lots")
    assert result.returncode == EXIT_CANNOT_START
    assert (
        result.stderr == "churn service: cannot start: MAX_BATCH must be a whole number from 1 to 20,000, not 'lots'\n"
    )
