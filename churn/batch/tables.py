"""Customers in Arrow record batches, validated and scored a column at a time: the batch path's scorer.

Each column is checked once per distinct value (a dictionary-encoded column, as Parquet stores a
column of few values, is read as its dictionary and the rows' indices into it), or, for a column of
numbers, with NumPy; each row then takes its values' weights by index, in C. The checks are
churn.core.schema's own (checked_value, is_valid_id), so a row is valid here exactly when
validate_customer accepts it, with the same message when it does not; the terms of the log-odds are
added in churn.core.model.logit's order, so the probabilities equal the per-row scorer's (to the last
bit but for exp(), which NumPy may round differently: tests hold them to 1e-12).
"""

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from churn.batch.rows import LogSpec, Scored, line_maker
from churn.core.customer_files import InputError, kept_columns
from churn.core.explain import factor
from churn.core.features import normalise
from churn.core.model import load_model
from churn.core.prediction import DECISION, PROBABILITY, explanation_json
from churn.core.schema import (
    ID_FIELD,
    ID_RULE,
    MAX_ID_CHARS,
    MAX_NUMBER,
    MIN_NUMBER,
    checked_value,
    describe,
    is_valid_id,
)

VERSION = "model_version"
EXPLANATION = "explanation"
MAX_REMEMBERED = 1 << 16  # distinct values a field's checks are kept for: a few MiB at most


@dataclass
class Column:
    """One field's column, checked: per row, the number it adds to the log-odds (a categorical
    field's weight) or is multiplied in by (a number), whether it is invalid, and how to read back
    its prepared value and its problem for the rows that need them (explanations, rejects)."""

    numbers: np.ndarray  # float64, a row's weight or number; 0.0 where the row is invalid
    invalid: np.ndarray | None  # bool; None when every row is valid
    value_of: callable  # row -> the value as validate_customer prepares it
    problem_of: callable  # row -> what is wrong with it, or None
    distinct: list | None = None  # checked by value: each distinct value's checked_value answer
    indices: np.ndarray | None = None  # and each row's index among them


@dataclass
class ScoredBatch:
    """A batch's results: the valid rows' results as an Arrow batch, and the invalid rows' problems as
    (row within the batch, customerid or None, message as InvalidCustomer gives it)."""

    results: pa.RecordBatch
    rejects: list
    kept: np.ndarray  # the rows of the batch that `results` holds, in order
    customers: list | None = None  # with_customers: the kept rows as validate_customer returns them


def input_columns(model, names):
    """(field or customerid, index of its column among `names`) for the model's fields and a
    customerid, if there is one; InputError (churn.core.customer_files) if a field has no column or
    more than one (names ignore case)."""
    index_of = {name: index for index, name in enumerate(names)}
    return [(normalise(name), index_of[name]) for name, _ in kept_columns(names, model.schema.fields)]


class BatchScorer:
    """Validates and scores batches of one input: its columns found once, and each field's distinct
    values checked once for all its batches (up to MAX_REMEMBERED values a field, then again)."""

    def __init__(self, model, names, explain_top=None):
        self.model, self.explain_top = model, explain_top
        self.columns = input_columns(model, names)
        self.id_index = next((index for field, index in self.columns if field == ID_FIELD), None)
        self.rules = {rule.name: rule for rule in model.schema.rules}
        self.remembered = {}  # (field, Arrow type) -> {raw value -> checked_value's answer}: 1 and True are equal keys

    def score(self, batch, with_customers=False):
        """Validate and score every row of `batch` (an Arrow RecordBatch of the input's columns);
        ScoredBatch, with the valid customers as dicts too when asked (for the prediction log)."""
        model = self.model
        fields = [(field, index) for field, index in self.columns if field != ID_FIELD]
        checked = {field: self._checked(field, batch.column(index)) for field, index in fields}
        ids = _plain(batch.column(self.id_index)) if self.id_index is not None else None
        id_invalid = _invalid_ids(ids) if ids is not None else None
        masks = [mask for mask in [*(column.invalid for column in checked.values()), id_invalid] if mask is not None]
        invalid = np.logical_or.reduce(masks) if masks else np.zeros(len(batch), dtype=bool)
        probabilities = sigmoid(_logits(model, checked, len(batch)))
        kept = np.flatnonzero(~invalid)
        kept_ids = ids
        if len(kept) < len(batch):
            probabilities = probabilities[kept]
            kept_ids = ids.take(kept) if ids is not None else None
        arrays = {ID_FIELD: kept_ids if kept_ids is not None else pa.nulls(len(kept), pa.string())}
        arrays[PROBABILITY] = pa.array(probabilities)
        arrays[DECISION] = pa.array(probabilities >= model.threshold)
        arrays[VERSION] = _version_column(model.version, len(kept))
        if self.explain_top:
            arrays[EXPLANATION] = pa.array(_explanations(model, checked, kept, self.explain_top), pa.string())
        rejects = [_reject(model, checked, ids, id_invalid, row) for row in np.flatnonzero(invalid).tolist()]
        customers = _customers(checked, kept_ids, kept) if with_customers else None
        return ScoredBatch(pa.RecordBatch.from_pydict(arrays), rejects, kept, customers)

    def _checked(self, field, array):
        rule = self.rules[field]
        if pa.types.is_decimal(array.type):  # a data lake's money: the float a JSON number of its digits is
            array = pc.cast(array, pa.float64())
        if rule.values is None and _is_number_type(array.type):
            return _checked_numbers(rule, array)
        if pa.types.is_nested(_plain_type(array.type)):
            raise InputError(f"the column for {field} holds {array.type} values, not numbers or text")
        remembered = self.remembered.setdefault((field, str(array.type)), {})
        if len(remembered) > MAX_REMEMBERED:
            remembered.clear()
        return _checked_by_value(self.model, rule, array, remembered)


def _customers(checked, ids, rows):
    """The customers at `rows` as validate_customer returns them: each field's prepared value, and the id."""
    rows = rows.tolist()
    columns = {field: [column.value_of(row) for row in rows] for field, column in checked.items()}
    if ids is not None:
        columns[ID_FIELD] = ids.to_pylist()
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _logits(model, checked, rows):
    # In churn.core.model._logit's order: the intercept, each category's weight, each number times its weight.
    total = np.full(rows, model.intercept, dtype=np.float64)
    for field in model.categorical_weights:
        total += checked[field].numbers
    for field, weight in model.numerical_weights.items():
        total += checked[field].numbers * weight
    return total


def sigmoid(z):
    """1 / (1 + e^-z), in the two forms churn.core.model._sigmoid uses (no overflow for large |z|)."""
    positive = z >= 0
    exp = np.exp(np.where(positive, -z, z))
    return np.where(positive, 1.0 / (1.0 + exp), exp / (1.0 + exp))


# --- a column's checks -----------------------------------------------------------------------------


def _is_number_type(arrow_type):
    return pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)


def _checked_numbers(rule, array):
    """A column of numbers, checked with NumPy: a number of the right range, else checked_value's word."""
    numbers = array.to_numpy(zero_copy_only=False).astype(np.float64)  # nulls become NaN
    with np.errstate(invalid="ignore"):
        invalid = ~((numbers >= MIN_NUMBER) & (numbers <= MAX_NUMBER))  # NaN, null and ±inf too
    any_invalid = invalid.any()
    if any_invalid:
        numbers[invalid] = 0.0
    return Column(
        numbers=numbers,
        invalid=invalid if any_invalid else None,
        value_of=lambda row: array[row].as_py(),
        problem_of=lambda row: checked_value(rule, array[row].as_py())[1],
    )


def _checked_by_value(model, rule, array, remembered):
    """A column checked once per distinct value (`remembered`: raw value -> checked_value's answer):
    its dictionary, and each row's index into it."""
    dictionary, indices = _dictionary(array)
    checked = [remembered.get(raw) or remembered.setdefault(raw, checked_value(rule, raw)) for raw in dictionary]
    weights = model.categorical_weights.get(rule.name)
    numbers = np.array(
        [0.0 if problem else (weights[value] if weights is not None else float(value)) for value, problem in checked],
        dtype=np.float64,
    )
    bad = np.array([problem is not None for _, problem in checked], dtype=bool)
    return Column(
        numbers=numbers[indices],
        invalid=bad[indices] if bad.any() else None,
        value_of=lambda row: checked[indices[row]][0],
        problem_of=lambda row: checked[indices[row]][1],
        distinct=checked,
        indices=indices,
    )


def _dictionary(array):
    """(the distinct values as Python objects, null among them, each row's index into them)."""
    if not pa.types.is_dictionary(array.type):
        array = pc.dictionary_encode(array, null_encoding="encode")
        return array.dictionary.to_pylist(), array.indices.to_numpy(zero_copy_only=False)
    values = array.dictionary.to_pylist()
    if array.null_count:  # a dictionary array's nulls are in its indices
        return [*values, None], array.indices.fill_null(len(values)).to_numpy(zero_copy_only=False)
    return values, array.indices.to_numpy(zero_copy_only=False)


def _invalid_ids(array):
    """Which rows' customerid is_valid_id refuses (None: none), checked with Arrow for text and integers;
    `array` is not dictionary-encoded."""
    invalid = _id_checks(array)
    return invalid if invalid.any() else None


def _id_checks(array):
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        too_long = pc.greater(pc.utf8_length(array), MAX_ID_CHARS)
        return pc.fill_null(too_long, True).to_numpy(zero_copy_only=False)
    if pa.types.is_integer(array.type):  # every 64-bit integer is shorter than MAX_ID_CHARS digits
        return pc.is_null(array).to_numpy(zero_copy_only=False)
    return np.array([not is_valid_id(value) for value in array.to_pylist()], dtype=bool)


def _version_column(version, rows):
    """The model's version for `rows` rows: one string, and an index of it per row."""
    return pa.DictionaryArray.from_arrays(np.zeros(rows, dtype=np.int32), [version])


def _plain_type(arrow_type):
    return arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type


def _plain(array):
    return array.dictionary_decode() if pa.types.is_dictionary(array.type) else array


# --- what the invalid and the explained rows need, one row at a time ----------------------------------


def _reject(model, checked, id_column, id_invalid, row):
    errors = [
        {"field": rule.name, "message": checked[rule.name].problem_of(row)}
        for rule in model.schema.rules
        if checked[rule.name].invalid is not None and checked[rule.name].invalid[row]
    ]
    if id_invalid is not None and id_invalid[row]:
        errors.append({"field": ID_FIELD, "message": ID_RULE})
    customerid = id_column[row].as_py() if id_column is not None else None
    return row, customerid, describe(errors)


def _explanations(model, checked, rows, top):
    """The explanation of each of `rows` as JSON text (as /predict gives it), its factors chosen with
    NumPy: every field's contribution, then the `top` largest by size, ties in the fields' order, as
    churn.core.explain.explain chooses them."""
    explainer = model.explainer
    sizes, makers = [], []
    for field, table in explainer.categorical.items():  # a categorical column is always checked by value
        column = checked[field]
        size_of = np.array([0.0 if problem else table[value][0] for value, problem in column.distinct])
        sizes.append(size_of[column.indices[rows]])
        makers.append(lambda row, column=column, table=table: table[column.value_of(row)][1])
    for field, (weight, mean) in explainer.numerical.items():
        column = checked[field]
        contributions = weight * (column.numbers[rows] - mean)
        sizes.append(np.abs(contributions))
        makers.append(
            lambda row, at, field=field, column=column, contributions=contributions: factor(
                field, column.value_of(row), float(contributions[at])
            )
        )
    order = np.argsort(-np.column_stack(sizes), axis=1, kind="stable")[:, :top] if len(rows) else []
    texts = []
    for at, (row, chosen) in enumerate(zip(rows.tolist(), order, strict=True)):
        factors = [
            makers[index](row) if index < len(explainer.categorical) else makers[index](row, at)
            for index in chosen.tolist()
        ]
        texts.append(explanation_json({"base_value": explainer.base_value, "factors": factors}))
    return texts


# --- Parquet files, and results as batches and as rows ---------------------------------------------

BATCH_ROWS = 1 << 16  # rows read, scored and written at once: tens of MiB at most, whatever the file


@dataclass(frozen=True)
class BatchSpec:
    """What a process needs to score an input's batches: the model's path, the input's column names,
    and how many factors to explain."""

    model_path: str
    names: tuple
    explain_top: int | None
    log: LogSpec | None = None


def batch_scorer(spec):
    """A function: (number of the rows before it, a batch) -> churn.batch.rows.Scored, its results an
    Arrow batch and its rejects numbered by row from 1, as a file's lines are; with spec.log, the
    prediction log's lines of its customers."""
    model = load_model(spec.model_path)
    scorer = BatchScorer(model, list(spec.names), spec.explain_top)
    log_lines = line_maker(model, spec.log)

    def score(piece):
        rows_before, batch = piece
        scored = scorer.score(batch, with_customers=log_lines is not None)
        rejects = [(rows_before + row + 1, customerid, message) for row, customerid, message in scored.rejects]
        if log_lines is None:
            return Scored(scored.results, rejects)
        probabilities = scored.results.column(PROBABILITY).to_pylist()
        decisions = scored.results.column(DECISION).to_pylist()
        return Scored(scored.results, rejects, log_lines(scored.customers, probabilities, decisions))

    return score


def parquet_batches(path):
    """(the file's column names, (rows before, batch) for each batch of BATCH_ROWS rows, its rows):
    its text columns read as dictionaries, as Parquet stores them, so that each value is read and
    checked once."""
    schema = pq.read_schema(path)
    texts = [
        field.name
        for field in schema
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
        if normalise(field.name) != ID_FIELD
    ]  # but the customerid, which differs in every row
    # Not pre-buffered: Arrow would keep every row group it has read, and memory would grow with the file.
    reader = pq.ParquetFile(path, read_dictionary=texts, pre_buffer=False)

    def batches():
        rows_before = 0
        for batch in reader.iter_batches(batch_size=BATCH_ROWS):
            yield rows_before, batch
            rows_before += len(batch)

    return schema.names, batches(), reader.metadata.num_rows


def results_batch(results, version):
    """Results as dicts (churn.batch.rows) as a batch of the columns BatchScorer gives, the customerid
    as text (a JSON file may mix text and numbers)."""
    ids = [result.get(ID_FIELD) for result in results]
    arrays = {ID_FIELD: pa.array([None if customerid is None else str(customerid) for customerid in ids], pa.string())}
    arrays[PROBABILITY] = pa.array([result[PROBABILITY] for result in results], pa.float64())
    arrays[DECISION] = pa.array([result[DECISION] for result in results], pa.bool_())
    arrays[VERSION] = _version_column(version, len(results))
    if results and EXPLANATION in results[0]:
        arrays[EXPLANATION] = pa.array([explanation_json(result[EXPLANATION]) for result in results], pa.string())
    return pa.RecordBatch.from_pydict(arrays)


def result_dicts(batch):
    """A batch of BatchScorer's columns as results as dicts, as /predict answers them (a customerid
    only where there is one)."""
    columns = batch.to_pydict()
    columns.pop(VERSION)
    if EXPLANATION in columns:
        columns[EXPLANATION] = [json.loads(text) for text in columns[EXPLANATION]]
    names = list(columns)
    results = [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    for result in results:
        if result[ID_FIELD] is None:
            del result[ID_FIELD]
    return results
