"""Gunicorn settings, read automatically by `gunicorn wsgi:app` from the working directory.

Binds 0.0.0.0:$PORT when PORT is set (Heroku, Elastic Beanstalk), else 0.0.0.0:9696, the book's
port. Workers: $WEB_CONCURRENCY, else two per CPU this process may really use: a container's CPU
limit counts, not the host's CPUs (churn/cpus.py). Runs on Linux and macOS (Windows: waitress).
Command-line options and $GUNICORN_CMD_ARGS override these. The choice of worker class and counts
was measured with bench/benchmark.py --compare-settings (see the README's Performance section).
"""

import math
import os
import sys

from churn.cpus import usable_cpus

bind = f"0.0.0.0:{os.environ.get('PORT', '9696')}"
# Two sync workers per CPU: while one waits on its socket the other computes (measured faster than one).
# A fraction of a CPU (a 1.5-CPU limit) rounds up; at least one worker.
workers = int(os.environ.get("WEB_CONCURRENCY") or max(1, math.ceil(2 * usable_cpus())))
# Sync workers, measured against gthread: as fast, and steady. A gthread worker keeps each
# client's connection, so a few keep-alive clients can all land on one worker and leave the other
# CPUs idle (half the throughput in some runs). Sync workers should sit behind a buffering proxy
# (Elastic Beanstalk's nginx, Heroku's router, a load balancer) against slow clients.
worker_class = "sync"
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
