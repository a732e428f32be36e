"""Follow real requests through the project's code, and count what they visit.

    .venv/bin/python bench/trace_request.py [--rows 1000] [--output FILE]

Each walk runs in this process under sys.setprofile, counting only the project's own functions (not
the standard library's, nor the installed packages'):

  calls            project functions called
  modules          project modules they belong to
  module switches  how often one project call is in another module than the project call before it

The walks: one customer as JSON through wsgi:app (as gunicorn serves it, ACCESS_LOG=off); a CSV file
of the book's customer through wsgi:app, with what each extra row adds (each request's walk the
fewest calls of three, as most requests go); predict.py on a Parquet file
of --rows customers (--jobs 1), with how many times it opened the model's artifact (an audit hook
sees every open()). It prints a Markdown table, the modules of the first walk in the order they
ran and the model's version (another model may take another walk), and writes every number as JSON.
"""

import argparse
import contextlib
import io
import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench.benchmark import synthetic_batch  # noqa: E402
from churn.core.artifact import DEFAULT_MODEL_PATH  # noqa: E402
from churn.core.telco import BOOK_CUSTOMER as EXAMPLE_CUSTOMER  # noqa: E402

_NOT_OURS = (PROJECT_DIR / ".venv", PROJECT_DIR / "tests")
_CSV_ROWS = (1, 101)  # the CSV walk's two sizes: their difference / 100 is what a row adds
_TRACED_REQUESTS = 3


@dataclass
class Walk:
    """What one traced call visited: its calls, their modules in order, the switches between them."""

    calls: int = 0
    modules: list = field(default_factory=list)  # in the order they first ran
    switches: int = 0
    path: list = field(default_factory=list)  # the modules called, a module's calls in a row as one

    def row(self):
        return {"calls": self.calls, "modules": len(self.modules), "module switches": self.switches}


def _module_of(filename, cache={}):  # noqa: B006 (a cache of the files' names, for the profiler's speed)
    name = cache.get(filename, False)
    if name is False:
        path = Path(filename)
        ours = path.is_absolute() and path.is_relative_to(PROJECT_DIR)
        ours = ours and not any(path.is_relative_to(other) for other in _NOT_OURS) and path.suffix == ".py"
        if ours:
            parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        else:
            name = None
        cache[filename] = name
    return name


def trace(function):
    """Walk of `function()`, which is called once under the profiler; and what it returned."""
    walk = Walk()

    def profile(frame, event, arg):
        if event != "call":
            return
        module = _module_of(frame.f_code.co_filename)
        if module is None or module == "bench.trace_request":
            return
        walk.calls += 1
        if module not in walk.modules:
            walk.modules.append(module)
        if walk.path and walk.path[-1] != module:
            walk.switches += 1
        if not walk.path or walk.path[-1] != module:
            walk.path.append(module)

    sys.setprofile(profile)
    try:
        returned = function()
    finally:
        sys.setprofile(None)
    return walk, returned


def _wsgi_app():
    """wsgi:app as gunicorn imports it, with the access log off (it is written by a thread, later).
    Its requests take no turns: served, these take well under a turn's 5 ms, but traced, on a slow
    machine, one could pass it, and the count would be the machine's, not the code's."""
    os.environ["ACCESS_LOG"] = "off"
    import wsgi  # noqa: PLC0415 (reads the environment as it is imported)
    from churn.http import turns  # noqa: PLC0415

    turns.TURN_SECONDS = math.inf
    return wsgi.app


def _post(app, body, content_type):
    def call():
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": "/predict", "QUERY_STRING": "", "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        }  # fmt: skip
        statuses = []
        answer = app(environ, lambda status, headers: statuses.append(status))
        try:
            text = b"".join(answer)
        finally:
            if hasattr(answer, "close"):
                answer.close()
        if not statuses[0].startswith("200"):
            raise RuntimeError(f"the traced request failed: {statuses[0]} {text[:200]!r}")
        return text

    return call


def _csv_body(rows):
    names = list(EXAMPLE_CUSTOMER)
    lines = [",".join(names)] + [",".join(str(EXAMPLE_CUSTOMER[name]) for name in names)] * rows
    return ("\n".join(lines) + "\n").encode()


def common_walk(call):
    """The walk of a request as most go, after one untraced request (the first warms caches up): the
    fewest calls of _TRACED_REQUESTS, for once a second a request also adds up the metrics' counts."""
    call()
    return min((trace(call)[0] for _ in range(_TRACED_REQUESTS)), key=lambda walk: walk.calls)


def walk_json(app):
    """One customer as JSON."""
    return common_walk(_post(app, json.dumps(EXAMPLE_CUSTOMER).encode(), "application/json"))


def walk_csv(app):
    """(the walk of a one-row CSV, project calls each further row adds)."""
    walks = [common_walk(_post(app, _csv_body(rows), "text/csv")) for rows in _CSV_ROWS]
    return walks[0], (walks[1].calls - walks[0].calls) / (_CSV_ROWS[1] - _CSV_ROWS[0])


def walk_predict_parquet(rows):
    """(the walk of predict.py on a Parquet file of `rows` customers, --jobs 1, how often it opened the
    model's artifact)."""
    import pyarrow as pa  # noqa: PLC0415 (only this walk needs the batch requirements)
    import pyarrow.parquet as pq  # noqa: PLC0415

    import predict  # noqa: PLC0415

    artifact = str(DEFAULT_MODEL_PATH.resolve())
    opened = []
    sys.addaudithook(lambda event, args: opened.append(1) if event == "open" and _names(args[0], artifact) else None)
    from churn.core.model import load_model  # noqa: PLC0415

    customers = synthetic_batch(load_model(DEFAULT_MODEL_PATH).schema, rows)
    opened.clear()
    with tempfile.TemporaryDirectory() as scratch:
        source, output = Path(scratch) / "customers.parquet", Path(scratch) / "scores.parquet"
        pq.write_table(pa.Table.from_pylist(customers), source)
        arguments = [str(source), "--jobs", "1", "--output", str(output)]
        with contextlib.redirect_stderr(io.StringIO()):
            walk, status = trace(lambda: predict.main(arguments))
    if status != 0:
        raise RuntimeError("predict.py failed in the trace")
    return walk, len(opened)


def _names(opened, artifact):
    with contextlib.suppress(TypeError, ValueError, OSError):
        return os.path.realpath(os.fsdecode(opened)) == artifact
    return False


def measure(rows):
    app = _wsgi_app()
    one = walk_json(app)
    csv_one, per_row = walk_csv(app)
    parquet, opened = walk_predict_parquet(rows)
    return {
        "POST /predict, one customer as JSON, through wsgi:app": one.row(),
        "POST /predict, CSV, one row": {**csv_one.row(), "calls for every extra row": per_row},
        f"predict.py on {rows:,} Parquet rows, --jobs 1": {**parquet.row(), "artifact opened": opened},
        "the JSON customer's walk": one.path,
        "model version": app.service.model.version,
    }


def report(results):
    lines = ["| walk | calls | modules | module switches |", "|---|---:|---:|---:|"]
    for name, row in results.items():
        if isinstance(row, dict):
            lines.append(f"| {name} | {row['calls']:,} | {row['modules']} | {row['module switches']} |")
    csv_row = next(row for name, row in results.items() if name.startswith("POST /predict, CSV"))
    parquet = next(row for name, row in results.items() if name.startswith("predict.py"))
    lines += [
        "",
        f"each extra CSV row: {csv_row['calls for every extra row']:g} project calls",
        f"predict.py opened the model's artifact {parquet['artifact opened']} time(s)",
        "",
        "the JSON customer's walk: " + " → ".join(m.rsplit(".", 1)[-1] for m in results["the JSON customer's walk"]),
        f"the model: version {results['model version']}",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000, help="customers in predict.py's Parquet file")
    parser.add_argument("--output", help="also write the numbers as JSON to this file")
    args = parser.parse_args(argv)
    results = measure(args.rows)
    print(report(results))
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
