"""Gunicorn settings, read automatically by `gunicorn wsgi:app` from the working directory (and so
by `python serve.py`, which checks the environment before gunicorn reads it).

Listens on $PORT when it is set (Heroku, Elastic Beanstalk), else 9696, the book's port, on every
IPv4 and IPv6 address. Workers: $WEB_CONCURRENCY, else one per CPU this process may really use: a
container's CPU limit counts, not the host's CPUs (churn/server/cpus.py). A value of either that cannot be
used stops the start with one line (churn/http/config.py), as does a count of workers below one. Runs on
Linux and macOS (Windows: waitress). Command-line options and $GUNICORN_CMD_ARGS override these. The
worker class and the limits on slow clients were chosen by measurement (see docs/operations.md and
docs/performance.md).
"""

import os
import signal
import sys

from churn.http.config import (
    KEEPALIVE_SECONDS,
    ConfigurationError,
    exit_unless,
    listen_port,
    startup_summary,
    worker_count,
)
from churn.server.cpus import usable_cpus
from churn.server.gunicorn_worker import BoundedGeventWorker
from churn.server.listen import listen_addresses, port_taken, taken_address

# All interfaces, IPv4 and, where the host has it, IPv6 (churn/server/listen.py).
bind = exit_unless(lambda: listen_addresses(listen_port(os.environ)))
# One worker per CPU, rounded up, at least one (churn/http/config.py says why not two).
workers = exit_unless(lambda: worker_count(os.environ, usable_cpus()))
# Bounds on slow clients (churn/http/config.py; docs/operations.md lists them): the headers of a request, and the
# wait for the next request on a kept-alive connection, within keepalive seconds; no byte either
# way for IDLE_SECONDS closes a connection; a request must be received and answered within
# REQUEST_SECONDS (the largest body, 10 MiB, needs 0.7 Mbit/s).
keepalive = KEEPALIVE_SECONDS
worker_connections = 1000
# On SIGTERM: stop accepting, finish what is in flight, close idle connections (within keepalive),
# and exit within graceful_timeout, below Docker's and Kubernetes' default grace of 10 s.
graceful_timeout = 8
# Load the model once, in the master, before forking: a bad model stops the start right there, with
# one line, and the workers share the loaded model's memory.
preload_app = True
# No management socket in $HOME: several instances on one host would share its default path.
control_socket_disable = True
# gevent workers, each connection a greenlet, with the limits above on each (churn/server/gunicorn_worker.py).
worker_class = BoundedGeventWorker


def post_fork(server, worker):
    """A worker that is still booting stops at once on SIGTERM, SIGINT or SIGQUIT: it holds no
    request yet. Until the worker sets its own handlers, it has the master's, which ignore them in a
    worker: a server stopped while a worker booted took graceful_timeout (8 s) to exit, not 1 s.
    The worker counts in the row of the metrics' table that the master gave it (pre_fork)."""
    for signal_number in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signal_number, signal.SIG_DFL)
    if (metrics := _metrics()) is not None:
        metrics.use_slot(worker.churn_slot)


# The metrics' table has a row per worker slot (churn/http/counters.py): the master gives each new
# worker a free one, and frees it, with its gauges zeroed, once the worker is gone. Its counters stay:
# the next worker in that slot adds to them, so no sum ever decreases. Which slots are taken is kept
# by the table, not here: SIGHUP runs this file again while the old workers still count.


def pre_fork(server, worker):
    """Give the worker about to be forked a slot of the metrics' table."""
    if (metrics := _metrics()) is not None:
        worker.churn_slot = metrics.claim_slot()


def child_exit(server, worker):
    """Free a gone worker's slot, its requests in flight no longer in flight."""
    metrics, slot = _metrics(), getattr(worker, "churn_slot", None)
    if metrics is not None and slot is not None:
        metrics.worker_gone(slot)


def _metrics():
    """The app's metrics, when gunicorn preloaded the app (this configuration does) and they are on."""
    return getattr(getattr(sys.modules.get("wsgi"), "app", None), "metrics", None)


def on_starting(server):
    """Refuse to start without a worker (--workers 0): gunicorn would listen and answer nothing; or on a
    port another server holds, in one line (sockets handed over by a re-exec or systemd are not bound
    here, nor ports shared on purpose with reuse_port)."""
    if server.cfg.workers < 1:
        exit_unless(_no_worker)
    if not (server.cfg.reuse_port or "GUNICORN_FD" in os.environ or getattr(server, "systemd", False)):
        exit_unless(lambda: _free(server.cfg.address))


def _free(addresses):
    taken = taken_address(addresses)
    if taken:
        raise ConfigurationError(port_taken(taken, "--bind"))


def _no_worker():
    raise ConfigurationError("gunicorn has no worker to run (workers is 0); set WEB_CONCURRENCY or --workers to 1+")


def when_ready(server):
    """Log which model is served, and where, once the sockets are listening."""
    wsgi = sys.modules.get("wsgi")  # imported by preload_app when gunicorn serves wsgi:app
    if wsgi is None:
        return
    addresses = ", ".join(str(listener) for listener in server.LISTENERS)
    server.log.info("churn service: %s, listening on %s", startup_summary(os.environ, wsgi.model), addresses)


def on_reload(server):
    """Say that SIGHUP keeps the loaded model: preload_app loaded it once, in this master."""
    wsgi = sys.modules.get("wsgi")
    if wsgi is None:
        return
    server.log.warning(
        "churn service: SIGHUP restarts the workers but does not reload the model: still serving %s. "
        "To serve a new model, restart the service.",
        startup_summary(os.environ, wsgi.model),
    )
