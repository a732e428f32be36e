"""The model's inputs as training saw them, for watching live customers against them: each field's
distribution on the training split, and the score's on the test split, kept in the artifact
("reference"). Standard library only: train.py builds it, the service bins live customers with it
and compares the two with the population stability index (PSI).

A categorical field's bins are its allowed values; a numerical field's, and the score's, are cut at
the reference's deciles (ties merged), so that each holds about a tenth of the reference.
"""

import bisect
import math

from churn.core.messages import is_finite_number

FORMAT = 1
_DECILES = 10
MOST_BINS = 256  # the service keeps a customer's bin of a field in a byte
# A bin that one side leaves empty still counts, as if it held this share: the PSI stays finite.
_EMPTY_SHARE = 1e-4
# Practitioners' reading of a PSI (Siddiqi, "Credit Risk Scorecards", 2006; Yurdakul, 2018): below
# 0.1 the population is stable, from 0.25 it has shifted enough to act on.
WATCH_FROM, DRIFTED_FROM = 0.1, 0.25


class InvalidReference(ValueError):
    """The artifact's reference is not one the service can use; the message says why."""


def build_reference(training_customers, schema, test_probabilities, imputed=None):
    """The reference of prepared training customers (dicts of the model's fields) and the churn
    probabilities of the test split; a blank number (None) is counted as the number that stands for it
    (`imputed`: field -> number), as the service bins it."""
    imputed = imputed or {}
    features = {}
    for field, allowed in schema["categorical"].items():
        counts = [sum(customer[field] == value for customer in training_customers) for value in allowed]
        features[field] = {"values": list(allowed), "shares": _shares(counts)}
    for field in schema["numerical"]:
        stand_in = imputed.get(field)
        features[field] = _cut([float(_number(customer[field], stand_in)) for customer in training_customers])
        if stand_in is not None:
            features[field]["blank_as"] = stand_in  # the service bins a blank as this number too
    return {"format": FORMAT, "features": features, "score": _cut([float(p) for p in test_probabilities])}


def _number(value, imputed):
    return imputed if value is None else value


def _cut(numbers):
    """Bins at the deciles of `numbers` (ties merged): their inner edges, and each bin's share."""
    ordered = sorted(numbers)
    edges = sorted({ordered[len(ordered) * decile // _DECILES] for decile in range(1, _DECILES)})
    counts = [0] * (len(edges) + 1)
    for number in ordered:
        counts[bisect.bisect_left(edges, number)] += 1
    return {"edges": edges, "shares": _shares(counts)}


def _shares(counts):
    total = sum(counts)
    return [count / total if total else 0.0 for count in counts]


def bin_of(feature, value):
    """The bin of `value` in a feature's (or the score's) reference: a categorical value's position,
    else the bin its number falls in (a number equal to an edge is in the bin below it)."""
    if "values" in feature:
        return feature["values"].index(value)
    return bisect.bisect_left(feature["edges"], value)


def psi(reference_shares, live_counts):
    """The population stability index of live counts per bin against the reference's shares."""
    total = sum(live_counts)
    if not total:
        return None
    value = 0.0
    for expected, count in zip(reference_shares, live_counts, strict=True):
        expected, actual = max(expected, _EMPTY_SHARE), max(count / total, _EMPTY_SHARE)
        value += (actual - expected) * math.log(actual / expected)
    return value


def status(index):
    """ "stable", "watch" or "drifted" for a PSI (None: not enough customers yet to say)."""
    if index is None:
        return None
    return "drifted" if index >= DRIFTED_FROM else "watch" if index >= WATCH_FROM else "stable"


def checked_reference(document, schema):
    """An artifact's reference, checked against the model's schema; InvalidReference says what is wrong."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InvalidReference(f"reference must be an object of format {FORMAT}")
    features = document.get("features")
    if not isinstance(features, dict) or set(features) != set(schema.fields):
        raise InvalidReference("reference must describe every field of the model, and only those")
    for field, feature in features.items():
        _check_feature(field, feature, schema.categorical.get(field))
    _check_feature("score", document.get("score"), None)
    return document


def _check_feature(name, feature, allowed):
    if not isinstance(feature, dict) or not isinstance(feature.get("shares"), list):
        raise InvalidReference(f"reference of {name} must have shares")
    if allowed is not None:
        if feature.get("values") != list(allowed):
            raise InvalidReference(f"reference of {name} must give a share to each allowed value, in order")
        bins = len(allowed)
    else:
        edges = feature.get("edges")
        if not isinstance(edges, list) or not all(map(is_finite_number, edges)) or edges != sorted(edges):
            raise InvalidReference(f"reference of {name} must have finite edges in order")
        bins = len(edges) + 1
        if "blank_as" in feature and not is_finite_number(feature["blank_as"]):
            raise InvalidReference(f"reference of {name} must bin a blank as a finite number")
    if bins > MOST_BINS:
        raise InvalidReference(f"reference of {name} has {bins} bins: the service counts at most {MOST_BINS}")
    shares = feature["shares"]
    proper = all(is_finite_number(share) and 0 <= share <= 1 for share in shares)
    if len(shares) != bins or not proper or abs(math.fsum(shares) - 1) > 1e-9:
        raise InvalidReference(f"reference of {name} must have a share per bin, adding up to 1")
