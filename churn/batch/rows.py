"""Customers read row by row (CSV, JSON), validated and scored one at a time by the service's own
code, a piece of rows at once: predict.py's scorer for text files. Standard library only."""

from dataclasses import dataclass

from churn.core.features import normalise
from churn.core.model import load_model
from churn.core.prediction import predictions
from churn.core.schema import ID_FIELD, InvalidCustomer, validate_customer


@dataclass(frozen=True)
class RowsSpec:
    """What a process needs to score pieces of rows: the model's path, and how many factors to explain."""

    model_path: str
    explain_top: int | None


@dataclass
class Scored:
    """A piece's results (dicts, as /predict answers), in order, and its invalid customers as (line,
    customerid or None, what is wrong), in order."""

    results: list
    rejects: list


def row_scorer(spec):
    """A function: a piece of (line, raw customer) -> Scored."""
    model = load_model(spec.model_path)

    def score(piece):
        valid, rejects = [], []
        for line, raw in piece:
            try:
                valid.append(validate_customer(raw, model.schema))
            except InvalidCustomer as invalid:
                rejects.append((line, _customerid(raw), str(invalid)))
        return Scored(predictions(model, valid, spec.explain_top), rejects)

    return score


def _customerid(raw):
    """The raw customer's customerid as given (names ignore case), if it has one."""
    if isinstance(raw, dict):
        return next((value for key, value in raw.items() if isinstance(key, str) and normalise(key) == ID_FIELD), None)
    return None
