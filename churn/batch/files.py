"""Where predict.py reads its customers and writes their scores: the input (a file or standard input,
its format known by its name or by how it begins), the output (text or Parquet, to a file written
whole or not at all, or to standard output), the rejects of --skip-invalid, and the prediction log,
appended to only when the run succeeds. Standard library only; Parquet needs churn.batch.tables,
imported when it is read or written.
"""

import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

from churn.core.customer_files import InputError, csv_customers, json_customers
from churn.core.not_text import HEAD_BYTES, spreadsheet_problem
from churn.core.output_formats import FORMAT_NAMED, csv_line
from churn.core.prediction import Results
from churn.core.prediction_log import PredictionLog, open_log

PARQUET = "parquet"
INPUT_EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json", ".parquet": PARQUET}
OUTPUT_EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": PARQUET}
_PARQUET_MAGIC = b"PAR1"
NEEDS_BATCH_REQUIREMENTS = "Parquet needs pyarrow and NumPy: pip install --require-hashes -r requirements-batch.txt"


class UsageError(Exception):
    """An option the model or the input at hand cannot take; the message says which and why."""


def tables():
    """churn.batch.tables, imported when the run reads or writes Parquet: it needs pyarrow and NumPy."""
    try:
        import churn.batch.tables as tables  # noqa: PLC0415 (text runs need neither)
    except ImportError as error:
        raise UsageError(f"{NEEDS_BATCH_REQUIREMENTS} ({error})") from None
    return tables


# --- reading --------------------------------------------------------------------------------------


def open_input(source):
    """A text stream of `source` ('-' for stdin), its format ('csv', 'json' or None: not known by its
    name), and its size or None."""
    if source == "-":
        stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
        return stream, None, None
    path = Path(source)
    stream = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed by the run)
    return stream, INPUT_EXTENSIONS.get(path.suffix.lower()), path.stat().st_size


def refuse_a_spreadsheet(stream):
    """InputError when the stream starts as a workbook does (churn.core.not_text); reads nothing from it."""
    problem = spreadsheet_problem(stream.buffer.peek(HEAD_BYTES), "the file")
    if problem:
        raise InputError(problem)


def sniff(stream):
    """'parquet' for a stream that starts as Parquet does, 'json' for one that starts with { or [,
    else 'csv'; reads nothing from it."""
    head = stream.buffer.peek(64)
    if head.startswith(_PARQUET_MAGIC):
        return PARQUET
    return "json" if head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")[:1] in ("{", "[") else "csv"


def customers_in(stream, file_format, schema):
    """(line, raw customer) from the stream; a CSV header must name the schema's required fields."""
    if file_format == "json":
        return json_customers(stream)
    return csv_customers(stream, schema.required, schema.optional, schema.id_names)


# --- writing --------------------------------------------------------------------------------------


def print_like_the_book(result, out):
    """The book's script: the probability and the verdict (and why, when explained)."""
    out.write(f"prediction: {result['churn_probability']:.3f}\n")
    out.write(f"verdict: {'Churn' if result['churn'] else 'Not churn'}\n")
    for factor in result.get("explanation", {}).get("factors", []):
        out.write(f"because: {factor['text']}\n")


class TextOutput:
    """Results written as text (CSV, a JSON array, JSON lines) to a text stream."""

    def __init__(self, out, output_format, explain_top):
        self.out, self.output_format, self.explain_top = out, output_format, explain_top

    def write(self, result_pieces):
        """Write every piece of results: Results, or batches of Arrow (churn.batch.tables)."""
        parts = (piece if isinstance(piece, Results) else tables().results_of(piece) for piece in result_pieces)
        for text in FORMAT_NAMED[self.output_format].pieces(parts, self.explain_top):
            self.out.write(text)


class ParquetOutput:
    """Results written as Parquet to a binary stream, in row groups of about BATCH_ROWS rows."""

    def __init__(self, out, version):
        self.out, self.version = out, version

    def write(self, result_pieces):
        """Write every piece of results: Results, or batches of Arrow."""
        batches = tables()
        writer, waiting, rows = None, [], 0
        for piece in result_pieces:
            batch = batches.results_batch(piece, self.version) if isinstance(piece, Results) else piece
            writer = writer or batches.pq.ParquetWriter(self.out, batch.schema)
            waiting.append(batch)
            rows += len(batch)
            if rows >= batches.BATCH_ROWS:
                writer.write_table(batches.pa.Table.from_batches(waiting))
                waiting, rows = [], 0
        empty = Results([], [], [])
        writer = writer or batches.pq.ParquetWriter(self.out, batches.results_batch(empty, self.version).schema)
        if waiting:
            writer.write_table(batches.pa.Table.from_batches(waiting))
        writer.close()


class Rejects:
    """The invalid rows a run skipped, written as CSV (line or row, customerid, problem) to a file, or
    as lines to standard error."""

    def __init__(self, out, unit):
        self.unit = unit
        self.out = out
        if out is not None:
            out.write(csv_line([unit, "customerid", "problem"]))

    def write(self, rejects):
        """Write (line, customerid, problem) of each of `rejects`."""
        for line, customerid, problem in rejects:
            if self.out is not None:
                self.out.write(csv_line([line, customerid, problem]))
            else:
                print(f"predict.py: skipped {self.unit} {line}: {problem}", file=sys.stderr)


class Outputs:
    """Where a run writes: the output (to a file written whole or not at all, or stdout) and the
    rejects of --skip-invalid (to `rejects`, by default beside the output, else standard error).
    Files are kept only when the run succeeds (the ExitStack's contexts)."""

    def __init__(self, stack, output, rejects, prediction_log):
        self.stack, self.output = stack, output
        beside_output = str(Path(output).with_suffix(".rejects.csv")) if output else None
        self.rejects_name = rejects or beside_output
        self.log_path = prediction_log

    def text(self):
        """The output as a text stream."""
        return self.stack.enter_context(_whole_or_nothing(self.output, "w") if self.output else _stdout())

    def binary(self):
        """The output file as a binary stream."""
        return self.stack.enter_context(_whole_or_nothing(self.output, "wb"))

    def rejects(self):
        """The rejects file as a text stream; None: standard error."""
        return self.stack.enter_context(_whole_or_nothing(self.rejects_name, "w")) if self.rejects_name else None

    def prediction_log(self, model):
        """A binary stream for the prediction log's lines, appended to the log when the run has
        succeeded and its output is in place."""
        return self.stack.enter_context(_appended_on_success(self.log_path, model))


@contextlib.contextmanager
def _whole_or_nothing(path, mode):
    """The file, written to a temporary file beside it and renamed over it only when the run succeeds:
    a bad row, an interrupt or a full disk leaves no partial file, and an earlier one intact."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.resolve().parent, prefix=f".{path.name}.", suffix=".partial")
    text = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
    try:
        with open(handle, mode, **text) as out:
            yield out
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's 0600, as open() would have made it
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def _appended_on_success(path, model):
    """A temporary file for lines, appended to the log at `path` (opened now: a log that cannot be
    written stops the run before it starts) in writes of whole lines, when the run succeeds."""
    log = PredictionLog(open_log(path), model)
    try:
        with tempfile.TemporaryFile(dir=Path(path).resolve().parent, prefix=".predictions.") as spool:
            yield spool
            spool.seek(0)
            log.write(spool)
    finally:
        log.close()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _stdout():
    return open(sys.stdout.fileno(), "w", encoding="utf-8", newline="", closefd=False)  # noqa: SIM115
