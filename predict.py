"""Score customers from a file, offline, with the service's own preparation, validation and scoring.

    python predict.py customer.json                    # one customer: prints like the book's script
    python predict.py customers.csv > scores.csv       # the raw Telco CSV as published, or ours
    python predict.py customers.jsonl --format jsonl --explain
    cat customers.json | python predict.py -           # stdin: JSON object, array, JSON lines or CSV

Writes CSV (customerid, churn_probability, churn), a JSON array or JSON lines (--format) to stdout,
or to --output (written whole or not at all), reading and writing one customer at a time, so memory
stays the same however large the input. A bad row stops the run with its line number and what is
wrong (exit status 1); --skip-invalid scores the rest and counts what it skipped.
"""

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

from churn.core.artifact import DEFAULT_MODEL_PATH, ModelError
from churn.core.customer_files import InputError, csv_customers, json_customers
from churn.core.explain import ALL, DEFAULT_TOP, ExplainRequestError, requested_top
from churn.core.model import load_model
from churn.core.output_formats import FORMAT_NAMED
from churn.core.prediction import predictions
from churn.core.schema import InvalidCustomer, validate_customer

_PROGRESS_SECONDS = 0.2
RESULTS_PER_PIECE = 256  # written at once: a few tens of KiB, however large the file
_EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json"}


class UsageError(Exception):
    """An option the model at hand cannot take; the message says which and why."""


# --- reading --------------------------------------------------------------------------------------


def open_input(source):
    """A text stream of `source` ('-' for stdin), its format ('csv' or 'json'), and its size or None."""
    if source == "-":
        stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
        return stream, None, None
    path = Path(source)
    stream = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed by main)
    return stream, _EXTENSIONS.get(path.suffix.lower()), path.stat().st_size


def sniff(stream):
    """'json' when the stream starts with { or [, else 'csv'; reads nothing from it."""
    head = stream.buffer.peek(64).decode("utf-8", "replace")
    return "json" if head.lstrip("\ufeff \t\r\n")[:1] in ("{", "[") else "csv"


def customers_in(stream, file_format, columns):
    """(line, raw customer) from the stream; a CSV header must name `columns`."""
    return json_customers(stream) if file_format == "json" else csv_customers(stream, columns)


# --- writing --------------------------------------------------------------------------------------


def print_like_the_book(result, out):
    """The book's script: the probability and the verdict (and why, when explained)."""
    out.write(f"prediction: {result['churn_probability']:.3f}\n")
    out.write(f"verdict: {'Churn' if result['churn'] else 'Not churn'}\n")
    for factor in result.get("explanation", {}).get("factors", []):
        out.write(f"because: {factor['text']}\n")


# --- the run --------------------------------------------------------------------------------------


class _Progress:
    """A one-line progress report on stderr, only when stderr is a terminal."""

    def __init__(self, stream, size):
        self.stream, self.size, self.shown_at = stream, size, 0.0
        self.enabled = sys.stderr.isatty()

    def update(self, rows):
        """Show how far the run is, at most every _PROGRESS_SECONDS."""
        now = time.monotonic()
        if not self.enabled or now - self.shown_at < _PROGRESS_SECONDS:
            return
        self.shown_at = now
        done = ""
        if self.size and hasattr(self.stream, "buffer"):
            done = f" ({min(100, self.stream.buffer.tell() * 100 // self.size)} %)"
        sys.stderr.write(f"\rscoring: {rows} customers{done}")
        sys.stderr.flush()

    def finish(self):
        """Clear the progress line."""
        if self.enabled:
            sys.stderr.write("\r\033[K")


class _Counts:
    """How many customers a run has scored, and skipped as invalid."""

    scored = skipped = 0


def score_stream(model, rows, explain_top, skip_invalid, progress, counts):
    """Validate and score each customer, yielding their results in lists of RESULTS_PER_PIECE, as
    OutputFormat.pieces takes them; counts what it scored and skipped. Raises InputError for an
    invalid customer, unless skip_invalid."""
    results = []
    for line, raw in rows:
        try:
            customer = _validate_or_raise(model, line, raw)
        except InputError as error:
            if not skip_invalid:
                raise
            print(f"predict.py: skipped {error}", file=sys.stderr)
            counts.skipped += 1
            continue
        results.append(predictions(model, [customer], explain_top)[0])
        counts.scored += 1
        progress.update(counts.scored + counts.skipped)
        if len(results) == RESULTS_PER_PIECE:
            yield results
            results = []
    yield results


def run(args, out):
    """Score the input; return the exit status."""
    model = load_model(args.model)
    explain_top = _explain_top(args, model)
    stream, file_format, size = open_input(args.input)
    with stream:
        file_format = file_format or sniff(stream)
        rows = customers_in(stream, file_format, model.schema.fields)
        first = next(rows, None)
        second = next(rows, None) if first else None
        if file_format == "json" and first and second is None and args.format is None:
            customer = _validate_or_raise(model, *first)
            print_like_the_book(predictions(model, [customer], explain_top)[0], out)
            return 0
        rows = _chain([row for row in (first, second) if row], rows)
        progress, started = _Progress(stream, size), time.monotonic()
        counts = _Counts()
        results = score_stream(model, rows, explain_top, args.skip_invalid, progress, counts)
        for piece in FORMAT_NAMED[args.format or "csv"].pieces(results, explain_top):
            out.write(piece)
    progress.finish()
    _report(counts.scored, counts.skipped, time.monotonic() - started)
    return 0


def _explain_top(args, model):
    """How many factors each explanation gives; None without --explain."""
    try:
        return requested_top(args.explain, args.top, model)
    except ExplainRequestError as error:
        raise UsageError(f"--{error}" if error.option else f"--explain: {args.model}: {error}") from None


def _validate_or_raise(model, line, raw):
    try:
        return validate_customer(raw, model.schema)
    except InvalidCustomer as invalid:
        raise InputError(f"line {line}: {invalid}") from None


def _chain(first_rows, rest):
    yield from first_rows
    yield from rest


def _report(scored, skipped, seconds):
    rate = scored / seconds if seconds > 0 else float("inf")
    skipped_text = f", skipped {skipped} invalid" if skipped else ""
    print(
        f"predict.py: scored {scored} customers in {seconds:.2f} s ({rate:,.0f} rows/s){skipped_text}", file=sys.stderr
    )


def parse_args(argv):
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="a .csv, .json or .jsonl file, or - for standard input")
    parser.add_argument("--format", choices=list(FORMAT_NAMED), help="output format (default csv)")
    parser.add_argument("--explain", action="store_true", help="add why: the largest contributions")
    parser.add_argument("--top", default=str(DEFAULT_TOP), help=f"factors per explanation, or {ALL} (default 3)")
    parser.add_argument("--skip-invalid", action="store_true", help="skip bad rows instead of stopping")
    parser.add_argument("--model", default=DEFAULT_MODEL_PATH, help="the model (default model/churn-model.json)")
    parser.add_argument("--output", help="write here instead of standard output")
    return parser.parse_args(argv)


def main(argv=None):
    """Score the input the command line names; return the exit status."""
    args = parse_args(argv)
    try:
        with _whole_or_nothing(args.output) if args.output else _stdout() as out:
            return run(args, out)
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


@contextlib.contextmanager
def _whole_or_nothing(path):
    """The output file, written to a temporary file beside it and renamed over it only when the run
    succeeds: a bad row, an interrupt or a full disk leaves no partial file, and an earlier one intact."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.resolve().parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with open(handle, "w", encoding="utf-8", newline="") as out:
            yield out
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's 0600, as open() would have made it
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _stdout():
    return open(sys.stdout.fileno(), "w", encoding="utf-8", newline="", closefd=False)  # noqa: SIM115


if __name__ == "__main__":
    sys.exit(main())
