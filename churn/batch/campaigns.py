"""predict.py's campaigns by budget: the customers to contact, riskiest first, and on standard error
what the campaign should reach and what its share of the model's test split reached
(churn.core.campaign). Standard library only, but for results that come as Arrow batches."""

import sys

from churn.batch.files import UsageError, tables
from churn.core.campaign import at_top_fraction, expected_churners, riskiest, worth_contacting
from churn.core.prediction import PROBABILITY, Results
from churn.core.schema import ID_FIELD


def campaign(result_pieces, counts, model, args):
    """The Results of the customers a campaign contacts, riskiest first, its summary written to stderr;
    `counts`: the run's (churn.batch.run.Counts), complete once the pieces are read."""
    results = (result for piece in result_pieces for result in _dicts(piece))
    if args.cost is not None:
        results = (result for result in results if worth_contacting(result[PROBABILITY], args.cost, args.value))
    contacted = riskiest(_with_ids(results), args.budget, lambda result: result[PROBABILITY])
    for line in summary(contacted, counts.scored, model, args):
        print(f"predict.py: campaign: {line}", file=sys.stderr)
    return Results.of(contacted)


def summary(contacted, customers, model, args):
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
        # The churners expected to 2 decimals and the value to a whole unit, said to be about it: the
        # sum worked from the figures shown comes out within rounding of the value shown.
        net = expected * args.value - len(contacted) * args.cost
        lines.append(
            f"expected value: about {net:,.0f} ({expected:,.2f} churners kept x {args.value:g}"
            f" - {len(contacted):,} discounts x {args.cost:g})"
        )
    lines.append(_on_the_test_split(model.held_out, share))
    return lines


def _on_the_test_split(split, share):
    if split is None:
        return "the model has no test split to compare with (retrain it with train.py)"
    ranked = split.churned_by_rank
    top = at_top_fraction(ranked, share)
    precision = "-" if top.precision is None else f"{top.precision:.3f}"
    return (
        f"on the test split, its riskiest {share:.1%} ({top.contacted:,} of {len(ranked):,}) reached precision "
        f"{precision} ({top.churners:,} churners) and recall {top.recall:.3f} (of {top.all_churners:,})"
    )


def _dicts(piece):
    return (piece if isinstance(piece, Results) else tables().results_of(piece)).dicts()


def _with_ids(results):
    for result in results:
        if result.get(ID_FIELD) is None:
            raise UsageError("a campaign lists customers by customerid, and the input's customers have none")
        yield result
