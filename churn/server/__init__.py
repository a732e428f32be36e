"""What runs around the app: the CPUs a process may use, the addresses to listen on, and both servers'
bounded workers, gunicorn's (gevent) and waitress's. Read by serve.py and gunicorn.conf.py (gunicorn's
master); imports churn.core and churn.http, never churn.training."""
