"""The deployed service: `gunicorn wsgi:app` or `waitress-serve wsgi:app`.

The only place that reads the environment:
    MODEL_PATH      the JSON model artifact (default model/churn-model.json)
    MAX_BODY_BYTES  largest request body accepted (default 10 MiB)
    MAX_BATCH       most customers in one /predict request (default 10,000)
    CHURN_API_KEY   when set, every route but /ping needs "Authorization: Bearer <key>"
"""

import os
from pathlib import Path

from app import MAX_BATCH, MAX_BODY_BYTES, Settings, create_app
from churn.model import load_model

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "model" / "churn-model.json"


def settings_from_environment(environ):
    """The app's Settings from environment variables; a bad value stops the start with its name."""
    return Settings(
        max_body_bytes=_positive_int(environ, "MAX_BODY_BYTES", MAX_BODY_BYTES),
        max_batch=_positive_int(environ, "MAX_BATCH", MAX_BATCH),
        api_key=environ.get("CHURN_API_KEY") or None,
    )


def _positive_int(environ, name, default):
    text = environ.get(name, "")
    if not text:
        return default
    if not text.isdigit() or int(text) == 0:
        raise ValueError(f"{name} must be a positive whole number, not {text!r}")
    return int(text)


app = create_app(
    load_model(os.environ.get("MODEL_PATH") or DEFAULT_MODEL_PATH),
    settings_from_environment(os.environ),
)
