"""The service against Seldon MLServer, on this machine, in one run: customers/s in batches.

    .venv/bin/python bench/mlserver.py [--batch 1000] [--duration 10] [--connections 8] [--rounds 3] [--output FILE]

MLServer 1.7.1 with its scikit-learn runtime serves the book's LogisticRegression (the estimator of
model/churn-model.bin) with 2 inference workers (parallel_workers), given ready-made float tensors:
its client has already one-hot encoded each customer with the book's DictVectorizer. The service
(gunicorn as serve.py starts it) is sent the same customers as JSON, as its callers send them. Both
run side by side and wrk's load alternates between them; each gets the median of its runs. It prints
the customers/s of each and writes every number as JSON (bench/mlserver_results.json).

MLServer runs from a virtual environment of its own, outside the project (~/.cache/churn-service/
mlserver-env, made on the first run), with the scikit-learn of requirements-dev.txt: it is not one of
the project's requirements. Needs wrk; POSIX, as bench/servers.py.
"""

import argparse
import contextlib
import json
import pickle
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench import process_group  # noqa: E402
from bench.benchmark import _median_run, _wrk, synthetic_batch  # noqa: E402
from bench.servers import Server  # noqa: E402
from churn.core.artifact import DEFAULT_MODEL_PATH  # noqa: E402
from churn.core.book_pickle import read_book_pickle  # noqa: E402
from churn.core.model import load_model  # noqa: E402

# uvloop 0.22 stops MLServer 1.7.1's inference workers as they start ("There is no current event loop":
# SeldonIO/MLServer#2286, not fixed in a release): the release before it.
MLSERVER = ("mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop<0.22")
ENV_DIR = Path.home() / ".cache" / "churn-service" / "mlserver-env"
PICKLE_PATH = PROJECT_DIR / "model" / "churn-model.bin"
WORKERS = 2
START_SECONDS = 120
OUTPUT = PROJECT_DIR / "bench" / "mlserver_results.json"  # docs/performance.md quotes the run it holds


def mlserver_env():
    """bench/mlserver-env's python, made and filled on the first run."""
    python = ENV_DIR / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ENV_DIR)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *MLSERVER, _dev_pin("scikit-learn")], check=True)
    return python


def _dev_pin(package):
    """`package==version` as requirements-dev.txt locks it."""
    text = (PROJECT_DIR / "requirements-dev.txt").read_text()
    return re.search(rf"^({re.escape(package)}==\S+)", text, re.MULTILINE).group(1)


def tensors_and_customers(size):
    """(MLServer's inference request: the customers one-hot encoded, a float tensor; the same customers
    as the service's callers send them)."""
    (vectorizer, _), _ = read_book_pickle(PICKLE_PATH.read_bytes())
    customers = synthetic_batch(load_model(DEFAULT_MODEL_PATH).schema, size)
    matrix = vectorizer.transform(customers)
    rows, columns = matrix.shape
    tensor = {"name": "input-0", "datatype": "FP64", "shape": [rows, columns], "data": matrix.ravel().tolist()}
    return json.dumps({"inputs": [tensor]}).encode(), json.dumps(customers).encode()


@contextlib.contextmanager
def running_mlserver(python, folder, log_path):
    """MLServer serving the book's estimator from `folder`, on free ports; yields its HTTP port."""
    (_, estimator), _ = read_book_pickle(PICKLE_PATH.read_bytes())
    with open(folder / "model.joblib", "wb") as file:
        pickle.dump(estimator, file)  # joblib.load reads a plain pickle
    ports = [process_group.free_port() for _ in range(3)]
    settings = {"http_port": ports[0], "grpc_port": ports[1], "metrics_port": ports[2], "host": "127.0.0.1",
                "parallel_workers": WORKERS}  # fmt: skip
    model = {"name": "churn", "implementation": "mlserver_sklearn.SKLearnModel",
             "parameters": {"uri": "./model.joblib", "extra": {"predict_fn": "predict_proba"}}}  # fmt: skip
    (folder / "settings.json").write_text(json.dumps(settings))
    (folder / "model-settings.json").write_text(json.dumps(model))
    with open(log_path, "w") as log:
        process = process_group.start([str(python.parent / "mlserver"), "start", str(folder)], stdout=log, stderr=log)
    try:
        _wait_ready(ports[0], process, log_path)
        yield ports[0]
    finally:
        process_group.stop(process)


def _wait_ready(port, process, log_path):
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"MLServer exited: {Path(log_path).read_text()[-2000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/churn/ready", timeout=2) as answer,
        ):
            if answer.status == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"MLServer was not ready within {START_SECONDS} s")


def measure(size, duration, connections, rounds):
    python = mlserver_env()
    v2_body, predict_body = tensors_and_customers(size)
    loads = {
        "MLServer (2 workers), float tensors": ("/v2/models/churn/infer", v2_body),
        "service (gunicorn), JSON customers": ("/predict", predict_body),
    }
    runs = {name: [] for name in loads}
    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as stack:
        ports = {
            "MLServer (2 workers), float tensors": stack.enter_context(
                running_mlserver(python, Path(scratch), Path(scratch) / "mlserver.log")
            ),
            "service (gunicorn), JSON customers": stack.enter_context(
                Server.launch("gunicorn", log_path=Path(scratch) / "service.log")
            )
            .wait_until_serving()
            .port,
        }
        for name, (path, body) in loads.items():
            _wrk(ports[name], body, min(2, duration), connections, path)  # warm up
        for _ in range(rounds):
            for name, (path, body) in loads.items():
                runs[name].append(_wrk(ports[name], body, duration, connections, path))
    return {name: {**run, "customers_per_second": run["requests_per_second"] * size}
            for name, run in ((name, _median_run(measured)) for name, measured in runs.items())}  # fmt: skip


def report(results):
    """The results as the lines people read."""
    lines = [
        f"batches of {results['batch']:,}, wrk -c{results['connections']}, {results['rounds']} x "
        f"{results['duration']:g} s each, median:"
    ]
    for name, run in results["servers"].items():
        lines.append(
            f"  {name:<40}{run['customers_per_second']:>12,.0f} customers/s  (p50 {run['p50_ms']:.1f} ms, "
            f"p99 {run['p99_ms']:.1f} ms, errors {run['errors']})"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1000, help="customers per request")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per run")
    parser.add_argument("--connections", type=int, default=8, help="wrk's connections")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per server; the median counts")
    parser.add_argument("--output", default=OUTPUT, help="where to write the results as JSON")
    args = parser.parse_args(argv)
    results = {
        "batch": args.batch, "connections": args.connections, "rounds": args.rounds, "duration": args.duration,
        "servers": measure(args.batch, args.duration, args.connections, args.rounds),
    }  # fmt: skip
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
