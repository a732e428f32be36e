"""The deployed service: `gunicorn wsgi:app` or `waitress-serve wsgi:app`.

The only place that reads the environment:
    MODEL_PATH       the model: our JSON artifact, or the book's pickle (default model/churn-model.json)
    CHURN_THRESHOLD  overrides the model's threshold for "churn": true (0 < t < 1)
    MAX_BODY_BYTES   largest request body accepted (default 10 MiB)
    MAX_BATCH        most customers in one /predict request (default 10,000)
    CHURN_API_KEY    when set, every route but /ping needs "Authorization: Bearer <key>"
    ACCESS_LOG       "on" (default): one logfmt line per request on standard output; "off": none

Anything wrong with them stops the start with one line on stderr and exit status 4, which gunicorn
reads as "the app failed to load" (it stops instead of restarting workers in a loop).
"""

import dataclasses
import os
import sys

from app import MAX_BATCH, MAX_BODY_BYTES, Settings, create_app
from churn.model import DEFAULT_MODEL_PATH, ModelError, load_model

EXIT_CANNOT_START = 4  # gunicorn's APP_LOAD_ERROR


class ConfigurationError(Exception):
    """An environment variable has a value the service cannot use."""


def settings_from_environment(environ):
    """The app's Settings from environment variables; a bad value is named in ConfigurationError."""
    return Settings(
        max_body_bytes=_positive_int(environ, "MAX_BODY_BYTES", MAX_BODY_BYTES),
        max_batch=_positive_int(environ, "MAX_BATCH", MAX_BATCH),
        api_key=environ.get("CHURN_API_KEY") or None,
        access_log=access_log_writer(sys.stdout) if _switch(environ, "ACCESS_LOG", default=True) else None,
    )


def access_log_writer(stream):
    """The service's access log: each line written to `stream` and flushed at once."""

    def write(line):
        stream.write(line + "\n")
        stream.flush()  # a line now, not when a buffer fills: logs are read as they come

    return write


def model_from_environment(environ):
    """The model MODEL_PATH names, with CHURN_THRESHOLD applied."""
    model = load_model(environ.get("MODEL_PATH") or DEFAULT_MODEL_PATH)
    threshold = environ.get("CHURN_THRESHOLD", "")
    return dataclasses.replace(model, threshold=_threshold(threshold)) if threshold else model


def startup_summary(environ, model):
    """One line for the start-up log: which model, how good, which threshold."""
    auc = model.metadata.get("test_auc")
    return (
        f"model {environ.get('MODEL_PATH') or DEFAULT_MODEL_PATH} version {model.version}"
        f" (test AUC {f'{auc:.3f}' if auc is not None else 'unknown'}), threshold {model.threshold}"
    )


def _positive_int(environ, name, default):
    text = environ.get(name, "")
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        raise ConfigurationError(f"{name} must be a positive whole number, not {text!r}")
    return int(text)


def _switch(environ, name, default):
    text = environ.get(name, "").strip().lower()
    if not text:
        return default
    if text not in ("on", "off"):
        raise ConfigurationError(f"{name} must be on or off, not {text!r}")
    return text == "on"


def _threshold(text):
    try:
        threshold = float(text)
    except ValueError:
        threshold = None
    if threshold is None or not 0 < threshold < 1:
        raise ConfigurationError(f"CHURN_THRESHOLD must be a number between 0 and 1, not {text!r}")
    return threshold


def _create_app_or_exit(environ):
    try:
        model = model_from_environment(environ)
        application = create_app(model, settings_from_environment(environ))
    except (ModelError, ConfigurationError) as error:
        print(f"churn service: cannot start: {error}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_CANNOT_START) from None
    # Under gunicorn, gunicorn.conf.py logs this with the listening address instead.
    if "gunicorn" not in sys.modules:
        print(f"churn service: {startup_summary(environ, model)}", file=sys.stderr, flush=True)
    return application, model


app, model = _create_app_or_exit(os.environ)
