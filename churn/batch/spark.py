"""What Spark's executors run for predict_spark.py: each partition's Arrow batches scored by
churn.batch.tables, each row given its score or its problem. The model comes as the artifact's JSON
text (a broadcast variable), never as a pickle, and is built once per Python worker."""

import json

import numpy as np
import pyarrow as pa

from churn.batch.tables import EXPLANATION, VERSION, BatchScorer
from churn.core.model import model_from_artifact
from churn.core.prediction import DECISION, PROBABILITY

PROBLEM = "problem"  # what is wrong with a row that could not be scored; null for the others
INPUT = "input"  # the row as read, kept whole in one column: its names may be any (a "Churn" among them)

_models = {}  # the artifact's text -> its model, in this worker


def added_columns(explain_top):
    """(name, Arrow type) of the columns each row gets, in order."""
    columns = [(PROBABILITY, pa.float64()), (DECISION, pa.bool_()), (VERSION, pa.string())]
    columns += [(EXPLANATION, pa.string())] if explain_top else []
    return [*columns, (PROBLEM, pa.string())]


def scored_batches(batches, artifact, explain_top):
    """Each batch as a struct column INPUT, then added_columns: the scores of its valid rows, and the
    problem of the others."""
    model = _models.get(artifact) or _models.setdefault(artifact, model_from_artifact(json.loads(artifact)))
    scorer = None
    for batch in batches:
        scorer = scorer or BatchScorer(model, batch.schema.names, explain_top)
        yield _with_scores(batch, scorer.score(batch), explain_top)


def _with_scores(batch, scored, explain_top):
    rows = len(batch)
    arrays = [pa.StructArray.from_arrays(batch.columns, names=batch.schema.names)]
    for name, _ in added_columns(explain_top)[:-1]:
        arrays.append(_spread(scored.results.column(name), scored.kept, rows))
    problems = [None] * rows
    for row, _, problem in scored.rejects:
        problems[row] = problem
    arrays.append(pa.array(problems, pa.string()))
    names = [INPUT, *(name for name, _ in added_columns(explain_top))]
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _spread(values, rows_of_values, rows):
    """`values` put at `rows_of_values` of a column of `rows` rows, null elsewhere."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    positions = np.full(rows, -1, dtype=np.int64)
    positions[rows_of_values] = np.arange(len(rows_of_values))
    indices = pa.array(positions, mask=positions < 0)
    return values.take(indices)
