"""The churn service, in packages by when their code runs:

- churn.core      the model and its customers (standard library only): everything imports it
- churn.http      the web layer of the service (standard library only)
- churn.server    gunicorn's master and waitress: CPUs, listen addresses, server bounds
- churn.training  data, fitting, model card and charts (scikit-learn, matplotlib)

tests/test_structure.py checks these directions; the image holds no churn.training.
"""

import sys

# Every script imports this package first: on an older Python one line says so, not a traceback.
OLDEST_PYTHON = (3, 11)
if sys.version_info < OLDEST_PYTHON:
    raise SystemExit(
        f"the churn service needs Python {'.'.join(map(str, OLDEST_PYTHON))} or newer; this is Python "
        f"{'.'.join(map(str, sys.version_info[:3]))} ({sys.executable}): make the .venv with a newer python3"
    )

SERVICE_NAME = "churn prediction service"
SERVICE_VERSION = "1"  # of the API: the OpenAPI document's and the inference protocol's server version
