"""Hold many slow or idle connections open to a server, and meanwhile probe it as a normal client.

    .venv/bin/python bench/slow_clients.py --port 9696 [--kind KIND …] [--connections 64] [--seconds 20]

Kinds of connection: "idle" connects and sends nothing; "headers" sends a request's headers one byte
every 2 s; "body" sends whole headers announcing a 50,000-byte body (a small request: a large one
holds one of its worker's few places for large requests, churn/http/admission.py), then one byte a
second; "stalled" sends those headers and then nothing; "reader" asks for 50 customers explained in full
(150 kB) and then reads one byte a second of the answer (which the kernel's buffers may hold
whole: it shows a slow reader costs the server nothing). "mixed" opens all kinds at once.
Meanwhile, from SETTLE_SECONDS after they are opened (the readers' answers are computed by then),
/ping and /predict (the book's customer) are asked in turn, 4 times a second, each with a 1 s
limit. It reports how the probes fared and when the server closed the slow connections.
Loopback only; the run ends by itself, and every connection it opened is closed.
"""

import argparse
import http.client
import json
import selectors
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from churn.core.telco import BOOK_CUSTOMER as EXAMPLE_CUSTOMER  # noqa: E402

KINDS = ("idle", "headers", "body", "stalled", "reader")
PROBE_TIMEOUT_SECONDS = 1.0
PROBE_INTERVAL_SECONDS = 0.25
SETTLE_SECONDS = 2.0
_BODY = json.dumps(EXAMPLE_CUSTOMER).encode()
_BATCH = json.dumps([EXAMPLE_CUSTOMER] * 50).encode()  # explained in full: a 150 kB answer
_TRICKLE_SECONDS = {"headers": 2.0, "body": 1.0, "reader": 1.0}


def _opening(kind):
    """What a connection of this kind sends at once."""
    json_headers = b"Host: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    if kind == "headers":
        return b"POST /predict HTTP/1.1\r\n"
    if kind in ("body", "stalled"):
        return b"POST /predict HTTP/1.1\r\n" + json_headers % 50_000
    if kind == "reader":
        return b"POST /predict?explain=true&top=all HTTP/1.1\r\n" + json_headers % len(_BATCH) + _BATCH
    return b""


@dataclass
class _Slow:
    sock: socket.socket
    kind: str
    opened: float
    closed_after: float | None = None  # seconds after opening that the server closed it


@dataclass
class Report:
    """What the probes saw, and what became of the slow connections."""

    kinds: tuple
    connections: int
    seconds: float
    probes: int = 0
    slow_probes: int = 0  # failed, or over PROBE_TIMEOUT_SECONDS
    slowest_probe_ms: float = 0.0
    closed_after: dict = field(default_factory=dict)  # kind -> seconds after opening the server closed each
    still_open: dict = field(default_factory=dict)  # kind -> how many the server had not closed at the end

    def as_dict(self):
        """Plain data, for JSON: per kind, how many were closed, how soon (first, last), how many stayed."""
        closes = {kind: sorted(times) for kind, times in self.closed_after.items()}
        return {
            "connections": self.connections,
            "seconds": self.seconds,
            "probes": self.probes,
            "slow_probes": self.slow_probes,
            "slowest_probe_ms": round(self.slowest_probe_ms, 1),
            "kinds": {
                kind: {
                    "closed": len(closes[kind]),
                    "closed_after_seconds": [round(closes[kind][0], 1), round(closes[kind][-1], 1)]
                    if closes[kind]
                    else None,
                    "still_open": self.still_open[kind],
                }
                for kind in self.kinds
            },
        }


def run(port, kinds, connections, seconds, host="127.0.0.1"):
    """Open `connections` slow connections, shared out among `kinds`, probe for `seconds`, close
    everything; return a Report."""
    report = Report(tuple(kinds), connections, seconds)
    slow = [_open(host, port, kinds[index % len(kinds)]) for index in range(connections)]
    stop = threading.Event()
    prober = threading.Thread(target=_probe_until, args=(host, port, stop, report))
    prober.start()
    try:
        _trickle(slow, seconds)
    finally:
        stop.set()
        prober.join()
        for connection in slow:
            connection.sock.close()
    for kind in kinds:
        of_kind = [connection for connection in slow if connection.kind == kind]
        report.closed_after[kind] = [c.closed_after for c in of_kind if c.closed_after is not None]
        report.still_open[kind] = sum(c.closed_after is None for c in of_kind)
    return report


def _open(host, port, kind):
    sock = socket.create_connection((host, port), timeout=5)
    if kind == "reader":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(_opening(kind))
    sock.setblocking(False)
    return _Slow(sock, kind, time.monotonic())


def _trickle(slow, seconds):
    """Send (or read) one byte per connection at its pace until `seconds` pass; note server closes."""
    selector = selectors.DefaultSelector()
    for connection in slow:
        selector.register(connection.sock, selectors.EVENT_READ, connection)
    deadline, next_tick = time.monotonic() + seconds, {kind: 0.0 for kind in KINDS}
    while (now := time.monotonic()) < deadline:
        for kind, interval in _TRICKLE_SECONDS.items():
            if now >= next_tick[kind]:
                next_tick[kind] = now + interval
                for connection in slow:
                    if connection.kind == kind and connection.closed_after is None:
                        _step(connection, selector)
        for key, _ in selector.select(timeout=0.1):
            if key.data.kind != "reader":  # readers read only at their pace
                _read_to_end(key.data, selector)
    selector.close()


def _step(connection, selector):
    try:
        if connection.kind == "reader":
            if connection.sock.recv(1) == b"":
                _closed(connection, selector)
        else:
            connection.sock.send(b"x" if connection.kind == "body" else b"X")
    except BlockingIOError:
        pass
    except OSError:
        _closed(connection, selector)


def _read_to_end(connection, selector):
    """The server answered or closed: read what it sent; a closed connection is noted."""
    try:
        while chunk := connection.sock.recv(65536):
            del chunk
        _closed(connection, selector)
    except BlockingIOError:
        pass  # an answer (408, 400 …) with the connection still open
    except OSError:
        _closed(connection, selector)


def _closed(connection, selector):
    if connection.closed_after is None:
        connection.closed_after = time.monotonic() - connection.opened
        selector.unregister(connection.sock)


def _probe_until(host, port, stop, report):
    requests = [("GET", "/ping", None), ("POST", "/predict", _BODY)]
    stop.wait(SETTLE_SECONDS)
    while not stop.is_set():
        method, path, body = requests[report.probes % 2]
        started = time.monotonic()
        ok = _probe(host, port, method, path, body)
        elapsed = time.monotonic() - started
        report.probes += 1
        report.slowest_probe_ms = max(report.slowest_probe_ms, elapsed * 1000)
        if not ok or elapsed > PROBE_TIMEOUT_SECONDS:
            report.slow_probes += 1
        stop.wait(PROBE_INTERVAL_SECONDS)


def _probe(host, port, method, path, body):
    connection = http.client.HTTPConnection(host, port, timeout=PROBE_TIMEOUT_SECONDS)
    try:
        headers = {"Content-Type": "application/json"} if body else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        connection.close()


def parse_args(argv):
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=9696, help="the server's port on 127.0.0.1 (default 9696)")
    parser.add_argument("--kind", choices=(*KINDS, "mixed"), action="append", help="repeat; default: each in turn")
    parser.add_argument("--connections", type=int, default=64, help="slow connections held open (default 64)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long each kind runs (default 20)")
    return parser.parse_args(argv)


def main(argv=None):
    """Run each kind asked for (all kinds at once for "mixed") and print one JSON line per run."""
    args = parse_args(argv)
    for kind in args.kind or KINDS:
        kinds = KINDS if kind == "mixed" else (kind,)
        print(json.dumps(run(args.port, kinds, args.connections, args.seconds).as_dict()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
