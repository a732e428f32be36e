"""The churn model applied to columns of validated customers at once, with NumPy: the same artifact
and the same arithmetic as churn.core.model.score, in the same order, so that the probabilities are
equal to the per-row scorer's (a property test holds them to 1e-12). A categorical column's weights
are looked up in C (map over the model's dict); numbers are added as float64 columns."""

import numpy as np

from churn.core.schema import MISSING, checked_value


def logits(model, columns):
    """The log-odds of churn of each row of `columns` (field -> a sequence of validated values, all of
    one length): the intercept, then each categorical field's weight, then each number times its
    weight, added in churn.core.model.logit's order."""
    rows = _length(columns)
    total = np.full(rows, model.intercept, dtype=np.float64)
    for field, weights in model.categorical_weights.items():
        total += _categorical_weights(columns[field], weights)
    for field, weight in model.numerical_weights.items():
        total += np.asarray(columns[field], dtype=np.float64) * weight
    return total


def probabilities(model, columns):
    """The churn probability of each row of `columns`, as churn.core.model.score gives it."""
    return sigmoid(logits(model, columns))


def sigmoid(z):
    """1 / (1 + e^-z), in the two forms churn.core.model._sigmoid uses (no overflow for large |z|)."""
    positive = z >= 0
    exp = np.exp(np.where(positive, -z, z))
    return np.where(positive, 1.0 / (1.0 + exp), exp / (1.0 + exp))


def _categorical_weights(values, weights):
    return np.fromiter(map(weights.__getitem__, values), dtype=np.float64, count=len(values))


def _length(columns):
    lengths = {len(column) for column in columns.values()}
    if len(lengths) != 1:
        raise ValueError(f"the columns must be of one length, not {sorted(lengths)}")
    return lengths.pop()


def validated_columns(model, columns):
    """(the columns prepared as churn.core.schema.validate_customer prepares each row's values, the
    rows' errors as it gives them: row index -> [{"field", "message"}], the missing fields first).
    Each distinct value of a column is checked once, by schema.checked_value."""
    rows = _length(columns)
    missing = [{"field": rule.name, "message": MISSING} for rule in model.schema.rules if rule.name not in columns]
    errors = {row: list(missing) for row in range(rows)} if missing else {}
    prepared = {}
    for rule in model.schema.rules:
        if rule.name not in columns:
            continue
        checked = {raw: checked_value(rule, raw) for raw in dict.fromkeys(columns[rule.name])}
        prepared[rule.name] = [checked[raw][0] for raw in columns[rule.name]]
        for row, raw in enumerate(columns[rule.name]):
            if (problem := checked[raw][1]) is not None:
                errors.setdefault(row, []).append({"field": rule.name, "message": problem})
    return prepared, errors
