"""MODEL_CARD.md: what the shipped model is, how good it is, and what it is for, and the charts it
embeds (churn/training/charts.py). Written by train.py.

Training-time only (numpy, matplotlib); the service serves the files, never imports this.
"""

import numpy as np

from churn.core.artifact import CARD_CHARTS, version_of
from churn.training.charts import calibration_svg, coefficients_svg, roc_svg

STRONGEST = 10
DECILES = 10
ROC_CHART, CALIBRATION_CHART, COEFFICIENTS_CHART = CARD_CHARTS


def model_card(result, artifact, data):
    """The card's Markdown. `data` describes the data set: path, sha256, rows, churners."""
    metadata, threshold = artifact["metadata"], artifact["threshold"]
    sections = [
        f"# Model card: churn, version {version_of(artifact['sha256'])}\n\n"
        f"Written by `train.py` on {metadata['trained_at']} with scikit-learn {metadata['sklearn_version']}, "
        f"next to the model it describes: `churn-model.json` (sha256 `{artifact['sha256']}`), which the "
        "service serves, and `churn-model.bin`, the same model as the book's pickle.",
        _data_section(result, data),
        _model_section(result, metadata["solver"]),
        _fields_section(result.schema, data["spec"]),
        _quality_section(result, threshold),
        _coefficients_section(artifact["weights"]),
        _use_and_limits(data["spec"], data["rows"]),
    ]
    return "\n\n".join(sections) + "\n"


def card_charts(result, artifact):
    """file name -> SVG of each chart the card embeds."""
    targets, predicted = np.array(result.test_targets), np.array(result.test_predictions)
    return {
        ROC_CHART: roc_svg(targets, predicted, result.test_auc),
        CALIBRATION_CHART: calibration_svg(deciles(targets, predicted)),
        COEFFICIENTS_CHART: coefficients_svg(_strongest(artifact["weights"])),
    }


def _data_section(result, data):
    return (
        "## Data\n\n"
        f"- {data['spec'].description}, sha256 `{data['sha256']}`.\n"
        f"- Target: `{result.target['column']}`, `{result.target['positive']}` meaning churn "
        f"(`{result.target['negative']}` not).\n"
        f"- {data['rows']:,} customers, of whom {data['churners']:,} churned ({data['churners'] / data['rows']:.1%}).\n"
        f"- Split as the book does, `train_test_split(test_size=0.2, random_state=1)`: {result.training_rows:,} "
        f"customers to train on, {result.test_rows:,} held out to test on. Every number below is on the held-out part."
    )


def _model_section(result, solver):
    return (
        "## Model\n\n"
        f'`DictVectorizer` + `LogisticRegression(solver="liblinear", C={result.C})`, '
        "as in the book's chapters 3-5, solved towards the optimum of its objective: "
        f"{solver['iterations']} liblinear iterations (`tol={solver['tol']:g}`), then {solver['newton_steps']} "
        f"Newton steps; the gradient is then {solver['relative_gradient']:.0e} of its size at zero. "
        "scikit-learn's default `tol=1e-4` stops liblinear short of the optimum, at a point that depends "
        "on the CPU; at the optimum the model is the same on any CPU."
        + ("" if solver["relative_gradient"] <= 1e-12 else _short_of_the_optimum())
        + "\n\n"
        f"- Categorical fields ({len(result.schema['categorical'])}): {', '.join(result.schema['categorical'])}.\n"
        f"- Numerical fields ({len(result.schema['numerical'])}): {', '.join(result.schema['numerical'])}.\n"
        f"- {len(result.dv.feature_names_)} features after one-hot encoding."
    )


def _short_of_the_optimum():
    return (
        " This table's fit stopped short of it (its numbers are large and unscaled, which leaves the "
        "objective flat along them): another CPU may give probabilities that differ in their last digits."
    )


def _share(part, whole):
    """part / whole to three places; "none" when there is no whole (no customer flagged)."""
    return f"{part / whole:.3f}" if whole else "none (no customer reaches it)"


def _quality_section(result, threshold):
    targets, predicted = np.array(result.test_targets), np.array(result.test_predictions)
    tp, fn, fp, tn = confusion(targets, predicted >= threshold)
    return (
        "## Quality on the held-out customers\n\n"
        f"- ROC AUC: **{result.test_auc:.3f}**.\n"
        f"- At the threshold {threshold} (`churn: true` when the probability reaches it): precision "
        f"{_share(tp, tp + fp)}, recall {_share(tp, tp + fn)}, accuracy {_share(tp + tn, len(targets))}.\n\n"
        + confusion_table(tp, fn, fp, tn)
        + "\n\n"
        f"![ROC curve of the held-out customers, AUC {result.test_auc:.3f}]({ROC_CHART})\n\n"
        "Calibration, by decile of predicted risk (lowest first): does a predicted 30 % mean 30 %?\n\n"
        f"![Observed churn against predicted probability, by decile]({CALIBRATION_CHART})\n\n"
        + calibration_table(deciles(targets, predicted))
    )


def confusion(targets, flagged):
    """(tp, fn, fp, tn): the customers flagged and not, against whether they churned (1) or not (0)."""
    tp, fp = int(np.sum(flagged & (targets == 1))), int(np.sum(flagged & (targets == 0)))
    fn, tn = int(np.sum(~flagged & (targets == 1))), int(np.sum(~flagged & (targets == 0)))
    return tp, fn, fp, tn


def confusion_table(tp, fn, fp, tn):
    """Who was flagged (predicted churn) against who churned, as a Markdown table."""
    return (
        "| | predicted churn | predicted no churn |\n|---|---:|---:|\n"
        f"| churned | {tp} | {fn} |\n| did not churn | {fp} | {tn} |"
    )


def deciles(targets, predicted):
    """(customers, mean predicted, observed churn) per decile of predicted risk, lowest first."""
    order = np.argsort(predicted, kind="stable")
    parts = np.array_split(order, DECILES)
    return [(len(part), float(predicted[part].mean()), float(targets[part].mean())) for part in parts]


def calibration_table(deciles):
    rows = ["| decile | customers | mean predicted | observed churn |", "|---:|---:|---:|---:|"]
    for number, (customers, predicted, observed) in enumerate(deciles, start=1):
        rows.append(f"| {number} | {customers} | {predicted:.3f} | {observed:.3f} |")
    return "\n".join(rows)


def _strongest(weights):
    """The STRONGEST (feature, weight) by size, largest first."""
    return sorted(weights.items(), key=lambda item: abs(item[1]), reverse=True)[:STRONGEST]


def _coefficients_section(weights):
    rows = "\n".join(f"| `{feature}` | {weight:+.3f} |" for feature, weight in _strongest(weights))
    return (
        f"## Strongest coefficients\n\nThe {STRONGEST} largest weights in log-odds (per unit for numbers). "
        "Why one customer gets their score: `POST /predict?explain=true`.\n\n"
        f"![The {STRONGEST} largest coefficients]({COEFFICIENTS_CHART})\n\n"
        f"| feature | weight |\n|---|---:|\n{rows}"
    )


def _fields_section(schema, spec):
    """Each field as the table names it and as the service reads it: kind, values, what a blank reads as."""
    rows = []
    for field in (*schema["categorical"], *schema["numerical"]):
        described = schema["fields"][field]
        values = schema["categorical"].get(field)
        kind = f"one of {len(values)}: {', '.join(described['value_labels'])}" if values else "number"
        rows.append(f"| `{field}` | {described['column']} | {described['label']} | {kind} | {_blank_text(described)} |")
    id_line = f"Customers are named by `{spec.id}` (sent as `customerid` or `{spec.id}`)." if spec.id else ""
    return (
        "## Fields\n\nWhat the service reads: field names ignore case, so the table's own column names work.\n"
        f"{id_line}\n\n| field | column | label | kind | a blank |\n|---|---|---|---|---|\n" + "\n".join(rows)
    )


def _blank_text(described):
    blank = described.get("blank")
    if blank is None:
        return "required"
    if isinstance(blank, dict):
        return f"reads as {blank['imputed']:g} plus its own weight"
    return "a value of its own" if blank == "" else f"reads as {blank:g}"


def _use_and_limits(spec, rows):
    notes = f"\n{spec.notes}" if spec.notes else ""
    return f"""## Intended use

Ranking existing customers by their risk of leaving, so that retention offers (the book's discount
e-mails) go to the riskiest first. `churn_probability` is the score; `churn` only marks whether it
reaches the threshold.

## Known limits

- One table: {rows:,} customers of one business, at one point in time. Customers of another business,
  or of this one years later, may behave differently: check before use.
- Values outside training are refused (unknown categories), but numbers are not: numbers beyond
  those seen are extrapolated by a linear model.
- The threshold 0.5 is the book's, not tuned to the cost of an offer or of a lost customer; set
  `CHURN_THRESHOLD` for a campaign, using the table above.
- Explanations are exact for the model, not causal; inputs that describe people (gender, age) should
  be checked for unequal treatment of their groups.{notes}"""
