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
        yield _with_scores(batch, batch.column(scorer.id_index), scorer.score(batch), explain_top)


def _with_scores(batch, customerids, scored, explain_top):
    rows = len(batch)
    rejected = np.array([row for row, _, _ in scored.rejects], dtype=np.int64)
    arrays = [_rejected_as_read(batch, rejected)]
    arrays.append(customerids.dictionary_decode() if pa.types.is_dictionary(customerids.type) else customerids)
    for name, _ in added_columns(explain_top)[:-1]:
        arrays.append(_spread(scored.results.column(name), scored.kept, rows))
    problems = pa.array([problem for _, _, problem in scored.rejects], pa.string())
    arrays.append(_spread(problems, rejected, rows))
    names = [INPUT, ID_FIELD, *(name for name, _ in added_columns(explain_top))]
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _rejected_as_read(batch, rejected):
    """The `rejected` rows of `batch`, as they were read, as one struct column, null for the others."""
    if not len(rejected):
        return pa.nulls(len(batch), pa.struct(list(batch.schema)))
    as_read = [_spread(column.take(rejected), rejected, len(batch)) for column in batch.columns]
    absent = np.ones(len(batch), dtype=bool)
    absent[rejected] = False
    return pa.StructArray.from_arrays(as_read, names=batch.schema.names, mask=pa.array(absent))


def _spread(values, rows_of_values, rows):
    """`values` put at `rows_of_values` of a column of `rows` rows, null elsewhere."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if len(rows_of_values) == rows:  # every row
        return values
    if not len(rows_of_values):
        return pa.nulls(rows, values.type)
    positions = np.full(rows, -1, dtype=np.int64)
    positions[rows_of_values] = np.arange(len(rows_of_values))
    return values.take(pa.array(positions, mask=positions < 0))
