"""Measure the churn service against the floor its server sets, in one run on one machine.

    .venv/bin/python bench/benchmark.py [--quick] [--duration 10] [--connections 8] [--output FILE]

1. servers: requests/s and latency p50/p99 of single-customer POST /predict with the book's
   customer, for the service and for a constant-response floor app (bench/floor_app.py), under
   gunicorn (the settings of gunicorn.conf.py) and under waitress, with the same load generator,
   duration and connections: wrk when installed, else a small Python generator; every server up at
   once, its access log written to a file, the load alternating between them;
2. in-process: µs per full /predict request through the WSGI callable (parse, validate, score,
   serialize), per score() of one prepared customer, and, as the reference, per scikit-learn
   predict_proba(dv.transform([customer])) on the same model;
3. batch: one request of 1,000 and one of 10,000 customers through /predict, in process: its time
   against json.loads of its body plus json.dumps of its answer, the floor of any JSON service; the
   same customers through the inference protocol's infer, against /predict's time; and served, under
   gunicorn, customers/s in batches of 100 and of 1,000, alternating; and the book's customer through
   POST /predict and through infer, on one gunicorn, alternating (the "predict" and "infer" rows);
4. cold start (process start -> first 200 on /predict, one gunicorn worker) and RSS per worker, for
   the service and for the floor app.
It prints a table with the targets' ratios and writes every number as JSON. --quick runs each part
for a moment only, so that CI keeps the script working; its numbers mean little.
"""

import argparse
import concurrent.futures
import contextlib
import csv
import functools
import io
import json
import math
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from app import create_app  # noqa: E402
from bench.servers import Server  # noqa: E402
from churn.core.artifact import DEFAULT_MODEL_PATH  # noqa: E402
from churn.core.log_lines import FLUSH_SECONDS  # noqa: E402
from churn.core.model import load_model, score  # noqa: E402
from churn.core.prediction_log import PredictionLog, open_log  # noqa: E402
from churn.core.schema import validate_customer  # noqa: E402
from churn.core.telco import BOOK_CUSTOMER as EXAMPLE_CUSTOMER  # noqa: E402
from churn.http.access_log import AccessLog  # noqa: E402
from churn.http.config import Settings  # noqa: E402
from churn.http.open_inference import inference_request  # noqa: E402

APPS = {"service": "wsgi:app", "floor": "bench.floor_app:app", "parsing floor": "bench.floor_app:parsing_app"}
BATCH_SIZE = 10_000
BATCH_SIZES = (1_000, BATCH_SIZE)
SERVED_BATCH_SIZES = (100, 1_000)
PICKLE_PATH = PROJECT_DIR / "model" / "churn-model.bin"


@dataclass(frozen=True)
class Target:
    """A ratio the service should keep: how it is formed, its bound, and whether that is a floor."""

    description: str
    bound: float
    at_least: bool  # True: the ratio must be >= bound; False: <= bound
    ratio: Callable[[dict], float]  # the results -> the ratio

    def met(self, value):
        """Whether the ratio `value` keeps to the bound."""
        return value >= self.bound if self.at_least else value <= self.bound


def _gunicorn_rps(results, app):
    return results["servers"][f"gunicorn {app}"]["requests_per_second"]


def _cold(results, app, key):
    return results["cold_start_and_memory"][app][key]


def _in_process(results, key):
    return results["in_process"][key]


def _batch(results, size):
    return results["batch"][str(size)]


def _served_batch(results, size):
    return results["served_batches"][str(size)]["customers_per_second"]


TARGETS = {
    "gunicorn_rps_vs_floor": Target(
        "service / floor requests/s under gunicorn", 0.85, True,
        lambda r: _gunicorn_rps(r, "service") / _gunicorn_rps(r, "floor"),
    ),
    "in_process_speedup_vs_sklearn": Target(
        "sklearn predict_proba µs / full request µs", 10.0, True,
        lambda r: _in_process(r, "sklearn")["predict_proba_us"] / _in_process(r, "full_request_us"),
    ),
    **{f"batch_{size}_vs_json": Target(
        f"/predict {size:,} / json.loads + json.dumps", 2.0, False,
        lambda r, size=size: _batch(r, size)["predict_ms"] / _batch(r, size)["json_ms"],
    ) for size in BATCH_SIZES},
    **{f"v2_{size}_vs_predict": Target(
        f"infer {size:,} / /predict {size:,} (in process)", 1.2, False,
        lambda r, size=size: _batch(r, size)["infer_ms"] / _batch(r, size)["predict_ms"],
    ) for size in BATCH_SIZES},
    "served_batches": Target(
        "served customers/s, batches of 1,000 / of 100", 1.0, True,
        lambda r: _served_batch(r, 1_000) / _served_batch(r, 100),
    ),
    "cold_start_vs_floor": Target(
        "service / floor cold start", 2.0, False,
        lambda r: _cold(r, "service", "cold_start_ms") / _cold(r, "floor", "cold_start_ms"),
    ),
    "rss_vs_floor": Target(
        "service / floor RSS per worker", 1.5, False,
        lambda r: _cold(r, "service", "rss_per_worker_kib") / _cold(r, "floor", "rss_per_worker_kib"),
    ),
    "metrics_in_process": Target(
        "µs per request, metrics on / off (in process)", 1.15, False,
        lambda r: _in_process(r, "full_request_us") / _in_process(r, "metrics_off_request_us"),
    ),
    "metrics_under_gunicorn": Target(
        "requests/s, metrics on / off (gunicorn)", 0.95, True,
        lambda r: r["metrics"]["on"]["requests_per_second"] / r["metrics"]["off"]["requests_per_second"],
    ),
    "explain_vs_plain": Target(
        "?explain=true request µs / plain request µs", 2.0, False,
        lambda r: _in_process(r, "explain_request_us") / _in_process(r, "plain_request_us"),
    ),
}  # fmt: skip


# --- load generation ------------------------------------------------------------------------------


def _wrk(port, body, duration, connections, path="/predict"):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(body.decode())}\n"
        )
    try:
        result = subprocess.run(
            ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration:g}s", "--latency", "-s", script.name,
             f"http://127.0.0.1:{port}{path}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        os.unlink(script.name)
    return _parse_wrk(result.stdout)


def _parse_wrk(output):
    def milliseconds(label):
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": milliseconds("50%"),
        "p99_ms": milliseconds("99%"),
        "errors": int(errors.group(1)) if errors else 0,
    }


def _python_load(port, body, duration, connections, path="/predict"):
    """A few threads, each sending the request over a new connection until the time is up."""
    request = (
        b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body)
    )
    deadline = time.perf_counter() + duration
    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        runs = list(pool.map(lambda _: _python_load_worker(port, request, deadline), range(connections)))
    latencies = sorted(latency for run_latencies, _ in runs for latency in run_latencies)
    return {
        "requests_per_second": len(latencies) / duration,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "errors": sum(failed for _, failed in runs),
    }


def _python_load_worker(port, request, deadline):
    """Requests one after the other until `deadline`: their latencies, and how many failed."""
    latencies, failed = [], 0
    while (start := time.perf_counter()) < deadline:
        with socket.create_connection(("127.0.0.1", port)) as connection:
            connection.sendall(request)
            answer = b"".join(iter(lambda: connection.recv(65536), b""))
        latencies.append(time.perf_counter() - start)
        failed += not answer.startswith(b"HTTP/1.1 200")
    return latencies, failed


# --- servers --------------------------------------------------------------------------------------


def _seconds_to_first_prediction(server, body):
    """Wait for the first 200 on POST /predict; return the seconds since the server's process started."""
    server.wait_until(lambda: _post_status(server.port, body) == 200, poll_seconds=0.005)
    return time.perf_counter() - server.started


def _worker_rss_kib(server):
    """Resident memory of each worker process (the children of the server process)."""
    children = [pid for pid in _pids() if _parent(pid) == server.process.pid]
    return [_rss_kib(pid) for pid in children or [server.process.pid]]


def _post_status(port, body):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
            connection.sendall(
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            return int(connection.recv(64).split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _pids():
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _parent(pid):
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _rss_kib(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1))


def measure_servers(body, duration, connections, load, rounds, servers):
    """ "<label> service", "<label> floor" and "<label> parsing floor" -> the median run of each, for
    every label of `servers`. All run side by side, each writing its log (the access log) to a file, as
    in production, and the load alternates between them, `rounds` times, so that drift on the machine
    hits all alike."""
    with tempfile.TemporaryDirectory() as logs, contextlib.ExitStack() as stack:
        running = {
            f"{label} {name}": stack.enter_context(
                Server.launch(server, app, args, log_path=Path(logs) / f"{label} {name}.log")
            )
            for label, (server, args) in servers.items()
            for name, app in APPS.items()
        }
        return _side_by_side(running, body, duration, connections, load, rounds)


def measure_metrics_cost(body, duration, connections, load, rounds):
    """The service under gunicorn with its metrics on and off (METRICS=off), side by side, the loads
    alternating: "on" and "off" -> the median run of each."""
    with contextlib.ExitStack() as stack:
        running = {
            switch: stack.enter_context(Server.launch("gunicorn", env={"METRICS": switch})) for switch in ("on", "off")
        }
        return _side_by_side(running, body, duration, connections, load, rounds)


def measure_prediction_log_cost(body, duration, connections, load, rounds):
    """The service under gunicorn with its prediction log appending to a file, and without, side by
    side, the loads alternating: "on" and "off" -> the median run of each, and the lines written."""
    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as stack:
        log = Path(scratch) / "predictions.jsonl"
        running = {
            "on": stack.enter_context(Server.launch("gunicorn", env={"PREDICTION_LOG": str(log)})),
            "off": stack.enter_context(Server.launch("gunicorn")),
        }
        runs = _side_by_side(running, body, duration, connections, load, rounds)
        time.sleep(0.5)  # the last lines reach the file within FLUSH_SECONDS
        with open(log, "rb") as lines:
            runs["lines"] = sum(1 for _ in lines)
        return runs


def _side_by_side(running, body, duration, connections, load, rounds):
    """name -> the median run of each server of `running` (name -> Server): each warmed up, then the
    load alternating between them `rounds` times."""
    for one in running.values():
        _seconds_to_first_prediction(one, body)
        load(one.port, body, min(1, duration), connections)  # warm up
    runs = {name: [] for name in running}
    for _ in range(rounds):
        for name, one in running.items():
            runs[name].append(load(one.port, body, duration, connections))
    return {name: _median_run(measured) for name, measured in runs.items()}


def measure_protocols(model, body, duration, connections, load, rounds):
    """The same customer through POST /predict and through the inference protocol's infer, on one
    gunicorn as gunicorn.conf.py sets it, the loads alternating: path -> the median run of each."""
    v2_body = json.dumps(inference_request([EXAMPLE_CUSTOMER], model.schema)).encode()
    requests = {"/predict": body, f"/v2/models/{model.name}/infer": v2_body}
    runs = {path: [] for path in requests}
    with Server.launch("gunicorn") as server:
        _seconds_to_first_prediction(server, body)
        for path, request in requests.items():
            load(server.port, request, min(1, duration), connections, path)  # warm up
        for _ in range(rounds):
            for path, request in requests.items():
                runs[path].append(load(server.port, request, duration, connections, path))
    return {path: _median_run(measured) for path, measured in runs.items()}


def _median_run(runs):
    """The run with the median requests/s (its own latencies come with it), and every rate measured."""
    ordered = sorted(runs, key=lambda run: run["requests_per_second"])
    return {**ordered[len(ordered) // 2], "all_requests_per_second": [run["requests_per_second"] for run in runs]}


def measure_cold_start_and_memory(body, repeats):
    """Per app: median seconds from process start to the first prediction, and the largest worker RSS."""
    results = {}
    for name in ("service", "floor"):
        app, starts, rss = APPS[name], [], []
        for _ in range(repeats):
            with Server.launch("gunicorn", app, ["--workers", "1"]) as running:
                starts.append(_seconds_to_first_prediction(running, body))
                for _ in range(50):
                    _post_status(running.port, body)
                rss.extend(_worker_rss_kib(running))
        results[name] = {"cold_start_ms": statistics.median(starts) * 1000, "rss_per_worker_kib": max(rss)}
    return results


# --- in process -----------------------------------------------------------------------------------


def _best_microseconds(function, number, repeat=5):
    return min(timeit.repeat(function, number=number, repeat=repeat)) / number * 1e6


def _best_microseconds_alternating(first, second, number, repeat=7):
    """The best µs per call of two functions timed in turns, so that both see the machine's same moments
    (a ratio of the two is what is compared), after a second of each untimed: a service counting its
    metrics has by then chosen how many customers to bin for drift (churn.http.drift.BinCounts)."""
    for function in (first, second):
        deadline = time.perf_counter() + 1.0
        while time.perf_counter() < deadline:
            function()
    bests = [math.inf, math.inf]
    for _ in range(repeat):
        for position, function in enumerate((first, second)):
            bests[position] = min(bests[position], timeit.timeit(function, number=number) / number * 1e6)
    return tuple(bests)


def _wsgi_call(app, body, query="", path="/predict"):
    def call():
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": query,
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        }  # fmt: skip
        answer = app(environ, _ignore_start_response)
        try:
            return b"".join(answer)
        finally:
            if hasattr(answer, "close"):  # PEP 3333: a streamed answer gives back its place when closed
                answer.close()

    return call


def _ignore_start_response(status, headers):
    if not status.startswith("200"):
        raise RuntimeError(f"the benchmark request failed: {status}")


def measure_in_process(app, model, body, number):
    """µs per /predict request through the WSGI callable (plain, logged, explained), per score(), and sklearn's."""
    prepared = validate_customer(EXAMPLE_CUSTOMER, model.schema)
    devnull = open(os.devnull, "w")  # noqa: SIM115 (the log's writer writes to it until the process ends)
    logged_app = create_app(model, Settings(access_log=AccessLog(devnull)))
    logged_us = _best_microseconds(_wsgi_call(logged_app, body), number)
    metrics_off_app = create_app(model, Settings(metrics=False))
    full_us, metrics_off_us = _best_microseconds_alternating(
        _wsgi_call(app, body), _wsgi_call(metrics_off_app, body), number
    )
    with _prediction_logged_app(model) as prediction_logged_app:
        unlogged_us, prediction_logged_us = _best_microseconds_alternating(
            _wsgi_call(app, body), _wsgi_call(prediction_logged_app, body), number
        )
    explain_us, plain_us = _best_microseconds_alternating(
        _wsgi_call(app, body, "explain=true"), _wsgi_call(app, body), number
    )
    return {
        "full_request_us": full_us,
        "metrics_off_request_us": metrics_off_us,
        "prediction_log": {"off_request_us": unlogged_us, "on_request_us": prediction_logged_us},
        "logged_request_us": logged_us,
        "explain_request_us": explain_us,
        "plain_request_us": plain_us,  # timed in turns with the explained one
        "score_us": _best_microseconds(lambda: score(model, [prepared]), number),
        "sklearn": _sklearn_reference(max(200, number // 20)),
    }


@contextlib.contextmanager
def _prediction_logged_app(model):
    """The app with its prediction log on as the service has it, appending to a real file (in the page
    cache, as a log is)."""
    with tempfile.TemporaryDirectory() as scratch:
        log = PredictionLog(open_log(Path(scratch) / "predictions.jsonl"), model, flush_seconds=FLUSH_SECONDS)
        try:
            yield create_app(model, Settings(prediction_log=log))
        finally:
            log.close()


def _sklearn_reference(number):
    """scikit-learn's own call, timed in a child process with numpy's BLAS at its own defaults: the
    OPENBLAS_* settings of these machines slow a current numpy (see the workplace's env notes)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OPENBLAS_")}
    command = [sys.executable, __file__, "--sklearn-reference", str(number)]
    return json.loads(subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout)


def _print_sklearn_reference(number):
    from threadpoolctl import threadpool_info

    from churn.core.book_pickle import read_book_pickle

    (dv, sk_model), _ = read_book_pickle(PICKLE_PATH.read_bytes())
    microseconds = _best_microseconds(lambda: sk_model.predict_proba(dv.transform([EXAMPLE_CUSTOMER])), number)
    blas = [f"{info['internal_api']} {info.get('architecture', '')}".strip() for info in threadpool_info()]
    print(json.dumps({"predict_proba_us": microseconds, "blas": blas}))


def synthetic_batch(schema, size, seed=0):
    """`size` customers with random allowed values, as a marketing export would send them."""
    rng = random.Random(seed)
    return [
        {
            "customerid": f"{index:04d}-SYNTH",
            **{field: rng.choice(values) for field, values in schema.categorical.items()},
            "tenure": rng.randint(0, 72),
            "monthlycharges": round(rng.uniform(18, 120), 2),
            "totalcharges": round(rng.uniform(0, 8700), 2),
        }
        for index in range(size)
    ]


def measure_offline_scoring(model):
    """predict.py on a CSV of BATCH_SIZE synthetic customers: rows/s, from reading to writing."""
    import predict

    customers = synthetic_batch(model.schema, BATCH_SIZE)
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "customers.csv"
        with open(source, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(customers[0]))
            writer.writeheader()
            writer.writerows(customers)
        started = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):
            status = predict.main([str(source), "--output", str(Path(scratch) / "scores.csv")])
        seconds = time.perf_counter() - started
    if status != 0:
        raise RuntimeError("predict.py failed in the benchmark")
    return {"customers": BATCH_SIZE, "seconds": seconds, "rows_per_second": BATCH_SIZE / seconds}


def measure_batch(app, model, repeat):
    """size -> one request of that many customers through /predict, against json.loads of its body and
    json.dumps of its answer, and through infer, in process; for the largest, with the prediction log too."""
    results = {}
    for size in BATCH_SIZES:
        customers = synthetic_batch(model.schema, size)
        body = json.dumps(customers).encode()
        answer = json.loads(_wsgi_call(app, body)())
        v2_body = json.dumps(inference_request(customers, model.schema)).encode()
        infer = _wsgi_call(app, v2_body, path=f"/v2/models/{model.name}/infer")
        floor = functools.partial(_json_floor, body, answer)
        predict_seconds, json_seconds, infer_seconds = _best_seconds_alternating(
            [_wsgi_call(app, body), floor, infer], repeat
        )
        results[str(size)] = {
            "customers": size, "body_bytes": len(body), "predict_ms": predict_seconds * 1000,
            "json_ms": json_seconds * 1000, "infer_ms": infer_seconds * 1000,
            "customers_per_second": size / predict_seconds,
        }  # fmt: skip
    with _prediction_logged_app(model) as logged_app:
        body = json.dumps(synthetic_batch(model.schema, BATCH_SIZE)).encode()
        logged_seconds = min(timeit.repeat(_wsgi_call(logged_app, body), number=1, repeat=repeat))
    results[str(BATCH_SIZE)]["prediction_logged_ms"] = logged_seconds * 1000
    return results


def _json_floor(body, answer):
    """What any JSON service does with a batch: json.loads of its body, json.dumps of its answer."""
    json.loads(body)
    json.dumps(answer)


def _best_seconds_alternating(functions, repeat):
    """The best seconds of one call of each function, called in turns `repeat` times (so that each sees
    the machine's same moments), after a second of each untimed: by then the service's metrics bin
    for drift the share of customers they do at that rate (churn.http.drift.BinCounts), as a busy
    worker does."""
    for function in functions:
        deadline = time.perf_counter() + 1.0
        while time.perf_counter() < deadline:
            function()
    bests = [math.inf] * len(functions)
    for _ in range(repeat):
        for position, function in enumerate(functions):
            bests[position] = min(bests[position], timeit.timeit(function, number=1))
    return tuple(bests)


def measure_served_batches(model, duration, connections, load, rounds):
    """Customers/s of gunicorn serving batches of SERVED_BATCH_SIZES, one gunicorn, the loads alternating."""
    bodies = {size: json.dumps(synthetic_batch(model.schema, size)).encode() for size in SERVED_BATCH_SIZES}
    runs = {size: [] for size in bodies}
    with Server.launch("gunicorn") as server:
        _seconds_to_first_prediction(server, json.dumps(EXAMPLE_CUSTOMER).encode())
        for body in bodies.values():
            load(server.port, body, min(1, duration), connections)  # warm up
        for _ in range(rounds):
            for size, body in bodies.items():
                runs[size].append(load(server.port, body, duration, connections))
    return {
        str(size): {**run, "customers_per_second": run["requests_per_second"] * size}
        for size, run in ((size, _median_run(measured)) for size, measured in runs.items())
    }


# --- report ---------------------------------------------------------------------------------------


def ratios(results):
    """Each target's ratio, from the measured results."""
    return {name: target.ratio(results) for name, target in TARGETS.items()}


def report(results):
    """The results as the table people read: servers, in-process numbers, the targets."""
    lines = [f"load generator: {results['load_generator']}; {results['machine']}", ""]
    return "\n".join(lines + _server_lines(results) + [""] + _in_process_lines(results) + [""] + _target_lines(results))


def _server_lines(results):
    lines = [f"{'server':<26}{'requests/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"]
    protocols = {f"gunicorn {path.rsplit('/', 1)[-1]}": run for path, run in results["protocols"].items()}
    for name, run in {**results["servers"], **protocols, **results.get("gunicorn_settings", {})}.items():
        rps, p50, p99 = run["requests_per_second"], run["p50_ms"], run["p99_ms"]
        lines.append(f"{name:<26}{rps:>12.0f}{p50:>9.2f}{p99:>9.2f}{run['errors']:>8}")
    return lines


def _in_process_lines(results):
    in_process, offline = results["in_process"], results["offline_scoring"]
    sklearn = in_process["sklearn"]
    lines = [
        f"in-process full /predict request: {in_process['full_request_us']:.1f} µs "
        f"({in_process['explain_request_us']:.1f} µs with ?explain=true, {in_process['logged_request_us']:.1f} µs "
        f"with the access log written to /dev/null); score(): {in_process['score_us']:.2f} µs; "
        f"sklearn predict_proba(dv.transform()): {sklearn['predict_proba_us']:.1f} µs ({', '.join(sklearn['blas'])})",
        *_batch_lines(results["batch"], results["served_batches"]),
        f"predict.py on a CSV of {offline['customers']} customers: {offline['seconds']:.2f} s, "
        f"{offline['rows_per_second']:.0f} rows/s",
        *_prediction_log_lines(in_process["prediction_log"], _batch(results, BATCH_SIZE), results["prediction_log"]),
    ]
    for name, run in results["cold_start_and_memory"].items():
        rss_mib = run["rss_per_worker_kib"] / 1024
        lines.append(f"{name}: cold start {run['cold_start_ms']:.0f} ms, RSS per worker {rss_mib:.1f} MiB")
    return lines


def _batch_lines(batches, served):
    """Each batch in process, against the json module and through infer; served customers/s."""
    lines = [
        f"batch of {batch['customers']:,} customers ({batch['body_bytes'] / 1e6:.1f} MB), in process: /predict "
        f"{batch['predict_ms']:.1f} ms ({batch['customers_per_second']:,.0f} customers/s); json.loads + json.dumps "
        f"{batch['json_ms']:.1f} ms; infer {batch['infer_ms']:.1f} ms"
        for batch in batches.values()
    ]
    served_rates = ", ".join(f"batches of {size}: {run['customers_per_second']:,.0f}" for size, run in served.items())
    return [*lines, f"served customers/s (gunicorn): {served_rates}"]


def _prediction_log_lines(one, batch, served):
    """What the prediction log costs a request of one customer, and one of a batch, in process; and
    the service's requests/s under gunicorn."""
    added_us = (batch["prediction_logged_ms"] - batch["predict_ms"]) * 1000 / batch["customers"]
    on, off = served["on"]["requests_per_second"], served["off"]["requests_per_second"]
    return [
        f"prediction log to a file, in process: one customer {one['on_request_us']:.1f} µs against "
        f"{one['off_request_us']:.1f} "
        f"({one['on_request_us'] / one['off_request_us']:.2f}); a batch of {batch['customers']} "
        f"{batch['prediction_logged_ms']:.0f} ms against {batch['predict_ms']:.0f} "
        f"({batch['prediction_logged_ms'] / batch['predict_ms']:.2f}, {added_us:.1f} µs a customer)",
        f"prediction log to a file, under gunicorn: {on:.0f} requests/s against {off:.0f} ({on / off:.2f}); "
        f"{served['lines']} lines written",
    ]


def _target_lines(results):
    lines = [f"{'target':<48}{'ratio':>8}{'bound':>8}  met"]
    for name, value in results["ratios"].items():
        target = TARGETS[name]
        bound = f"{'>=' if target.at_least else '<='} {target.bound:g}"
        lines.append(f"{target.description:<48}{value:>8.2f}{bound:>8}  {'yes' if target.met(value) else 'NO'}")
    parsing_floor = _gunicorn_rps(results, "parsing floor")
    lines.append(
        f"(no target) service / parsing floor requests/s under gunicorn: "
        f"{_gunicorn_rps(results, 'service') / parsing_floor:.2f}"
    )
    return lines


SERVERS = {"gunicorn": ("gunicorn", []), "waitress": ("waitress", [])}  # with their own settings
GUNICORN_VARIANTS = {  # compared with --compare-settings; gunicorn.conf.py holds the chosen one
    "gevent w=4": ("gunicorn", ["--workers", "4"]),
    "sync w=2": ("gunicorn", ["--workers", "2", "--worker-class", "sync"]),
    "sync w=4": ("gunicorn", ["--workers", "4", "--worker-class", "sync"]),
    "gthread w=2 t=4": ("gunicorn", ["--workers", "2", "--worker-class", "gthread", "--threads", "4"]),
    "gthread w=4 t=2": ("gunicorn", ["--workers", "4", "--worker-class", "gthread", "--threads", "2"]),
}


def parse_args(argv):
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="run every part briefly (CI)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per server run")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections of the load")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per server; the median counts")
    parser.add_argument(
        "--compare-settings", action="store_true", help="also run the service under other gunicorn settings"
    )
    parser.add_argument(
        "--load-generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="wrk, or the Python client; auto: wrk where it is installed",
    )
    parser.add_argument("--output", default=PROJECT_DIR / "bench" / "results.json", help="where to write the JSON")
    parser.add_argument("--sklearn-reference", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds = 1.0, 1
    return args


def measure(args):
    """Every part the options ask for, measured: the results as plain data, the ratios included."""
    use_wrk = args.load_generator == "wrk" or (args.load_generator == "auto" and shutil.which("wrk"))
    load = _wrk if use_wrk else _python_load
    model = load_model(DEFAULT_MODEL_PATH)
    app, body = create_app(model), json.dumps(EXAMPLE_CUSTOMER).encode()
    servers_with = functools.partial(measure_servers, body, args.duration, args.connections, load, args.rounds)
    results = {
        "machine": f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs",
        "load_generator": f"{'wrk' if use_wrk else 'python'} ({args.connections} connections, "
        f"{args.rounds} x {args.duration:g} s per server, median)",
        "servers": servers_with(SERVERS),
        "protocols": measure_protocols(model, body, args.duration, args.connections, load, args.rounds),
        "metrics": measure_metrics_cost(body, args.duration, args.connections, load, args.rounds),
        "prediction_log": measure_prediction_log_cost(body, args.duration, args.connections, load, args.rounds),
        "in_process": measure_in_process(app, model, body, 2_000 if args.quick else 50_000),
        "batch": measure_batch(app, model, repeat=1 if args.quick else 15),
        "served_batches": measure_served_batches(model, args.duration, args.connections, load, args.rounds),
        "offline_scoring": measure_offline_scoring(model),
        "cold_start_and_memory": measure_cold_start_and_memory(body, repeats=1 if args.quick else 5),
    }  # fmt: skip
    if args.compare_settings:
        results["gunicorn_settings"] = {
            name: run
            for label in GUNICORN_VARIANTS
            for name, run in servers_with({label: GUNICORN_VARIANTS[label]}).items()
        }
    results["ratios"] = ratios(results)
    return results


def main(argv=None):
    """Measure, write the results as JSON and print the table; return the exit status."""
    args = parse_args(argv)
    if args.sklearn_reference:
        return _print_sklearn_reference(args.sklearn_reference)
    results = measure(args)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
