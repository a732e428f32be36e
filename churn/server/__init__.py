"""What runs around the app before it serves: the CPUs a process may use, the addresses to listen
on, and waitress with the service's bounds. Read by serve.py and gunicorn.conf.py (gunicorn's
master); imports churn.core and churn.http, never churn.training."""
