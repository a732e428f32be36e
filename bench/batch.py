"""Score a file of at least a million customers made from the real data set, every way we have, in
one run on one machine: rows/s and the peak memory of the largest process.

    .venv/bin/python bench/batch.py [--copies 150] [--output FILE]

The file is the raw data set repeated (--copies; 150 make 1,056,450 rows), each copy's customerIDs
made unique, as Parquet (the columns as Arrow reads the CSV) and as CSV. The ways, each a process of
its own, timed from its start to its end, and by itself from after its start-up (the interpreter and
its imports; Spark's JVM):
1. the book's: pandas reads the Parquet, the pickled DictVectorizer and LogisticRegression score it
   (df.to_dict(orient="records"), dv.transform, model.predict_proba), pandas writes Parquet;
2. predict.py on the CSV, row by row: --jobs 1, and every CPU;
3. predict.py on the Parquet, a column at a time (churn.batch.tables): --jobs 1 and every CPU;
   beside it, the floor: the same Parquet read and the same columns written on one CPU, not scored;
4. predict_spark.py under spark-submit, local[2], on the Parquet; beside it, Spark's floor: the rows
   sent to Python by mapInArrow and their ids sent back, not scored.
Peak memory is the largest process's. It prints a Markdown table and writes every number as JSON
(bench/batch_results.json).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from churn.server.cpus import usable_cpus  # noqa: E402
from churn.training.data import DATA_FILE_NAME, locate_dataset  # noqa: E402

SHARED_DATA = PROJECT_DIR.parent / "shared" / "data" / DATA_FILE_NAME
OUTPUT = PROJECT_DIR / "bench" / "batch_results.json"  # docs/batch.md quotes the run it holds

# Runs a command and prints the peak resident memory of the largest process it waited for, in KiB.
_MEASURED = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)
_BOOKS_WAY = """
import pickle, sys, time
import pandas as pd
started = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    dv, model = pickle.load(f)
df = pd.read_parquet(sys.argv[2])
df.columns = df.columns.str.lower().str.replace(" ", "_")
for column in df.dtypes[df.dtypes == "object"].index:
    df[column] = df[column].str.lower().str.replace(" ", "_")
df.totalcharges = pd.to_numeric(df.totalcharges, errors="coerce").fillna(0)
fields = [feature.split("=")[0] for feature in dv.feature_names_]
X = dv.transform(df[sorted(set(fields))].to_dict(orient="records"))
df["churn_probability"] = model.predict_proba(X)[:, 1]
df[["customerid", "churn_probability"]].assign(churn=df.churn_probability >= 0.5).to_parquet(sys.argv[3])
print(f"work: {time.perf_counter() - started} s", file=sys.stderr)
"""
# predict.py's reading and writing without its scoring: the same batches read (text columns as
# dictionaries), the same columns written (the customerid, constants for the rest).
_FLOOR = """
import sys, time
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
from churn.batch.tables import parquet_batches
started = time.perf_counter()
pa.set_cpu_count(1)
names, batches, _ = parquet_batches(sys.argv[1])
writer = None
for _, batch in batches:
    rows = len(batch)
    scores = pa.RecordBatch.from_pydict({
        "customerid": batch.column(names.index("customerID")),
        "churn_probability": pa.array(np.full(rows, 0.5)),
        "churn": pa.array(np.zeros(rows, dtype=bool)),
        "model_version": pa.DictionaryArray.from_arrays(np.zeros(rows, dtype=np.int32), ["0" * 12]),
    })
    writer = writer or pq.ParquetWriter(sys.argv[2], scores.schema)
    writer.write_batch(scores)
writer.close()
print(f"work: {time.perf_counter() - started} s", file=sys.stderr)
"""
# Spark's own cost: the same file through mapInArrow to Python and back, only the ids returned.
_SPARK_FLOOR = """
import sys, time
import pyarrow as pa
from pyspark.sql import SparkSession
spark = SparkSession.builder.config("spark.sql.execution.arrow.maxRecordsPerBatch", "65536").getOrCreate()
started = time.perf_counter()
ids = lambda batches: (pa.RecordBatch.from_arrays([batch.column("customerID")], ["customerid"]) for batch in batches)
spark.read.parquet(sys.argv[1]).mapInArrow(ids, "customerid string").write.parquet(sys.argv[2])
print(f"work: {time.perf_counter() - started} s", file=sys.stderr)
"""
# What each way prints of its own time, from after its start-up (the interpreter, its imports; Spark's JVM).
_WORK = re.compile(r"^work: ([0-9.]+) s$|customers in ([0-9.]+) s \(|rejected \d+, in ([0-9.]+) s$", re.M)


def make_files(data, folder, copies):
    """The raw data set repeated `copies` times, as Parquet and CSV; (parquet, csv, rows)."""
    table = pcsv.read_csv(data)
    ids = table.column("customerID")
    parts = [
        table.set_column(0, "customerID", pc.binary_join_element_wise(ids, f"-{copy}", "")) for copy in range(copies)
    ]
    big = pa.concat_tables(parts)
    parquet, text = folder / "customers.parquet", folder / "customers.csv"
    pq.write_table(big, parquet)
    pcsv.write_csv(big, text, pcsv.WriteOptions(quoting_style="none"))
    return parquet, text, big.num_rows


def run_measured(command, env=None):
    """(seconds, peak KiB of its largest process, what it printed) of one run of `command`; SystemExit
    if it fails."""
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-c", _MEASURED, *map(str, command)], cwd=PROJECT_DIR, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"failed: {' '.join(map(str, command))}\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    *printed, peak_kib = run.stderr.rsplit(maxsplit=1)
    return seconds, int(peak_kib), run.stdout + "".join(printed)


def measure(command, rows, env=None):
    """The figures of one run of `command` on `rows` rows: its seconds and rows/s from start to end, its
    rows/s after its start-up, and the peak memory of its largest process."""
    seconds, peak_kib, printed = run_measured(command, env)
    work = float(next(group for group in _WORK.search(printed).groups() if group))
    return {
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds),
        "work_seconds": round(work, 3),
        "rows_per_second_after_start_up": round(rows / work),
        "peak_mib": round(peak_kib / 1024),
    }


def run_all(folder, parquet, text, rows):
    """Every way, one after the other: name -> its figures (measure)."""
    python, cpus = sys.executable, max(1, int(usable_cpus()))
    predict, pickle = [python, "predict.py"], PROJECT_DIR / "model" / "churn-model.bin"
    floor = [python, "-c", _FLOOR, parquet, folder / "floor.parquet"]
    subprocess.run([python, "-m", "zipfile", "-c", folder / "churn.zip", "churn/"], cwd=PROJECT_DIR, check=True)
    (folder / "spark_floor.py").write_text(_SPARK_FLOOR)
    submit = [Path(python).parent / "spark-submit", "--master", "local[2]", "--py-files", folder / "churn.zip"]
    ways = {
        "book: pandas + scikit-learn (pickle)": [python, "-c", _BOOKS_WAY, pickle, parquet, folder / "book.parquet"],
        "predict.py, CSV, 1 job": [*predict, text, "--jobs", 1, "--output", folder / "one.csv"],
        f"predict.py, CSV, {cpus} jobs": [*predict, text, "--jobs", cpus, "--output", folder / "all.csv"],
        "predict.py, Parquet, 1 job": [*predict, parquet, "--jobs", 1, "--output", folder / "one.parquet"],
        f"predict.py, Parquet, {cpus} jobs": [*predict, parquet, "--jobs", cpus, "--output", folder / "all.parquet"],
        "floor: predict.py's Parquet reading and writing, 1 CPU, not scored": floor,
        "Spark local[2], predict_spark.py (mapInArrow)": [
            *submit,
            "predict_spark.py",
            parquet,
            "--output",
            folder / "spark-scores",
        ],
        "floor: Spark local[2], the rows to Python and back, ids only": [
            *submit,
            folder / "spark_floor.py",
            parquet,
            folder / "ids",
        ],
    }
    environment = dict(os.environ, PYSPARK_PYTHON=python)
    figures = {}
    for name, command in ways.items():
        figures[name] = measure(command, rows, env=environment)
        print(f"{name}: {figures[name]}", file=sys.stderr)
    return figures


def table(figures, rows):
    """The figures as a Markdown table."""
    header = f"| way ({rows:,} rows) | seconds | rows/s | after start-up: seconds | rows/s | peak MiB |"
    ways = [
        f"| {name} | {figure['seconds']:.2f} | {figure['rows_per_second']:,} | {figure['work_seconds']:.2f} "
        f"| {figure['rows_per_second_after_start_up']:,} | {figure['peak_mib']:,} |"
        for name, figure in figures.items()
    ]
    return "\n".join([header, "|---|---:|---:|---:|---:|---:|", *ways])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=150, help="copies of the data set (150: 1,056,450 rows)")
    parser.add_argument("--output", default=OUTPUT, help="where to write the figures as JSON")
    parser.add_argument("--data", help="the raw data set (default: $CHURN_DATA, ../shared/data, data/)")
    args = parser.parse_args(argv)
    data = args.data or os.environ.get("CHURN_DATA") or (SHARED_DATA if SHARED_DATA.is_file() else None)
    with tempfile.TemporaryDirectory() as folder:
        parquet, text, rows = make_files(locate_dataset(data), Path(folder), args.copies)
        figures = run_all(Path(folder), parquet, text, rows)
    print(table(figures, rows))
    results = {"rows": rows, "cpus": usable_cpus(), "figures": figures}
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
