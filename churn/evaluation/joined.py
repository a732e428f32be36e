"""What the model said, joined with what the customers did. Standard library only (Parquet: pyarrow).

Predictions come from prediction logs (churn/core/prediction_log.py: JSON lines, found in each line
from '{"schema": ', so a platform's prefix or other log lines around them do no harm) or from files
predict.py scored (CSV, JSON, JSON lines or Parquet with customerid, churn_probability and churn),
which carry no time: their predictions count as made before any outcome.

Outcomes are CSV: customerid, churned (yes/no, true/false, 1/0) and, optionally, observed_at (ISO 8601;
a date alone means the end of that day, a time without a zone UTC). Column names ignore case and any
character but letters and digits, so the Telco data set's own customerID and Churn columns do.

For each customer with an outcome, the prediction used is the last made at or before the outcome
was observed (by time, then by order read); later ones, and customers without an outcome, are counted
and reported, never used.
"""

import csv
import datetime
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from churn.core.prediction_log import SCHEMA_VERSION, customerid_hash

LOG_MARKER = '{"schema": '
_PARQUET_MAGIC = b"PAR1"
_YES, _NO = frozenset({"yes", "true", "1"}), frozenset({"no", "false", "0"})
_BEFORE_EVERYTHING = datetime.datetime.min.replace(tzinfo=datetime.UTC)


class EvaluationError(Exception):
    """An input evaluate.py cannot use; the message names the file, the line and the problem."""


@dataclass(frozen=True)
class Prediction:
    """One prediction of one customer: when (None: a scored file's, before any outcome), in what order
    it was read, its probability and decision, and which model made it."""

    time: datetime.datetime | None
    order: int
    probability: float
    churn: bool
    model_version: str | None


@dataclass
class Predictions:
    """Every prediction read, by customer key (its id's text, or the log's keyed hash of it), and what
    could not be used."""

    by_customer: dict = field(default_factory=dict)
    read: int = 0
    hashed: bool = False  # the keys are customerid_hash values
    other_lines: int = 0  # lines of a log that are not prediction log lines (an access log's, say)
    unreadable: int = 0  # prediction log lines that are not whole JSON (a line cut by a crash or a rotation)
    without_id: int = 0  # customers scored without a customerid: they cannot be joined
    versions: dict = field(default_factory=dict)  # model version -> predictions

    def add(self, key, prediction):
        self.by_customer.setdefault(key, []).append(prediction)
        self.read += 1
        self.versions[prediction.model_version] = self.versions.get(prediction.model_version, 0) + 1


@dataclass(frozen=True)
class Outcome:
    churned: bool
    observed_at: datetime.datetime | None


@dataclass
class Joined:
    """The evaluated customers (riskiness and outcome each, in the order their predictions were read)
    and how every other prediction and outcome was accounted for."""

    probabilities: list
    decisions: list
    churned: list
    scored_again: int  # predictions not used because a later one (before the outcome) was
    after_outcome: int  # predictions made after the customer's outcome was observed
    awaiting_outcome: int  # customers predicted who have no outcome yet
    never_scored: int  # customers with an outcome and no prediction before it
    versions: dict  # model version -> evaluated customers


def read_predictions(paths):
    """Predictions of every file in `paths`, in order."""
    predictions = Predictions()
    for path in paths:
        try:
            _read_file(Path(path), predictions)
        except UnicodeDecodeError:
            raise EvaluationError(
                f"{path}: not a prediction log, nor a file predict.py scored (not UTF-8 text)"
            ) from None
    return predictions


def _read_file(path, predictions):
    with open(path, "rb") as file:
        head = file.read(4)
    if head == _PARQUET_MAGIC:
        return _read_rows(path, _parquet_rows(path), predictions)
    with open(path, encoding="utf-8-sig", newline="") as file:
        first = next((line for line in file if line.strip()), "")
    if LOG_MARKER in first or not first.strip():
        return _read_log(path, predictions)
    if first.lstrip().startswith(("{", "[")):
        return _read_rows(path, _json_rows(path), predictions)
    with open(path, encoding="utf-8-sig", newline="") as file:
        return _read_rows(path, enumerate(csv.DictReader(file), 2), predictions)


def _read_log(path, predictions):
    with open(path, encoding="utf-8", errors="replace") as file:
        for number, line in enumerate(file, 1):
            start = line.find(LOG_MARKER)
            if start < 0:
                predictions.other_lines += line.strip() != ""
                continue
            try:
                record = json.loads(line[start:])
            except ValueError:
                predictions.unreadable += 1
                continue
            _add_logged(path, number, record, predictions)


def _add_logged(path, number, record, predictions):
    if record.get("schema") != SCHEMA_VERSION:
        raise EvaluationError(
            f"{path}, line {number}: schema {record.get('schema')!r}; this evaluate.py reads {SCHEMA_VERSION}"
        )
    try:
        time = _utc(datetime.datetime.fromisoformat(record["time"]))
        prediction = Prediction(time, predictions.read, float(record["churn_probability"]), bool(record["churn"]),
                                record.get("model_version"))  # fmt: skip
    except (KeyError, TypeError, ValueError) as error:
        raise EvaluationError(f"{path}, line {number}: not a prediction log line ({error})") from None
    if "customerid_hash" in record:
        predictions.hashed = True
        predictions.add(record["customerid_hash"], prediction)
    elif "customerid" in record:
        predictions.add(_id_text(record["customerid"]), prediction)
    else:
        predictions.without_id += 1


def _read_rows(path, rows, predictions):
    """Rows of a file predict.py scored: (line, {customerid, churn_probability, churn, model_version?})."""
    for number, row in rows:
        customerid = row.get("customerid")
        if customerid is None or customerid == "":
            predictions.without_id += 1
            continue
        try:
            probability = float(row["churn_probability"])
            churn = row["churn"] if isinstance(row["churn"], bool) else _yes_or_no(row["churn"])
        except (KeyError, TypeError, ValueError):
            raise EvaluationError(
                f"{path}, line {number}: a scored row needs customerid, churn_probability and churn "
                "(a file predict.py wrote), or the file must be a prediction log"
            ) from None
        prediction = Prediction(None, predictions.read, probability, churn, row.get("model_version"))
        predictions.add(_id_text(customerid), prediction)


def _json_rows(path):
    text = path.read_text(encoding="utf-8-sig")
    if text.lstrip().startswith("["):
        return enumerate(_json(path, 1, text), 1)
    return ((number, _json(path, number, line)) for number, line in enumerate(text.splitlines(), 1) if line.strip())


def _json(path, number, text):
    try:
        return json.loads(text)
    except ValueError as error:
        raise EvaluationError(f"{path}, line {number}: not JSON ({error})") from None


def _parquet_rows(path):
    try:
        import pyarrow.parquet as pq  # noqa: PLC0415 (only for Parquet)
    except ImportError:
        raise EvaluationError(f"{path}: Parquet needs pyarrow (requirements-evaluate.txt)") from None
    return enumerate(pq.read_table(path).to_pylist(), 1)


def read_outcomes(path, id_key=None, table=None):
    """customer key -> Outcome, from the CSV at `path`; with `id_key`, keyed by the id's hash, as a
    log written with that key holds it. `table` (Table.of a model) lets the model's training table
    itself be the outcomes: its id column and its target, read by the target's own values."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            return _outcomes(path, csv.DictReader(file), id_key, table or Table())
    except UnicodeDecodeError:
        raise EvaluationError(f"{path}: an outcomes file is CSV in UTF-8") from None


@dataclass(frozen=True)
class Table:
    """What a model says of its training table: its id column, and its target column and values."""

    id_column: str = "customerid"
    target: dict | None = None  # {"column", "positive", "negative"}

    @classmethod
    def of(cls, model):
        return cls(model.schema.id_column, model.metadata.get("target"))

    def read(self, churned):
        """Whether a target cell means churn: by the table's own values, else yes/no."""
        if self.target and churned.strip() in (self.target["positive"], self.target["negative"]):
            return churned.strip() == self.target["positive"]
        return _yes_or_no(churned)


def _outcomes(path, reader, id_key, table):
    columns = {_plain(name): name for name in reader.fieldnames or ()}
    target = _plain(table.target["column"]) if table.target else "churned"
    id_column = columns.get("customerid") or columns.get(_plain(table.id_column))
    churn_column = columns.get("churned") or columns.get("churn") or columns.get(target)
    if id_column is None or churn_column is None:
        raise EvaluationError(
            f"{path}: an outcomes file needs the columns customerid and churned "
            f"(or the training table's own {table.id_column} and {table.target['column'] if table.target else 'Churn'})"
        )
    time_column = columns.get("observedat")
    outcomes, lines = {}, {}
    for number, row in enumerate(reader, 2):
        key = _id_text(row[id_column])
        if id_key is not None:
            key = customerid_hash(key, id_key)
        if key in outcomes:
            raise EvaluationError(
                f"{path}, line {number}: customer {row[id_column]} has an outcome on line {lines[key]} too"
            )
        observed_at = row[time_column] if time_column else None
        outcomes[key], lines[key] = _outcome(path, number, row[churn_column], observed_at, table), number
    return outcomes


def _outcome(path, number, churned, observed_at, table):
    try:
        churned = table.read(churned)
        return Outcome(churned, _observed(observed_at) if observed_at else None)
    except ValueError as error:
        raise EvaluationError(f"{path}, line {number}: {error}") from None


def _observed(text):
    if re.fullmatch(r"\d{4}-\d\d-\d\d", text.strip()):  # a date: at any time that day
        day = datetime.date.fromisoformat(text.strip())
        return datetime.datetime.combine(day, datetime.time.max, tzinfo=datetime.UTC)
    try:
        return _utc(datetime.datetime.fromisoformat(text.strip()))
    except ValueError:
        raise ValueError(f"observed_at must be an ISO 8601 date or time, not {text!r}") from None


def join(predictions, outcomes):
    """Joined: for each customer with an outcome, the last prediction made at or before it."""
    chosen, scored_again, after_outcome, never_scored = [], 0, 0, 0
    for key, outcome in outcomes.items():
        made = predictions.by_customer.get(key, [])
        usable = [p for p in made if p.time is None or outcome.observed_at is None or p.time <= outcome.observed_at]
        after_outcome += len(made) - len(usable)
        if not usable:
            never_scored += 1
            continue
        last = max(usable, key=lambda p: (p.time or _BEFORE_EVERYTHING, p.order))
        scored_again += len(usable) - 1
        chosen.append((last, outcome.churned))
    chosen.sort(key=lambda pair: pair[0].order)
    versions = {}
    for prediction, _ in chosen:
        versions[prediction.model_version] = versions.get(prediction.model_version, 0) + 1
    return Joined(
        probabilities=[prediction.probability for prediction, _ in chosen],
        decisions=[prediction.churn for prediction, _ in chosen],
        churned=[int(churned) for _, churned in chosen],
        scored_again=scored_again,
        after_outcome=after_outcome,
        awaiting_outcome=sum(1 for key in predictions.by_customer if key not in outcomes),
        never_scored=never_scored,
        versions=versions,
    )


def _yes_or_no(value):
    text = str(value).strip().lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ValueError(f"churned must be yes or no (true/false, 1/0), not {value!r}")


def _id_text(value):
    """A customerid as text: JSON's 7590 and a CSV's "7590" are one customer."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _plain(name):
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _utc(moment):
    return moment.replace(tzinfo=datetime.UTC) if moment.tzinfo is None else moment.astimezone(datetime.UTC)
