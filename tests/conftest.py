import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import webtest

from app import create_app
from bench import process_group
from bench.servers import Server
from churn.core.artifact import DEFAULT_MODEL_PATH
from churn.core.model import load_model
from churn.training.data import DATA_FILE_NAME
from churn.training.spec import TELCO
from churn.training.table import read_table
from helpers import reference_probability, require_process_groups, skip_or_fail

PROJECT_DIR = Path(__file__).resolve().parent.parent
SHARED_DIR = PROJECT_DIR.parent / "shared"


# Slow tests (real servers, fuzzing, the benchmark, retraining) run with --slow, and always under
# CI=true; a developer's plain `pytest` leaves them out. A test that starts a server (`serve`,
# `start_server`) is slow without saying so; others say @pytest.mark.slow.
_SLOW_FIXTURES = frozenset({"serve", "start_server"})


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="also run the slow tests (CI=true always runs them)")


def _runs_slow_tests(config):
    return config.getoption("--slow") or os.environ.get("CI") == "true" or bool(config.getoption("-m"))


def pytest_report_header(config):
    return "slow tests: run" if _runs_slow_tests(config) else "slow tests: left out (--slow runs them)"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    if _runs_slow_tests(config):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    config.hook.pytest_deselected(items=slow)
    items[:] = [item for item in items if not item.get_closest_marker("slow")]


# How a clone without the data set gets it: train.py downloads it into data/ (and checks its SHA-256).
FETCH_DATA = ".venv/bin/python train.py --download"


def data_set_candidates(environ=os.environ):
    """Where the tests look for the Telco CSV, in train.py's order: $CHURN_DATA, data/ (where train.py
    downloads it), then ../shared/data beside the clone (CI's copy)."""
    if environ.get("CHURN_DATA"):
        return [Path(environ["CHURN_DATA"])]  # a path the user named: not another copy in its place
    return [PROJECT_DIR / "data" / DATA_FILE_NAME, SHARED_DIR / "data" / DATA_FILE_NAME]


@pytest.fixture(scope="session")
def data_path():
    """The real Telco CSV; without it a test skips, saying how to get it (under CI=true it fails)."""
    candidates = data_set_candidates()
    found = next((path for path in candidates if path.is_file()), None)
    if found is None:
        looked = ", ".join(str(path) for path in candidates)
        skip_or_fail(f"needs the Telco data set (not at {looked}): `{FETCH_DATA}` fetches it into data/")
    return found


CREDIT_CARD_FILE = "credit_card_attrition.csv"
# The documented run on the second table (docs/your-data.md), as train.py's options.
CREDIT_CARD_OPTIONS = ("--target", "Attrition_Flag", "--positive", "Attrited Customer", "--id", "CLIENTNUM")


@pytest.fixture(scope="session")
def credit_card_path():
    """The credit card attrition table (10,127 customers; ../shared/data's README), in data/ or beside."""
    candidates = [PROJECT_DIR / "data" / CREDIT_CARD_FILE, SHARED_DIR / "data" / CREDIT_CARD_FILE]
    found = next((path for path in candidates if path.is_file()), None)
    if found is None:
        skip_or_fail(
            f"needs the credit card attrition table (Kaggle's BankChurners.csv, as docs/your-data.md says) at "
            f"{candidates[0]}"
        )
    return found


@pytest.fixture(scope="session")
def credit_card_model(credit_card_path, tmp_path_factory):
    """The folder train.py writes for the credit card table, by the documented command."""
    folder = tmp_path_factory.mktemp("credit-card") / "model"
    command = [sys.executable, "train.py", "--data", str(credit_card_path), *CREDIT_CARD_OPTIONS]
    subprocess.run([*command, "--output-dir", str(folder)], cwd=PROJECT_DIR, check=True, capture_output=True)
    return folder


@pytest.fixture(scope="session")
def telco_table(data_path):
    """The book's table, read as train.py reads it with no options."""
    return read_table(data_path, TELCO)


@pytest.fixture(scope="session")
def customers(telco_table):
    """All 7,043 real customers, prepared as for training (churn.training.table.TARGET: churned, 0/1)."""
    return telco_table.customers


@pytest.fixture(scope="session")
def raw_rows(data_path):
    """The 7,043 customers as the raw CSV writes them (original names and spellings)."""
    with open(data_path, newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="session")
def book_customer():
    """The example customer of the book's chapter 5, as the repository ships it."""
    return json.loads((PROJECT_DIR / "examples" / "customer.json").read_text())


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


# What configures the service and gunicorn: set in a developer's shell, they would reach every server
# and entry point the tests start. Each test that wants one sets it.
SERVICE_VARIABLES = ("MODEL_PATH", "CHURN_THRESHOLD", "MAX_BODY_BYTES", "MAX_BATCH", "CHURN_API_KEY", "ACCESS_LOG",
                     "METRICS", "PREDICTION_LOG", "PREDICTION_LOG_ID_KEY", "PORT", "WEB_CONCURRENCY",
                     "GUNICORN_CMD_ARGS")  # fmt: skip


@pytest.fixture(scope="session", autouse=True)
def no_service_configuration_from_the_shell():
    """Run the tests as if none of SERVICE_VARIABLES were set."""
    with pytest.MonkeyPatch.context() as patch:
        for name in SERVICE_VARIABLES:
            patch.delenv(name, raising=False)
        yield


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
def started_servers():
    """The Servers a test starts (bench/servers.py), each stopped with its whole group after the test."""
    servers = []
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def start_server(tmp_path, started_servers):
    """start_server(command, port, env, cwd) runs any server command from `cwd` (the project directory),
    its output in a log file; it stops after the test."""

    def start(command, port, env=None, cwd=PROJECT_DIR):
        log_path = tmp_path / f"server-{len(started_servers)}.log"
        started_servers.append(Server(command, port, env=env, log_path=log_path, start=start_process, cwd=cwd))
        return started_servers[-1]

    return start


@pytest.fixture
def serve(tmp_path, started_servers):
    """serve(name, env, args) starts "gunicorn", "waitress" or the "procfile" line as a user starts
    them (`args` go before the app's name) and waits until it answers /ping; it stops after the test."""

    def start(name, env=None, args=()):
        log_path = tmp_path / f"{name}-{len(started_servers)}.log"
        started_servers.append(Server.launch(name, args=args, env=env, log_path=log_path, start=start_process))
        return started_servers[-1].wait_until_serving()

    return start
