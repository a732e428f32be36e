"""Customers read row by row (CSV, JSON), validated and scored one at a time by the service's own
code, a piece of rows at once: predict.py's scorer for text files. Standard library only."""

import time
from dataclasses import dataclass, field

from churn.core.features import normalise
from churn.core.model import load_model
from churn.core.prediction import DECISION, PROBABILITY, predictions
from churn.core.prediction_log import PredictionLog
from churn.core.schema import ID_FIELD, InvalidCustomer, validate_customer


@dataclass(frozen=True)
class LogSpec:
    """What a process needs to make the prediction log's lines: the run's id, the customerid's key."""

    run_id: str
    id_key: bytes | None


@dataclass(frozen=True)
class RowsSpec:
    """What a process needs to score pieces of rows: the model's path, how many factors to explain,
    and whether and how to make the prediction log's lines."""

    model_path: str
    explain_top: int | None
    log: LogSpec | None = None


@dataclass
class Scored:
    """A piece's results (dicts, as /predict answers), in order; its invalid customers as (line,
    customerid or None, what is wrong), in order; and with a LogSpec, its prediction log lines."""

    results: list
    rejects: list
    log_lines: list = field(default_factory=list)


def line_maker(model, log):
    """(customers, probabilities, decisions) -> the prediction log's lines for predict.py under the
    LogSpec `log`, timed when they are made; None without one."""
    if log is None:
        return None
    maker = PredictionLog(None, model.version, model.schema.fields, log.id_key, clock=time.time)
    return lambda customers, probabilities, decisions: maker.lines(
        "predict.py", log.run_id, customers, probabilities, decisions
    )


def row_scorer(spec):
    """A function: a piece of (line, raw customer) -> Scored."""
    model = load_model(spec.model_path)
    log_lines = line_maker(model, spec.log)

    def score(piece):
        valid, rejects = [], []
        for line, raw in piece:
            try:
                valid.append(validate_customer(raw, model.schema))
            except InvalidCustomer as invalid:
                rejects.append((line, _customerid(raw), str(invalid)))
        results = predictions(model, valid, spec.explain_top)
        if log_lines is None:
            return Scored(results, rejects)
        probabilities = [result[PROBABILITY] for result in results]
        decisions = [result[DECISION] for result in results]
        return Scored(results, rejects, log_lines(valid, probabilities, decisions))

    return score


def _customerid(raw):
    """The raw customer's customerid as given (names ignore case), if it has one."""
    if isinstance(raw, dict):
        return next((value for key, value in raw.items() if isinstance(key, str) and normalise(key) == ID_FIELD), None)
    return None
