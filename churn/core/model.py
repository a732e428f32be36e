"""The portable model artifact (JSON), and what each input contributes to a score: the one definition
of the model's arithmetic, which equals scikit-learn's.

A logistic regression on DictVectorizer features is a sum: the intercept, and a term per field, in
the fields' sorted order (the categorical ones, then the numbers): a categorical field adds the
weight of the value the customer has (CategoryTerm), a numerical one its weight times the number
(NumberTerm). Each term also says how far its part of a customer's log-odds is from its part at the
training means: the customer's exact explanation (churn.core.explain). A customer's values in the
terms' order are its row; the probability is sigmoid(logit(row)).

Every interface applies this definition through churn.core.scorer.Scorer; the batch path applies
it to whole NumPy columns, term by term, with the same functions (each is written with operators
that a number and an array both take).
"""

import dataclasses
import itertools
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
from churn.core.explain import ExplainerError, build_explainer, checked_means
from churn.core.messages import is_finite_number
from churn.core.reference import InvalidReference, checked_reference
from churn.core.schema import BLANK_NUMBER, ID_FIELD, Schema

_PICKLE_MAGIC = b"\x80"  # first byte of every pickle of protocol 2 or newer


@dataclass(frozen=True)
class CategoryTerm:
    """A categorical field's part of the log-odds: its allowed values' weights (DictVectorizer's one-hot
    column of the value; for a value that is a number, the field's weight times it)."""

    field: str
    weights: dict  # allowed value -> what it adds to the log-odds
    at_means: float | None = None  # what the field adds at the training means; None: no means recorded
    categorical = True

    def contribution(self, value):
        """What `value` adds to the log-odds."""
        return self.weights[value]

    def explained(self, value):
        """`value`'s contribution measured from the field's at the training means: its SHAP value."""
        return self.weights[value] - self.at_means


@dataclass(frozen=True)
class NumberTerm:
    """A numerical field's part of the log-odds: its weight times the number; for a blank (None), where
    the training table had blanks, the weight times the number imputed for it plus the blank's own
    weight (its indicator column's)."""

    categorical = False
    field: str
    weight: float
    mean: float | None = None  # the training mean; None: no means recorded
    blank: float | None = None  # what a blank adds; None: the field is never blank
    at_means: float | None = None  # with a blank: what the term adds at the training means (both columns')

    def contribution(self, value):
        """What the number `value` (or each of a NumPy array of them), or a blank (None), adds to the log-odds."""
        if value is None:
            return self.blank
        return self.weight * value

    def explained(self, value):
        """`value`'s contribution measured from the field's at the training mean: its SHAP value."""
        if self.blank is None:
            return self.weight * (value - self.mean)
        return self.contribution(value) - self.at_means


@dataclass(frozen=True)
class ChurnModel:
    """A loaded churn model: its terms, the input schema and the threshold."""

    intercept: float
    terms: tuple  # CategoryTerm and NumberTerm, one per field, in the order logit() adds them: a row's order
    schema: Schema
    threshold: float
    metadata: dict
    sha256: str  # of the artifact's content: identifies the model
    explainer: object = None  # churn.core.explain.Explainer, when the artifact has the training means
    card: dict = None  # file name -> bytes: the model card and its charts, when they are beside the artifact
    reference: dict = None  # the training data's distributions (churn.core.reference), when the artifact has them
    held_out: HeldOut = None  # the test split's probabilities and outcomes (churn.core.campaign), when recorded
    row: Callable = dataclasses.field(init=False, repr=False, compare=False)
    _contributions: tuple = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "row", tuple_getter(self.row_fields))
        object.__setattr__(self, "_contributions", tuple(map(_contribution_function, self.terms)))

    @property
    def row_fields(self):
        """The fields of a row, in order: the terms'."""
        return tuple(term.field for term in self.terms)

    @property
    def name(self):
        """The model's name, as the artifact's metadata gives it (the inference protocol's model name)."""
        return self.metadata.get("name", MODEL_NAME)

    @property
    def version(self):
        """The short name of the model: a prefix of its sha256."""
        return version_of(self.sha256)

    def logit(self, row):
        """The log-odds of churn of a customer's row (its prepared values, in the terms' order). KeyError
        or TypeError for a value no term takes."""
        # map() calls each term's function of C on its value, without a Python loop.
        return self.log_odds(map(operator.call, self._contributions, row))

    def log_odds(self, contributions):
        """The log-odds from each term's contribution, in the terms' order: the intercept, then each added
        in order. Contributions are numbers, or NumPy arrays of them (a column's each)."""
        return sum(contributions, self.intercept)

    def probability(self, row):
        """The churn probability of a row: sigmoid(logit(row)); equals sklearn's predict_proba[:, 1]."""
        return sigmoid(self.log_odds(map(operator.call, self._contributions, row)))

    def probabilities(self, rows):
        """The churn probability of each row, as probability() gives it: a term's column at a time, its
        contributions in C, then each row's log-odds summed as log_odds() sums them."""
        if not rows:
            return []
        columns = zip(*rows, strict=True)
        contributions = [map(function, column) for function, column in zip(self._contributions, columns, strict=True)]
        return list(map(sigmoid, map(sum, zip(*contributions, strict=True), itertools.repeat(self.intercept))))


def _contribution_function(term):
    """A term's contribution() as a function of C, for logit()'s map: the same lookup, or the same product
    (a number that may be blank: the term's own method)."""
    if term.categorical:
        return term.weights.__getitem__
    return term.weight.__mul__ if term.blank is None else term.contribution


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
    schema, imputed = _schema(document["schema"])
    intercept = _finite(document["intercept"], "intercept")
    means = _means(document.get("feature_means"), weights)
    terms = _terms(weights, schema, means, imputed)
    return ChurnModel(
        intercept=intercept,
        terms=terms,
        schema=schema,
        threshold=_threshold(document["threshold"]),
        metadata=_metadata(document["metadata"]),
        held_out=_held_out(document["metadata"]),
        sha256=sha256,
        explainer=_explainer(means, weights, terms, intercept),
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


def _means(means, weights):
    """The artifact's training means (feature -> mean), checked; None when it has none."""
    if means is None:
        return None  # e.g. a model converted from the book's pickle: it cannot explain
    try:
        return checked_means(means, weights)
    except ExplainerError as error:
        raise ModelError(str(error)) from None


def _explainer(means, weights, terms, intercept):
    if means is None:
        return None
    return build_explainer(terms, intercept + math.fsum(weights[feature] * means[feature] for feature in weights))


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
        "table": {
            "id_column": model.schema.id_column,
            "target": metadata.get("target"),
            "columns": {rule.name: rule.column for rule in model.schema.rules},
            "optional": [rule.name for rule in model.schema.rules if rule.optional],
        },
    }


def _test_split(held_out):
    """What a campaign of any size reached on the test split, for the page: None without one."""
    if held_out is None:
        return None
    ranked = held_out.churned_by_rank
    return {"customers": len(ranked), "churners": ranked.count("1"), "churned_by_rank": ranked}


def score(model, customers):
    """Churn probabilities of validated customers (dicts of the model's fields), in order."""
    return [model.probability(model.row(customer)) for customer in customers]


def tuple_getter(names):
    """A mapping -> the tuple of its values of `names`, in C (operator.itemgetter gives one name's value
    itself, not in a tuple); it pickles, as the model sent to predict.py's processes does."""
    return operator.itemgetter(*names) if len(names) > 1 else _FewGetter(tuple(names))


class _FewGetter:
    """tuple_getter of none or one name."""

    __slots__ = ("names",)

    def __init__(self, names):
        self.names = names

    def __call__(self, mapping):
        return tuple(mapping[name] for name in self.names)


def sigmoid(z, exp=math.exp):
    """1 / (1 + e^-z), for a log-odds or, with exp=numpy.exp, each of a NumPy array of them. Its two
    forms, which avoid overflow in exp() for large |z| (e^z / (1 + e^z) below 0), are written as one
    expression of operators that a float and an array both take."""
    e = exp(-abs(z))
    below = z < 0
    return (1.0 - below + below * e) / (1.0 + e)


def _schema(schema):
    """The artifact's Schema, and the number imputed for each number field whose blank has a weight."""
    categorical = schema.get("categorical") if isinstance(schema, dict) else None
    numerical = schema.get("numerical") if isinstance(schema, dict) else None
    if not (
        isinstance(categorical, dict)
        and all(_is_value_list(values) for values in categorical.values())
        and isinstance(numerical, list)
        and all(isinstance(field, str) for field in numerical)
    ):
        raise ModelError('schema must be {"categorical": {field: [values, ...]}, "numerical": [field, ...]}')
    described = _described(schema.get("fields", {}), categorical, numerical)
    imputed = {
        field: described[field]["blank"]["imputed"] for field in numerical if _has_blank_weight(described, field)
    }
    for field in imputed:
        described[field]["blank"] = BLANK_NUMBER  # in this copy: the document itself is left as it was
    id_column = schema.get("id_column", ID_FIELD)
    example = schema.get("example")
    if not isinstance(id_column, str) or not (example is None or isinstance(example, dict)):
        raise ModelError("schema's id_column must be text, and its example an object")
    return Schema.of(categorical, numerical, described, id_column, example), imputed


def _described(fields, categorical, numerical):
    """The artifact's description of each field (its table's column, labels, what a blank reads as),
    checked: {field: {...}} for fields of the model only."""
    if not isinstance(fields, dict) or not set(fields) <= set(categorical) | set(numerical):
        raise ModelError("schema's fields must describe fields of the model")
    described = {}
    for field, description in fields.items():
        if not isinstance(description, dict) or not set(description) <= _DESCRIPTION_KEYS:
            raise ModelError(
                f"schema's description of {field} must be an object of {', '.join(sorted(_DESCRIPTION_KEYS))}"
            )
        texts = [description.get(key, "") for key in ("column", "label")] + list(description.get("value_labels", []))
        if not all(isinstance(text, str) for text in texts):
            raise ModelError(f"schema's column and labels of {field} must be text")
        if "value_labels" in description and len(description["value_labels"]) != len(categorical.get(field, ())):
            raise ModelError(f"schema's value_labels of {field} must label each allowed value")
        if "blank" in description:
            _check_blank(field, description["blank"], categorical.get(field))
        described[field] = dict(description)
    return described


_DESCRIPTION_KEYS = frozenset({"column", "label", "value_labels", "blank"})


def _check_blank(field, blank, allowed):
    """A field's blank: an allowed value (a category), a finite number, or {"imputed": a finite number}."""
    if allowed is not None:
        fits = isinstance(blank, (str, int)) and not isinstance(blank, bool) and blank in allowed
    elif isinstance(blank, dict):
        fits = set(blank) == {"imputed"} and is_finite_number(blank["imputed"])
    else:
        fits = is_finite_number(blank)
    if not fits:
        raise ModelError(f'schema\'s blank of {field} must be an allowed value, a number, or {{"imputed": a number}}')


def _has_blank_weight(described, field):
    return isinstance(described.get(field, {}).get("blank"), dict)


def _is_value_list(values):
    return (
        isinstance(values, list)
        and bool(values)
        and all(isinstance(value, (str, int)) and not isinstance(value, bool) for value in values)
    )


def _terms(weights, schema, means, imputed):
    """A term per field, each allowed value mapped to its weight as DictVectorizer would; every weight
    must be used. A number whose blank has a weight (`imputed`: field -> the number a blank stands
    for) also has its blank's column, "field=", as a category's blank would.

    The fields come in sorted order, the order `logit` adds them in: floating-point sums depend on
    their order, and two artifacts of the same weights (the JSON and the book's pickle, whose schemas
    list the fields in other orders) must score the same to the last bit."""
    unused = set(weights)
    terms = []
    for field in sorted(schema.categorical):
        values = schema.categorical[field]
        table = {value: _value_weight(weights, field, value) for value in values}
        columns = {f"{field}={value}" for value in values if isinstance(value, str)} | ({field} & set(weights))
        at_means = None if means is None else math.fsum(weights[column] * means[column] for column in columns)
        terms.append(CategoryTerm(field, table, at_means))
        unused -= {f"{field}={value}" for value in values} | {field}
    for field in sorted(schema.numerical):
        terms.append(_number_term(field, weights, means, imputed.get(field)))
        unused -= {field, f"{field}="} if field in imputed else {field}
    if unused:
        raise ModelError(f"weights for features the schema does not describe: {', '.join(sorted(unused))}")
    return tuple(terms)


def _number_term(field, weights, means, imputed):
    """A numerical field's NumberTerm; with `imputed`, its blank's too."""
    weight = _feature_weight(weights, field)
    mean = None if means is None else float(means[field])
    if imputed is None:
        return NumberTerm(field, weight, mean)
    blank_weight = _feature_weight(weights, f"{field}=")
    at_means = None if means is None else weight * mean + blank_weight * means[f"{field}="]
    return NumberTerm(field, weight, mean, weight * imputed + blank_weight, at_means)


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
