"""Score customers from a file, offline, with the service's own preparation, validation and scoring.

    python predict.py customer.json                    # one customer: prints like the book's script
    python predict.py customers.csv > scores.csv       # the raw Telco CSV as published, or ours
    python predict.py customers.jsonl --format jsonl --explain
    python predict.py customers.parquet --output scores.parquet   # needs requirements-batch.txt
    cat customers.json | python predict.py -           # stdin: JSON object, array, JSON lines or CSV

Reads CSV, JSON (an object, an array or JSON lines) and Parquet, each known by its file name (or,
for other names and stdin, by how it begins). Writes CSV (customerid, churn_probability, churn), a
JSON array, JSON lines or Parquet (the same columns and model_version), chosen by --format or the
--output file's name, to stdout or to --output (written whole or not at all). It reads, scores and
writes a piece at a time, so memory stays the same however large the input, on every CPU it may use
(--jobs), writing the results in the input's order. Text is scored row by row by the service's own
code; Parquet by churn.batch.tables, a column at a time, with the same rules and results.

A bad row stops the run with its line number (a Parquet file's row number) and what is wrong (exit
status 1). --skip-invalid scores the rest and writes each bad row, its line and what is wrong to a
rejects file: --rejects, by default beside --output (scores.rejects.csv), else standard error.

A campaign by budget: --budget K writes only the K riskiest customers, riskiest first, and says on
standard error how many churners to expect among them (the sum of their probabilities) and what the
riskiest same share of the model's test split reached (precision, recall). --cost C --value V keeps
only the customers whose probability x V covers C (with --budget, at most K of them). A campaign holds
the customers it contacts in memory, to sort them: K of them, or with --cost alone all worth it.

--prediction-log FILE appends a line per scored customer to FILE, as the service's PREDICTION_LOG
does (docs/prediction-log.md), once the run has succeeded; PREDICTION_LOG_ID_KEY, when set, puts
each customerid's keyed hash there instead of the id.
"""

import argparse
import contextlib
import csv
import io
import itertools
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from churn.batch.parallel import ordered_map
from churn.batch.rows import LogSpec, RowsSpec, line_maker, row_scorer
from churn.core.artifact import DEFAULT_MODEL_PATH, ModelError
from churn.core.campaign import at_top_fraction, expected_churners, riskiest, worth_contacting
from churn.core.customer_files import InputError, csv_customers, json_customers
from churn.core.explain import ALL, DEFAULT_TOP, ExplainRequestError, requested_top
from churn.core.model import load_model
from churn.core.options import number, whole_number_from_1
from churn.core.output_formats import FORMAT_NAMED, spreadsheet_safe
from churn.core.prediction import DECISION, PROBABILITY, predictions
from churn.core.prediction_log import LogError, PredictionLog, id_key, open_log
from churn.core.schema import ID_FIELD, InvalidCustomer, validate_customer
from churn.server.cpus import usable_cpus

_PROGRESS_SECONDS = 0.2
RESULTS_PER_PIECE = 256  # rows scored and written at once: a few tens of KiB, however large the file
PARQUET = "parquet"
_INPUT_EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json", ".parquet": PARQUET}
_OUTPUT_EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": PARQUET}
_PARQUET_MAGIC = b"PAR1"
# Below this, a file is scored in this process: starting the others (each imports the model's code,
# and for Parquet, Arrow) costs more than they would save.
SMALL_INPUT_BYTES = 4 << 20
_NEEDS_BATCH_REQUIREMENTS = "Parquet needs pyarrow and NumPy: pip install --require-hashes -r requirements-batch.txt"


class UsageError(Exception):
    """An option the model or the input at hand cannot take; the message says which and why."""


# --- reading --------------------------------------------------------------------------------------


def open_input(source):
    """A text stream of `source` ('-' for stdin), its format ('csv', 'json' or None: not known by its
    name), and its size or None."""
    if source == "-":
        stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
        return stream, None, None
    path = Path(source)
    stream = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed by main)
    return stream, _INPUT_EXTENSIONS.get(path.suffix.lower()), path.stat().st_size


def sniff(stream):
    """'parquet' for a stream that starts as Parquet does, 'json' for one that starts with { or [,
    else 'csv'; reads nothing from it."""
    head = stream.buffer.peek(64)
    if head.startswith(_PARQUET_MAGIC):
        return PARQUET
    return "json" if head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")[:1] in ("{", "[") else "csv"


def customers_in(stream, file_format, columns):
    """(line, raw customer) from the stream; a CSV header must name `columns`."""
    return json_customers(stream) if file_format == "json" else csv_customers(stream, columns)


def _pieces(rows, size):
    """The rows in lists of `size`."""
    while piece := list(itertools.islice(rows, size)):
        yield piece


# --- writing --------------------------------------------------------------------------------------


def print_like_the_book(result, out):
    """The book's script: the probability and the verdict (and why, when explained)."""
    out.write(f"prediction: {result['churn_probability']:.3f}\n")
    out.write(f"verdict: {'Churn' if result['churn'] else 'Not churn'}\n")
    for factor in result.get("explanation", {}).get("factors", []):
        out.write(f"because: {factor['text']}\n")


class _TextOutput:
    """Results written as text (CSV, a JSON array, JSON lines) to a text stream."""

    def __init__(self, out, output_format, explain_top):
        self.out, self.output_format, self.explain_top = out, output_format, explain_top

    def write(self, result_pieces):
        """Write every piece of results: lists of dicts, or batches of Arrow (churn.batch.tables)."""
        dicts = (piece if isinstance(piece, list) else _tables().result_dicts(piece) for piece in result_pieces)
        for text in FORMAT_NAMED[self.output_format].pieces(dicts, self.explain_top):
            self.out.write(text)


class _ParquetOutput:
    """Results written as Parquet to a binary stream, in row groups of about BATCH_ROWS rows."""

    def __init__(self, out, version):
        self.out, self.version = out, version

    def write(self, result_pieces):
        """Write every piece of results: lists of dicts, or batches of Arrow."""
        tables = _tables()
        writer, waiting, rows = None, [], 0
        for piece in result_pieces:
            batch = piece if not isinstance(piece, list) else tables.results_batch(piece, self.version)
            writer = writer or tables.pq.ParquetWriter(self.out, batch.schema)
            waiting.append(batch)
            rows += len(batch)
            if rows >= tables.BATCH_ROWS:
                writer.write_table(tables.pa.Table.from_batches(waiting))
                waiting, rows = [], 0
        writer = writer or tables.pq.ParquetWriter(self.out, tables.results_batch([], self.version).schema)
        if waiting:
            writer.write_table(tables.pa.Table.from_batches(waiting))
        writer.close()


class _Rejects:
    """The invalid rows a run skipped, written as CSV (line or row, customerid, problem) to a file, or
    as lines to standard error."""

    def __init__(self, out, unit):
        self.unit = unit
        self.writer = csv.writer(out, lineterminator="\n") if out is not None else None
        if self.writer:
            self.writer.writerow([unit, "customerid", "problem"])

    def write(self, rejects):
        """Write (line, customerid, problem) of each of `rejects`."""
        for line, customerid, problem in rejects:
            if self.writer:
                self.writer.writerow([line, spreadsheet_safe("" if customerid is None else customerid), problem])
            else:
                print(f"predict.py: skipped {self.unit} {line}: {problem}", file=sys.stderr)


# --- the run --------------------------------------------------------------------------------------


class _Progress:
    """A one-line progress report on stderr, only when stderr is a terminal."""

    def __init__(self, fraction):
        self.fraction, self.shown_at = fraction, 0.0
        self.enabled = sys.stderr.isatty()

    def update(self, rows):
        """Show how far the run is, at most every _PROGRESS_SECONDS."""
        now = time.monotonic()
        if not self.enabled or now - self.shown_at < _PROGRESS_SECONDS:
            return
        self.shown_at = now
        fraction = self.fraction(rows)
        done = f" ({min(100, int(fraction * 100))} %)" if fraction is not None else ""
        sys.stderr.write(f"\rscoring: {rows} customers{done}")
        sys.stderr.flush()

    def finish(self):
        """Clear the progress line."""
        if self.enabled:
            sys.stderr.write("\r\033[K")


class _Counts:
    """How many customers a run has scored, and skipped as invalid."""

    scored = skipped = 0


def results_of(scored_pieces, rejects, counts, progress, unit, log_spool):
    """The results of each scored piece (churn.batch.rows.Scored), in order, its rejects written to
    `rejects`, its prediction log lines to `log_spool` (or None); without `rejects`, the first invalid
    row raises InputError naming it."""
    for scored in scored_pieces:
        if log_spool is not None:
            log_spool.writelines(scored.log_lines)
        if scored.rejects:
            if rejects is None:
                line, _, problem = scored.rejects[0]
                raise InputError(f"{unit} {line}: {problem}")
            rejects.write(scored.rejects)
        counts.scored += len(scored.results)
        counts.skipped += len(scored.rejects)
        progress.update(counts.scored + counts.skipped)
        yield scored.results


class _Choices:
    """A run's choices from its options: the model, explanations, the output's format, the jobs."""

    def __init__(self, args):
        self.args = args
        self.model = load_model(args.model)
        self.explain_top = _explain_top(args, self.model)
        self.output_format = args.format or _OUTPUT_EXTENSIONS.get(Path(args.output or "").suffix.lower())
        if self.output_format == PARQUET and not args.output:
            raise UsageError("Parquet is written to a file: name it with --output")
        if args.rejects and not args.skip_invalid:
            raise UsageError("--rejects names where --skip-invalid writes the rows it skips: give both")
        self.counts = _Counts()
        self.log = LogSpec(uuid.uuid4().hex, _id_key()) if args.prediction_log else None
        if (args.cost is None) != (args.value is None):
            raise UsageError("--cost and --value go together: the cost of a discount, the value of a churner kept")
        self.campaign = args.budget is not None or args.cost is not None

    def jobs(self, size):
        """How many to score with: --jobs, else every CPU this process may use, but one for a small input."""
        if self.args.jobs:
            return self.args.jobs
        return 1 if size is not None and size < SMALL_INPUT_BYTES else max(1, int(usable_cpus()))


def run(args, outputs):
    """Score the input, writing to `outputs` (_Outputs); return the exit status."""
    choices = _Choices(args)
    log_spool = outputs.prediction_log(choices.model) if args.prediction_log else None
    stream, file_format, size = open_input(args.input)
    with stream:
        file_format = file_format or sniff(stream)
        if file_format == PARQUET:
            if args.input == "-":
                raise UsageError("Parquet is read from a file (its index is at its end), not from standard input")
            scored, fraction, unit = _parquet_pieces(choices, args.input, size)
        else:
            rows = customers_in(stream, file_format, choices.model.schema.fields)
            first = next(rows, None)
            second = next(rows, None) if first else None
            one_to_print = choices.output_format is None and not choices.campaign
            if file_format == "json" and first and second is None and one_to_print:
                customer = _validate_or_raise(choices.model, *first)
                result = predictions(choices.model, [customer], choices.explain_top)[0]
                if log_spool is not None:
                    make_lines = line_maker(choices.model, choices.log)
                    log_spool.writelines(make_lines([customer], [result[PROBABILITY]], [result[DECISION]]))
                print_like_the_book(result, outputs.text())
                return 0
            rows = itertools.chain([row for row in (first, second) if row], rows)
            spec = RowsSpec(args.model, choices.explain_top, choices.log)
            scored = ordered_map(row_scorer, spec, _pieces(rows, RESULTS_PER_PIECE), choices.jobs(size))
            fraction = (lambda rows: stream.buffer.tell() / size) if size else (lambda rows: None)
            unit = "line"
        progress, started = _Progress(fraction), time.monotonic()
        rejects = _Rejects(outputs.rejects(), unit) if args.skip_invalid else None
        results = results_of(scored, rejects, choices.counts, progress, unit, log_spool)
        if choices.campaign:
            results = [_campaign(results, choices)]
        output_format = choices.output_format or "csv"
        if output_format == PARQUET:
            _ParquetOutput(outputs.binary(), choices.model.version).write(results)
        else:
            _TextOutput(outputs.text(), output_format, choices.explain_top).write(results)
    progress.finish()
    _report(choices.counts, time.monotonic() - started, outputs.rejects_name)
    return 0


def _campaign(result_pieces, choices):
    """The customers a campaign contacts, riskiest first, its summary written to stderr."""
    args = choices.args
    results = (result for piece in result_pieces for result in _dicts(piece))
    if args.cost is not None:
        results = (result for result in results if worth_contacting(result[PROBABILITY], args.cost, args.value))
    contacted = riskiest(_with_ids(results), args.budget, lambda result: result[PROBABILITY])
    for line in _campaign_summary(contacted, choices.counts.scored, choices.model, args):
        print(f"predict.py: campaign: {line}", file=sys.stderr)
    return contacted


def _campaign_summary(contacted, customers, model, args):
    """What the campaign contacts and should reach, and what its share reached on the test split."""
    probabilities = [result[PROBABILITY] for result in contacted]
    share = len(contacted) / customers if customers else 0.0
    rule = f"budget {args.budget}" if args.budget is not None else ""
    if args.cost is not None:
        rule += f"{', ' if rule else ''}probability x value {args.value:g} >= cost {args.cost:g}"
    lines = [f"contact {len(contacted):,} of {customers:,} customers ({share:.1%}; {rule})"]
    if contacted:
        lines[0] += f", probabilities {probabilities[0]:.3f} down to {probabilities[-1]:.3f}"
    expected = expected_churners(probabilities)
    lines.append(f"churners expected among them: {expected:,.1f} (the sum of their probabilities)")
    if args.cost is not None:
        net = expected * args.value - len(contacted) * args.cost
        lines.append(
            f"expected value: {expected:,.1f} x {args.value:g} - {len(contacted):,} x {args.cost:g} = {net:,.2f}"
        )
    split = model.held_out
    if split is None:
        lines.append("the model has no test split to compare with (retrain it with train.py)")
    else:
        ranked = split.churned_by_rank
        top = at_top_fraction(ranked, share)
        precision = "-" if top.precision is None else f"{top.precision:.3f}"
        lines.append(
            f"on the test split, its riskiest {share:.1%} ({top.contacted:,} of {len(ranked):,}) reached precision "
            f"{precision} ({top.churners:,} churners) and recall {top.recall:.3f} (of {top.all_churners:,})"
        )
    return lines


def _dicts(piece):
    return piece if isinstance(piece, list) else _tables().result_dicts(piece)


def _with_ids(results):
    for result in results:
        if result.get(ID_FIELD) is None:
            raise UsageError("a campaign lists customers by customerid, and the input's customers have none")
        yield result


def _parquet_pieces(choices, path, size):
    tables = _tables()
    names, batches, total_rows = tables.parquet_batches(path)
    tables.input_columns(choices.model, names)  # a missing column stops the run here, before any process starts
    spec = tables.BatchSpec(choices.args.model, tuple(names), choices.explain_top, choices.log)
    jobs = choices.jobs(size)
    tables.pa.set_cpu_count(jobs)  # Arrow's own threads (decoding, writing) count among the CPUs used too
    # Threads, not processes: Arrow and NumPy do the work without the GIL, and a batch sent to another
    # process and its results sent back cost more than scoring it (1.1 M rows/s on 2 processes, 2.3 M
    # on 2 threads, 1.8 M on one, in one run here). But explanations are written in Python, a row at
    # a time, and threads would take turns: with them, processes (183,000 rows/s on 2, 117,000 on 2
    # threads, 126,000 on one).
    scored = ordered_map(tables.batch_scorer, spec, batches, jobs, threads=not choices.explain_top)
    return scored, (lambda rows: rows / total_rows if total_rows else None), "row"


def _tables():
    """churn.batch.tables, imported when the run reads or writes Parquet: it needs pyarrow and NumPy."""
    try:
        import churn.batch.tables as tables  # noqa: PLC0415 (text runs need neither)
    except ImportError as error:
        raise UsageError(f"{_NEEDS_BATCH_REQUIREMENTS} ({error})") from None
    return tables


def _explain_top(args, model):
    """How many factors each explanation gives; None without --explain."""
    try:
        return requested_top(args.explain, args.top, model)
    except ExplainRequestError as error:
        raise UsageError(f"--{error}" if error.option else f"--explain: {args.model}: {error}") from None


def _id_key():
    """PREDICTION_LOG_ID_KEY, checked as the service checks it."""
    try:
        return id_key(os.environ)
    except LogError as error:
        raise UsageError(str(error)) from None


def _validate_or_raise(model, line, raw):
    try:
        return validate_customer(raw, model.schema)
    except InvalidCustomer as invalid:
        raise InputError(f"line {line}: {invalid}") from None


def _report(counts, seconds, rejects_name):
    rate = counts.scored / seconds if seconds > 0 else float("inf")
    skipped = f", skipped {counts.skipped} invalid" if counts.skipped else ""
    if counts.skipped and rejects_name:
        skipped += f" (written to {rejects_name})"
    print(
        f"predict.py: scored {counts.scored} customers in {seconds:.2f} s ({rate:,.0f} rows/s){skipped}",
        file=sys.stderr,
    )


_NON_NEGATIVE = number(lambda value: value >= 0, "a number from 0")
_POSITIVE = number(lambda value: value > 0, "a number above 0")


def parse_args(argv):
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="a .csv, .json, .jsonl or .parquet file, or - for standard input")
    parser.add_argument(
        "--format", choices=[*FORMAT_NAMED, PARQUET], help="output format (default: by --output's name, else csv)"
    )
    parser.add_argument("--explain", action="store_true", help="add why: the largest contributions")
    parser.add_argument("--top", default=str(DEFAULT_TOP), help=f"factors per explanation, or {ALL} (default 3)")
    parser.add_argument("--skip-invalid", action="store_true", help="skip bad rows, writing them to --rejects")
    parser.add_argument("--rejects", help="the skipped rows' file (default: beside --output, else standard error)")
    parser.add_argument("--model", default=DEFAULT_MODEL_PATH, help="the model (default model/churn-model.json)")
    parser.add_argument("--output", help="write here instead of standard output")
    parser.add_argument(
        "--jobs", type=whole_number_from_1, help="processes to score with (default: every CPU this one may use)"
    )
    parser.add_argument("--budget", type=whole_number_from_1, metavar="K", help="a campaign: the K riskiest only")
    parser.add_argument("--cost", type=_NON_NEGATIVE, help="a campaign: the cost of a discount (with --value)")
    parser.add_argument("--value", type=_POSITIVE, help="a campaign: what a churner kept is worth (with --cost)")
    parser.add_argument(
        "--prediction-log",
        metavar="FILE",
        help="append a JSON line per scored customer to FILE (docs/prediction-log.md)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    """Score the input the command line names; return the exit status."""
    args = parse_args(argv)
    try:
        with contextlib.ExitStack() as stack:
            return run(args, _Outputs(stack, args))
    except InputError as error:
        hint = "" if args.skip_invalid else " (--skip-invalid scores the other rows)"
        print(f"predict.py: {args.input}: {error}{hint}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, ModelError, UsageError) as error:
        print(f"predict.py: error: {error}", file=sys.stderr)
        return 2


class _Outputs:
    """Where a run writes: the output (to a file written whole or not at all, or stdout) and the
    rejects of --skip-invalid (to --rejects, by default beside --output, else standard error). Files
    are kept only when the run succeeds (the ExitStack's contexts)."""

    def __init__(self, stack, args):
        self.stack, self.output = stack, args.output
        beside_output = str(Path(args.output).with_suffix(".rejects.csv")) if args.output else None
        self.rejects_name = args.rejects or beside_output
        self.log_path = args.prediction_log

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
        """A binary stream for the prediction log's lines, appended to --prediction-log when the run
        has succeeded and its output is in place."""
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
    log = PredictionLog(open_log(path), model.version, model.schema.fields)
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


if __name__ == "__main__":
    sys.exit(main())
