"""The model card's charts as SVG: the ROC curve, the calibration curve and the largest coefficients.

Training-time only (matplotlib, scikit-learn); the service serves the files train.py writes. The
SVG is the same for the same numbers: no date in it, and ids from a fixed salt. Text stays text,
so the charts are small and their words can be read and searched.
"""

import functools
import io

import matplotlib
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

RAISES, LOWERS = "#b3261e", "#1f5fa8"  # the colours of the page's explanation bars
# No mathtext: a value such as "$60k - $80k" is text, not a formula.
_SVG_SETTINGS = {"svg.hashsalt": "churn-model-card", "svg.fonttype": "none", "font.size": 9, "text.parse_math": False}


def _chart(draw):
    """Draw, and save as SVG, with the charts' settings (never matplotlib's global ones)."""

    @functools.wraps(draw)
    def chart(*args):
        with matplotlib.rc_context(_SVG_SETTINGS):
            return draw(*args)

    return chart


@_chart
def roc_svg(targets, predictions, auc, customers="held-out customers"):
    """The ROC curve of the `customers` (what they are), with its AUC."""
    false_positive_rate, true_positive_rate, _ = roc_curve(targets, predictions)
    figure, axes = _figure(f"ROC curve on the {len(targets):,} {customers}")
    axes.plot([0, 1], [0, 1], linestyle="--", color="#888888", linewidth=1, label="chance (AUC 0.5)")
    axes.plot(false_positive_rate, true_positive_rate, color=LOWERS, linewidth=2, label=f"this model (AUC {auc:.3f})")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1))
    axes.legend(loc="lower right")
    return _svg(figure)


@_chart
def calibration_svg(deciles):
    """Observed churn against the mean predicted probability, per decile of predicted risk
    (`deciles`: (customers, mean predicted, observed churn) each)."""
    predicted, observed = [decile[1] for decile in deciles], [decile[2] for decile in deciles]
    figure, axes = _figure("Calibration by decile of predicted risk")
    axes.plot([0, 1], [0, 1], linestyle="--", color="#888888", linewidth=1, label="perfect calibration")
    axes.plot(predicted, observed, marker="o", color=LOWERS, linewidth=2, label="this model")
    axes.set(xlabel="mean predicted probability", ylabel="observed churn rate", xlim=(0, 1), ylim=(0, 1))
    axes.legend(loc="upper left")
    return _svg(figure)


@_chart
def coefficients_svg(strongest):
    """The largest weights in log-odds (`strongest`: (feature, weight), largest first)."""
    features, weights = [item[0] for item in reversed(strongest)], [item[1] for item in reversed(strongest)]
    figure, axes = _figure(f"The {len(strongest)} largest coefficients, in log-odds", height=0.3 * len(strongest) + 1)
    axes.barh(features, weights, color=[RAISES if weight > 0 else LOWERS for weight in weights])
    axes.axvline(0, color="#333333", linewidth=0.8)
    axes.set(xlabel="log-odds (per unit for numbers)\nred raises the risk, blue lowers it")
    return _svg(figure)


def _figure(title, height=3.6):
    figure = Figure(figsize=(5.6, height), layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.grid(True, color="#e0e0e0", linewidth=0.6)
    axes.set_axisbelow(True)  # the grid behind the bars and lines
    return figure, axes


def _svg(figure):
    output = io.BytesIO()
    with matplotlib.rc_context(_SVG_SETTINGS):
        figure.savefig(output, format="svg", metadata={"Date": None})
    return output.getvalue()
