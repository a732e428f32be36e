"""Score a file of at least a million customers made from the real data set, every way we have, in
one run on one machine: rows/s and the peak memory of the largest process.

    .venv/bin/python bench/batch.py [--copies 150] [--output FILE]

The file is the raw data set repeated (--copies; 150 make 1,056,450 rows), each copy's customerIDs
made unique, as Parquet (the columns as Arrow reads the CSV) and as CSV. The ways, each a process of
its own, timed from its start to its end:
1. the book's: pandas reads the Parquet, the pickled DictVectorizer and LogisticRegression score it
   (df.to_dict(orient="records"), dv.transform, model.predict_proba), pandas writes Parquet;
2. predict.py on the CSV, row by row: --jobs 1, and every CPU;
3. predict.py on the Parquet, a column at a time (churn.batch.tables): --jobs 1 and every CPU;
   beside it, the floor: the same Parquet read and written back by Arrow on one CPU, not scored;
4. predict_spark.py under spark-submit, local[2], on the Parquet: its whole time, and the time after
   Spark has started (the job's own).
It prints a Markdown table and writes every number as JSON.
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

# Runs a command and prints the peak resident memory of the largest process it waited for, in KiB.
_MEASURED = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)
_BOOKS_WAY = """
import pickle, sys
import pandas as pd
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
"""
# predict.py's reading and writing without its scoring: the same batches read (text columns as
# dictionaries), the same columns written (the customerid, constants for the rest).
_FLOOR = """
import sys
import pyarrow as pa, pyarrow.parquet as pq
from churn.batch.tables import parquet_batches
pa.set_cpu_count(1)
names, batches, _ = parquet_batches(sys.argv[1])
writer = None
for _, batch in batches:
    rows = len(batch)
    scores = pa.RecordBatch.from_pydict({
        "customerid": batch.column(names.index("customerID")),
        "churn_probability": pa.array([0.5] * rows, pa.float64()),
        "churn": pa.array([False] * rows),
        "model_version": pa.array(["0" * 12] * rows).dictionary_encode(),
    })
    writer = writer or pq.ParquetWriter(sys.argv[2], scores.schema)
    writer.write_batch(scores)
writer.close()
"""
# Spark's own cost: the same file through mapInArrow to Python and back, only the ids returned.
_SPARK_FLOOR = """
import sys
import pyarrow as pa
from pyspark.sql import SparkSession
spark = SparkSession.builder.config("spark.sql.execution.arrow.maxRecordsPerBatch", "65536").getOrCreate()
ids = lambda batches: (pa.RecordBatch.from_arrays([batch.column("customerID")], ["customerid"]) for batch in batches)
spark.read.parquet(sys.argv[1]).mapInArrow(ids, "customerid string").write.parquet(sys.argv[2])
"""


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


def measure(command, env=None):
    """(seconds, peak KiB of the largest process, what it printed) of one run of `command`."""
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-c", _MEASURED, *map(str, command)],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"failed: {' '.join(map(str, command))}\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    *_, peak = run.stderr.split()
    return seconds, int(peak), run.stdout + run.stderr


def run_all(folder, parquet, text, rows):
    """Every way, one after the other: name -> {seconds, rows_per_second, peak_mib}."""
    python, cpus = sys.executable, max(1, int(usable_cpus()))
    book = [python, "-c", _BOOKS_WAY, PROJECT_DIR / "model/churn-model.bin", parquet, folder / "book.parquet"]
    predict = [python, "predict.py"]
    floor = [python, "-c", _FLOOR, parquet, folder / "floor.parquet"]
    ways = {
        "book: pandas + scikit-learn (pickle)": book,
        "predict.py, CSV, 1 job": [*predict, text, "--jobs", 1, "--output", folder / "one.csv"],
        f"predict.py, CSV, {cpus} jobs": [*predict, text, "--jobs", cpus, "--output", folder / "all.csv"],
        "predict.py, Parquet, 1 job": [*predict, parquet, "--jobs", 1, "--output", folder / "one.parquet"],
        f"predict.py, Parquet, {cpus} jobs": [*predict, parquet, "--jobs", cpus, "--output", folder / "all.parquet"],
        "floor: predict.py's Parquet reading and writing, 1 CPU, not scored": floor,
    }
    figures = {}
    for name, command in ways.items():
        seconds, peak, _ = measure(command)
        figures[name] = _figure(rows, seconds, peak)
        print(f"{name}: {figures[name]}", file=sys.stderr)
    figures.update(_spark(folder, parquet, rows))
    return figures


def _spark(folder, parquet, rows):
    subprocess.run([sys.executable, "-m", "zipfile", "-c", folder / "churn.zip", "churn/"], cwd=PROJECT_DIR, check=True)
    (folder / "spark_floor.py").write_text(_SPARK_FLOOR)
    submit = [Path(sys.executable).parent / "spark-submit", "--master", "local[2]", "--py-files", folder / "churn.zip"]
    environment = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    scoring = [*submit, "predict_spark.py", parquet, "--output", folder / "spark-scores"]
    seconds, peak, printed = measure(scoring, env=environment)
    job_seconds = float(re.search(r"predict_spark\.py: scored \d+ customers, rejected \d+, in ([0-9.]+) s", printed)[1])
    floor_seconds, floor_peak, _ = measure(
        [*submit, folder / "spark_floor.py", parquet, folder / "ids"], env=environment
    )
    return {
        "Spark local[2], mapInArrow, with its start-up": _figure(rows, seconds, peak),
        "Spark local[2], mapInArrow, the job alone": _figure(rows, job_seconds, peak),
        "floor: Spark local[2], the rows to Python and back, ids only, with its start-up": _figure(
            rows, floor_seconds, floor_peak
        ),
    }


def _figure(rows, seconds, peak_kib):
    return {"seconds": round(seconds, 3), "rows_per_second": round(rows / seconds), "peak_mib": round(peak_kib / 1024)}


def table(figures, rows):
    """The figures as a Markdown table."""
    lines = [f"| way ({rows:,} rows) | seconds | rows/s | peak MiB (largest process) |", "|---|---:|---:|---:|"]
    for name, figure in figures.items():
        lines.append(f"| {name} | {figure['seconds']:.2f} | {figure['rows_per_second']:,} | {figure['peak_mib']:,} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=150, help="copies of the data set (150: 1,056,450 rows)")
    parser.add_argument("--output", help="write the figures here as JSON")
    parser.add_argument("--data", help="the raw data set (default: $CHURN_DATA, ../shared/data, data/)")
    args = parser.parse_args(argv)
    data = args.data or os.environ.get("CHURN_DATA") or (SHARED_DATA if SHARED_DATA.is_file() else None)
    with tempfile.TemporaryDirectory() as folder:
        parquet, text, rows = make_files(locate_dataset(data), Path(folder), args.copies)
        figures = run_all(Path(folder), parquet, text, rows)
    print(table(figures, rows))
    if args.output:
        Path(args.output).write_text(json.dumps({"rows": rows, "cpus": usable_cpus(), "figures": figures}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
