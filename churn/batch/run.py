"""A run of predict.py: its input read a piece at a time, scored on every CPU it may use (text files by
the service's own Scorer, churn.batch.rows; Parquet a column at a time, churn.batch.tables), and the
results written in the input's order (churn.batch.files), with its rejects, its prediction log, its
campaign (churn.batch.campaigns), a progress line and a closing report. The model is read once, by
the caller, and sent to every process that scores. Standard library only, but for Parquet.
"""

import itertools
import os
import sys
import time
import uuid
from pathlib import Path

from churn.batch.campaigns import campaign
from churn.batch.files import (
    OUTPUT_EXTENSIONS,
    PARQUET,
    ParquetOutput,
    Rejects,
    TextOutput,
    UsageError,
    customers_in,
    open_input,
    print_like_the_book,
    refuse_a_spreadsheet,
    sniff,
    tables,
)
from churn.batch.parallel import ordered_map
from churn.batch.rows import LogSpec, RowsSpec, line_maker, row_scorer
from churn.core.customer_files import InvalidRow
from churn.core.explain import ExplainRequestError, explain, requested_top
from churn.core.prediction import result
from churn.core.prediction_log import LogError, id_key
from churn.core.schema import InvalidCustomer
from churn.core.scorer import Scorer, Scores

_PROGRESS_SECONDS = 0.2
RESULTS_PER_PIECE = 256  # rows scored and written at once: a few tens of KiB, however large the file
# Below this, a file is scored in this process: starting the others (each imports the model's code,
# and for Parquet, Arrow) costs more than they would save.
SMALL_INPUT_BYTES = 4 << 20


class Counts:
    """How many customers a run has scored, and skipped as invalid."""

    scored = skipped = 0


class Choices:
    """A run's choices from its options and its model: explanations, the output's format, the jobs."""

    def __init__(self, model, args, cpus):
        self.model, self.args, self.cpus = model, args, cpus
        self.explain_top = _explain_top(args, model)
        self.output_format = args.format or OUTPUT_EXTENSIONS.get(Path(args.output or "").suffix.lower())
        if self.output_format == PARQUET and not args.output:
            raise UsageError("Parquet is written to a file: name it with --output")
        if args.rejects and not args.skip_invalid:
            raise UsageError("--rejects names where --skip-invalid writes the rows it skips: give both")
        self.counts = Counts()
        self.log = LogSpec(uuid.uuid4().hex, _id_key()) if args.prediction_log else None
        if (args.cost is None) != (args.value is None):
            raise UsageError("--cost and --value go together: the cost of a discount, the value of a churner kept")
        self.campaign = args.budget is not None or args.cost is not None

    def jobs(self, size):
        """How many to score with: --jobs, else every CPU this process may use, but one for a small input."""
        if self.args.jobs:
            return self.args.jobs
        return 1 if size is not None and size < SMALL_INPUT_BYTES else max(1, int(self.cpus))


def run(model, args, outputs, cpus):
    """Score the input the options `args` name with `model`, writing to `outputs` (churn.batch.files.Outputs)
    with as many processes as `cpus` (the CPUs this process may use) when --jobs does not say; return
    the exit status."""
    choices = Choices(model, args, cpus)
    log_spool = outputs.prediction_log(model) if args.prediction_log else None
    stream, file_format, size = open_input(args.input)
    with stream:
        refuse_a_spreadsheet(stream)
        file_format = file_format or sniff(stream)
        if file_format == PARQUET:
            if args.input == "-":
                raise UsageError("Parquet is read from a file (its index is at its end), not from standard input")
            scored, fraction, unit = _parquet_pieces(choices, args.input, size)
        else:
            rows = customers_in(stream, file_format, model.schema)
            first = next(rows, None)
            second = next(rows, None) if first else None
            one_to_print = choices.output_format is None and not choices.campaign
            if file_format == "json" and first and second is None and one_to_print:
                return _print_one(choices, *first, outputs, log_spool)
            rows = itertools.chain([row for row in (first, second) if row], rows)
            spec = RowsSpec(model, choices.explain_top, choices.log)
            scored = ordered_map(row_scorer, spec, _pieces(rows, RESULTS_PER_PIECE), choices.jobs(size))
            fraction = (lambda rows: stream.buffer.tell() / size) if size else (lambda rows: None)
            unit = "line"
        progress, started = Progress(fraction), time.monotonic()
        rejects = Rejects(outputs.rejects(), unit) if args.skip_invalid else None
        results = results_of(scored, rejects, choices.counts, progress, unit, log_spool)
        if choices.campaign:
            results = [campaign(results, choices.counts, model, args)]
        output_format = choices.output_format or "csv"
        if output_format == PARQUET:
            ParquetOutput(outputs.binary(), model.version).write(results)
        else:
            TextOutput(outputs.text(), output_format, choices.explain_top).write(results)
    progress.finish()
    _report(choices.counts, time.monotonic() - started, outputs.rejects_name)
    return 0


def _print_one(choices, line, raw, outputs, log_spool):
    """One customer, printed as the book's script prints it."""
    model = choices.model
    try:
        row, customerid, probability = Scorer(model).one(raw)
    except InvalidCustomer as invalid:
        raise InvalidRow(f"line {line}: {invalid}") from None
    decision = probability >= model.threshold
    explanation = explain(model.explainer, row, choices.explain_top) if choices.explain_top else None
    if log_spool is not None:
        log_spool.writelines(line_maker(model, choices.log)(Scores([row], [customerid], [probability], [decision], [])))
    print_like_the_book(result(customerid, probability, decision, explanation), outputs.text())
    return 0


def _pieces(rows, size):
    """The rows in lists of `size`."""
    while piece := list(itertools.islice(rows, size)):
        yield piece


def results_of(scored_pieces, rejects, counts, progress, unit, log_spool):
    """The results of each scored piece (churn.batch.rows.Scored), in order, its rejects written to
    `rejects`, its prediction log lines to `log_spool` (or None); without `rejects`, the first invalid
    row raises InvalidRow naming it."""
    for scored in scored_pieces:
        if log_spool is not None:
            log_spool.writelines(scored.log_lines)
        if scored.rejects:
            if rejects is None:
                line, _, problem = scored.rejects[0]
                raise InvalidRow(f"{unit} {line}: {problem}")
            rejects.write(scored.rejects)
        counts.scored += len(scored.results)
        counts.skipped += len(scored.rejects)
        progress.update(counts.scored + counts.skipped)
        yield scored.results


def _parquet_pieces(choices, path, size):
    batches = tables()
    names, pieces, total_rows = batches.parquet_batches(path)
    batches.input_columns(choices.model, names)  # a missing column stops the run here, before any process starts
    spec = batches.BatchSpec(choices.model, tuple(names), choices.explain_top, choices.log)
    jobs = choices.jobs(size)
    batches.pa.set_cpu_count(jobs)  # Arrow's own threads (decoding, writing) count among the CPUs used too
    # Threads, not processes: Arrow and NumPy do the work without the GIL, and a batch sent to another
    # process and its results sent back cost more than scoring it (1.1 M rows/s on 2 processes, 2.3 M
    # on 2 threads, 1.8 M on one, in one run here). But explanations are written in Python, a row at
    # a time, and threads would take turns: with them, processes (183,000 rows/s on 2, 117,000 on 2
    # threads, 126,000 on one).
    scored = ordered_map(batches.batch_scorer, spec, pieces, jobs, threads=not choices.explain_top)
    return scored, (lambda rows: rows / total_rows if total_rows else None), "row"


class Progress:
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


def customers(count):
    """'1 customer', '7043 customers'."""
    return f"{count} customer{'' if count == 1 else 's'}"


def _report(counts, seconds, rejects_name):
    rate = counts.scored / seconds if seconds > 0 else float("inf")
    skipped = f", skipped {counts.skipped} invalid" if counts.skipped else ""
    if counts.skipped and rejects_name:
        skipped += f" (written to {rejects_name})"
    print(
        f"predict.py: scored {customers(counts.scored)} in {seconds:.2f} s ({rate:,.0f} rows/s){skipped}",
        file=sys.stderr,
    )
