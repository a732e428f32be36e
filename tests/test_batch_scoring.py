"""The batch scorer (churn.batch.tables: Arrow and NumPy, a column at a time) gives every row the
verdict, the probability and the explanation that the per-row scorer gives it."""

import decimal
import json

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churn.batch.tables import EXPLANATION, BatchScorer, results_of
from churn.core.customer_files import InputError
from churn.core.prediction import result_json
from churn.core.schema import MAX_NUMBER, describe
from churn.core.scorer import Scorer


def _per_row(model, rows, explain_top=None):
    """What the service's Scorer says of each row: ("valid", its result) or ("invalid", its message)."""
    scorer, verdicts = Scorer(model), []
    for row in rows:
        scores = scorer.score([row])
        if scores.refused:
            verdicts.append(("invalid", describe(scores.refused[0].errors)))
        else:
            verdicts.append(("valid", scorer.results(scores, explain_top).dicts()[0]))
    return verdicts


def _by_batch(model, batch, explain_top=None):
    scored = BatchScorer(model, batch.schema.names, explain_top).score(batch)
    results = iter(results_of(scored.results).dicts())
    rejected = {row: message for row, _, message in scored.rejects}
    return [("invalid", rejected[row]) if row in rejected else ("valid", next(results)) for row in range(len(batch))]


def _assert_same(by_batch, per_row):
    assert [verdict for verdict, _ in by_batch] == [verdict for verdict, _ in per_row]
    for (verdict, got), (_, expected) in zip(by_batch, per_row, strict=True):
        if verdict == "invalid":
            assert got == expected
            continue
        assert got["churn_probability"] == pytest.approx(expected["churn_probability"], abs=1e-12)
        assert {key: value for key, value in got.items() if key != "churn_probability"} == {
            key: json.loads(result_json(expected))[key] for key in expected if key != "churn_probability"
        }


@pytest.mark.parametrize("types", ["as text", "as Arrow infers them"])
def test_every_real_customer_gets_the_per_row_result_and_explanation(model, data_path, raw_rows, types):
    options = pcsv.ConvertOptions(column_types=dict.fromkeys(raw_rows[0], pa.string())) if types == "as text" else None
    batch = pcsv.read_csv(data_path, convert_options=options).combine_chunks().to_batches()[0]
    rows = batch.to_pylist()  # the same values as Python objects: 20.0 where Arrow read a column as numbers
    _assert_same(_by_batch(model, batch, explain_top=19), _per_row(model, rows, explain_top=19))


_COLUMN_VALUES = {  # an Arrow type, and values of it that probe validation's edges
    pa.string(): st.one_of(
        st.none(), st.text(max_size=8), st.sampled_from(["", " ", "1.5", "Yes", "No", "Month-to-month", "0", "29.85"])
    ),
    pa.int64(): st.one_of(st.none(), st.integers(-5, 2 * MAX_NUMBER)),
    pa.float64(): st.one_of(st.none(), st.floats(allow_nan=True), st.floats(0, 100)),
    pa.bool_(): st.one_of(st.none(), st.booleans()),
}


@st.composite
def _batches(draw, model, book_customer):
    """A batch of customers like the book's, some of whose columns are of another type and hold
    other values; sometimes with a customerid column."""
    rows = draw(st.integers(1, 12))
    arrays = {}
    for field in model.schema.fields:
        if draw(st.integers(0, 12)):
            arrays[field] = pa.array([book_customer[field]] * rows)
            continue
        arrow_type = draw(st.sampled_from(list(_COLUMN_VALUES)))
        arrays[field] = pa.array(draw(st.lists(_COLUMN_VALUES[arrow_type], min_size=rows, max_size=rows)), arrow_type)
    if draw(st.booleans()):
        ids = st.one_of(st.none(), st.text(max_size=3), st.text(min_size=129, max_size=130))
        arrays["customerID"] = pa.array(draw(st.lists(ids, min_size=rows, max_size=rows)), pa.string())
    return pa.RecordBatch.from_pydict(arrays)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_column_of_any_type_gets_the_per_row_verdict(model, book_customer, data):
    batch = data.draw(_batches(model, book_customer))
    _assert_same(_by_batch(model, batch, explain_top=3), _per_row(model, batch.to_pylist(), explain_top=3))


def test_dictionary_columns_with_nulls_get_the_per_row_verdict(model, book_customer):
    batch = pa.RecordBatch.from_pydict({field: pa.array([book_customer[field]] * 3) for field in model.schema.fields})
    contract = pa.array(["month-to-month", None, "weekly"]).dictionary_encode()
    batch = batch.set_column(batch.schema.get_field_index("contract"), "contract", contract)
    _assert_same(_by_batch(model, batch), _per_row(model, batch.to_pylist()))


def test_decimal_columns_score_as_the_json_numbers_of_their_digits(model, book_customer):
    arrays = {field: pa.array([book_customer[field]] * 2) for field in model.schema.fields}
    arrays["monthlycharges"] = pa.array([decimal.Decimal("29.85"), decimal.Decimal("-1.00")], pa.decimal128(10, 2))
    arrays["seniorcitizen"] = pa.array([decimal.Decimal(1), decimal.Decimal(0)], pa.decimal128(1, 0))
    batch = pa.RecordBatch.from_pydict(arrays)
    rows = [
        dict(row, monthlycharges=float(row["monthlycharges"]), seniorcitizen=float(row["seniorcitizen"]))
        for row in batch.to_pylist()
    ]
    _assert_same(_by_batch(model, batch, explain_top=19), _per_row(model, rows, explain_top=19))


def test_a_missing_column_stops_before_any_row(model, book_customer):
    names = [field for field in model.schema.fields if field != "tenure"]
    with pytest.raises(InputError, match="no column for tenure"):
        BatchScorer(model, names)


def test_a_column_of_lists_is_named(model, book_customer):
    arrays = {field: pa.array([book_customer[field]]) for field in model.schema.fields}
    arrays["tenure"] = pa.array([[1, 2]])
    with pytest.raises(InputError, match="the column for tenure holds list<item: int64> values"):
        _by_batch(model, pa.RecordBatch.from_pydict(arrays))


def test_results_have_the_model_version_and_explanations_as_json(model, book_customer):
    batch = pa.RecordBatch.from_pydict({field: pa.array([book_customer[field]]) for field in model.schema.fields})
    results = BatchScorer(model, batch.schema.names, explain_top=2).score(batch).results
    assert results.column("model_version").to_pylist() == [model.version]
    explanation = json.loads(results.column(EXPLANATION)[0].as_py())
    assert len(explanation["factors"]) == 2 and explanation["base_value"] == model.explainer.base_value


def test_a_negative_zero_is_named_as_itself_beside_a_zero(model, book_customer):
    """-0.0 equals 0.0, and hashes alike: the checks remembered per value must still echo each as sent
    (hypothesis found it, seed 102)."""
    arrays = {field: pa.array([book_customer[field]] * 3) for field in model.schema.fields}
    arrays["partner"] = pa.array([0.0, -0.0, 0.0], pa.float64())
    batch = pa.RecordBatch.from_pydict(arrays)
    _assert_same(_by_batch(model, batch), _per_row(model, batch.to_pylist()))
