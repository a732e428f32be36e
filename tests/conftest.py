import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import webtest

from app import create_app
from bench import process_group
from churn.artifact import DEFAULT_MODEL_PATH
from churn.data import DATA_FILE_NAME, read_customers
from churn.model import load_model
from helpers import reference_probability, require_process_groups, skip_or_fail

PROJECT_DIR = Path(__file__).resolve().parent.parent
SHARED_DIR = PROJECT_DIR.parent / "shared"


def _shared_file(path):
    """A file from ../shared: in CI it is always there, so its absence fails; elsewhere it skips."""
    path = Path(path)
    if not path.is_file():
        skip_or_fail(f"{path} is missing")
    return path


@pytest.fixture(scope="session")
def data_path():
    """The real Telco CSV from ../shared/data (or $CHURN_DATA)."""
    return _shared_file(os.environ.get("CHURN_DATA") or SHARED_DIR / "data" / DATA_FILE_NAME)


@pytest.fixture(scope="session")
def customers(data_path):
    """All 7,043 real customers, prepared as for training."""
    return read_customers(data_path)


@pytest.fixture(scope="session")
def book_customer():
    """The example customer of the book's chapter 5."""
    return json.loads(_shared_file(SHARED_DIR / "examples" / "customer.json").read_text())


@pytest.fixture(scope="session")
def project_dir():
    return PROJECT_DIR


@pytest.fixture(scope="session")
def model():
    """The shipped model, as the service loads it by default."""
    return load_model(DEFAULT_MODEL_PATH)


@pytest.fixture(scope="session")
def shipped_artifact():
    """The shipped model's JSON document, as train.py wrote it."""
    return json.loads(DEFAULT_MODEL_PATH.read_text())


@pytest.fixture(scope="session")
def book_probability(shipped_artifact, book_customer):
    """What the shipped model should answer for the book's customer."""
    return reference_probability(shipped_artifact, book_customer)


@pytest.fixture
def app(model):
    return webtest.TestApp(create_app(model))


# Real servers, started as a user starts them: from the project directory, on a free loopback port.
BIN_DIR = Path(sys.executable).parent


def _procfile_web(port):
    """The Procfile's web line, run as platforms run it: with sh, and PORT set."""
    [web] = [line for line in (PROJECT_DIR / "Procfile").read_text().splitlines() if line.startswith("web:")]
    env = {
        "PORT": str(port),
        "PATH": f"{BIN_DIR}{os.pathsep}{os.environ['PATH']}",
        "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}",  # only keeps the test on loopback
    }
    # exec: the server replaces the shell, so it gets the signals (dash would otherwise fork it).
    return ["sh", "-c", "exec " + web.removeprefix("web:").strip()], env


SERVER_COMMANDS = {  # name -> port -> (command, environment it adds)
    "gunicorn": lambda port: ([str(BIN_DIR / "gunicorn"), "--bind", f"127.0.0.1:{port}", "wsgi:app"], {}),
    "waitress": lambda port: ([str(BIN_DIR / "waitress-serve"), f"--listen=127.0.0.1:{port}", "wsgi:app"], {}),
    "procfile": _procfile_web,
}
START_TIMEOUT_SECONDS = 30


@dataclass
class LiveServer:
    """A running server process and a minimal HTTP client for it."""

    process: subprocess.Popen  # the leader of the server's own process group
    port: int
    log_path: Path

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=5) as response:
            return response.status, response.read()

    def post_json(self, path, document):
        """POST a JSON document; return (status, decoded JSON answer), for errors too."""
        headers = {"Content-Type": "application/json"}
        request = urllib.request.Request(self.url + path, json.dumps(document).encode(), headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def wait_until_serving(self):
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}: {self.log_path.read_text()}")
            try:
                return self.get("/ping")
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"server did not answer /ping within {START_TIMEOUT_SECONDS} s")

    def stop(self):
        process_group.stop(self.process)


# Every process the tests start carries this variable, with a value of this run's own, so that
# processes left running at the end can be found, whoever started them.
RUN_MARKER = "CHURN_TEST_RUN"
_started_groups = []


def start_process(command, **popen_arguments):
    """Start a command in its own process group, remembered for the end-of-run check."""
    require_process_groups()
    process = process_group.start(command, **popen_arguments)
    _started_groups.append(process.pid)
    return process


@pytest.fixture(scope="session", autouse=True)
def no_process_outlives_the_tests():
    """Fail the run if a process the tests started is still running at the end (and stop it)."""
    marker = uuid.uuid4().hex
    os.environ[RUN_MARKER] = marker
    yield
    in_groups = {pid for group in _started_groups for pid in process_group.live_members(group)}
    leftovers = sorted(in_groups.union(_marked_processes(marker)))
    for pid in leftovers:
        _kill(pid)
    assert not leftovers, f"processes started by the tests were still running at the end: {leftovers}"


def _marked_processes(marker):
    """Running processes whose environment carries this run's marker (Linux: read from /proc)."""
    wanted = f"{RUN_MARKER}={marker}".encode()
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue  # gone, or not ours
        if wanted in environment and int(entry.name) != os.getpid():
            pids.append(int(entry.name))
    return pids


def _kill(pid):
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def serve(tmp_path):
    """serve(name, env, args) starts "gunicorn", "waitress" or the "procfile" line (`args` go before the
    app's name); all stop after the test."""
    servers = []

    def start(name, env=None, args=()):
        port = process_group.free_port()
        command, command_env = SERVER_COMMANDS[name](port)
        assert not args or name != "procfile", "the Procfile's line is run as it is"
        command = [*command[:-1], *args, command[-1]]
        log_path = tmp_path / f"{name}-{port}.log"
        with open(log_path, "w") as log:
            process = start_process(
                command,
                cwd=PROJECT_DIR,
                env={**os.environ, **command_env, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = LiveServer(process, port, log_path)
        servers.append(server)
        server.wait_until_serving()
        return server

    yield start
    for server in servers:
        server.stop()
