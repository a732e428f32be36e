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

The run itself is churn/batch/run.py; this script reads its options and the model (once), and says
what went wrong in one line.
"""

import argparse
import contextlib
import os
import sys

from churn.batch.files import PARQUET, Outputs, UsageError
from churn.batch.run import run
from churn.core.artifact import MODEL_PATH_HELP, ModelError, model_path
from churn.core.customer_files import InputError, InvalidRow
from churn.core.explain import ALL, DEFAULT_TOP
from churn.core.model import load_model
from churn.core.not_text import not_utf8_problem
from churn.core.options import EXIT_INTERRUPTED, number, whole_number_from_1
from churn.core.output_formats import FORMAT_NAMED
from churn.server.cpus import usable_cpus

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
    parser.add_argument("--model", default=str(model_path()), help=MODEL_PATH_HELP)
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
        model = load_model(args.model)
        with contextlib.ExitStack() as stack:
            return run(model, args, Outputs(stack, args.output, args.rejects, args.prediction_log), usable_cpus())
    except InputError as error:
        skippable = isinstance(error, InvalidRow) and not args.skip_invalid
        hint = " (--skip-invalid scores the other rows)" if skippable else ""
        print(f"predict.py: {args.input}: {error}{hint}", file=sys.stderr)
        return 1
    except UnicodeDecodeError as error:  # read as it is scored: no line to name
        print(f"predict.py: {args.input}: {not_utf8_problem(error, 'the file')}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        files = [path for path in (args.output, args.rejects, args.prediction_log) if path]
        unwritten = f": nothing written to {', '.join(files)}" if files else ""
        print(f"predict.py: interrupted{unwritten}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, ModelError, UsageError) as error:
        print(f"predict.py: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
