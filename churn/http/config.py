"""The service's configuration: its Settings, and how the environment variables set them and choose
the model. Functions of a plain mapping, so tests pass a dict; importing this module does nothing.

    MODEL_PATH       the model: our JSON artifact, or the book's pickle (default model/churn-model.json)
    CHURN_THRESHOLD  overrides the model's threshold for "churn": true (0 < t < 1)
    MAX_BODY_BYTES   largest request body accepted (default 10 MiB, at most 20 MiB)
    MAX_BATCH        most customers in one /predict request (default 10,000, at most 20,000)
    CHURN_API_KEY    when set, the API needs "Authorization: Bearer <key>" (churn.http.routes says which
                     routes are open: the health checks, the page, its files and the model card)
    ACCESS_LOG       "on" (default): one logfmt line per request on standard output; "off": none
    METRICS          "on" (default): count requests and customers for GET /metrics, and watch the
                     inputs for GET /model/monitoring; "off": neither (both answer 404)
    PREDICTION_LOG   "off" (default); "stdout"; or the path of a regular file (appended to) or a
                     named pipe: one JSON line per scored customer (churn/core/prediction_log.py,
                     docs/prediction-log.md)
    PREDICTION_LOG_ID_KEY  when set (16 characters or more, a secret): the log holds each customerid's
                     keyed hash (HMAC-SHA256) instead of the id

and the server's, read by gunicorn.conf.py and serve.py:

    PORT             the port to listen on (default 9696, the book's)
    WEB_CONCURRENCY  gunicorn's worker processes (default: one per CPU this process may use; at most
                     MAX_WORKERS_PER_CPU per CPU, and MAX_WORKERS in all)

Anything wrong with them stops the start with one line on stderr and exit status 4
(`load_or_exit`, `exit_unless`), which gunicorn reads as "the app failed to load": it stops instead
of restarting workers in a loop.
"""

import dataclasses
import math
import os
import sys

from churn.core.artifact import ModelError, checked_threshold, model_path
from churn.core.log_lines import FLUSH_SECONDS
from churn.core.messages import echo, whole_number
from churn.core.model import load_model
from churn.core.prediction_log import ID_KEY_VARIABLE, LogError, PredictionLog, id_key, is_log_file, open_log
from churn.http.access_log import AccessLog
from churn.http.metrics import SLOTS

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_BATCH = 10_000
# The largest limits that may be set: a request's cost grows with its customers (a batch of 10,000 in
# the raw data set's spellings peaks at 12 MiB of Python objects, 20,000 at 22 MiB, 40,000 at 45 MiB:
# over the 64 MiB a worker may grow, once the allocator's own overhead is counted), and 20 MiB of
# body holds 20,000 such customers with room to spare. A larger setting would remove the bound.
MOST_BODY_BYTES = 20 * 1024 * 1024
MOST_BATCH = 20_000
# Workers beyond a few per CPU only take turns on it, each with its own copy of the model and counters;
# and the metrics' table has a row for each of MAX_WORKERS, and as many again while SIGHUP replaces them.
MAX_WORKERS_PER_CPU = 4
MAX_WORKERS = SLOTS // 2
DEFAULT_PORT = 9696
EXIT_CANNOT_START = 4  # gunicorn's APP_LOAD_ERROR
# Bounds on slow clients, which both servers keep (gunicorn.conf.py, churn/server/waitress_server.py): the
# headers of a request, and the wait for the next request on a kept-alive connection, within
# KEEPALIVE_SECONDS; no byte either way for IDLE_SECONDS closes a connection; a request must be
# received and answered within REQUEST_SECONDS.
KEEPALIVE_SECONDS = 5
IDLE_SECONDS = 10
REQUEST_SECONDS = 120
# A socket's send buffer (the kernel doubles it). A write waits until half the buffer is free; Linux
# grows its own to 4 MB, which a client reading at 1 Mbit/s frees half of in 16 s, and the server
# took the connection for idle after IDLE_SECONDS, bytes still moving. Half of this one takes 2 s,
# and it holds 42 Mbit/s at a 100 ms round trip.
SEND_BUFFER_BYTES = 256 * 1024


@dataclasses.dataclass(frozen=True)
class Settings:
    """Operational limits and access control of one app instance."""

    max_body_bytes: int = MAX_BODY_BYTES
    max_batch: int = MAX_BATCH
    api_key: str | None = (
        None  # when set, the routes that need it (churn.http.routes) need "Authorization: Bearer <key>"
    )
    access_log: AccessLog | None = None  # the access log, an observer of the requests answered; None: none
    # Large requests (a body over 64 KiB) served at once by a process, from reading their body to
    # sending their answer's last byte; how many more may wait, and for how long, before a 503
    # (churn/http/admission.py). A worker is one CPU's worth of Python: more at once only share it.
    large_requests: int = 4
    large_requests_waiting: int = 2
    large_request_wait_seconds: float = 2.0
    metrics: bool = True  # count what the instance does, for GET /metrics (churn/http/metrics.py)
    # Where each scored customer's line goes (churn/core/prediction_log.py); None: nowhere.
    prediction_log: PredictionLog | None = None


class ConfigurationError(Exception):
    """An environment variable has a value the service cannot use."""


def load_or_exit(environ):
    """The model and the Settings `environ` asks for, the prediction log opened; on any problem, one
    line on stderr and exit 4."""

    def configure():
        model = model_from_environment(environ)
        settings = settings_from_environment(environ)
        return model, dataclasses.replace(settings, prediction_log=prediction_log(environ, model))

    return exit_unless(configure)


def exit_unless(configure):
    """What `configure()` returns; if it raises ModelError or ConfigurationError, the start stops
    there: one line on stderr naming the problem, and exit status 4."""
    try:
        return configure()
    except (ModelError, ConfigurationError) as error:
        print(f"churn service: cannot start: {error}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_CANNOT_START) from None


def listen_port(environ):
    """The port to listen on: PORT, else DEFAULT_PORT."""
    text = environ.get("PORT", "")
    port = whole_number(text) if text else DEFAULT_PORT
    if port is None or not 1 <= port <= 65535:
        raise ConfigurationError(f"PORT must be a port number from 1 to 65535, not {text!r}")
    return port


def worker_count(environ, usable_cpus):
    """gunicorn's workers: WEB_CONCURRENCY, else one per CPU of the `usable_cpus` (churn/server/cpus.py),
    rounded up. One is enough: a worker serves its other connections between the turns of a large
    request (churn/http/turns.py); and the served /predict was 0.83 of the floor app with one per CPU, 0.76
    with two (bench/benchmark.py), which spent the difference switching between them."""
    cpus = max(1, math.ceil(usable_cpus))
    most = min(MAX_WORKERS_PER_CPU * cpus, MAX_WORKERS)
    return _whole_number(
        environ, "WEB_CONCURRENCY", min(cpus, most), most, f"{MAX_WORKERS_PER_CPU} per CPU, {MAX_WORKERS} in all"
    )


def settings_from_environment(environ):
    """The app's Settings from environment variables; a bad value is named in ConfigurationError. The
    prediction log's key is checked, but the log is not opened: prediction_log() opens it."""
    _id_key(environ)
    return Settings(
        max_body_bytes=_whole_number(environ, "MAX_BODY_BYTES", MAX_BODY_BYTES, MOST_BODY_BYTES),
        max_batch=_whole_number(environ, "MAX_BATCH", MAX_BATCH, MOST_BATCH),
        api_key=environ.get("CHURN_API_KEY") or None,
        access_log=AccessLog(sys.stdout) if _switch(environ, "ACCESS_LOG", default=True) else None,
        metrics=_switch(environ, "METRICS", default=True),
    )


def prediction_log(environ, model):
    """The PredictionLog that PREDICTION_LOG asks for, of this model, opened; None when it is off."""
    destination = _log_destination(environ)
    if destination is None:
        return None
    try:
        fd = sys.stdout.fileno() if destination == _STDOUT else open_log(destination)
        if destination != _STDOUT and not is_log_file(fd):
            os.close(fd)
            raise ConfigurationError(f"PREDICTION_LOG={destination}: not a regular file or a pipe")
        return PredictionLog(fd, model, _id_key(environ), flush_seconds=FLUSH_SECONDS)
    except LogError as error:
        raise ConfigurationError(f"PREDICTION_LOG={destination}: {error}") from None
    except OSError as error:
        raise ConfigurationError(f"PREDICTION_LOG: cannot append to {destination}: {error.strerror}") from None


def model_from_environment(environ):
    """The model MODEL_PATH names, with CHURN_THRESHOLD applied."""
    try:
        model = load_model(model_path(environ))
    except ModelError as error:
        raise ModelError(f"MODEL_PATH: {error}" if environ.get("MODEL_PATH") else str(error)) from None
    threshold = environ.get("CHURN_THRESHOLD", "")
    return dataclasses.replace(model, threshold=_threshold(threshold)) if threshold else model


def anchored_paths(environ, directory):
    """{variable: absolute path} for MODEL_PATH and PREDICTION_LOG's file where they are relative: read
    from `directory`, where the user ran the command, for a server that changes into another."""
    paths = {"MODEL_PATH": environ.get("MODEL_PATH") or None, "PREDICTION_LOG": _log_destination(environ)}
    return {
        name: os.path.join(directory, path)
        for name, path in paths.items()
        if path not in (None, _STDOUT) and not os.path.isabs(path)
    }


def startup_summary(environ, model):
    """One line for the start-up log: which model, how good, which threshold, where predictions are logged."""
    auc = model.metadata.get("test_auc")
    return (
        f"model {model_path(environ)} version {model.version}"
        f" (test AUC {f'{auc:.3f}' if auc is not None else 'unknown'}), threshold {model.threshold}"
        f", {_log_summary(environ)}"
    )


def _log_summary(environ):
    destination = _log_destination(environ)
    if destination is None:
        return "prediction log off"
    where = "standard output" if destination == _STDOUT else destination
    return f"prediction log to {where}" + (" (customer ids hashed)" if environ.get(ID_KEY_VARIABLE) else "")


def _whole_number(environ, name, default, most, why=None):
    """The variable `name`, a whole number from 1 to `most` (`why` says where that comes from), else `default`."""
    text = environ.get(name, "")
    if not text:
        return default
    number = whole_number(text)
    if number is None or not 1 <= number <= most:
        limit = f"{most:,}" + (f" ({why})" if why else "")
        raise ConfigurationError(f"{name} must be a whole number from 1 to {limit}, not {echo(text)!r}")
    return number


_STDOUT = "stdout"


def _log_destination(environ):
    """PREDICTION_LOG: None (off), "stdout", or a file's path."""
    text = environ.get("PREDICTION_LOG", "").strip()
    if not text or text.lower() == "off":
        return None
    return _STDOUT if text.lower() == _STDOUT else text


def _id_key(environ):
    try:
        return id_key(environ)
    except LogError as error:
        raise ConfigurationError(str(error)) from None


def _switch(environ, name, default):
    text = environ.get(name, "").strip().lower()
    if not text:
        return default
    if text not in ("on", "off"):
        raise ConfigurationError(f"{name} must be on or off, not {text!r}")
    return text == "on"


def _threshold(text):
    try:
        value = float(text)
    except ValueError:
        value = text  # named as it was given
    try:
        return checked_threshold(value)
    except ValueError as error:
        raise ConfigurationError(f"CHURN_THRESHOLD {error}") from None
