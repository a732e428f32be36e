"""Starting the service: serve.py checks the settings before a server reads them, gunicorn.conf.py
refuses what it can, no server starts without a worker, and waitress runs with the service's bounds."""

import json
import os
import runpy
import shutil
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from waitress.adjustments import Adjustments

from bench import process_group
from churn.core.artifact import DEFAULT_MODEL_PATH
from churn.http.config import EXIT_CANNOT_START, IDLE_SECONDS, Settings, anchored_paths
from churn.server.waitress_server import (
    CONNECTION_LIMIT,
    LIGHT_THREADS,
    WINDOWS_CONNECTION_LIMIT,
    _StrictParser,
    adjustments,
)
from helpers import require_process_groups

BAD_SETTINGS = [("WEB_CONCURRENCY", "x"), ("WEB_CONCURRENCY", "0"), ("PORT", "abc"), ("MAX_BATCH", "lots")]


def _serve_py(project_dir, server, env, listen=None):
    """Run serve.py as a user starts it (on loopback, if it wrongly started), stopped after 30 s at most."""
    require_process_groups()
    port = listen or f"127.0.0.1:{process_group.free_port()}"
    listen = ["--server", "waitress", "--listen", port] if server == "waitress" else ["--bind", port]
    return process_group.run(
        [sys.executable, "serve.py", *listen],
        cwd=project_dir,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("server", ["gunicorn", "waitress"])
def test_relative_paths_are_read_from_where_serve_py_was_run(
    project_dir, tmp_path, start_server, server, book_customer
):
    (tmp_path / "models").mkdir()
    shutil.copy(DEFAULT_MODEL_PATH, tmp_path / "models" / "mine.json")
    port = process_group.free_port()
    listen = (
        ["--server", "waitress", "--listen", f"127.0.0.1:{port}"]
        if server == "waitress"
        else ["--bind", f"127.0.0.1:{port}"]
    )
    env = {**os.environ, "MODEL_PATH": "models/mine.json", "PREDICTION_LOG": "predictions.jsonl"}
    running = start_server([sys.executable, str(project_dir / "serve.py"), *listen], port, env=env, cwd=tmp_path)
    running.wait_until_serving()
    assert running.post_json("/predict", book_customer)[0] == 200
    running.stop()
    assert f"model {tmp_path / 'models' / 'mine.json'} version" in running.log()
    [line] = (tmp_path / "predictions.jsonl").read_text().splitlines()
    assert json.loads(line)["customerid"] == book_customer["customerid"]


@pytest.mark.parametrize("server", ["gunicorn", "waitress"])
def test_a_taken_port_stops_the_start_at_once_with_one_line_naming_port(project_dir, server):
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        started = time.monotonic()
        result = _serve_py(project_dir, server, {}, listen=f"127.0.0.1:{port}")
    assert time.monotonic() - started < 4  # gunicorn alone retries for 5 s
    assert result.returncode == EXIT_CANNOT_START
    option = "--listen" if server == "waitress" else "--bind"
    assert result.stderr.splitlines()[-1].endswith(
        f"churn service: cannot start: cannot listen on 127.0.0.1:{port}: the port is taken (is another server "
        f"running there?); stop that one, or set PORT (or {option}) to a free port"
    )
    assert "Traceback" not in result.stderr and "Connection in use" not in result.stderr


def test_relative_paths_are_anchored_where_the_command_was_run():
    environ = {"MODEL_PATH": "m/model.json", "PREDICTION_LOG": " logs/p.jsonl "}
    assert anchored_paths(environ, "/home/me") == {
        "MODEL_PATH": "/home/me/m/model.json",
        "PREDICTION_LOG": "/home/me/logs/p.jsonl",
    }
    assert anchored_paths({"MODEL_PATH": "/srv/m.json", "PREDICTION_LOG": "stdout"}, "/home/me") == {}
    assert anchored_paths({"PREDICTION_LOG": "off"}, "/home/me") == {}


@pytest.mark.parametrize("server", ["gunicorn", "waitress"])
@pytest.mark.parametrize(("variable", "value"), BAD_SETTINGS)
def test_a_setting_that_cannot_be_used_stops_the_start_with_one_line_naming_it(project_dir, server, variable, value):
    result = _serve_py(project_dir, server, {variable: value})
    assert result.returncode == EXIT_CANNOT_START and result.stdout == ""
    [line] = result.stderr.splitlines()  # no traceback, as gunicorn's own WEB_CONCURRENCY=x gave
    assert line.startswith(f"churn service: cannot start: {variable} must be ") and repr(value) in line


@pytest.mark.parametrize("variable", ["WEB_CONCURRENCY", "PORT"])
def test_gunicorn_conf_py_refuses_a_bad_value_itself_when_gunicorn_is_run_directly(
    project_dir, monkeypatch, capsys, variable
):
    monkeypatch.setenv(variable, "0")
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(str(project_dir / "gunicorn.conf.py"))
    assert stopped.value.code == EXIT_CANNOT_START
    assert capsys.readouterr().err.startswith(f"churn service: cannot start: {variable} must be ")


def test_gunicorn_never_starts_without_a_worker(project_dir, capsys):
    config = runpy.run_path(str(project_dir / "gunicorn.conf.py"))
    with pytest.raises(SystemExit) as stopped:
        config["on_starting"](SimpleNamespace(cfg=SimpleNamespace(workers=0)))  # --workers 0
    assert stopped.value.code == EXIT_CANNOT_START and "gunicorn has no worker to run" in capsys.readouterr().err
    free = [("127.0.0.1", process_group.free_port())]
    config["on_starting"](SimpleNamespace(cfg=SimpleNamespace(workers=1, reuse_port=False, address=free)))


def test_waitress_runs_with_the_services_bounds():
    settings = Settings(max_body_bytes=1000, large_requests=2, large_requests_waiting=3)
    given = adjustments(settings, "*:9696", platform="linux")
    assert given["connection_limit"] == CONNECTION_LIMIT and given["asyncore_use_poll"] is True
    assert given["channel_timeout"] == IDLE_SECONDS and given["cleanup_interval"] == 1
    assert given["max_request_body_size"] == 1001  # waitress refuses a body of this size or more
    assert given["threads"] == 2 + 3 + LIGHT_THREADS
    Adjustments(**given)  # waitress takes them all
    windows = adjustments(settings, "*:9696", platform="win32")
    assert windows["connection_limit"] == WINDOWS_CONNECTION_LIMIT and windows["asyncore_use_poll"] is False


def _parsed(request):
    parser = _StrictParser(Adjustments())
    parser.received(request)
    return parser


@pytest.mark.parametrize(
    ("head", "refused"),
    [
        (b"POST /predict HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n", "both Content-Length and"),
        (b"POST /predict HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n", "not allowed in HTTP/1.0"),
        (b"POST /predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n", None),
        (b"POST /predict HTTP/1.1\r\nContent-Length: 4\r\n", None),
    ],
)
def test_waitress_refuses_a_request_whose_headers_give_its_length_two_ways(head, refused):
    parser = _parsed(head + b"Host: x\r\n\r\n")
    if refused is None:
        assert parser.error is None
    else:
        assert parser.error.code == 400 and refused in parser.error.body
