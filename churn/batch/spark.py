"""What Spark's executors run for predict_spark.py: each partition's Arrow batches scored by
churn.batch.tables, each row given its score or its problem. The model comes as the artifact's JSON
text (a broadcast variable), never as a pickle, and is built once per Python worker."""

import json

import numpy as np
import pyarrow as pa

from churn.batch.tables import EXPLANATION, VERSION, BatchScorer
from churn.core.model import model_from_artifact
from churn.core.prediction import DECISION, PROBABILITY
from churn.core.schema import ID_FIELD

PROBLEM = "problem"  # what is wrong with a row that could not be scored; null for the others
# A rejected row as read, kept whole in one column (its names may be any, a "Churn" among them); null
# for the rows scored, so that only the rejected rows' values travel back to Spark.
INPUT = "input"

_models = {}  # the artifact's text -> its model, in this worker


def added_columns(explain_top):
    """(name, Arrow type) of the columns each row gets, in order."""
    columns = [(PROBABILITY, pa.float64()), (DECISION, pa.bool_()), (VERSION, pa.string())]
    columns += [(EXPLANATION, pa.string())] if explain_top else []
    return [*columns, (PROBLEM, pa.string())]


def scored_batches(batches, artifact, explain_top):
    """Each batch as a struct column INPUT (its rejected rows), the customerid of every row, then
    added_columns: the scores of its valid rows, and the problem of the others."""
    model = _models.get(artifact) or _models.setdefault(artifact, model_from_artifact(json.loads(artifact)))
    scorer = None
    for batch in batches:
        scorer = scorer or BatchScorer(model, batch.schema.names, explain_top)
        customerids = next(batch.column(index) for field, index in scorer.columns if field == ID_FIELD)
        yield _with_scores(batch, customerids, scorer.score(batch), explain_top)


def _with_scores(batch, customerids, scored, explain_top):
    rows = len(batch)
    names = [INPUT, ID_FIELD, *(name for name, _ in added_columns(explain_top))]
    arrays = [_rejected_as_read(batch, scored.rejects)]
    arrays.append(customerids.dictionary_decode() if pa.types.is_dictionary(customerids.type) else customerids)
    for name, _ in added_columns(explain_top)[:-1]:
        arrays.append(_spread(scored.results.column(name), scored.kept, rows))
    problems = [None] * rows
    for row, _, problem in scored.rejects:
        problems[row] = problem
    arrays.append(pa.array(problems, pa.string()) if scored.rejects else pa.nulls(rows, pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _rejected_as_read(batch, rejects):
    """The rows of `batch` that were rejected, as one struct column, null for the others."""
    if not rejects:
        return pa.nulls(len(batch), pa.struct(list(batch.schema)))
    rejected = np.array([row for row, _, _ in rejects], dtype=np.int64)
    as_read = [_only_at(column, rejected) for column in batch.columns]
    return pa.StructArray.from_arrays(as_read, names=batch.schema.names, mask=_absent(rejected, len(batch)))


def _absent(rows_of_values, rows):
    """A mask of `rows` rows, true but at `rows_of_values`."""
    absent = np.ones(rows, dtype=bool)
    absent[rows_of_values] = False
    return pa.array(absent)


def _only_at(column, kept_rows):
    """The column's values at `kept_rows`, null elsewhere."""
    positions = np.full(len(column), -1, dtype=np.int64)
    positions[kept_rows] = kept_rows
    return column.take(pa.array(positions, mask=positions < 0))


def _spread(values, rows_of_values, rows):
    """`values` put at `rows_of_values` of a column of `rows` rows, null elsewhere."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if len(rows_of_values) == rows:  # every row
        return values
    positions = np.full(rows, -1, dtype=np.int64)
    positions[rows_of_values] = np.arange(len(rows_of_values))
    indices = pa.array(positions, mask=positions < 0)
    return values.take(indices)
