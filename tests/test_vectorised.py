"""The vectorised scorer (the batch path, NumPy) gives every row the per-row scorer's probability."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from churn.batch.vectorised import probabilities
from churn.core.features import FIELDS
from churn.core.model import score
from churn.core.schema import MAX_NUMBER, validate_customer


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
