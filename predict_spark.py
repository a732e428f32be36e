"""Score customers where they live, with Spark: Parquet or CSV from any path Spark reads (a local
folder, s3a://, abfss://, hdfs://), scored by churn.batch.tables in each executor (mapInArrow).

    python -m zipfile -c churn.zip churn/
    spark-submit --master 'local[*]' --py-files churn.zip predict_spark.py customers.parquet --output scores/

Writes Parquet: customerid, churn_probability, churn, model_version (and explanation, as JSON text,
with --explain) for each valid row; each row that cannot be scored goes, as it was read and with
its problem, to --rejects (default: the output's path followed by _rejects). The driver reads the
model from --model (a file of its own, or any path Spark reads), checks it, and sends it to the
executors as its JSON text, never as a pickle. Exit status 1 when the input cannot be scored at all
(a column missing), 2 for a usage error.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_type
from pyspark.sql.types import StructType

from churn.batch.spark import INPUT, PROBLEM, added_columns, scored_batches
from churn.batch.tables import BATCH_ROWS, EXPLANATION, VERSION, input_columns
from churn.core.artifact import MODEL_PATH_HELP, ModelError, model_path
from churn.core.customer_files import InputError
from churn.core.explain import ALL, DEFAULT_TOP, ExplainRequestError, requested_top
from churn.core.model import model_from_artifact
from churn.core.prediction import DECISION, PROBABILITY
from churn.core.schema import ID_FIELD

_FORMATS = ("parquet", "csv")
# Spark's default, 10,000 rows a batch, repeats each batch's per-column work (finding a column's
# distinct values) six times as often as predict.py's batches of BATCH_ROWS; --conf still sets it.
_ARROW_BATCH_ROWS = "spark.sql.execution.arrow.maxRecordsPerBatch"


def parse_args(argv):
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="a Parquet or CSV file or folder, at any path Spark reads")
    parser.add_argument("--output", required=True, help="the scores' folder (Parquet)")
    parser.add_argument(
        "--format", choices=_FORMATS, help="the input's format (default: csv for a .csv path, else parquet)"
    )
    parser.add_argument("--rejects", help="the folder of rows that could not be scored (default: OUTPUT_rejects)")
    parser.add_argument("--model", default=str(model_path()), help=MODEL_PATH_HELP)
    parser.add_argument("--explain", action="store_true", help="add why: the largest contributions, as JSON")
    parser.add_argument("--top", default=str(DEFAULT_TOP), help=f"factors per explanation, or {ALL} (default 3)")
    parser.add_argument(
        "--mode", default="errorifexists", choices=["errorifexists", "overwrite"], help="if the output exists"
    )
    return parser.parse_args(argv)


def read_input(spark, path, file_format):
    """The input as a DataFrame: a CSV's columns all as text, an empty cell as "", as predict.py reads
    them (Spark reads an empty cell as null; filled with "", a row reads as predict.py reads it)."""
    if (file_format or ("csv" if path.lower().endswith(".csv") else "parquet")) == "csv":
        return spark.read.options(header=True).csv(path).fillna("")
    return spark.read.parquet(path)


def read_artifact(spark, path):
    """The model's JSON artifact as text: a file of the driver's (one sent with spark-submit --files is
    in its working folder), else from any path Spark reads."""
    if os.path.isfile(path):
        return Path(path).read_text(encoding="utf-8")
    return spark.read.text(path, wholetext=True).first()[0]


def score(spark, args):
    """Score the input; return (rows scored, rows rejected)."""
    artifact = read_artifact(spark, args.model)
    model = model_from_artifact(json.loads(artifact))
    explain_top = requested_top(args.explain, args.top, model)
    frame = read_input(spark, args.input, args.format)
    columns = input_columns(model, frame.columns)  # InputError for a missing column, before any executor starts
    id_column = next((frame.columns[index] for field, index in columns if field == ID_FIELD), None)
    if id_column is None:
        raise InputError("the input has no customerid column: its scores could not be told apart")
    shipped = spark.sparkContext.broadcast(artifact)
    schema = StructType().add(INPUT, frame.schema).add(ID_FIELD, frame.schema[id_column].dataType)
    for name, arrow_type in added_columns(explain_top):
        schema = schema.add(name, from_arrow_type(arrow_type))
    scored = frame.mapInArrow(lambda batches: scored_batches(batches, shipped.value, explain_top), schema)
    scored = scored.persist()
    try:
        explanation = [EXPLANATION] if explain_top else []
        results = scored.where(F.col(PROBLEM).isNull()).select(ID_FIELD, PROBABILITY, DECISION, VERSION, *explanation)
        results.write.mode(args.mode).parquet(args.output)
        rejects = scored.where(F.col(PROBLEM).isNotNull()).select(f"{INPUT}.*", PROBLEM)
        rejects_path = args.rejects or args.output.rstrip("/") + "_rejects"
        rejects.write.mode(args.mode).parquet(rejects_path)
        # Counted from the files' footers: no third pass over the rows.
        return spark.read.parquet(args.output).count(), spark.read.parquet(rejects_path).count()
    finally:
        scored.unpersist()


def main(argv=None):
    """Score the input the command line names; return the exit status."""
    args = parse_args(argv)
    spark = SparkSession.builder.appName("churn-scores").getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    if not spark.sparkContext.getConf().contains(_ARROW_BATCH_ROWS):
        spark.conf.set(_ARROW_BATCH_ROWS, str(BATCH_ROWS))
    started = time.monotonic()
    try:
        scored, rejected = score(spark, args)
    except InputError as error:
        print(f"predict_spark.py: {args.input}: {error}", file=sys.stderr)
        return 1
    except (AnalysisException, ModelError, ExplainRequestError, ValueError) as error:  # a path Spark cannot read too
        print(f"predict_spark.py: error: {error}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    seconds = time.monotonic() - started
    print(f"predict_spark.py: scored {scored} customers, rejected {rejected}, in {seconds:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
