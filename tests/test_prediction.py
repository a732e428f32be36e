"""The result document: written as JSON exactly as json.dumps writes it, the book's answer by hand."""

import json

from hypothesis import given
from hypothesis import strategies as st

from churn.core.prediction import DECISION, PROBABILITY, Results, result_json
from churn.core.schema import ID_FIELD, MAX_ID_INTEGER, MIN_ID_INTEGER
from churn.core.scorer import Scorer

_ids = st.one_of(
    st.text(max_size=128),
    st.integers(MIN_ID_INTEGER, MAX_ID_INTEGER),
    st.integers(-(2**53), 2**53).map(float),  # 7590.0 is an id too
)


@given(st.one_of(st.none(), _ids), st.floats(0, 1), st.booleans())
def test_the_books_answer_is_written_as_json_dumps_writes_it(customerid, probability, churn):
    result = {PROBABILITY: probability, DECISION: churn}
    if customerid is not None:
        result = {ID_FIELD: customerid, **result}
    assert result_json(result) == json.dumps(result)


def test_explained_results_are_written_as_json_dumps_writes_them(model, book_customer, raw_rows):
    anonymous = {field: value for field, value in book_customer.items() if field != ID_FIELD}
    scorer = Scorer(model)
    scores = scorer.score([book_customer, *raw_rows[:300], anonymous])
    for top in (1, 3, len(model.schema.fields)):
        for result in scorer.results(scores, top).dicts():
            assert result_json(result) == json.dumps(result)


@given(st.lists(st.tuples(st.one_of(st.none(), _ids), st.floats(0, 1), st.booleans()), max_size=8))
def test_results_written_a_column_at_a_time_are_what_json_dumps_writes(rows):
    results = Results([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    assert results.json_texts() == [json.dumps(document) for document in results.dicts()]
