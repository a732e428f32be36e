import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import webtest

from app import create_app
from churn.data import DATA_FILE_NAME, read_customers
from churn.model import load_model
from wsgi import DEFAULT_MODEL_PATH

PROJECT_DIR = Path(__file__).resolve().parent.parent
SHARED_DIR = PROJECT_DIR.parent / "shared"


def _shared_file(path):
    """A file from ../shared: in CI it is always there, so its absence fails; elsewhere it skips."""
    path = Path(path)
    if not path.is_file():
        message = f"{path} is missing"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
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
        "PATH": f"{BIN_DIR}:{os.environ['PATH']}",
        "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}",  # only keeps the test on loopback
    }
    return ["sh", "-c", web.removeprefix("web:").strip()], env


SERVER_COMMANDS = {  # name -> port -> (command, environment it adds)
    "gunicorn": lambda port: ([str(BIN_DIR / "gunicorn"), "--bind", f"127.0.0.1:{port}", "wsgi:app"], {}),
    "waitress": lambda port: ([str(BIN_DIR / "waitress-serve"), f"--listen=127.0.0.1:{port}", "wsgi:app"], {}),
    "procfile": _procfile_web,
}
START_TIMEOUT_SECONDS = 30


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    """A running server process and a minimal HTTP client for it."""

    process: subprocess.Popen
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
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def serve(tmp_path):
    """serve(name, env) starts "gunicorn", "waitress" or the "procfile" line; all stop after the test."""
    servers = []

    def start(name, env=None):
        port = free_port()
        command, command_env = SERVER_COMMANDS[name](port)
        log_path = tmp_path / f"{name}-{port}.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(
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
