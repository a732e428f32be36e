"""The portable model artifact (JSON) and plain-Python scoring that equals scikit-learn's.

A logistic regression on DictVectorizer features is a sum: the intercept, one weight per
categorical value the customer has, and weight * value for each numerical field. Loading turns the
artifact's feature weights into exactly those lookups, so scoring is a handful of dict reads.
"""

import dataclasses
import json
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from churn.core.artifact import (
    CARD_CHARTS,
    CARD_NAME,
    FORMAT_VERSION,
    HASH_KEY,
    MODEL_NAME,
    REQUIRED_KEYS,
    ModelError,
    checked_threshold,
    content_sha256,
    version_of,
)
from churn.core.book_pickle import artifact_from_pickle
from churn.core.campaign import HeldOut
from churn.core.explain import ExplainerError, build_explainer
from churn.core.messages import is_finite_number
from churn.core.reference import InvalidReference, checked_reference
from churn.core.schema import MAX_NUMBER, MIN_NUMBER, NUMBER_TYPES, Schema, has_fields_and_at_most_an_id

_PICKLE_MAGIC = b"\x80"  # first byte of every pickle of protocol 2 or newer


@dataclass(frozen=True)
class ChurnModel:
    """A loaded churn model: ready-made weight lookups, the input schema and the threshold."""

    intercept: float
    categorical_weights: dict  # field -> {allowed value -> weight it adds to the logit}
    numerical_weights: dict  # field -> weight per unit
    schema: Schema
    threshold: float
    metadata: dict
    sha256: str  # of the artifact's content: identifies the model
    explainer: object = None  # churn.core.explain.Explainer, when the artifact has the training means
    card: dict = None  # file name -> bytes: the model card and its charts, when they are beside the artifact
    reference: dict = None  # the training data's distributions (churn.core.reference), when the artifact has them
    held_out: HeldOut = None  # the test split's probabilities and outcomes (churn.core.campaign), when recorded
    # The weights as logit() reads them, in the order it adds them (the fields sorted, categorical then
    # numerical): each categorical field's {value: weight}, each number's weight, and a customer's
    # values of those fields as two tuples (KeyError when one is missing).
    _weight_tables: tuple = dataclasses.field(init=False, repr=False, compare=False)
    _number_weights: tuple = dataclasses.field(init=False, repr=False, compare=False)
    _categorical_of: Callable = dataclasses.field(init=False, repr=False, compare=False)
    _numbers_of: Callable = dataclasses.field(init=False, repr=False, compare=False)
    _number_valued: tuple = dataclasses.field(init=False, repr=False, compare=False)  # categoricals of numbers

    def __post_init__(self):
        object.__setattr__(self, "_weight_tables", tuple(self.categorical_weights.values()))
        object.__setattr__(self, "_number_weights", tuple(self.numerical_weights.values()))
        object.__setattr__(self, "_categorical_of", tuple_getter(tuple(self.categorical_weights)))
        object.__setattr__(self, "_numbers_of", tuple_getter(tuple(self.numerical_weights)))
        number_valued = [i for i, table in enumerate(self._weight_tables) if not all(type(v) is str for v in table)]
        object.__setattr__(self, "_number_valued", tuple(number_valued))

    @property
    def name(self):
        """The model's name, as the artifact's metadata gives it (the inference protocol's model name)."""
        return self.metadata.get("name", MODEL_NAME)

    @property
    def version(self):
        """The short name of the model: a prefix of its sha256."""
        return version_of(self.sha256)


def load_model(path):
    """Read and check a model: our JSON artifact, or the book's pickle through an allowlist.

    Raises ModelError naming the file and the problem; never returns a half-loaded model.
    """
    try:
        with open(path, "rb") as file:
            content = file.read()
        if content.startswith(_PICKLE_MAGIC):  # scikit-learn is imported on this path only
            return model_from_artifact(artifact_from_pickle(content))
        model = model_from_artifact(json.loads(content.decode("utf-8")))
        return dataclasses.replace(model, card=_card_beside(Path(path).parent, model))
    except (OSError, ValueError, RecursionError, ModelError) as error:
        raise ModelError(f"cannot load model {path}: {_reason(error)}") from error


def _card_beside(folder, model):
    """The model card and its charts in `folder`, if the artifact names the card and the card names
    the artifact's sha256 (a card left from another model is not this one's); else None."""
    if model.metadata.get("model_card") != CARD_NAME or not (folder / CARD_NAME).is_file():
        return None
    card = (folder / CARD_NAME).read_bytes()
    if model.sha256.encode() not in card:
        return None
    charts = {name: (folder / name).read_bytes() for name in CARD_CHARTS if (folder / name).is_file()}
    return {CARD_NAME: card, **charts}


def _reason(error):
    if isinstance(error, OSError):
        return error.strerror or str(error)
    if isinstance(error, UnicodeDecodeError):
        return "not a JSON artifact (not UTF-8) nor a pickle"
    if isinstance(error, (json.JSONDecodeError, RecursionError)):
        return f"not valid JSON ({error})"
    return str(error)


def model_from_artifact(document):
    """Build a ChurnModel from the artifact's JSON document, checking that it is complete."""
    sha256 = _checked_envelope(document)
    weights = _finite_weights(document["weights"])
    schema = _schema(document["schema"])
    categorical_weights, numerical_weights = _weight_lookups(weights, schema)
    intercept = _finite(document["intercept"], "intercept")
    return ChurnModel(
        intercept=intercept,
        categorical_weights=categorical_weights,
        numerical_weights=numerical_weights,
        schema=schema,
        threshold=_threshold(document["threshold"]),
        metadata=_metadata(document["metadata"]),
        held_out=_held_out(document["metadata"]),
        sha256=sha256,
        explainer=_explainer(document.get("feature_means"), weights, schema, categorical_weights, intercept),
        reference=_reference(document.get("reference"), schema),
    )


def _checked_envelope(document):
    """Check that the document is an artifact of our format, unchanged since export; return its sha256."""
    if not isinstance(document, dict):
        raise ModelError("the artifact is not a JSON object")
    missing = [key for key in REQUIRED_KEYS if key not in document]
    if missing:
        raise ModelError(f"missing keys: {', '.join(missing)}")
    if document["format_version"] != FORMAT_VERSION:
        raise ModelError(f"unknown format_version {document['format_version']!r} (this service reads {FORMAT_VERSION})")
    actual = content_sha256(document)
    if document[HASH_KEY] != actual:
        raise ModelError(
            f"its content does not match its sha256 {version_of(document[HASH_KEY])!r}…: changed after export"
        )
    return actual


def _explainer(means, weights, schema, categorical_weights, intercept):
    if means is None:
        return None  # e.g. a model converted from the book's pickle: it cannot explain
    try:
        return build_explainer(means, weights, schema, categorical_weights, intercept)
    except ExplainerError as error:
        raise ModelError(str(error)) from None


def _reference(document, schema):
    if document is None:
        return None  # an older artifact, or one converted from the book's pickle: nothing to watch against
    try:
        return checked_reference(document, schema)
    except InvalidReference as error:
        raise ModelError(str(error)) from None


def describe_model(model):
    """What is deployed, as plain data: identity, provenance, quality, threshold and inputs."""
    metadata = model.metadata
    return {
        "name": model.name,
        "version": model.version,
        "sha256": model.sha256,
        "format_version": FORMAT_VERSION,
        "trained_at": metadata.get("trained_at"),
        "training_rows": metadata.get("training_rows"),
        "test_auc": metadata.get("test_auc"),
        "sklearn_version": metadata.get("sklearn_version"),
        "source": metadata.get("source", "train.py"),
        "model_card": CARD_NAME if model.card else None,  # served beside it, at /model/card/
        "explains": model.explainer is not None,
        "threshold": model.threshold,
        "test_split": _test_split(model.held_out),
        "features": {
            "categorical": {f: list(v) for f, v in model.schema.categorical.items()},
            "numerical": list(model.schema.numerical),
        },
    }


def _test_split(held_out):
    """What a campaign of any size reached on the test split, for the page: None without one."""
    if held_out is None:
        return None
    ranked = held_out.churned_by_rank
    return {"customers": len(ranked), "churners": ranked.count("1"), "churned_by_rank": ranked}


def score(model, customers):
    """Churn probabilities of validated customers, in order; equals sklearn's predict_proba[:, 1]."""
    return [_sigmoid(logit(model, customer)) for customer in customers]


def logit(model, customer):
    """Log-odds of churn for one validated customer (model fields with allowed values)."""
    return _logit(model, model._categorical_of(customer), model._numbers_of(customer))


def score_prepared(model, raw):
    """The churn probability of `raw` if it is a customer exactly as validation returns one (the
    model's fields, and at most a valid customerid besides; each categorical value one the model was
    trained on, each number in range), else None: then validate it (churn.core.schema) and score() it.

    The most common request: checked and scored in one pass over its fields, made in C (map), where
    validating, then scoring took two in Python; a served /predict was 9 % faster for it. A property
    test holds it to validate, then score."""
    if type(raw) is not dict or not has_fields_and_at_most_an_id(raw, model.schema):
        return None
    try:
        categorical, numbers = model._categorical_of(raw), model._numbers_of(raw)
    except KeyError:
        return None
    for number in numbers:  # schema.is_prepared_number, written out: a call a number cost 1.5 %
        if type(number) not in NUMBER_TYPES or not MIN_NUMBER <= number <= MAX_NUMBER:  # also False for NaN
            return None
    for index in model._number_valued:  # a bool there would be taken for 0 or 1, as a bool is an int
        if type(categorical[index]) is bool:
            return None
    try:
        return _sigmoid(_logit(model, categorical, numbers))
    except (KeyError, TypeError):  # a value the model was not trained on; one that is no key (a list)
        return None


def _logit(model, categorical, numbers):
    # sum() over map(): C adds the terms in order, as a Python loop would, without the loop's cost.
    total = sum(map(operator.getitem, model._weight_tables, categorical), model.intercept)
    return sum(map(operator.mul, model._number_weights, numbers), total)


def tuple_getter(names):
    """A mapping -> the tuple of its values of `names`, in C (operator.itemgetter gives one name's value
    itself, not in a tuple)."""
    if len(names) == 1:
        return lambda mapping: (mapping[names[0]],)
    return operator.itemgetter(*names) if names else lambda mapping: ()


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
    """Map each allowed value to its weight, as DictVectorizer would; every weight must be used.

    The fields come in sorted order, the order `logit` adds them in: floating-point sums depend on
    their order, and two artifacts of the same weights (the JSON and the book's pickle, whose schemas
    list the fields in other orders) must score the same to the last bit."""
    unused = set(weights)
    categorical = {}
    for field in sorted(schema.categorical):
        values = schema.categorical[field]
        categorical[field] = {value: _value_weight(weights, field, value) for value in values}
        unused -= {f"{field}={value}" for value in values} | {field}
    numerical = {field: _feature_weight(weights, field) for field in sorted(schema.numerical)}
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
    if not is_finite_number(number):
        raise ModelError(f"{what} is not a finite number: {number!r}")
    return float(number)


def _metadata(metadata):
    if not isinstance(metadata, dict):
        raise ModelError("metadata must be a JSON object")
    return metadata


def _held_out(metadata):
    try:
        return HeldOut.of(metadata)
    except ValueError as error:
        raise ModelError(str(error)) from None


def _threshold(threshold):
    try:
        return checked_threshold(threshold)
    except ValueError as error:
        raise ModelError(f"threshold {error}") from None
