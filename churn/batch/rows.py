"""Customers read row by row (CSV, JSON), scored a piece of rows at once by the service's own Scorer:
predict.py's scorer for text files. Standard library only."""

import time
from dataclasses import dataclass, field

from churn.core.prediction_log import PredictionLog
from churn.core.schema import describe
from churn.core.scorer import Scorer


@dataclass(frozen=True)
class LogSpec:
    """What a process needs to make the prediction log's lines: the run's id, the customerid's key."""

    run_id: str
    id_key: bytes | None


@dataclass(frozen=True)
class RowsSpec:
    """What a process needs to score pieces of rows: the model, how many factors to explain, and
    whether and how to make the prediction log's lines."""

    model: object  # churn.core.model.ChurnModel, sent whole: the artifact is read once, by predict.py
    explain_top: int | None
    log: LogSpec | None = None


@dataclass
class Scored:
    """A piece's Results (churn.core.prediction), in order; its invalid customers as (line,
    customerid or None, what is wrong), in order; and with a LogSpec, its prediction log lines."""

    results: list
    rejects: list
    log_lines: list = field(default_factory=list)


def line_maker(model, log):
    """Scores (churn.core.scorer) -> the prediction log's lines for predict.py under the LogSpec `log`,
    timed when they are made; None without one."""
    if log is None:
        return None
    maker = PredictionLog(None, model, log.id_key, clock=time.time)
    return lambda scores: maker.lines("predict.py", log.run_id, scores)


def row_scorer(spec):
    """A function: a piece of (line, raw customer) -> Scored."""
    scorer = Scorer(spec.model)
    log_lines = line_maker(spec.model, spec.log)

    def score(piece):
        lines, customers = zip(*piece, strict=True)
        scores = scorer.score(customers)
        rejects = [(lines[refused.index], refused.customerid, describe(refused.errors)) for refused in scores.refused]
        results = scorer.results(scores, spec.explain_top)
        return Scored(results, rejects, log_lines(scores) if log_lines is not None else [])

    return score
