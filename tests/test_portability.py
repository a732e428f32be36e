"""The service starts on Linux, macOS and Windows: no POSIX-only or Linux-only module or call on its start path."""

import ast
import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

# Standard-library modules that exist only on POSIX systems, or only on Windows.
POSIX_ONLY = frozenset(
    {"fcntl", "resource", "pwd", "grp", "termios", "tty", "pty", "posix", "syslog", "readline", "curses",
     "_curses", "_posixsubprocess", "_posixshmem"}
)  # fmt: skip
WINDOWS_ONLY = frozenset({"msvcrt", "winreg", "winsound", "_winapi", "nt", "_overlapped"})
WSGI_SERVERS = frozenset({"gunicorn", "gevent", "waitress"})  # gevent: gunicorn's worker, not on Windows
# os functions that Windows lacks (and sched_* that macOS lacks too).
POSIX_ONLY_OS_CALLS = ("sched_getaffinity", "sched_setaffinity", "fork", "getuid", "geteuid", "getgid", "setsid",
                       "getpgid", "killpg", "uname", "sysconf", "getloadavg", "nice")  # fmt: skip


def _serving_modules(project_dir):
    """The project's files that serving loads: wsgi.py, gunicorn.conf.py, serve.py and the waitress it runs,
    and what they import."""
    code = (
        "import json, runpy, sys, wsgi, serve, churn.server.waitress_server; runpy.run_path('gunicorn.conf.py');"
        "print(json.dumps([getattr(m, '__file__', None) for m in list(sys.modules.values())]))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], cwd=project_dir, capture_output=True, text=True, check=True)
    files = {f for f in json.loads(loaded.stdout.splitlines()[-1]) if f and f.startswith(str(project_dir))}
    files = {f for f in files if not f.startswith(sys.prefix)}  # a virtual environment inside the project
    return sorted({*files, str(project_dir / "gunicorn.conf.py")})


def _imported_names(path):
    """Top-level names of every module a file imports, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(Path(path).read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_serving_modules_import_only_portable_standard_library_and_the_wsgi_server(project_dir):
    project_modules = {"app", "wsgi", "churn"}
    modules = _serving_modules(project_dir)
    assert {"app.py", "wsgi.py", "gunicorn.conf.py", "cpus.py", "model.py"} <= {Path(path).name for path in modules}
    for path in modules:
        for name in _imported_names(path) - project_modules - WSGI_SERVERS:
            assert name in sys.stdlib_module_names, f"{path} imports {name}, which is not in the standard library"
            assert name not in POSIX_ONLY | WINDOWS_ONLY, f"{path} imports {name}, which not every platform has"


def test_gunicorn_config_evaluates_without_linux_only_calls(project_dir, monkeypatch):
    """macOS has no os.sched_getaffinity; gunicorn.conf.py must not need it, with or without WEB_CONCURRENCY."""
    monkeypatch.delattr("os.sched_getaffinity", raising=False)
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    assert runpy.run_path(str(project_dir / "gunicorn.conf.py"))["workers"] >= 1
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert runpy.run_path(str(project_dir / "gunicorn.conf.py"))["workers"] == 3


# Run in a fresh interpreter: POSIX-only modules cannot be imported, POSIX-only os calls are gone,
# then the service is built and asked /ping and the book's customer, as waitress runs it on Windows
# (gunicorn.conf.py is gunicorn's, which Windows does not run).
_AS_IF_WINDOWS = """
import io, json, os, sys
for name in {blocked}:
    sys.modules.setdefault(name, None)  # "import fcntl" now raises ImportError
for name in {calls}:
    if hasattr(os, name):
        delattr(os, name)
import wsgi
def call(method, path, body=b""):
    answer = {{}}
    environ = {{"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_TYPE": "application/json",
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr}}
    chunks = wsgi.app(environ, lambda status, headers: answer.update(status=status))
    return answer["status"], b"".join(chunks).decode()
print(json.dumps([call("GET", "/ping"), call("POST", "/predict", sys.stdin.buffer.read())]))
"""


def test_the_service_starts_and_answers_without_posix_only_modules_or_calls(project_dir, book_customer):
    blocked = sorted(POSIX_ONLY - set(sys.builtin_module_names) - {"posix"})  # os itself needs posix here
    code = _AS_IF_WINDOWS.format(blocked=blocked, calls=list(POSIX_ONLY_OS_CALLS))
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=project_dir, input=json.dumps(book_customer).encode(), capture_output=True
    )
    assert result.returncode == 0, result.stderr.decode()
    [answers] = [line for line in result.stdout.decode().splitlines() if line.startswith("[")]  # not the access log
    ping, predict = json.loads(answers)
    assert ping == ["200 OK", "PONG"]
    assert predict[0] == "200 OK" and "churn_probability" in json.loads(predict[1])


@pytest.mark.parametrize("name", sorted(POSIX_ONLY | WINDOWS_ONLY))
def test_the_platform_lists_name_real_standard_library_modules(name):
    """A misspelt name in the lists above would let its module through unnoticed."""
    assert name in sys.stdlib_module_names


# A script run as __main__ under a Python that says it is 3.10, as one on the PATH may be.
_AS_IF_PYTHON_3_10 = (
    "import runpy, sys; sys.version_info = (3, 10, 13, 'final', 0); runpy.run_path(sys.argv[1], run_name='__main__')"
)


@pytest.mark.parametrize("script", ["serve.py", "train.py", "predict.py", "evaluate.py"])
def test_an_older_python_is_told_in_one_line(project_dir, script):
    result = subprocess.run(
        [sys.executable, "-c", _AS_IF_PYTHON_3_10, script, "--help"], cwd=project_dir, capture_output=True, text=True
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("the churn service needs Python 3.11 or newer; this is Python 3.10.13 (")
    assert result.stderr.count("\n") == 1
