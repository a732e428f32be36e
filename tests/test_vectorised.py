"""The vectorised scorer (the batch path, NumPy) gives every row the per-row scorer's probability."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from churn.batch.vectorised import probabilities, validated_columns
from churn.core.features import FIELDS, normalise
from churn.core.model import score
from churn.core.schema import MAX_NUMBER, InvalidCustomer, validate_customer


def _columns(customers, fields):
    return {field: [customer[field] for customer in customers] for field in fields}


def test_every_real_customer_gets_the_per_row_probability(model, customers):
    validated = [
        validate_customer({field: customer[field] for field in FIELDS}, model.schema) for customer in customers
    ]
    assert probabilities(model, _columns(validated, model.schema.fields)).tolist() == pytest.approx(
        score(model, validated), abs=1e-12
    )


@st.composite
def _validated_customers(draw, schema):
    customer = {field: draw(st.sampled_from(sorted(values, key=str))) for field, values in schema.categorical.items()}
    for field in schema.numerical:
        customer[field] = draw(st.one_of(st.integers(0, MAX_NUMBER), st.floats(0, MAX_NUMBER, allow_nan=False)))
    return customer


@given(data=st.data())
def test_generated_customers_get_the_per_row_probability_even_at_the_extremes(model, data):
    customers = data.draw(st.lists(_validated_customers(model.schema), min_size=1, max_size=50))
    assert probabilities(model, _columns(customers, model.schema.fields)).tolist() == pytest.approx(
        score(model, customers), abs=1e-12
    )


def test_columns_of_different_lengths_are_refused(model, book_customer):
    columns = _columns([validate_customer(book_customer, model.schema)], model.schema.fields)
    columns["tenure"] = [1, 2]
    with pytest.raises(ValueError, match="one length"):
        probabilities(model, columns)


def _per_row(model, rows):
    """validate_customer's verdict on each row: its prepared values, or its errors."""
    verdicts = []
    for row in rows:
        try:
            verdicts.append(("valid", validate_customer(row, model.schema)))
        except InvalidCustomer as invalid:
            verdicts.append(("invalid", invalid.errors))
    return verdicts


def _by_columns(model, rows, fields):
    prepared, errors = validated_columns(model, _columns(rows, fields))
    return [
        ("invalid", errors[row]) if row in errors else ("valid", {field: prepared[field][row] for field in prepared})
        for row in range(len(rows))
    ]


def test_the_raw_data_sets_spellings_are_prepared_as_validation_prepares_them(model, raw_rows):
    rows = [{normalise(key): value for key, value in row.items() if normalise(key) in FIELDS} for row in raw_rows]
    assert _by_columns(model, rows, model.schema.fields) == _per_row(model, rows)


_raw_values = st.one_of(
    st.text(max_size=12), st.integers(-5, 10**10), st.floats(allow_nan=True), st.sampled_from(["", " ", "1.5", "Yes"])
)


@given(data=st.data())
def test_any_values_get_the_verdict_validation_gives_each_row(model, data):
    rows = data.draw(st.lists(_validated_customers(model.schema), min_size=1, max_size=20))
    for row in rows:
        for field in data.draw(st.sets(st.sampled_from(model.schema.fields), max_size=3)):
            row[field] = data.draw(_raw_values)
    assert _by_columns(model, rows, model.schema.fields) == _per_row(model, rows)


def test_a_missing_column_is_an_error_of_every_row_named_first(model, book_customer):
    rows = [validate_customer(book_customer, model.schema)] * 2
    fields = [field for field in model.schema.fields if field != "tenure"]
    verdicts = _by_columns(model, rows, fields)
    assert verdicts == [("invalid", [{"field": "tenure", "message": "is required"}])] * 2
