"""SIGTERM a server under load: how many requests are lost, and how long does it take to exit?

    .venv/bin/python bench/graceful_stop.py [--clients 24] [--worker-class gevent|sync] [--idle 1]

Starts gunicorn as gunicorn.conf.py configures it (or with another worker class), on a free
loopback port; `--clients` threads post the book's customer in a loop, each over one kept-alive
connection (a new one after the server closes it), and `--idle` connections sit idle. After a
second of load, SIGTERM goes to gunicorn's master. Each request ends as one of: answered; refused
(the connection was refused: nothing was sent, the client can retry elsewhere); lost (sent, and
then reset or left unanswered). Prints the counts and the seconds from SIGTERM to exit, as JSON.
"""

import argparse
import http.client
import json
import signal
import socket
import sys
import threading
import time
from collections import Counter
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench.servers import Server  # noqa: E402
from churn.core.telco import BOOK_CUSTOMER as EXAMPLE_CUSTOMER  # noqa: E402

_BODY = json.dumps(EXAMPLE_CUSTOMER).encode()
_HEADERS = {"Content-Type": "application/json"}
LOAD_SECONDS = 1.0
EXIT_TIMEOUT_SECONDS = 40


def measure(clients=24, idle=1, worker_class=None, env=None):
    """Load, SIGTERM and watch one gunicorn; return the counts of outcomes and the seconds to exit."""
    args = ["--worker-class", worker_class] if worker_class else []
    with Server.launch("gunicorn", args=args, env=env) as server:
        port = server.wait_until_serving().port
        idlers = [socket.create_connection(("127.0.0.1", port)) for _ in range(idle)]
        outcomes, stop = Counter(), threading.Event()
        threads = [threading.Thread(target=_client, args=(port, outcomes, stop)) for _ in range(clients)]
        for thread in threads:
            thread.start()
        time.sleep(LOAD_SECONDS)
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=EXIT_TIMEOUT_SECONDS)
        exit_seconds = time.monotonic() - signalled
        stop.set()
        for thread in threads:
            thread.join()
        for sock in idlers:
            sock.close()
    counts = {outcome: outcomes[outcome] for outcome in ("answered", "refused", "lost")}
    return {**counts, "exit_seconds": round(exit_seconds, 2)}


def _client(port, outcomes, stop):
    connection = None
    while not stop.is_set():
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            try:
                connection.connect()
            except OSError:
                outcomes["refused"] += 1
                connection = None
                time.sleep(0.01)
                continue
        try:
            connection.request("POST", "/predict", body=_BODY, headers=_HEADERS)
            response = connection.getresponse()
            response.read()
            outcomes["answered" if response.status == 200 else "lost"] += 1
            if response.will_close:
                connection.close()
                connection = None
        except OSError:
            outcomes["lost"] += 1
            connection.close()
            connection = None


def parse_args(argv):
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=24, help="clients in flight at the stop (default 24)")
    parser.add_argument("--idle", type=int, default=1, help="idle keep-alive connections at the stop (default 1)")
    parser.add_argument("--worker-class", help="instead of gunicorn.conf.py's (e.g. sync, to compare)")
    return parser.parse_args(argv)


def main(argv=None):
    """Measure once and print the result as JSON."""
    args = parse_args(argv)
    print(json.dumps(measure(args.clients, args.idle, args.worker_class)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
