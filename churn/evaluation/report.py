"""evaluate.py's report: the realized quality beside the model card's test-split figures, in Markdown,
with the model card's charts (churn/training/charts.py) of the realized customers."""

from churn.core.artifact import CARD_CHARTS
from churn.training.charts import calibration_svg, roc_svg
from churn.training.model_card import calibration_table, confusion_table

ROC_CHART, CALIBRATION_CHART, _ = CARD_CHARTS


def charts(joined, realized):
    """file name -> SVG of the realized customers' ROC curve (when both outcomes occur) and calibration."""
    files = {}
    if realized.auc is not None:
        files[ROC_CHART] = roc_svg(joined.churned, joined.probabilities, realized.auc, "customers scored and observed")
    if realized.deciles:
        files[CALIBRATION_CHART] = calibration_svg(realized.deciles)
    return files


def report(context, realized, card, verdict, chart_names):
    """The report's Markdown. `context`: the model's version, the files read, when, the counts of
    predictions and outcomes (churn.evaluation.joined); `card`: the test split's Quality, or None."""
    sections = [
        f"# Realized quality of the churn model {context['model_version']}\n\n"
        f"Made by `evaluate.py` on {context['made_at']} from {_files(context['predictions_files'])} "
        f"and the outcomes in `{context['outcomes_file']}`.",
        f"## Verdict\n\n{verdict.text}",
        _accounting(context),
        _quality_table(realized, card, context["k"]),
        _threshold_section(realized, card),
        _charts_and_calibration(realized, card, chart_names),
        _meaning(),
    ]
    return "\n\n".join(sections) + "\n"


def _files(paths):
    return ", ".join(f"`{path}`" for path in paths)


def _accounting(context):
    joined, predictions = context["joined"], context["predictions"]
    lines = [
        "## Customers",
        "",
        f"- {predictions.read:,} predictions read, of {len(predictions.by_customer):,} customers.",
        f"- **{len(joined.churned):,} customers evaluated**: each by the last prediction made at or before "
        "their outcome was observed.",
        f"- {joined.scored_again:,} earlier predictions of customers scored more than once were not used.",
        f"- {joined.after_outcome:,} predictions made after the customer's outcome was observed were not used.",
        f"- {joined.awaiting_outcome:,} customers scored have no outcome yet: they wait for a later evaluation.",
        f"- {joined.never_scored:,} customers with an outcome were never scored before it.",
    ]
    if predictions.without_id:
        lines.append(
            f"- {predictions.without_id:,} predictions of customers sent without a customerid cannot be joined."
        )
    if predictions.unreadable:
        lines.append(
            f"- {predictions.unreadable:,} prediction log lines were cut short (a crash or a rotation): skipped."
        )
    if predictions.other_lines:
        lines.append(
            f"- {predictions.other_lines:,} other lines of the logs (access log, server messages) were skipped."
        )
    if joined.versions and (len(joined.versions) > 1 or context["model_version"] not in joined.versions):
        versions = ", ".join(
            f"{version or 'unknown'}: {count:,}" for version, count in sorted(joined.versions.items(), key=str)
        )
        lines.append(f"- Model versions of the predictions evaluated (customers): {versions}. The card compared is "
                     f"{context['model_version']}'s.")  # fmt: skip
    return "\n".join(lines)


def _quality_table(realized, card, k):
    rows = [
        ("customers", _count(realized.customers), card and _count(card.customers)),
        ("churned", _share(realized.churn_rate), card and _share(card.churn_rate)),
        ("ROC AUC", _number(realized.auc), card and _number(card.auc)),
        ("Brier score (lower is better)", _number(realized.brier), card and _number(card.brier)),
        ("log loss (lower is better)", _number(realized.log_loss), card and _number(card.log_loss)),
        ("at the threshold: customers flagged", _count(realized.at_threshold.contacted),
         card and _count(card.at_threshold.contacted)),
        ("at the threshold: precision", _number(realized.at_threshold.precision),
         card and _number(card.at_threshold.precision)),
        ("at the threshold: recall", _number(realized.at_threshold.recall), card and _number(card.at_threshold.recall)),
        ("at the threshold: lift", _number(realized.at_threshold.lift), card and _number(card.at_threshold.lift)),
        ("accuracy", _number(realized.accuracy), card and _number(card.accuracy)),
        (f"top {k['realized']:,} ({k['share']:.1%}): precision", _number(realized.top_k.precision),
         card and _number(card.top_k.precision)),
        ("top k: recall", _number(realized.top_k.recall), card and _number(card.top_k.recall)),
        ("top k: lift", _number(realized.top_k.lift), card and _number(card.top_k.lift)),
    ]  # fmt: skip
    header = "| | realized | model card (test split) |\n|---|---:|---:|"
    body = "\n".join(f"| {name} | {mine} | {theirs or '—'} |" for name, mine, theirs in rows)
    card_k = f" (the card's column: its riskiest {card.top_k.contacted:,}, the same share)" if card else ""
    return f"## Quality\n\n{header}\n{body}\n\nTop k: the {k['realized']:,} riskiest customers evaluated{card_k}."


def _threshold_section(realized, card):
    text = (
        "## At the threshold\n\nWho the service flagged (`churn: true`) against who churned, realized:\n\n"
        + confusion_table(*realized.confusion)
    )
    if card:
        text += "\n\nOn the test split (the model card's):\n\n" + confusion_table(*card.confusion)
    return text


def _charts_and_calibration(realized, card, chart_names):
    parts = ["## Charts and calibration"]
    if ROC_CHART in chart_names:
        parts.append(f"![ROC curve of the customers evaluated, AUC {realized.auc:.3f}]({ROC_CHART})")
    if CALIBRATION_CHART in chart_names:
        parts.append(f"![Observed churn against predicted probability, by decile]({CALIBRATION_CHART})")
    if realized.deciles:
        parts.append(
            "Calibration, by decile of predicted risk (lowest first), realized:\n\n"
            + calibration_table(realized.deciles)
        )
    else:
        parts.append("Too few customers evaluated (under 10) for deciles.")
    if card and card.deciles:
        parts.append("On the test split (the model card's):\n\n" + calibration_table(card.deciles))
    return "\n\n".join(parts)


def _meaning():
    return """## What the numbers mean

- **ROC AUC**: the chance that a customer who churned was given a higher probability than one who
  did not. 0.5 is a coin; the test split's is what the model did before it was deployed. It judges
  the ranking only, which is what a campaign by budget uses.
- **Brier score**: the mean squared gap between the probability and the outcome (0 or 1): lower is
  better; it judges the probabilities themselves. **Log loss** does too, and punishes a confident
  mistake (0.99 for a customer who stayed) much more.
- **Calibration**: in each tenth of the customers by predicted risk, the mean probability against
  the share who churned. Far apart, the probabilities no longer mean what they say, even if the
  ranking (AUC) still holds: the expected churners of a campaign will be off.
- **Precision** of a group contacted: the share of it who churned. **Recall**: the share of all
  churners it reached. **Lift**: precision over the churn rate of everyone evaluated: how many
  times likelier a contacted customer churns than one picked at random.
- The discounts change what happens: a customer who was mailed a discount and stayed may have
  stayed because of it. Realized precision of the customers contacted is a lower bound of the
  model's, unless a random part of them was held back from the campaign."""


def _number(value):
    return "—" if value is None else f"{value:.3f}"


def _share(value):
    return "—" if value is None else f"{value:.1%}"


def _count(value):
    return f"{value:,}"
