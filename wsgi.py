"""The deployed service: `gunicorn wsgi:app` or `waitress-serve wsgi:app`.

Only wires: the model and the settings the environment asks for (churn/http/config.py lists the
variables), and the app around them. A bad model or setting stops the start here, with one line.
"""

import os
import sys

from app import create_app
from churn.http.config import load_or_exit, startup_summary

model, settings = load_or_exit(os.environ)
app = create_app(model, settings)
if "gunicorn" not in sys.modules:  # under gunicorn, gunicorn.conf.py logs this with the listening address
    print(f"churn service: {startup_summary(os.environ, model)}", file=sys.stderr, flush=True)
