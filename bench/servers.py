"""Servers as processes: how gunicorn and waitress are started on a loopback port as the README starts
them (serve.py), as their own commands start them, and as the Procfile's line; and a running server
that can be waited for, asked, and stopped with its whole process group.

The one place that starts and stops servers, for the benchmark, graceful_stop.py and the tests.
bench/ holds scripts that run without pytest, so the tests import them, never the other way round.
POSIX only, like process_group.py.
"""

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench import process_group

PROJECT_DIR = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent
START_TIMEOUT_SECONDS = 30
_REQUEST_TIMEOUT_SECONDS = 5


def _gunicorn(port, app, args):
    """gunicorn as the README, the Procfile and the image start it: serve.py, which checks the settings
    first; `args` go to gunicorn."""
    return [*_serve_py(app), "--bind", f"127.0.0.1:{port}", *args], {}


def _gunicorn_plain(port, app, args):
    """gunicorn's own command, as a user may run it."""
    # From the project directory, so that gunicorn reads gunicorn.conf.py, as a user's gunicorn does.
    return [str(BIN_DIR / "gunicorn"), "--bind", f"127.0.0.1:{port}", *args, app], {}


def _waitress(port, app, args):
    """waitress as the README starts it: serve.py, which runs it with the service's bounds."""
    if args:
        raise ValueError("serve.py runs waitress with the service's own settings")
    return [*_serve_py(app), "--server", "waitress", "--listen", f"127.0.0.1:{port}"], {}


def _waitress_serve(port, app, args):
    """waitress-serve, waitress's own command, with its defaults."""
    return [str(BIN_DIR / "waitress-serve"), f"--listen=127.0.0.1:{port}", *args, app], {}


def _serve_py(app):
    return [sys.executable, str(PROJECT_DIR / "serve.py"), "--app", app]


def _procfile(port, app, args):
    """The Procfile's web line, run as platforms run it: with sh, and PORT set."""
    if app != "wsgi:app" or args:
        raise ValueError("the Procfile's line is run as it is written")
    [web] = [line for line in (PROJECT_DIR / "Procfile").read_text().splitlines() if line.startswith("web:")]
    env = {
        "PORT": str(port),
        "PATH": f"{BIN_DIR}{os.pathsep}{os.environ['PATH']}",
        "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}",  # only keeps it on loopback
    }
    # exec: the server replaces the shell, so it gets the signals (dash would otherwise fork it).
    return ["sh", "-c", "exec " + web.removeprefix("web:").strip()], env


# name -> (port, app, args) -> (argv, env)
COMMANDS = {
    "gunicorn": _gunicorn,
    "waitress": _waitress,
    "procfile": _procfile,
    "plain gunicorn": _gunicorn_plain,
    "waitress-serve": _waitress_serve,
}


class ServerError(RuntimeError):
    """The server exited, or did not answer in time; the message has its log when there is one."""


class Server:
    """A server process in a process group of its own, listening on a loopback port."""

    def __init__(self, command, port, *, env=None, log_path=None, start=process_group.start, cwd=PROJECT_DIR):
        """Start `command`, which will listen on `port`; its output goes to `log_path` (else nowhere).
        `start` starts the process group (the tests pass one that remembers it)."""
        self.port, self.log_path = port, log_path
        self.started = time.perf_counter()
        with open(log_path or os.devnull, "w") as log:
            self.process = start(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)

    @classmethod
    def launch(cls, name, app="wsgi:app", args=(), env=None, **options):
        """Start one of COMMANDS ("gunicorn", "waitress", "procfile") serving `app` on a free port;
        `args` go before the app, `env` adds to this process's environment."""
        port = process_group.free_port()
        command, command_env = COMMANDS[name](port, app, args)
        return cls(command, port, env={**os.environ, **command_env, **(env or {})}, **options)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def log(self):
        """What the server has written so far ("" without a log file)."""
        return Path(self.log_path).read_text() if self.log_path else ""

    def get(self, path):
        """GET `path`; return (status, body), for errors too."""
        return self._ask(urllib.request.Request(self.url + path))

    def post(self, path, body, content_type, accept="application/json"):
        """POST `body` as `content_type`; return (status, body of the answer), for errors too."""
        headers = {"Content-Type": content_type, "Accept": accept}
        return self._ask(urllib.request.Request(self.url + path, body, headers))

    def post_json(self, path, document):
        """POST a JSON document; return (status, decoded JSON answer), for errors too."""
        status, answer = self.post(path, json.dumps(document).encode(), "application/json")
        return status, json.loads(answer)

    def wait_until(self, ready, timeout=START_TIMEOUT_SECONDS, poll_seconds=0.05):
        """Call `ready()` until it returns a true value, and return that; an OSError counts as not
        yet. Raises ServerError if the process exits first, or after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"the server exited with {self.process.returncode}: {self.log()}")
            try:
                answer = ready()
            except OSError:
                answer = None
            if answer:
                return answer
            time.sleep(poll_seconds)
        raise ServerError(f"the server did not answer within {timeout} s: {self.log()}")

    def wait_until_serving(self):
        """Wait for 200 PONG on /ping; return self."""
        self.wait_until(lambda: self.get("/ping") == (200, b"PONG"))
        return self

    def stop(self):
        """Stop the whole process group (SIGTERM, then SIGKILL), and return once all of it is gone."""
        process_group.stop(self.process)

    def _ask(self, request):
        try:
            with urllib.request.urlopen(request, timeout=_REQUEST_TIMEOUT_SECONDS) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


_SAMPLE = re.compile(r"(\w+)(?:\{(.*)\})? (\S+)")


def metric_samples(text):
    """{(name, labels): value} of a Prometheus exposition's samples (what GET /metrics answers)."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, labels, value = _SAMPLE.fullmatch(line).groups()
            samples[(name, labels or "")] = float(value)
    return samples
