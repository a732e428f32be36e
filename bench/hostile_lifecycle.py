"""The rows of bench/hostile_clients.py that try the service's lifecycle and its counts rather than
one request: a reload and a death under load, a death mid-answer, a stop with a slow log reader,
a drift faked by one client, and the customers one thread has binned. Each takes (start, model,
quick) as the other rows do, and returns what it measured.
"""

import concurrent.futures
import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

from bench import process_group
from bench.loops import Loops
from bench.servers import COMMANDS, Server, metric_samples
from churn.core.telco import BOOK_CUSTOMER as EXAMPLE_CUSTOMER
from churn.http.drift import BINNED_PER_REQUEST


def _scrape(server):
    return metric_samples(server.get("/metrics")[1].decode())


def _pings_counted(scraped):
    return scraped.get(("churn_http_requests_total", 'route="/ping",method="GET",code="200"'), 0)


def _customers_counted(scraped):
    return sum(value for (name, _), value in scraped.items() if name == "churn_customers_scored_total")


def workers(server):
    """gunicorn's worker pids (the master's children, from /proc), in the order they were forked."""
    found = set()
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{server.process.pid}/task"):
            with open(f"/proc/{server.process.pid}/task/{task}/children") as children:
                found.update(int(child) for child in children.read().split())
    return sorted(found)


def _status_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        return int(re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.MULTILINE)[1])


class _Pinger(Loops):
    """Threads that GET /ping over kept-alive connections until stopped: how many were answered 200."""

    def __init__(self, port, threads=8):
        super().__init__(range(threads))
        self.port, self.answered = port, [0] * threads
        self._connections = [self._connection() for _ in range(threads)]

    def _connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)

    def step(self, n):
        try:
            self._connections[n].request("GET", "/ping")
            response = self._connections[n].getresponse()
            response.read()
            self.answered[n] += response.status == 200
        except (OSError, http.client.HTTPException):  # a worker killed or recycled: a new connection
            self._connections[n].close()
            self._connections[n] = self._connection()


def row_reload(start, model, quick, server_name, log_dir):
    """gunicorn under /ping load, SIGHUP, then a new worker SIGKILLed: requests answered and counted,
    and the live workers' memory and open files against what the metrics say (waitress: no reload)."""
    if server_name != "gunicorn":
        return {"skipped": "waitress has no reload: SIGHUP is gunicorn's"}
    seconds = 3 if quick else 10
    with start() as server:
        before = _pings_counted(_scrape(server))
        first = set(workers(server))
        with _Pinger(server.port) as pinger:
            time.sleep(seconds / 3)
            server.process.send_signal(signal.SIGHUP)
            server.wait_until(lambda: len(workers(server)) == len(first) and not first & set(workers(server)))
            time.sleep(seconds / 3)
            os.kill(max(workers(server)), signal.SIGKILL)  # the last forked: not the first free slot
            server.wait_until(lambda: len(workers(server)) == len(first))
            time.sleep(seconds / 3 + 1.1)
        # Each worker refreshes its gauges once a second, at the end of a request: requests on new
        # connections, which reach every worker (the pinger's kept-alive ones may all be one's).
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            fresh = sum(status == 200 for status, _ in pool.map(lambda _: server.get("/ping"), range(200)))
        scraped = _scrape(server)
        live = workers(server)
        return {
            "seconds": seconds,
            "answered": sum(pinger.answered) + fresh,
            "counted": _pings_counted(scraped) - before,
            "open_fds_counted": scraped[("process_open_fds", "")],
            "open_fds_real": sum(len(os.listdir(f"/proc/{pid}/fd")) for pid in live),
            "resident_mib_counted": round(scraped[("process_resident_memory_bytes", "")] / 2**20, 1),
            "resident_mib_real": round(sum(_status_kib(pid, "VmRSS") for pid in live) / 1024, 1),
        }


def row_killed(start, model, quick, server_name, log_dir):
    """10,000 customers explained asked of gunicorn, read slowly, and every worker SIGKILLed once the
    answer's first bytes arrive (every customer scored, the answer on its way): the answer's status,
    whether it came whole, and the customers counted (waitress: one process, its death ends the
    instance and its counts)."""
    if server_name != "gunicorn":
        return {"skipped": "waitress is one process: its death ends the instance"}
    body = json.dumps([EXAMPLE_CUSTOMER] * 10_000).encode()
    head = (
        "POST /predict?explain=true HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with start() as server:
        before = _customers_counted(_scrape(server))
        first = workers(server)
        with socket.socket() as connection:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the answer waits on us
            connection.settimeout(30)
            connection.connect(("127.0.0.1", server.port))
            connection.sendall(head.encode() + body)
            answer = connection.recv(64)
            for pid in first:
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                while chunk := connection.recv(1 << 16):
                    answer += chunk
        server.wait_until(lambda: len(workers(server)) == len(first))
        return {
            "status": int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else None,
            "whole": answer.endswith(b"0\r\n\r\n"),
            "customers_counted": _customers_counted(_scrape(server)) - before,
        }


def piped_server(server_name, env, stderr_path, start=process_group.start):
    """Server (bench/servers.py) `server_name` with `env` added, its standard output a pipe to read
    (server.process.stdout), its standard error to `stderr_path`; `start` starts its process group."""
    port = process_group.free_port()
    command, command_env = COMMANDS[server_name](port, "wsgi:app", ())
    with open(stderr_path, "w") as errors:

        def piped(command, **arguments):
            return start(command, **{**arguments, "stdout": subprocess.PIPE, "stderr": errors})

        return Server(command, port, env={**os.environ, **command_env, **env}, start=piped)


class SlowReader(threading.Thread):
    """Reads a pipe 64 KiB at a time, a millisecond between reads, until its end."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe, self.chunks = pipe, []

    def run(self):
        while chunk := self.pipe.read1(1 << 16):
            self.chunks.append(chunk)
            time.sleep(0.001)

    def lines(self):
        """What it read, line by line."""
        return b"".join(self.chunks).splitlines()


def row_stop(start, model, quick, server_name, log_dir):
    """The prediction and access logs to standard output, read by a slow reader, and SIGTERM at once
    after 20,000 customers (stop_with_a_slow_reader)."""
    return stop_with_a_slow_reader(server_name, f"{log_dir}/{server_name}-stop.stderr")


def stop_with_a_slow_reader(server_name, stderr_path, start=process_group.start):
    """Both logs to standard output, read by a slow reader (64 KiB a millisecond); 20 requests of
    1,000 customers, then SIGTERM at once: the lines that reached the reader, and what the server said."""
    server = piped_server(server_name, {"PREDICTION_LOG": "stdout", "WEB_CONCURRENCY": "2"}, stderr_path, start)
    try:
        reader = SlowReader(server.process.stdout)
        reader.start()
        server.wait_until_serving()
        body = json.dumps([dict(EXAMPLE_CUSTOMER, customerid=str(n)) for n in range(1000)]).encode()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(lambda _: server.post("/predict", body, "application/json")[0], range(20)))
        stopped = time.monotonic()
        server.process.send_signal(signal.SIGTERM)  # at once: the last lines are still kept
        code = server.process.wait(timeout=30)
        seconds = time.monotonic() - stopped
        reader.join(timeout=30)
    finally:
        server.stop()
        server.process.stdout.close()
    lines = reader.lines()
    with open(stderr_path) as said:
        unwritten = [line for line in said.read().splitlines() if "could not write" in line]
    return {
        "customers_answered": 1000 * statuses.count(200),
        "prediction_lines": sum(b'"churn_probability"' in line for line in lines),
        "access_lines_of_predict": sum(b"path=/predict" in line for line in lines),
        "exit": code,
        "seconds_to_exit": round(seconds, 2),
        "said_unwritten": unwritten,
    }


def extreme_customer(model):
    """A valid customer as far from the training data as the rules allow: each category the training
    data had least of, each number at its bound."""
    reference = model.reference["features"]
    customer = {}
    for rule in model.schema.rules:
        if rule.values is None:
            customer[rule.name] = rule.maximum
        else:
            shares = dict(zip(reference[rule.name]["values"], reference[rule.name]["shares"], strict=True))
            customer[rule.name] = min(rule.values, key=lambda value: shares.get(value, 0))
    return customer


def row_drift(start, model, quick, server_name, log_dir):
    """One client, 3 requests of 10,000 extreme but valid customers, alone in the window: the fields'
    statuses and the customers the window counts."""
    body = json.dumps([extreme_customer(model)] * 10_000).encode()
    with start() as server:
        statuses = [server.post("/predict", body, "application/json")[0] for _ in range(3)]
        monitoring = json.loads(server.get("/model/monitoring")[1])
    features = [*monitoring["features"], monitoring["score"]]
    return {
        "answers": statuses,
        "window_customers": monitoring["score"]["customers"],
        "statuses": sorted({str(feature["status"]) for feature in features}),
        "largest_psi": max((feature["psi"] or 0 for feature in features), default=0),
    }


def row_binned(start, model, quick, server_name, log_dir):
    """40 requests of BINNED_PER_REQUEST customers from 8 clients at once, then at once
    /model/monitoring: the customers it counts in the window, against those binned. waitress's threads
    add theirs as each request ends; a gunicorn worker adds its own once a second, at the end of a
    request, so gunicorn runs one worker here: a ping after a second is then its request (with more,
    a worker that gets neither the ping nor the monitoring request keeps its last second's bins until
    its next request, as docs/monitoring.md says)."""
    body = json.dumps([EXAMPLE_CUSTOMER] * BINNED_PER_REQUEST).encode()
    with start({"WEB_CONCURRENCY": "1"} if server_name == "gunicorn" else None) as server:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: server.post("/predict", body, "application/json")[0], range(40)))
        if server_name == "gunicorn":
            time.sleep(1.1)  # a worker adds its bins once a second, at the end of a request
            server.get("/ping")
        monitoring = json.loads(server.get("/model/monitoring")[1])
    return {"binned": BINNED_PER_REQUEST * statuses.count(200), "window_customers": monitoring["score"]["customers"]}


ROWS = {
    "reload": row_reload,
    "killed": row_killed,
    "stop": row_stop,
    "drift": row_drift,
    "binned": row_binned,
}
