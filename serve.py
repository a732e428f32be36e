"""Start the churn service, its settings checked first: gunicorn (Linux, macOS), or waitress (Windows).

    python serve.py                     # as the Procfile and the Dockerfile start it
    python serve.py --workers 3         # any other option goes to gunicorn
    python serve.py --server waitress   # waitress, with the same bounds (churn/server/waitress_server.py)
    python serve.py --server waitress --listen 127.0.0.1:8080   # waitress listens on *:$PORT by default
    python serve.py --app bench.floor_app:app                    # another WSGI app, the same way (benchmarks)

A setting that cannot be used (PORT, WEB_CONCURRENCY, MAX_BODY_BYTES, MAX_BATCH, …, churn/http/config.py)
stops the start with one line naming it and exit status 4, before gunicorn reads any of them:
gunicorn itself fails on WEB_CONCURRENCY=x with a traceback. `gunicorn wsgi:app` and
`waitress-serve --listen=*:9696 wsgi:app` serve the same app, without that first check (and
waitress-serve without the bounds).
"""

import argparse
import errno
import importlib
import logging
import os
import signal
import sys
from pathlib import Path

from churn.http.config import (
    ConfigurationError,
    anchored_paths,
    exit_unless,
    listen_port,
    settings_from_environment,
    worker_count,
)
from churn.server.cpus import usable_cpus
from churn.server.listen import port_taken

PROJECT_DIR = Path(__file__).resolve().parent
SERVERS = ("gunicorn", "waitress")


def check_environment(environ):
    """The port; ConfigurationError naming the first variable whose value cannot be used."""
    worker_count(environ, usable_cpus())
    settings_from_environment(environ)
    return listen_port(environ)


def main(argv=None):
    """Check the environment, then run the server: gunicorn, or waitress (--server waitress, Windows)."""
    options, rest = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.update(anchored_paths(os.environ, os.getcwd()))  # before the chdir below
    port = exit_unless(lambda: check_environment(os.environ))
    os.chdir(PROJECT_DIR)  # where gunicorn finds gunicorn.conf.py, and both servers wsgi.py
    sys.path.insert(0, str(PROJECT_DIR))
    if options.server == "waitress":
        return _run_waitress(options.app, options.listen or f"*:{port}")
    from gunicorn.app.wsgiapp import run  # only now: importing gunicorn reads WEB_CONCURRENCY

    sys.argv = ["gunicorn", *rest, options.app]
    return run()


def parse_args(argv):
    """This script's options, and the rest (gunicorn's)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False
    )
    parser.add_argument(
        "--server",
        choices=SERVERS,
        default="waitress" if sys.platform == "win32" else "gunicorn",
        help="the WSGI server (default: waitress on Windows, else gunicorn)",
    )
    parser.add_argument("--listen", metavar="HOST:PORT", help="waitress only: where to listen (default *:$PORT)")
    parser.add_argument("--app", default="wsgi:app", help="the WSGI app, as MODULE:NAME (default wsgi:app)")
    options, rest = parser.parse_known_args(argv)
    if options.server == "waitress" and rest:
        parser.error(f"waitress takes no other options: {' '.join(rest)}")
    return options, rest


def _run_waitress(app, listen):
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # waitress's lines, and ours
    module, _, name = app.partition(":")
    served = getattr(importlib.import_module(module), name)  # wsgi loads the model, with one line if it is bad
    server = exit_unless(lambda: _listening(served, listen))
    # SIGTERM (Docker, Kubernetes, systemd) stops waitress as Ctrl-C does: it finishes the requests in
    # flight, and the logs write what they keep (churn/core/log_lines.py). Python's default would end
    # the process at once, and the lines kept with it.
    signal.signal(signal.SIGTERM, _stop)
    server.print_listen("Serving on http://{}:{}")
    server.run()
    logging.getLogger("churn.server").info("churn service: stopped")
    return 0


def _listening(app, listen):
    """waitress serving `app` on `listen`; ConfigurationError in one line when the port is taken."""
    from churn.server.waitress_server import bounded_server

    try:
        return bounded_server(app, settings_from_environment(os.environ), listen)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        raise ConfigurationError(port_taken(listen, "--listen")) from None


def _stop(signal_number, frame):
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
