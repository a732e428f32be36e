"""The portable model artifact (JSON) and plain-Python scoring that equals scikit-learn's.

A logistic regression on DictVectorizer features is a sum: the intercept, one weight per
categorical value the customer has, and weight * value for each numerical field. Loading turns the
artifact's feature weights into exactly those lookups, so scoring is a handful of dict reads.
"""

import json
import math
from dataclasses import dataclass

from churn.schema import Schema

FORMAT_VERSION = 1
_REQUIRED_KEYS = ("format_version", "intercept", "weights", "schema", "threshold", "metadata")


class ModelError(Exception):
    """The model artifact cannot be used; the message says why."""


@dataclass(frozen=True)
class ChurnModel:
    """A loaded churn model: ready-made weight lookups, the input schema and the threshold."""

    intercept: float
    categorical_weights: dict  # field -> {allowed value -> weight it adds to the logit}
    numerical_weights: dict  # field -> weight per unit
    schema: Schema
    threshold: float
    metadata: dict


def load_model(path):
    """Read and check a JSON model artifact; raise ModelError naming the file and the problem."""
    try:
        with open(path, encoding="utf-8") as file:
            document = json.load(file)
        return model_from_artifact(document)
    except (OSError, ValueError, ModelError) as error:
        raise ModelError(f"cannot load model {path}: {error}") from error


def model_from_artifact(document):
    """Build a ChurnModel from the artifact's JSON document, checking that it is complete."""
    if not isinstance(document, dict):
        raise ModelError("the artifact is not a JSON object")
    missing = [key for key in _REQUIRED_KEYS if key not in document]
    if missing:
        raise ModelError(f"missing keys: {', '.join(missing)}")
    if document["format_version"] != FORMAT_VERSION:
        raise ModelError(f"unknown format_version {document['format_version']!r}")
    weights = _finite_weights(document["weights"])
    schema = _schema(document["schema"])
    categorical_weights, numerical_weights = _weight_lookups(weights, schema)
    return ChurnModel(
        intercept=_finite(document["intercept"], "intercept"),
        categorical_weights=categorical_weights,
        numerical_weights=numerical_weights,
        schema=schema,
        threshold=_threshold(document["threshold"]),
        metadata=_metadata(document["metadata"]),
    )


def score(model, customers):
    """Churn probabilities of validated customers, in order; equals sklearn's predict_proba[:, 1]."""
    return [_sigmoid(logit(model, customer)) for customer in customers]


def logit(model, customer):
    """Log-odds of churn for one validated customer (model fields with allowed values)."""
    total = model.intercept
    for field, weights in model.categorical_weights.items():
        total += weights[customer[field]]
    for field, weight in model.numerical_weights.items():
        total += weight * customer[field]
    return total


def _sigmoid(z):
    # The two forms avoid overflow in exp() for large |z|.
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    exp_z = math.exp(z)
    return exp_z / (1.0 + exp_z)


def _schema(schema):
    categorical = schema.get("categorical") if isinstance(schema, dict) else None
    numerical = schema.get("numerical") if isinstance(schema, dict) else None
    if not (
        isinstance(categorical, dict)
        and all(_is_value_list(values) for values in categorical.values())
        and isinstance(numerical, list)
        and all(isinstance(field, str) for field in numerical)
    ):
        raise ModelError('schema must be {"categorical": {field: [values, ...]}, "numerical": [field, ...]}')
    return Schema(
        categorical={field: tuple(values) for field, values in categorical.items()},
        numerical=tuple(numerical),
    )


def _is_value_list(values):
    return (
        isinstance(values, list)
        and bool(values)
        and all(isinstance(value, (str, int)) and not isinstance(value, bool) for value in values)
    )


def _weight_lookups(weights, schema):
    """Map each allowed value to its weight, as DictVectorizer would; every weight must be used."""
    unused = set(weights)
    categorical = {}
    for field, values in schema.categorical.items():
        categorical[field] = {value: _value_weight(weights, field, value) for value in values}
        unused -= {f"{field}={value}" for value in values} | {field}
    numerical = {field: _feature_weight(weights, field) for field in schema.numerical}
    unused -= set(schema.numerical)
    if unused:
        raise ModelError(f"weights for features the schema does not describe: {', '.join(sorted(unused))}")
    return categorical, numerical


def _value_weight(weights, field, value):
    # DictVectorizer one-hot encodes strings as "field=value" and keeps numbers as one column.
    if isinstance(value, str):
        return _feature_weight(weights, f"{field}={value}")
    return _feature_weight(weights, field) * value


def _feature_weight(weights, feature):
    if feature not in weights:
        raise ModelError(f"no weight for feature {feature!r} that the schema allows")
    return weights[feature]


def _finite_weights(weights):
    if not isinstance(weights, dict) or not weights:
        raise ModelError("weights must be a non-empty object of feature -> number")
    return {feature: _finite(weight, f"weight of {feature!r}") for feature, weight in weights.items()}


def _finite(number, what):
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
        raise ModelError(f"{what} is not a finite number: {number!r}")
    return float(number)


def _metadata(metadata):
    if not isinstance(metadata, dict):
        raise ModelError("metadata must be a JSON object")
    return metadata


def _threshold(threshold):
    threshold = _finite(threshold, "threshold")
    if not 0 < threshold < 1:
        raise ModelError(f"threshold must be between 0 and 1, got {threshold}")
    return threshold
