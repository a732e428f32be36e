"""Customers in Arrow record batches, validated and scored a column at a time: the batch path's scorer.

Each column is checked once per distinct value (a dictionary-encoded column, as Parquet stores a
column of few values, is read as its dictionary and the rows' indices into it), or, for a column of
numbers, with NumPy. The rules are the schema's own (FieldRule.read for each distinct value,
FieldRule.admits for a column of numbers, is_valid_id), so a row is valid here exactly when the
Scorer accepts it, with the same message when it does not. The scores are the model's own arithmetic
applied to whole columns: each term's contribution (of each distinct value, or of the column of
numbers), their log-odds (ChurnModel.log_odds) and the sigmoid (churn.core.model.sigmoid), so the
probabilities equal the Scorer's (to the last bit but for exp(), which NumPy may round differently,
and Python 3.12's sum(), which compensates: tests hold them to 1e-12). Explanations, a row at a
time, are churn.core.explain's.
"""

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from churn.batch.rows import LogSpec, Scored, line_maker
from churn.core.customer_files import InputError, kept_columns
from churn.core.explain import explain
from churn.core.features import normalise
from churn.core.model import sigmoid
from churn.core.prediction import DECISION, EXPLANATION, PROBABILITY, Results, explanation_json
from churn.core.schema import ID_FIELD, ID_RULE, MAX_ID_CHARS, describe, is_valid_id
from churn.core.scorer import Scores

VERSION = "model_version"
MAX_REMEMBERED = 1 << 16  # distinct values a field's checks are kept for: a few MiB at most


@dataclass
class Column:
    """One field's column, checked: per row, what it adds to the log-odds (0.0 where it is invalid),
    whether it is invalid, and how to read back its prepared values and its problems for the rows
    that need them (explanations, the prediction log, rejects)."""

    contributions: np.ndarray  # float64
    invalid: np.ndarray | None  # bool; None when every row is valid
    values_of: callable  # rows (a NumPy array of indices) -> their values as validation prepares them
    problem_of: callable  # row -> what is wrong with it, or None


@dataclass
class ScoredBatch:
    """A batch's results: the valid rows' results as an Arrow batch, and the invalid rows' problems as
    (row within the batch, customerid or None, message as InvalidCustomer gives it)."""

    results: pa.RecordBatch
    rejects: list
    kept: np.ndarray  # the rows of the batch that `results` holds, in order
    scores: Scores | None = None  # with_scores: the kept rows' Scores (for the prediction log)


def input_columns(model, names):
    """(field or customerid, index of its column among `names`) for the model's fields and a
    customerid, if there is one; InputError (churn.core.customer_files) if a field has no column or
    more than one (names ignore case)."""
    index_of = {name: index for index, name in enumerate(names)}
    schema = model.schema
    kept = kept_columns(names, schema.required, schema.optional, schema.id_names)
    return [(ID_FIELD if normalise(name) in schema.id_names else normalise(name), index_of[name]) for name, _ in kept]


class BatchScorer:
    """Validates and scores batches of one input: its columns found once, and each field's distinct
    values checked once for all its batches (up to MAX_REMEMBERED values a field, then again)."""

    def __init__(self, model, names, explain_top=None):
        self.model, self.explain_top = model, explain_top
        self.columns = dict(input_columns(model, names))
        self.id_index = self.columns.pop(ID_FIELD, None)
        self.rules = {rule.name: rule for rule in model.schema.rules}
        self.remembered = {}  # (field, Arrow type) -> {raw value -> FieldRule.read's answer}: 1 and True are equal keys

    def score(self, batch, with_scores=False):
        """Validate and score every row of `batch` (an Arrow RecordBatch of the input's columns);
        ScoredBatch, with the valid rows' Scores too when asked (for the prediction log)."""
        model = self.model
        checked = {term.field: self._checked(term, self._column(batch, term.field)) for term in model.terms}
        ids = _plain(batch.column(self.id_index)) if self.id_index is not None else None
        id_invalid = _invalid_ids(ids) if ids is not None else None
        masks = [mask for mask in [*(column.invalid for column in checked.values()), id_invalid] if mask is not None]
        invalid = np.logical_or.reduce(masks) if masks else np.zeros(len(batch), dtype=bool)
        probabilities = sigmoid(model.log_odds(column.contributions for column in checked.values()), exp=np.exp)
        kept = np.flatnonzero(~invalid)
        kept_ids = ids
        if len(kept) < len(batch):
            probabilities = probabilities[kept]
            kept_ids = ids.take(kept) if ids is not None else None
        arrays = {ID_FIELD: kept_ids if kept_ids is not None else pa.nulls(len(kept), pa.string())}
        arrays[PROBABILITY] = pa.array(probabilities)
        arrays[DECISION] = pa.array(probabilities >= model.threshold)
        arrays[VERSION] = _version_column(model.version, len(kept))
        needs_rows = self.explain_top or with_scores  # the kept rows as the Scorer's: values in the terms' order
        rows = list(zip(*(column.values_of(kept) for column in checked.values()), strict=True)) if needs_rows else None
        if self.explain_top:
            texts = [explanation_json(explain(model.explainer, row, self.explain_top)) for row in rows]
            arrays[EXPLANATION] = pa.array(texts, pa.string())
        rejects = [_reject(model, checked, ids, id_invalid, row) for row in np.flatnonzero(invalid).tolist()]
        scores = _scores(rows, kept_ids, arrays) if with_scores else None
        return ScoredBatch(pa.RecordBatch.from_pydict(arrays), rejects, kept, scores)

    def _column(self, batch, field):
        """The batch's column of a field; for an optional field the input lacks, a column of nulls."""
        if field in self.columns:
            return batch.column(self.columns[field])
        return pa.nulls(len(batch), pa.string())

    def _checked(self, term, array):
        rule = self.rules[term.field]
        if pa.types.is_decimal(array.type):  # a data lake's money: the float a JSON number of its digits is
            array = pc.cast(array, pa.float64())
        if rule.values is None and _is_number_type(array.type) and not (rule.optional and array.null_count):
            return _checked_numbers(rule, term, array)  # a null a blank may be: read by value, as the rule reads it
        if pa.types.is_nested(_plain_type(array.type)):
            raise InputError(f"the column for {term.field} holds {array.type} values, not numbers or text")
        remembered = self.remembered.setdefault((term.field, str(array.type)), {})
        if len(remembered) > MAX_REMEMBERED:
            remembered.clear()
        return _checked_by_value(rule, term, array, remembered)


def _scores(rows, ids, arrays):
    """The Scores of the kept rows, for the prediction log."""
    probabilities = arrays[PROBABILITY].to_pylist()
    ids = ids.to_pylist() if ids is not None else [None] * len(rows)
    return Scores(rows, ids, probabilities, arrays[DECISION].to_pylist(), [])


# --- a column's checks -----------------------------------------------------------------------------


def _is_number_type(arrow_type):
    return pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)


def _checked_numbers(rule, term, array):
    """A column of numbers, checked with NumPy by the rule's bounds (nulls are NaN: never within)."""
    numbers = array.to_numpy(zero_copy_only=False).astype(np.float64)
    with np.errstate(invalid="ignore"):
        invalid = ~rule.admits(numbers)
    any_invalid = invalid.any()
    if any_invalid:
        numbers[invalid] = 0.0
    return Column(
        contributions=term.contribution(numbers),
        invalid=invalid if any_invalid else None,
        values_of=lambda rows: array.take(rows).to_pylist(),  # an integer stays one, as in JSON
        problem_of=lambda row: rule.read(array[row].as_py())[1],
    )


def _checked_by_value(rule, term, array, remembered):
    """A column checked once per distinct value (`remembered`: raw value -> FieldRule.read's answer):
    its dictionary, and each row's index into it."""
    dictionary, indices = _dictionary(array)
    # A float is remembered by its spelling: -0.0 equals 0.0 (and hashes alike), but is echoed otherwise.
    keys = [repr(raw) if type(raw) is float else raw for raw in dictionary]
    checked = [
        remembered.get(key) or remembered.setdefault(key, rule.read(raw))
        for raw, key in zip(dictionary, keys, strict=True)
    ]
    contributions = np.array([0.0 if problem else term.contribution(value) for value, problem in checked], np.float64)
    bad = np.array([problem is not None for _, problem in checked], dtype=bool)
    values = [value for value, _ in checked]
    return Column(
        contributions=contributions[indices],
        invalid=bad[indices] if bad.any() else None,
        values_of=lambda rows: list(map(values.__getitem__, indices[rows].tolist())),
        problem_of=lambda row: checked[indices[row]][1],
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


# --- Parquet files, and results as batches and as rows ---------------------------------------------

BATCH_ROWS = 1 << 16  # rows read, scored and written at once: tens of MiB at most, whatever the file


@dataclass(frozen=True)
class BatchSpec:
    """What a process needs to score an input's batches: the model, the input's column names, how
    many factors to explain, and whether and how to make the prediction log's lines."""

    model: object  # churn.core.model.ChurnModel, sent whole: the artifact is read once, by predict.py
    names: tuple
    explain_top: int | None
    log: LogSpec | None = None


def batch_scorer(spec):
    """A function: (number of the rows before it, a batch) -> churn.batch.rows.Scored, its results an
    Arrow batch and its rejects numbered by row from 1, as a file's lines are; with spec.log, the
    prediction log's lines of its customers."""
    scorer = BatchScorer(spec.model, list(spec.names), spec.explain_top)
    log_lines = line_maker(spec.model, spec.log)

    def score(piece):
        rows_before, batch = piece
        scored = scorer.score(batch, with_scores=log_lines is not None)
        rejects = [(rows_before + row + 1, customerid, message) for row, customerid, message in scored.rejects]
        return Scored(scored.results, rejects, log_lines(scored.scores) if log_lines is not None else [])

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
    """Results (churn.core.prediction) as a batch of the columns BatchScorer gives, the customerid as
    text (a JSON file may mix text and numbers)."""
    ids = [None if customerid is None else str(customerid) for customerid in results.ids]
    arrays = {ID_FIELD: pa.array(ids, pa.string())}
    arrays[PROBABILITY] = pa.array(results.probabilities, pa.float64())
    arrays[DECISION] = pa.array(results.decisions, pa.bool_())
    arrays[VERSION] = _version_column(version, len(results))
    if results.explanations is not None:
        arrays[EXPLANATION] = pa.array(list(map(explanation_json, results.explanations)), pa.string())
    return pa.RecordBatch.from_pydict(arrays)


def results_of(batch):
    """A batch of BatchScorer's columns as Results, as /predict answers them."""
    explanations = batch.column(EXPLANATION).to_pylist() if EXPLANATION in batch.schema.names else None
    return Results(
        batch.column(ID_FIELD).to_pylist(),
        batch.column(PROBABILITY).to_pylist(),
        batch.column(DECISION).to_pylist(),
        None if explanations is None else list(map(json.loads, explanations)),
    )
