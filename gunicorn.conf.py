"""Gunicorn settings, read automatically by `gunicorn wsgi:app` from the working directory.

Binds 0.0.0.0:$PORT when PORT is set (Heroku, Elastic Beanstalk), else 0.0.0.0:9696, the book's
port. Workers: $WEB_CONCURRENCY, else one per CPU core. Command-line options override these.
"""

import os
import sys

bind = f"0.0.0.0:{os.environ.get('PORT', '9696')}"
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
# Load the model once, in the master, before forking: a bad model stops the start right there, with
# one line, and the workers share the loaded model's memory.
preload_app = True
# No management socket in $HOME: several instances on one host would share its default path.
control_socket_disable = True


def when_ready(server):
    """Log which model is served, and where, once the sockets are listening."""
    wsgi = sys.modules.get("wsgi")  # imported by preload_app when gunicorn serves wsgi:app
    if wsgi is None:
        return
    addresses = ", ".join(str(listener) for listener in server.LISTENERS)
    server.log.info("churn service: %s, listening on %s", wsgi.startup_summary(os.environ, wsgi.model), addresses)
