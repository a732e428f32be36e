"""Property-based tests of the input contract: valid customers always score; any single breakage is named;
the Scorer's fast path gives what the full path gives."""

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from churn.core.artifact import DEFAULT_MODEL_PATH
from churn.core.features import normalise
from churn.core.model import load_model, score
from churn.core.schema import MAX_NUMBER, InvalidCustomer, validate_customer
from churn.core.scorer import Scorer
from helpers import reference_probability

MODEL = load_model(DEFAULT_MODEL_PATH)
ARTIFACT = json.loads(DEFAULT_MODEL_PATH.read_text())
SCHEMA = MODEL.schema
SCORER = Scorer(MODEL)  # one for every example: the spellings it learns are put to the test too

_numbers = st.one_of(
    st.integers(0, MAX_NUMBER),
    st.floats(0, MAX_NUMBER, allow_nan=False),
    st.from_regex(r"[0-9]{1,9}(\.[0-9]{1,9})?", fullmatch=True),
)
_spellings = st.sampled_from([str, str.upper, str.title, lambda text: text.replace("_", " ").capitalize()])


@st.composite
def valid_customers(draw):
    """A customer as a caller may send it: any case in names, book or raw-data spellings, numbers or text."""
    customer = {}
    for field, allowed in SCHEMA.categorical.items():
        value = draw(st.sampled_from(allowed))
        customer[draw(_spellings)(field)] = draw(_spellings)(value) if isinstance(value, str) else value
    for field in SCHEMA.numerical:
        customer[draw(_spellings)(field)] = draw(_numbers)
    if draw(st.booleans()):
        customer["customerID"] = draw(st.text(max_size=20))
    return customer


_not_a_value = st.one_of(
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
# Text with a character no number has: never readable as one.
_not_number_text = st.text(min_size=1).filter(lambda text: not set(text) <= set("0123456789. "))
_bad_numbers = st.one_of(
    _not_a_value,
    st.integers(max_value=-1),
    st.floats(max_value=-1e-9),
    st.integers(min_value=MAX_NUMBER + 1),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e300]),
    _not_number_text,
)


@given(valid_customers())
def test_any_spelling_of_a_valid_customer_scores_as_the_artifacts_weights_say(customer):
    [probability] = score(MODEL, [validate_customer(customer, SCHEMA)])
    assert math.isclose(probability, reference_probability(ARTIFACT, customer), rel_tol=1e-12, abs_tol=1e-300)


@given(valid_customers(), st.sampled_from(SCHEMA.fields), st.data())
def test_any_broken_field_is_refused_and_named(customer, field, data):
    broken = {key: value for key, value in customer.items() if key.lower() != field}
    optional = field in SCHEMA.optional  # blank in training: left out or null, it reads as training read it
    if data.draw(st.booleans(), label="drop it") and not optional:
        expected = "is required"
    else:
        bad = _bad_numbers if field in SCHEMA.numerical else _bad_categories(field)
        broken[field] = data.draw(bad.filter(lambda value: value is not None) if optional else bad, "bad value")
        expected = None
    try:
        validate_customer(broken, SCHEMA)
    except InvalidCustomer as invalid:
        messages = {error["field"]: error["message"] for error in invalid.errors}
        assert field in messages
        assert expected is None or messages[field] == expected
    else:
        raise AssertionError(f"{broken!r} was accepted")


def _bad_categories(field):
    allowed = SCHEMA.categorical[field]
    unknown_text = st.text(max_size=10).filter(lambda text: normalise(text) not in allowed)
    if all(isinstance(value, str) for value in allowed):
        return st.one_of(_not_a_value, st.integers(), unknown_text)
    return st.one_of(_not_a_value, st.integers(2), st.integers(max_value=-1), _not_number_text)  # seniorcitizen


def _outcome(customer):
    try:
        return validate_customer(customer, SCHEMA)
    except InvalidCustomer as invalid:
        return invalid.errors


def _by_the_full_path(customer):
    """validate, then score: (row, customerid, probability), or the errors validation names."""
    outcome = _outcome(customer)
    if not isinstance(outcome, dict):
        return outcome
    row = MODEL.row(outcome)
    return row, outcome.get("customerid"), MODEL.probability(row)


def _by_the_scorer(customer):
    try:
        return SCORER.one(customer)
    except InvalidCustomer as invalid:
        return invalid.errors


def _as_text(customer):
    """A customer as a CSV row has it: its values as text, under the model's names."""
    return {field: value if isinstance(value, str) else json.dumps(value) for field, value in customer.items()}


@given(valid_customers(), st.sampled_from(SCHEMA.fields), st.one_of(_bad_numbers, _not_a_value, st.text(max_size=5)))
def test_the_scorers_fast_path_gives_what_validating_then_scoring_gives(customer, field, value):
    """Prepared customers (and text in spellings seen before) take the fast path: its answer is the full
    path's to the bit, errors included; an ignored extra field sends a customer down the full path."""
    for candidate in (customer, {**customer, field: value}):
        prepared = _outcome(candidate)
        sent = [candidate, {**candidate, "zz_ignored": 1}]
        if isinstance(prepared, dict):
            sent += [prepared, {**prepared, "zz_ignored": 1}, _as_text(prepared), _as_text(prepared)]
        for one in sent:
            assert _by_the_scorer(one) == _by_the_full_path(one), one


_TEXT_RULES = [rule for rule in SCHEMA.rules if rule.text is not None]


@given(valid_customers(), st.sampled_from(_TEXT_RULES), st.data())
def test_text_that_a_fields_documented_pattern_admits_is_read_as_its_value(customer, rule, data):
    """/openapi.json documents rule.text as the field's text form: validation must take all of it."""
    text = data.draw(st.from_regex(rule.text, fullmatch=True), label="text")  # as ECMA-262 reads $
    others = {key: value for key, value in customer.items() if key.lower() != rule.name}
    validated = validate_customer({**others, rule.name: text}, SCHEMA)
    assert validated[rule.name] == (float(text) if text.strip() else 0)


@st.composite
def _prepared_or_broken(draw):
    """A customer as validation returns one (what a batch of the book's customers sends), now and then
    with one field broken, or without its customerid."""
    prepared = _outcome(draw(valid_customers()))
    if draw(st.booleans()):
        prepared.pop("customerid", None)
    if draw(st.integers(0, 4)) == 0:
        field = draw(st.sampled_from(SCHEMA.fields))
        prepared[field] = draw(st.one_of(_bad_numbers, _not_a_value, st.text(max_size=5)))
    return prepared


@given(st.lists(_prepared_or_broken(), max_size=6))
def test_a_list_of_customers_scores_as_each_of_them_alone(customers):
    """The Scorer checks and scores a list of prepared customers a column at a time: the same Scores."""
    scores = SCORER.score(customers)
    alone = [_by_the_scorer(customer) for customer in customers]
    assert [refusal.errors for refusal in scores.refused] == [one for one in alone if isinstance(one, list)]
    scored = [one for one in alone if isinstance(one, tuple)]
    assert list(zip(scores.rows, scores.ids, scores.probabilities, strict=True)) == scored
    assert scores.decisions == [probability >= MODEL.threshold for _, _, probability in scored]
