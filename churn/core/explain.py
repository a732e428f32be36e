"""Why this customer? Exact explanations of the logistic regression, in log-odds.

For a linear model the SHAP value of feature j is w_j * (x_j - mean_j), with the training set's
feature means: the contributions add up, with the base value intercept + sum(w_j * mean_j), to the
customer's log-odds exactly. Each of the model's terms (churn.core.model) gives its field's value:
its one-hot columns added back into the field, so that a factor reads "contract = month-to-month: +0.85".
"""

import operator
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from operator import itemgetter

from churn.core.messages import echo, is_finite_number, whole_number

DEFAULT_TOP = 3
ALL = "all"
# The one thing that makes a model explain: train.py records the training means; a pickle has none.
CANNOT_EXPLAIN = (
    "this model cannot explain: it has no training means (a model read or exported from the book's pickle "
    "has none); serve a model trained with train.py"
)


class ExplainerError(ValueError):
    """The artifact's feature means cannot be used."""


@dataclass(frozen=True)
class Explainer:
    """Ready-made contributions: a categorical field's per value, and what a number's needs."""

    base_value: float
    categorical: tuple  # per categorical term, in row order: {allowed value -> (size, its factor)}, made once
    numerical: tuple  # per number term: (its position in a row, the term)


def checked_means(means, weights):
    """The artifact's feature means, checked: a finite number for every feature that has a weight."""
    if not isinstance(means, dict) or set(means) != set(weights):
        raise ExplainerError("feature_means must give a mean for every feature that has a weight")
    for feature, mean in means.items():
        if not is_finite_number(mean):
            raise ExplainerError(f"the mean of {feature!r} is not a finite number: {mean!r}")
    return means


def build_explainer(terms, base_value):
    """The Explainer of a model's terms (churn.core.model), which know their training means, and its
    base value: the log-odds at the training means."""
    categorical, numerical = [], []
    for position, term in enumerate(terms):
        if term.categorical:
            explained = ((value, term.explained(value)) for value in term.weights)
            categorical.append({value: (abs(c), factor(term.field, value, c)) for value, c in explained})
        else:
            numerical.append((position, term))
    return Explainer(base_value, tuple(categorical), tuple(numerical))


def parse_top(text, fields):
    """How many factors `text` asks for: a whole number from 1 to `fields`, or "all" (all `fields`);
    anything else raises ValueError, whose message completes "top …"."""
    if text == ALL:
        return fields
    number = whole_number(text)
    if number is None or not 1 <= number <= fields or text[0] == "0":
        raise ValueError(f"must be a whole number from 1 to {fields}, or {ALL}, not {echo(text)}")
    return number


class ExplainRequestError(ValueError):
    """Explanations asked for in a way that cannot be met. The message is whole ("top must be …");
    `option` names what to change ("explain", "top"), None when it is the model that cannot explain."""

    def __init__(self, message, option=None):
        super().__init__(message)
        self.option = option


_EXPLAIN_VALUES = {"true": True, "1": True, "false": False, "0": False}


def requested_top(explain, top, model):
    """How many factors of each explanation to give, None when none is asked for. `explain` is a bool
    or its text ("true", "false", "1", "0"), `top` the text of a count or "all": checked in that
    order, both always, then whether the model can explain. Raises ExplainRequestError."""
    wanted = explain if isinstance(explain, bool) else _EXPLAIN_VALUES.get(explain)
    if wanted is None:
        raise ExplainRequestError(f"explain must be true or false, not {echo(explain)}", "explain")
    try:
        count = parse_top(top, len(model.schema.fields))
    except ValueError as error:
        raise ExplainRequestError(f"top {error}", "top") from None
    if not wanted:
        return None
    if model.explainer is None:
        raise ExplainRequestError(CANNOT_EXPLAIN)
    return count


def explain(explainer, row, top=DEFAULT_TOP):
    """The base value and the `top` largest contributions of a customer's row (churn.core.model), largest
    first (ties in the row's order)."""
    # A categorical factor depends only on the value: it was made when the model was loaded. A
    # numerical one is made only if it is among the largest.
    candidates = list(map(operator.getitem, explainer.categorical, row))
    for position, term in explainer.numerical:
        value = row[position]
        contribution = term.explained(value)
        candidates.append((abs(contribution), term.field, value, contribution))
    largest = sorted(candidates, key=itemgetter(0), reverse=True)[:top]  # a stable sort: ties keep their order
    return {
        "base_value": explainer.base_value,
        "factors": [candidate[1] if len(candidate) == 2 else factor(*candidate[1:]) for candidate in largest],
    }


BLANK_TEXT = "(blank)"  # how a factor's text says a number was left blank
_DIRECTIONS = ("none", "raises", "lowers")  # indexed by the sign of the contribution: 0, 1, -1
_FACTOR_JSON = '{"field": %s, "value": %s, "contribution": %r, "direction": "%s", "text": %s}'


class Factor(dict):
    """One field's contribution to an explanation, a dict as the answer has it, and `json`: that dict
    as json.dumps writes it, written once (the encoder took a fifth of an explained request)."""

    __slots__ = ("json",)


def factor(field, value, contribution):
    """The factor of a field of this value and contribution to the log-odds."""
    direction = _DIRECTIONS[(contribution > 0) - (contribution < 0)]
    text = f"{field} = {BLANK_TEXT if value is None else value}: {contribution:+.2f}"
    made = Factor(field=field, value=value, contribution=contribution, direction=direction, text=text)
    written_value = _value_json(value)
    made.json = _FACTOR_JSON % (
        encode_basestring_ascii(field),
        written_value,
        contribution,
        direction,
        encode_basestring_ascii(text),
    )
    return made


def _value_json(value):
    """A factor's value as JSON: a str, a number, or null (a blank number)."""
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    return "null" if value is None else repr(value)
