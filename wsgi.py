"""The deployed service: `gunicorn wsgi:app` or `waitress-serve wsgi:app`.

The only place that reads the environment: MODEL_PATH (default model/churn-model.json).
"""

import os
from pathlib import Path

from app import create_app
from churn.model import load_model

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "model" / "churn-model.json"

app = create_app(load_model(os.environ.get("MODEL_PATH") or DEFAULT_MODEL_PATH))
