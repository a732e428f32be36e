"""How the service counts customers for drift: every customer binned at a modest rate, a weighted
systematic sample above it, and the window of the last hour taken from shared snapshots."""

import math
import time

import pytest

from churn.core.features import FIELDS
from churn.core.model import score
from churn.core.reference import bin_of, psi
from churn.http.drift import BINNED_PER_SECOND, EPOCH_SECONDS, BinCounts, Bins, Window


@pytest.fixture(scope="module")
def bins(model):
    return Bins(model.reference, first_index=0, row_fields=model.row_fields)


def _through_turns(counts, rows, probabilities):
    """What the service does for each customer it scores: bin its row, in its turn."""
    for row, probability in zip(rows, probabilities, strict=True):
        if next(counts.turns):
            counts.count(row, probability)


def _feature_counts(row, bins, name):
    start = bins.at[name]
    return row[start : start + len(bins.features[name]["shares"])]


def test_below_the_rate_every_customer_is_binned_exactly(bins, model, customers):
    inputs = [{field: customer[field] for field in FIELDS} for customer in customers[:BINNED_PER_SECOND]]
    probabilities = score(model, inputs)
    counts, row = BinCounts(bins, now=0.0), [0.0] * bins.end
    _through_turns(counts, [model.row(c) for c in inputs], probabilities)
    counts.flush(row, now=1.0)
    for name, feature in model.reference["features"].items():
        exact = [0] * len(feature["shares"])
        for customer in inputs:
            exact[bin_of(feature, customer[name])] += 1
        assert _feature_counts(row, bins, name) == exact, name
    exact_scores = [0] * len(model.reference["score"]["shares"])
    for probability in probabilities:
        exact_scores[bin_of(model.reference["score"], probability)] += 1
    assert _feature_counts(row, bins, "score") == exact_scores
    assert counts.step == 1


def test_above_the_rate_a_sample_stands_for_every_customer_and_the_rate_falling_ends_it(bins, model, customers):
    inputs = [{field: customer[field] for field in FIELDS} for customer in customers[:6000]]
    probabilities = score(model, inputs)
    counts, row = BinCounts(bins, now=0.0), [0.0] * bins.end
    _through_turns(counts, [model.row(c) for c in inputs[:3000]], probabilities[:3000])
    counts.flush(row, now=1.0)  # 3,000 in a second: one in three from now on
    assert counts.step == math.ceil(3000 / BINNED_PER_SECOND)
    _through_turns(counts, [model.row(c) for c in inputs[3000:]], probabilities[3000:])
    assert len(counts.scores) == 3000 // counts.step
    counts.flush(row, now=2.0)
    for name, feature in model.reference["features"].items():
        counted = _feature_counts(row, bins, name)
        assert sum(counted) == 6000, name
        exact = [0] * len(feature["shares"])
        for customer in inputs:
            exact[bin_of(feature, customer[name])] += 1
        assert psi([count / 6000 for count in exact], counted) < 0.01, name
    _through_turns(counts, [model.row(c) for c in inputs[:500]], probabilities[:500])
    counts.flush(row, now=4.0)  # 250 a second
    assert counts.step == 1


def test_the_window_is_the_last_hour_from_the_snapshots_noted_each_epoch():
    start = (int(time.time() // EPOCH_SECONDS) + 10_000) * EPOCH_SECONDS  # epochs no other snapshot holds
    window = Window(2)
    window.note([0.0, 0.0], now=start)
    window.note([10.0, 1.0], now=start + EPOCH_SECONDS)
    window.note([99.0, 9.0], now=start + EPOCH_SECONDS + 1)  # the epoch has its snapshot already
    assert window.counts([30.0, 5.0], now=start + 30 * 60) == [30.0, 5.0]
    assert window.counts([30.0, 5.0], now=start + 3600) == [20.0, 4.0]  # the first epoch has left the hour
