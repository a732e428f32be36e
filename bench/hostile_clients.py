"""Try the service as an attacker would, and measure what each try costs it.

    .venv/bin/python bench/hostile_clients.py [--server gunicorn|waitress] [--quick] [--only ROW …] [--output FILE]

Each row runs against gunicorn as shipped (serve.py: the Procfile's and the image's command) and
against waitress as the README starts it (serve.py --server waitress), on a loopback port:

  memory     the worst bodies of each media type up to the body limit (spanning's too), and the largest legal batches,
             one at a time: status, seconds, and the serving processes' peak memory over their size
             before it (VmHWM, reset before each)
  cpu        twice as many clients as workers sending the most expensive legal requests, while /ping,
             the readiness probe and a single customer are probed: their p50/p99/max and failures,
             and how the expensive requests were answered
  spanning   6 clients at once sending 10 MiB bodies whose parts span lines (a CSV record or header
             over millions of quoted line breaks) or hide in unknown keys (V2), again and again,
             while probes run: answers, the serving processes' peak memory, the probes
  send       the largest legal answer read at 8 Mbit/s and at 1 Mbit/s: bytes received, whole or not
  readers    16 slow readers of large answers: the serving processes' memory meanwhile
  stalled    connections that send one byte of a 100-byte body and go silent: what they get, and
             the log's 500s and tracebacks
  malformed  NDJSON nested 100,000 deep, NDJSON with a 5,000-digit integer, a bad chunk size, a
             customerid "\\ud800" (a lone surrogate) answered as CSV and JSON, Transfer-Encodings
             other than chunked
  injection  customer ids that a spreadsheet would run as formulas, answered as CSV
  idle       512 idle connections while probes run: the probes, and how long an idle one is held
  trickle    1,000 connections sending their headers a byte a second, back as soon as they are
             closed, while probes run: the probes, and how long one was let trickle
  oversized  a 300 MB body announced in its headers: status, seconds, bytes sent before the answer
  smuggling  Content-Length and Transfer-Encoding together, a request smuggled behind them
  reload     gunicorn under /ping load, SIGHUP, then a new worker SIGKILLed: requests answered and
             counted, the live workers' memory and open files and what the metrics say of them
  killed     every gunicorn worker SIGKILLed while answering 10,000 customers: customers counted
  stop       both logs to standard output read by a slow reader, 20,000 customers, then SIGTERM:
             the lines that reached it
  drift      one client's 3 requests of 10,000 extreme customers: the fields' statuses
  binned     40 requests from 8 clients at once: the customers /model/monitoring counts at once
             (those five rows in bench/hostile_lifecycle.py)
  config     settings that would remove a bound or name nothing (WEB_CONCURRENCY=0, x or 100000,
             PORT=abc, MAX_BODY_BYTES and MAX_BATCH of 10^30-1, PREDICTION_LOG=/proc/version, a
             MODEL_PATH to no file): exit status and what the start says

It prints what it measured, row by row, and writes it all as JSON. --quick (CI) runs each row
briefly: fewer connections, shorter loads, 8 Mbit/s only. Linux only (it reads /proc), bounded in
time, and everything it starts is stopped with its process group.
"""

import argparse
import concurrent.futures
import contextlib
import csv
import io
import json
import os
import re
import runpy
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench import hostile_lifecycle, process_group  # noqa: E402
from bench.loops import Loops  # noqa: E402
from bench.servers import COMMANDS, Server  # noqa: E402
from churn.core.model import load_model  # noqa: E402
from churn.core.telco import BOOK_CUSTOMER as EXAMPLE_CUSTOMER  # noqa: E402
from churn.http.config import IDLE_SECONDS, KEEPALIVE_SECONDS, MAX_BATCH, MAX_BODY_BYTES  # noqa: E402
from churn.http.customers import CustomerLimit  # noqa: E402
from churn.http.open_inference import inference_request  # noqa: E402

SERVERS = ("gunicorn", "waitress")
PROBE_TIMEOUT_SECONDS = 1.0
MIB = 1 << 20
_EXAMPLE = json.dumps(EXAMPLE_CUSTOMER).encode()


# --- bodies ---------------------------------------------------------------------------------------


def _filled(head, item, tail, size=MAX_BODY_BYTES):
    """head + item * n + tail, as long as `size` allows: the body limit's worth of one tiny item."""
    return head + item * ((size - len(head) - len(tail)) // len(item)) + tail


def _csv(rows):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def _v2(data_item):
    head = b'{"inputs": [{"name": "gender", "datatype": "BYTES", "shape": [3000000], "data": ['
    return _filled(head, data_item + b",", data_item + b"]}]}")


def worst_bodies(model):
    """name -> (path, content type, body): the worst shapes of each media type, and the largest legal
    requests (the book's customer; in the raw data set's spellings, which take the longest to read)."""
    raw_values = dict(EXAMPLE_CUSTOMER, contract="One year", paymentmethod="Bank transfer (automatic)", tenure="41")
    raw_customer = {key.upper(): value for key, value in raw_values.items()}
    fields = len(model.schema.fields)
    all_explained = CustomerLimit("batch", MAX_BATCH, fields).count
    json_type, lines, csv_type = "application/json", "application/x-ndjson", "text/csv"
    return {
        "JSON [{},{},…]": ("/predict", json_type, _filled(b"[", b"{},", b"{}]")),
        "JSON [[],[],…]": ("/predict", json_type, _filled(b"[", b"[],", b"[]]")),
        "JSON [0,0,…]": ("/predict", json_type, _filled(b"[", b"0,", b"0]")),
        "JSON nested [[[…": ("/predict", json_type, _filled(b"", b"[", b"")),
        "JSON one customer, 10 MiB of fields": ("/predict", json_type, _filled(b'{"a":0', b',"a":0', b"}")),
        "JSON 10,000 explained (largest answer)": (
            "/predict?explain=true",
            json_type,
            json.dumps([raw_customer] * MAX_BATCH).encode(),
        ),
        f"JSON {all_explained:,} explained in full": (
            "/predict?explain=true&top=all",
            json_type,
            json.dumps([raw_customer] * all_explained).encode(),
        ),
        "NDJSON {} lines": ("/predict", lines, _filled(b"", b"{}\n", b"")),
        "NDJSON one line nested [[[…": ("/predict", lines, _filled(b"", b"[", b"\n")),
        "CSV 1-column rows": ("/predict", csv_type, _filled(b"a\n", b"1\n", b"")),
        "CSV one 10 MiB line": ("/predict", csv_type, _filled(b"", b"a,", b"a\n")),
        "CSV 10,000 explained": ("/predict?explain=true", csv_type, _csv([raw_customer] * MAX_BATCH)),
        "V2 data [{},{},…]": ("/v2/models/churn/infer", json_type, _v2(b"{}")),
        "V2 data [[],[],…]": ("/v2/models/churn/infer", json_type, _v2(b"[]")),
        "V2 inputs [{},{},…]": ("/v2/models/churn/infer", json_type, _filled(b'{"inputs": [', b"{},", b"{}]}")),
        "V2 10,000 rows": (
            "/v2/models/churn/infer",
            json_type,
            json.dumps(inference_request([raw_values] * MAX_BATCH, model.schema)).encode(),
        ),
        **spanning_bodies(model),
    }


def spanning_bodies(model):
    """name -> (path, content type, body): 10 MiB bodies whose every line is short, but whose parts
    are not: a CSV record or header spread over lines by quoted line breaks, an inference request
    with unknown keys each holding 64 KiB of [[],[],…]."""
    header = ",".join(model.schema.fields).encode() + b"\n"
    distinct_names = b",".join(b'"%x\n"' % n for n in range(MAX_BODY_BYTES // 8)) + b"\n"  # 1.3 M names
    empties = b"[" + b"[]," * 21_000 + b"[]]"  # 63 KiB
    request = json.dumps(inference_request([EXAMPLE_CUSTOMER], model.schema)).encode()
    unknown = b"".join(b'"k%d": %s, ' % (n, empties) for n in range(MAX_BODY_BYTES // len(empties) - 1))
    tensor_unknown = request.replace(b'{"name": "gender"', b"{" + unknown + b'"name": "gender"', 1)
    return {
        "CSV one record over 5 M lines": ("/predict", "text/csv", _filled(header + b'"', b"x\n", b'"\n')),
        "CSV a header of 1.3 M names over as many lines": ("/predict", "text/csv", distinct_names[:MAX_BODY_BYTES]),
        "V2 unknown keys of [[],[],…]": ("/v2/models/churn/infer", "application/json", b"{" + unknown + request[1:]),
        "V2 a tensor's unknown keys of [[],[],…]": ("/v2/models/churn/infer", "application/json", tensor_unknown),
    }


def most_expensive(model):
    """(path, body, content type) of the legal request that takes the server the longest (measured:
    10,000 customers in the raw data set's spellings, each explained)."""
    path, content_type, body = worst_bodies(model)["JSON 10,000 explained (largest answer)"]
    return path, body, content_type


# --- talking to the server ------------------------------------------------------------------------


def request_bytes(method, path, body=b"", content_type="application/json", extra=""):
    """A raw HTTP/1.1 request that closes its connection once answered."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra}"
    if body:
        head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def exchange(port, raw, timeout=30.0):
    """Send `raw` while reading what the server answers, until it closes: (answer, seconds). A server
    may answer before the whole request is sent, and close: the rest is not sent."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        sender = threading.Thread(target=_send_all, args=(connection, raw))
        sender.start()
        chunks = []
        try:
            while chunk := connection.recv(1 << 16):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
        sender.join()
    return b"".join(chunks), time.monotonic() - started


def _send_all(connection, raw):
    with contextlib.suppress(OSError):  # answered and closed before all was sent
        connection.sendall(raw)


def status_of(answer):
    """The status code of a raw answer; None if there was none."""
    match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    return int(match[1]) if match else None


def body_of(answer):
    """The body of a raw answer, de-chunked if it came chunked."""
    head, _, body = answer.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" not in head.lower():
        return body
    out, rest = [], body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if not size:
            break
        out.append(rest[:size])
        rest = rest[size + 2 :]
    return b"".join(out)


def probe(port, path, body=None):
    """One probe on a new connection, as an orchestrator makes it: (ok, milliseconds); ok is a 200 within
    PROBE_TIMEOUT_SECONDS."""
    started = time.monotonic()
    raw = request_bytes("POST" if body else "GET", path, body or b"")
    try:
        answer, _ = exchange(port, raw, timeout=PROBE_TIMEOUT_SECONDS)
    except OSError:
        answer = b""
    elapsed = time.monotonic() - started
    return status_of(answer) == 200 and elapsed <= PROBE_TIMEOUT_SECONDS, elapsed * 1000


class Prober(Loops):
    """Probes `paths` in turn, one every `interval` seconds each, until stopped; their latencies."""

    def __init__(self, port, probes, interval=0.05):
        super().__init__(probes)
        self.port, self.probes, self.interval = port, probes, interval
        self.results = {name: [] for name in probes}

    def step(self, name):
        path, body = self.probes[name]
        self.results[name].append(probe(self.port, path, body))
        self.stopping.wait(self.interval)

    def summary(self):
        """name -> probes, failures, p50, p99 and max in ms."""
        return {name: latency_summary(results) for name, results in self.results.items()}


def latency_summary(results):
    """How (ok, ms) results went: their count, failures, p50, p99 and max ms."""
    times = sorted(ms for _, ms in results) or [0.0]
    return {
        "probes": len(results),
        "failed": sum(not ok for ok, _ in results),
        "p50_ms": round(statistics.median(times), 1),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 1),
        "max_ms": round(times[-1], 1),
    }


STANDARD_PROBES = {
    "/ping": ("/ping", None),
    "/v2/health/ready": ("/v2/health/ready", None),
    "one customer": ("/predict", _EXAMPLE),
}


# --- the serving processes' memory ----------------------------------------------------------------


def serving_processes(server):
    """The pids that serve requests: gunicorn's workers, or waitress's one process."""
    members = process_group.live_members(server.process.pid)
    workers = [pid for pid in members if pid != server.process.pid and _parent(pid) == server.process.pid]
    return workers or [server.process.pid]


def _parent(pid):
    return int(re.search(r"^PPid:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)[1])


def _status_kib(pid, field):
    return int(re.search(rf"^{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)[1])


def reset_peaks(pids):
    """Each process's size now, after resetting its peak (VmHWM) to it."""
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    return {pid: _status_kib(pid, "VmRSS") for pid in pids}


def peak_rise_mib(before):
    """The largest rise of a process's peak size over its size in `before` (pid -> KiB), in MiB."""
    return round(max(_status_kib(pid, "VmHWM") - size for pid, size in before.items()) / 1024, 1)


def total_rss_mib(pids):
    """The processes' sizes now, summed, in MiB."""
    return round(sum(_status_kib(pid, "VmRSS") for pid in pids) / 1024, 1)


# --- the rows -------------------------------------------------------------------------------------


def row_memory(start, model, quick):
    """Each worst body once, on a server of its own: status, seconds, and the most a serving process
    grew over its size when idle (its peak, VmHWM)."""
    results = {}
    for name, (path, content_type, body) in worst_bodies(model).items():
        with start() as server:
            pids = serving_processes(server)
            idle = {pid: _status_kib(pid, "VmRSS") for pid in pids}
            answer, seconds = exchange(server.port, request_bytes("POST", path, body, content_type), timeout=60)
            results[name] = {
                "status": status_of(answer),
                "seconds": round(seconds, 2),
                "body_mib": round(len(body) / MIB, 1),
                "answer_mib": round(len(body_of(answer)) / MIB, 2),
                "peak_rise_mib": peak_rise_mib(idle),
                "says": "" if status_of(answer) == 200 else body_of(answer)[:100].decode("utf-8", "replace"),
            }
    return results


def row_cpu(start, model, quick):
    """2 x workers clients on the most expensive legal request, while the probes run."""
    clients = 2 * _workers("gunicorn")  # twice gunicorn's workers, for waitress too: the same load
    seconds = 5 if quick else 20
    with start() as server:
        answers, prober = _under_load(server, request_bytes("POST", *most_expensive(model)), clients, seconds)
    statuses = _status_counts(answers)
    served = sorted(elapsed for status, elapsed in answers if status == 200) or [0.0]
    return {
        "clients": clients,
        "seconds": seconds,
        "expensive_requests": statuses,
        "expensive_seconds_p50": round(statistics.median(served), 2),
        "probes": prober.summary(),
    }


SPANNING_CLIENTS = 6


def row_spanning(start, model, quick):
    """SPANNING_CLIENTS clients at once sending each body of spanning_bodies() again and again, on a
    server of its own, while the probes run: how they were answered, the most a serving process grew
    over its size when idle, and the probes."""
    seconds, results = (4 if quick else 15), {}
    for name, (path, content_type, body) in spanning_bodies(model).items():
        with start() as server:
            idle = reset_peaks(serving_processes(server))
            raw = request_bytes("POST", path, body, content_type)
            answers, prober = _under_load(server, raw, SPANNING_CLIENTS, seconds)
            results[name] = {
                "clients": SPANNING_CLIENTS,
                "seconds": seconds,
                "answers": _status_counts(answers),
                "peak_rise_mib": peak_rise_mib(idle),
                "probes": prober.summary(),
            }
    return results


def _under_load(server, raw, clients, seconds):
    """`clients` sending `raw` again and again for `seconds`, while the probes run: (each answer's
    (status, seconds), the Prober). The clients are processes of their own: in this one, their
    reading would hold up the probes."""
    with concurrent.futures.ProcessPoolExecutor(clients) as pool:
        loads = [pool.submit(_keep_asking, server.port, raw, seconds) for _ in range(clients)]
        with Prober(server.port, STANDARD_PROBES) as prober:
            return [answer for load in loads for answer in load.result()], prober


def _status_counts(answers):
    """status (as text) -> how many of the (status, seconds) answers had it."""
    counts = {}
    for status, _ in answers:
        counts[str(status)] = counts.get(str(status), 0) + 1
    return counts


def _keep_asking(port, raw, seconds):
    """Send `raw` again and again for `seconds`: each answer's (status, seconds)."""
    answers, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer, elapsed = exchange(port, raw, timeout=130)
        answers.append((status_of(answer), elapsed))
    return answers


def read_slowly(port, raw, bits_per_second, timeout):
    """Send `raw`, then read the answer at `bits_per_second`; (bytes of the answer, whole, seconds)."""
    rate = bits_per_second / 8
    started, received, chunks = time.monotonic(), 0, []
    with socket.socket() as connection:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # the kernel holds little for us
        connection.settimeout(timeout)
        connection.connect(("127.0.0.1", port))
        connection.sendall(raw)
        try:
            while chunk := connection.recv(4096):
                chunks.append(chunk)
                received += len(chunk)
                time.sleep(max(0.0, started + received / rate - time.monotonic()))
        except (ConnectionResetError, TimeoutError):
            pass
    answer = b"".join(chunks)
    whole = answer.endswith(b"0\r\n\r\n") or (b"content-length" in answer[:400].lower() and _complete(answer))
    return len(body_of(answer)), whole, time.monotonic() - started


def _complete(answer):
    head, _, body = answer.partition(b"\r\n\r\n")
    length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
    return bool(length) and len(body) == int(length[1])


def row_send(start, model, quick):
    """The largest legal answer, read at 8 Mbit/s (and 1 Mbit/s)."""
    with start() as server:
        raw = request_bytes("POST", *most_expensive(model))
        results = {}
        for rate in (8_000_000,) if quick else (8_000_000, 1_000_000):
            size, whole, seconds = read_slowly(server.port, raw, rate, timeout=200)
            results[f"{rate // 1_000_000} Mbit/s"] = {
                "answer_mib": round(size / MIB, 2),
                "whole": whole,
                "seconds": round(seconds, 1),
            }
        return results


def row_readers(start, model, quick):
    """16 slow readers of large answers: the serving processes' memory meanwhile."""
    with start() as server:
        readers, seconds = (8, 4) if quick else (16, 15)
        raw = request_bytes("POST", *most_expensive(model))
        pids = serving_processes(server)
        idle = total_rss_mib(pids)
        before = reset_peaks(pids)
        connections = []
        for _ in range(readers):
            connection = socket.socket()
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            connection.connect(("127.0.0.1", server.port))
            # In the background: a reader turned away (503) is answered before its body is all sent.
            threading.Thread(target=_send_all, args=(connection, raw), daemon=True).start()
            connections.append(connection)
        started, statuses, during = time.monotonic(), [], []
        for connection in connections:
            connection.settimeout(10)
            statuses.append(status_of(_first_bytes(connection)))
        while time.monotonic() - started < seconds:
            during.append(total_rss_mib(pids))
            for connection in connections:
                connection.setblocking(False)
                with contextlib.suppress(OSError):  # BlockingIOError: nothing there yet
                    connection.recv(1024)
            time.sleep(1)
        for connection in connections:
            connection.close()
        return {
            "readers": readers,
            "statuses": {str(status): statuses.count(status) for status in set(statuses)},
            "idle_total_mib": idle,
            "most_total_mib": max(during, default=idle),
            "largest_peak_rise_mib": peak_rise_mib(before),
        }


def _first_bytes(connection):
    """The first bytes the server sends, b"" when it closes (or resets) without any."""
    try:
        return connection.recv(64)
    except OSError:
        return b""


def row_stalled(start, model, quick):
    """Connections that send one byte of a 100-byte body, then nothing."""
    with start() as server:
        count = 16 if quick else 256
        raw = request_bytes("POST", "/predict", b"{", extra="")  # Content-Length 1: fixed below
        raw = raw.replace(b"Content-Length: 1\r\n", b"Content-Length: 100\r\n")
        log_before = server.log()
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            results = list(pool.map(lambda _: exchange(server.port, raw, timeout=IDLE_SECONDS + 20), range(count)))
        time.sleep(0.5)
        log = server.log()[len(log_before) :]
        statuses = [status_of(answer) for answer, _ in results]
        return {
            "connections": count,
            "answers": {str(status): statuses.count(status) for status in set(statuses)},
            "closed_after_seconds": [round(min(s for _, s in results), 1), round(max(s for _, s in results), 1)],
            "log_status_500_lines": log.count("status=500"),
            "log_tracebacks": log.count("Traceback"),
            "log_lines": len(log.splitlines()),
        }


# 1,500 customers (past where an answer is streamed), the last with the id "\ud800": legal JSON, no text.
_LONE_SURROGATE_BATCH = json.dumps([EXAMPLE_CUSTOMER] * 1500 + [dict(EXAMPLE_CUSTOMER, customerid="\ud800")]).encode()


def row_malformed(start, model, quick):
    """Broken framing and hostile JSON in files: each one's status."""
    with start() as server:
        lines = "application/x-ndjson"
        bad_chunk = request_bytes(
            "POST", "/predict", extra="Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n"
        )
        cases = {
            "NDJSON 100,000 nested [": request_bytes("POST", "/predict", b"[" * 100_000 + b"\n", lines),
            "NDJSON a 5,000-digit integer": request_bytes(
                "POST", "/predict", b'{"tenure": ' + b"9" * 5000 + b"}\n", lines
            ),
            "chunk size 0x2": bad_chunk + b"0x2\r\n{}\r\n0\r\n\r\n",
            "JSON with NaN and Infinity": request_bytes("POST", "/predict", b"[NaN, Infinity]"),
            "JSON not UTF-8": request_bytes("POST", "/predict", b'{"gender": "\xff"}'),
            "JSON cut short": request_bytes("POST", "/predict", b'[{"gender": ').replace(
                b"Content-Length: 12", b"Content-Length: 40"
            ),
            "top of 5,000 digits": request_bytes("POST", "/predict?explain=true&top=" + "9" * 5000, _EXAMPLE),
            **{
                f"a lone surrogate id, answered as {accept}": request_bytes(
                    "POST", "/predict", _LONE_SURROGATE_BATCH, extra=f"Accept: {accept}\r\n"
                )
                for accept in ("text/csv", "application/json")
            },
            **{
                f"Transfer-Encoding: {coding}": request_bytes(
                    "POST", "/predict", extra=f"Transfer-Encoding: {coding}\r\nContent-Type: application/json\r\n"
                )
                + b"2\r\n{}\r\n0\r\n\r\n"
                for coding in ("xchunked", "chunked, identity", "identity, chunked")
            },
        }
        results = {}
        for name, raw in cases.items():
            answer, _ = exchange(server.port, raw, timeout=15)
            results[name] = {"status": status_of(answer), "says": body_of(answer)[:120].decode("utf-8", "replace")}
        return results


FORMULAS = (
    '=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3", "\tTAB",
    "x\r=1+1", "'\r=2+2", "x;=5+5", "x;=cmd|' /C calc'!A0",
)  # fmt: skip
# Where a spreadsheet would begin a formula: a cell's start, or after a separator it may split on.
_FORMULA_BEGINS = re.compile(r"(?:^|[;,\t\r\n])[=+\-@\t\r]")


def row_injection(start, model, quick):
    """Customer ids that begin like a formula, scored and answered as CSV: the id cells as written."""
    with start() as server:
        customers = [dict(EXAMPLE_CUSTOMER, customerid=formula) for formula in FORMULAS]
        raw = request_bytes("POST", "/predict", json.dumps(customers).encode(), extra="Accept: text/csv\r\n")
        answer, _ = exchange(server.port, raw)
        cells = [row[0] for row in csv.reader(io.StringIO(body_of(answer).decode(), newline=""))][1:]
        formulas = [cell for cell in cells if _FORMULA_BEGINS.search(cell)]
        return {"status": status_of(answer), "id_cells": cells, "formula_cells": formulas}


def row_idle(start, model, quick):
    """Many idle connections while probes run: the probes, and how long the server holds one."""
    with start() as server:
        count, seconds = (128, IDLE_SECONDS + 3) if quick else (512, IDLE_SECONDS + 5)
        connections = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(count)]
        opened = time.monotonic()
        closed_after = {}

        def watch(index, connection):
            connection.settimeout(seconds + 5)
            with contextlib.suppress(OSError):
                connection.recv(1)
            closed_after[index] = time.monotonic() - opened

        watchers = [threading.Thread(target=watch, args=item) for item in enumerate(connections)]
        with Prober(server.port, STANDARD_PROBES) as prober:
            for watcher in watchers:
                watcher.start()
            time.sleep(seconds)
        for connection in connections:
            connection.close()
        for watcher in watchers:
            watcher.join()
        held = sorted(closed_after.values())
        return {
            "connections": count,
            "probes": prober.summary(),
            "idle_closed_after_seconds": [round(held[0], 1), round(held[-1], 1)] if held else None,
            "still_open_at_end": sum(1 for value in held if value >= seconds - 0.5),
        }


def row_trickle(start, model, quick):
    """Connections that send their headers a byte a second (slowloris), each opened again as soon as
    the server closes it, while probes run: the probes, and how long the server let one trickle."""
    count, seconds = (300, 2 * KEEPALIVE_SECONDS + 3) if quick else (1000, 4 * KEEPALIVE_SECONDS)
    header = request_bytes("GET", "/ping", extra=f"X-Padding: {'x' * 300}\r\n")  # minutes at a byte a second
    with (
        start() as server,
        Trickle(server.port, count, header) as trickle,
        Prober(server.port, STANDARD_PROBES) as prober,
    ):
        time.sleep(seconds)
    held = sorted(trickle.held)
    return {
        "connections": count,
        "seconds": seconds,
        "probes": prober.summary(),
        "closed": len(held),
        "held_seconds": [round(held[0], 1), round(statistics.median(held), 1), round(held[-1], 1)] if held else None,
    }


class Trickle:
    """`count` connections sending `header` a byte a second, from one thread; each closed by the
    server is opened again. `held`: how long each closed one lasted, in seconds."""

    def __init__(self, port, count, header):
        self.port, self.count, self.header = port, count, header
        self.held, self._stop = [], threading.Event()
        self._thread = threading.Thread(target=self._run)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _open(self):
        connection = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        connection.setblocking(False)
        return [connection, time.monotonic(), 0]

    def _run(self):
        connections = [self._open() for _ in range(self.count)]
        while not self._stop.wait(1.0):
            for at, (connection, opened, sent) in enumerate(connections):
                if self._closed(connection) or sent >= len(self.header):
                    self.held.append(time.monotonic() - opened)
                    connection.close()
                    connections[at] = self._open()
                    continue
                with contextlib.suppress(OSError):
                    connections[at][2] += connection.send(self.header[sent : sent + 1])
        for connection, _, _ in connections:
            connection.close()

    @staticmethod
    def _closed(connection):
        try:
            return connection.recv(1 << 16) == b""  # the server closed it (or answered, then closed)
        except BlockingIOError:
            return False
        except OSError:
            return True


def row_oversized(start, model, quick):
    """A 300 MB body announced in its headers, sent as fast as the server takes it."""
    with start() as server:
        return send_oversized(server.port)


def send_oversized(port, size=300 * 1000 * 1000):
    """Announce a body of `size` bytes and send it as fast as the server takes it, until it answers:
    its status, how long that took, and how much of the body was sent by then."""
    head = request_bytes("POST", "/predict", b"x").replace(
        b"Content-Length: 1\r\n", f"Content-Length: {size}\r\n".encode()
    )
    sent, started, piece, answer = 0, time.monotonic(), b" " * 65536, b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(head[:-1])
        connection.setblocking(False)
        while time.monotonic() - started < 30 and sent < size and not answer:
            with contextlib.suppress(BlockingIOError):
                answer += connection.recv(65536)
            try:
                sent += connection.send(piece)
            except BlockingIOError:
                time.sleep(0.001)
            except OSError:
                break
        connection.settimeout(5)
        with contextlib.suppress(OSError):
            while chunk := connection.recv(65536):
                answer += chunk
    return {
        "status": status_of(answer),
        "seconds": round(time.monotonic() - started, 2),
        "body_mb_sent": round(sent / 1e6, 1),
    }


def row_smuggling(start, model, quick):
    """Both framings at once, and a request behind that only one of them would see."""
    with start() as server:
        return smuggle(server.port)


def smuggle(port):
    """A request with Content-Length and Transfer-Encoding, a GET /ping behind it that only the
    chunked framing sees as a request of its own: its status, how many answers came, whether PONG."""
    smuggled = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    raw = (
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled
    )
    answer, _ = exchange(port, raw, timeout=10)
    return {"status": status_of(answer), "answers": answer.count(b"HTTP/1.1 "), "smuggled_answered": b"PONG" in answer}


CONFIGS = {
    "WEB_CONCURRENCY=0": {"WEB_CONCURRENCY": "0"},
    "WEB_CONCURRENCY=x": {"WEB_CONCURRENCY": "x"},
    "WEB_CONCURRENCY=100000": {"WEB_CONCURRENCY": "100000"},
    "PORT=abc": {"PORT": "abc"},
    "MAX_BODY_BYTES=10**30-1": {"MAX_BODY_BYTES": "9" * 30},
    "MAX_BATCH=10**30-1": {"MAX_BATCH": "9" * 30},
    "PREDICTION_LOG=/proc/version": {"PREDICTION_LOG": "/proc/version"},
    "MODEL_PATH=/nonexistent.json": {"MODEL_PATH": "/nonexistent.json"},
}


_OUTPUT_AS_TEXT = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}


def row_config(server_name, quick):
    """The server started with each bad setting: exit status, lines it wrote, whether they name it."""
    results = {}
    for name, env in CONFIGS.items():
        command, command_env = COMMANDS[server_name](process_group.free_port(), "wsgi:app", ())
        environment = {**os.environ, **command_env, **env}
        started = time.monotonic()
        completed = process_group.run(command, timeout=30, cwd=PROJECT_DIR, env=environment, **_OUTPUT_AS_TEXT)
        completed_seconds = time.monotonic() - started
        lines = [line for line in (completed.stdout + completed.stderr).splitlines() if line.strip()]
        results[name] = {
            "exit": completed.returncode,
            "lines": len(lines),
            "names_it": any(name.split("=")[0] in line for line in lines),
            "seconds": round(completed_seconds, 1),
            "says": lines[-1] if lines else "",
        }
    return results


ROWS = {
    "memory": row_memory,
    "cpu": row_cpu,
    "spanning": row_spanning,
    "send": row_send,
    "readers": row_readers,
    "stalled": row_stalled,
    "malformed": row_malformed,
    "injection": row_injection,
    "idle": row_idle,
    "trickle": row_trickle,
    "oversized": row_oversized,
    "smuggling": row_smuggling,
}


def run(server_name, rows, quick, log_dir):
    """Every row in `rows` against one server, started anew for each row (for each body, in "memory");
    row -> its figures."""
    model = load_model(PROJECT_DIR / "model" / "churn-model.json")
    results = {}
    for row in rows:
        if row == "config":
            results[row] = row_config(server_name, quick)
        elif row in hostile_lifecycle.ROWS:
            starter = _starter(server_name, Path(log_dir) / f"{server_name}-{row}")
            results[row] = hostile_lifecycle.ROWS[row](starter, model, quick, server_name, log_dir)
        else:
            results[row] = ROWS[row](_starter(server_name, Path(log_dir) / f"{server_name}-{row}"), model, quick)
        print(f"{server_name} {row}: {json.dumps(results[row])}", flush=True)
    return results


def _workers(server_name):
    """How many processes serve: gunicorn.conf.py's workers, or waitress's one."""
    if server_name == "waitress":
        return 1
    return runpy.run_path(str(PROJECT_DIR / "gunicorn.conf.py"))["workers"]


def _starter(server_name, log_stem):
    """A function that starts `server_name` (with `env` added to the environment) and waits until it
    serves: a context that stops it."""
    starts = []

    def start(env=None):
        starts.append(None)
        server = Server.launch(server_name, env=env, log_path=f"{log_stem}-{len(starts)}.log")
        workers = int((env or {}).get("WEB_CONCURRENCY") or _workers(server_name))
        try:
            server.wait_until_serving()
            server.wait_until(lambda: len(serving_processes(server)) == workers)
        except BaseException:
            server.stop()
            raise
        return server

    return start


def parse_args(argv):
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=SERVERS, action="append", help="repeat; default: both")
    rows = [*ROWS, *hostile_lifecycle.ROWS, "config"]
    parser.add_argument("--only", choices=rows, action="append", help="repeat; default: every row")
    parser.add_argument("--quick", action="store_true", help="each row briefly (CI)")
    parser.add_argument(
        "--output", default=PROJECT_DIR / "bench" / "hostile_results.json", help="the results' JSON (default bench/)"
    )
    parser.add_argument("--log-dir", default=None, help="where the servers' logs go (default: a new temporary folder)")
    return parser.parse_args(argv)


def main(argv=None):
    """Run the rows against the servers; print each row's figures and write them all as JSON."""
    import tempfile

    args = parse_args(argv)
    rows = args.only or [*ROWS, *hostile_lifecycle.ROWS, "config"]
    log_dir = args.log_dir or tempfile.mkdtemp(prefix="hostile-clients-")
    results = {server: run(server, rows, args.quick, log_dir) for server in args.server or SERVERS}
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
