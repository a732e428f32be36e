"""Did it work? The model's realized quality on the customers it scored, once their outcomes are known,
beside the model card's test-split figures.

    python evaluate.py predictions.jsonl --outcomes outcomes.csv --report evaluation/report.md

Reads prediction logs (the service's PREDICTION_LOG, predict.py --prediction-log), or files predict.py
scored, and an outcomes CSV (customerid, churned, observed_at); joins them (churn/evaluation/joined.py:
each customer's last prediction at or before their outcome); writes a Markdown report with the model
card's charts beside it, and prints the verdict.

Exit status, for a scheduled job to alert on:
    0  the realized ROC AUC is within the tolerance of the test split's (or above --min-auc)
    1  it is below: the model ranks customers worse than it did when it was trained
    2  an input or option cannot be used (the message says which)
    3  too few customers to judge (fewer than --min-customers, or all with one outcome)

The tolerance (default 0.05): the test split's AUC has a standard error of 0.013 (Hanley and McNeil:
348 churners, 1,061 not), and its difference from an AUC realized on as many customers one of about
0.019; a drop of 0.05 is over 2.5 of those, which chance gives under 1 % of the time, while smaller
drops it often gives. docs/evaluation.md says more.

Needs NumPy, scikit-learn and matplotlib (requirements-evaluate.txt); pyarrow for Parquet.
"""

import argparse
import datetime
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from churn.core.artifact import MODEL_PATH_HELP, ModelError, model_path
from churn.core.model import load_model
from churn.core.options import EXIT_INTERRUPTED, number, whole_number_from_1
from churn.core.output_folder import written_whole
from churn.core.prediction import churns
from churn.core.prediction_log import LogError, id_key

DEFAULT_TOLERANCE = 0.05
DEFAULT_MIN_CUSTOMERS = 200
DEFAULT_TOP_SHARE = 0.1
EXIT_OK, EXIT_BELOW, EXIT_USAGE, EXIT_TOO_FEW = 0, 1, 2, 3
_NEEDS = (
    "evaluate.py needs NumPy, scikit-learn and matplotlib: pip install --require-hashes -r requirements-evaluate.txt"
)


@dataclass(frozen=True)
class Verdict:
    status: int
    text: str


def main(argv=None):
    """Evaluate, write the report, print the verdict; return the exit status."""
    args = parse_args(argv)
    try:
        from churn.evaluation import joined, quality, report  # noqa: PLC0415 (the message below, not a traceback)
    except ImportError as error:
        print(f"evaluate.py: error: {_NEEDS} ({error})", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _evaluate(args, joined, quality, report)
    except (joined.EvaluationError, ModelError, LogError, OSError) as error:
        print(f"evaluate.py: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"evaluate.py: interrupted: {args.report} left as it was", file=sys.stderr)
        return EXIT_INTERRUPTED


def _evaluate(args, joined, quality, report):
    model = load_model(args.model)
    predictions = joined.read_predictions(args.predictions)
    key = id_key(os.environ) if predictions.hashed else None
    if predictions.hashed and key is None:
        raise LogError("the log holds hashed customer ids: set PREDICTION_LOG_ID_KEY to the key the service used")
    together = joined.join(predictions, joined.read_outcomes(args.outcomes, key, joined.Table.of(model)))
    customers = len(together.churned)
    k = args.top_k or max(1, round(DEFAULT_TOP_SHARE * customers))
    realized = quality.quality(together.probabilities, together.decisions, together.churned, min(k, customers))
    card = _card_quality(model, quality, k / customers if customers else DEFAULT_TOP_SHARE)
    verdict = judge(realized, card, args)
    charts = report.charts(together, realized) if customers else {}
    context = {
        "model_version": model.version,
        "made_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "predictions_files": args.predictions,
        "outcomes_file": args.outcomes,
        "predictions": predictions,
        "joined": together,
        "k": {"realized": min(k, customers), "share": min(k, customers) / customers if customers else 0.0},
    }
    _write(Path(args.report), report.report(context, realized, card, verdict, charts), charts)
    print(verdict.text.replace("**", ""))
    print(f"evaluate.py: report written to {args.report}")
    return verdict.status


def _card_quality(model, quality, share):
    """The test split's Quality, measured as the realized one is, its top k the same share; None
    for a model trained without one."""
    split = model.held_out
    if split is None:
        return None
    decisions = [churns(model, probability) for probability in split.probabilities]
    k = max(1, round(share * len(split.probabilities)))
    return quality.quality(split.probabilities, decisions, split.churned, k)


def judge(realized, card, args):
    """The Verdict: is the realized AUC within the tolerance of the test split's (or --min-auc)?"""
    if realized.customers < args.min_customers or realized.auc is None:
        return Verdict(EXIT_TOO_FEW, (
            f"**Too few to judge**: {realized.customers:,} customers evaluated, of whom {realized.churners:,} churned; "
            f"at least {args.min_customers:,} are needed, with both outcomes (--min-customers)."
        ))  # fmt: skip
    test_auc = card.auc if card else None
    floor = args.min_auc if args.min_auc is not None else (test_auc - args.auc_tolerance if test_auc else None)
    if floor is None:
        return Verdict(EXIT_OK, f"**Realized ROC AUC {realized.auc:.3f}**; the model has no test-split AUC to "
                                "compare with: give --min-auc to judge it.")  # fmt: skip
    against = f"the test split's {test_auc:.3f}" if test_auc is not None else "no test-split figure"
    rule = f"--min-auc {args.min_auc}" if args.min_auc is not None else f"tolerance {args.auc_tolerance}"
    if realized.auc < floor:
        return Verdict(EXIT_BELOW, (
            f"**Below: realized ROC AUC {realized.auc:.3f}** against {against}, under the floor {floor:.3f} "
            f"({rule}). The model ranks these customers worse than it did."
        ))  # fmt: skip
    return Verdict(EXIT_OK, (
        f"**Within: realized ROC AUC {realized.auc:.3f}** against {against}, at or above the floor {floor:.3f} "
        f"({rule})."
    ))  # fmt: skip


def _write(path, markdown, charts):
    """The report and its charts, all of them or none (Ctrl-C, a full disk), beside the folder's other files."""
    with written_whole(path.parent) as staging:
        for name, svg in charts.items():
            (staging / name).write_bytes(svg)
        (staging / path.name).write_text(markdown, encoding="utf-8")


_SHARE = number(lambda value: 0 <= value <= 1, "a number from 0 to 1")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("predictions", nargs="+", help="prediction logs, or files predict.py scored")
    parser.add_argument("--outcomes", required=True, help="CSV: customerid, churned (yes/no), observed_at (optional)")
    report = "the Markdown report (default evaluation/report.md); its charts go beside it"
    parser.add_argument("--report", default="evaluation/report.md", help=report)
    parser.add_argument("--model", default=str(model_path()), help=MODEL_PATH_HELP)
    parser.add_argument(
        "--top-k",
        type=whole_number_from_1,
        # %%: argparse formats help strings with %
        help=f"the riskiest k to judge (default: the riskiest {DEFAULT_TOP_SHARE * 100:.0f}%%)",
    )
    parser.add_argument(
        "--auc-tolerance",
        type=_SHARE,
        default=DEFAULT_TOLERANCE,
        help=f"how far below the test split's AUC is still within (default {DEFAULT_TOLERANCE})",
    )
    parser.add_argument(
        "--min-auc", type=_SHARE, help="judge against this AUC instead of the test split's less the tolerance"
    )
    parser.add_argument(
        "--min-customers",
        type=whole_number_from_1,
        default=DEFAULT_MIN_CUSTOMERS,
        help=f"fewer customers evaluated than this are too few to judge (default {DEFAULT_MIN_CUSTOMERS})",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
