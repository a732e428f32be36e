import pytest

from churn.core.schema import InvalidCustomer, validate_customer


def _errors(raw, schema):
    with pytest.raises(InvalidCustomer) as caught:
        validate_customer(raw, schema)
    return {error["field"]: error["message"] for error in caught.value.errors}


def test_valid_customer_returns_the_model_fields_and_its_id(book_customer, model):
    customer = validate_customer(dict(book_customer, favourite_colour="blue"), model.schema)
    assert set(customer) == set(model.schema.fields) | {"customerid"}
    assert customer["contract"] == "one_year" and customer["tenure"] == 41


def test_customerid_is_kept_as_sent_not_lower_cased(book_customer, model):
    customer = {key: value for key, value in book_customer.items() if key != "customerid"}
    assert validate_customer({**customer, "customerID": "8879-ZKJOF"}, model.schema)["customerid"] == "8879-ZKJOF"


def test_raw_data_set_spellings_are_accepted(book_customer, model):
    raw = dict(book_customer, Contract="One year", PaymentMethod="Bank transfer (automatic)", tenure="41")
    del raw["contract"], raw["paymentmethod"]
    assert validate_customer(raw, model.schema) == validate_customer(book_customer, model.schema)


def test_every_missing_field_is_named(model):
    assert _errors({"gender": "female"}, model.schema) == {
        rule.name: "is required" for rule in model.schema.rules if rule.name != "gender" and not rule.optional
    }


def test_a_field_blank_in_training_may_be_left_out_or_null_and_reads_as_training_read_it(book_customer, model):
    blank = validate_customer({**book_customer, "totalcharges": " "}, model.schema)
    absent = validate_customer({k: v for k, v in book_customer.items() if k != "totalcharges"}, model.schema)
    null = validate_customer({**book_customer, "totalcharges": None}, model.schema)
    assert blank["totalcharges"] == absent["totalcharges"] == null["totalcharges"] == 0.0


def test_unknown_categorical_value_names_the_allowed_values(book_customer, model):
    message = _errors(dict(book_customer, contract="weekly"), model.schema)["contract"]
    assert message == 'unknown value "weekly"; allowed values: "month-to-month", "one_year", "two_year"'


@pytest.mark.parametrize("value", [2, -1, True, "yes", None])
def test_seniorcitizen_must_be_zero_or_one(book_customer, model, value):
    assert "seniorcitizen" in _errors(dict(book_customer, seniorcitizen=value), model.schema)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-5, "must not be negative, got -5"),
        ("forty", 'must be a number, not "forty"'),
        (True, "must be a number, not true"),
        (None, "must be a number, not null"),
        ([41], "must be a number, not an array"),
        ({"months": 41}, "must be a number, not an object"),
        (float("nan"), "must be a finite number"),
        (float("inf"), "must be a finite number"),
        (10**400, "must be at most 1000000000"),
        (1e9 + 1, "must be at most 1000000000"),
    ],
)
def test_numerical_fields_must_be_finite_non_negative_numbers(book_customer, model, value, message):
    assert _errors(dict(book_customer, tenure=value), model.schema) == {"tenure": message}


def test_long_values_are_echoed_only_as_a_short_prefix(book_customer, model):
    message = _errors(dict(book_customer, contract="x" * 10_000), model.schema)["contract"]
    assert len(message) < 200


@pytest.mark.parametrize(
    ("raw", "kind"), [(None, "null"), (41, "a number"), ("customer", "a string"), ([1, 2], "an array")]
)
def test_a_customer_must_be_an_object(model, raw, kind):
    assert _errors(raw, model.schema) == {"customer": f"must be a JSON object, not {kind}"}


def test_a_model_field_given_twice_in_different_case_is_refused(book_customer, model):
    assert _errors(dict(book_customer, TENURE=5), model.schema) == {
        "tenure": "is given more than once (names ignore case)"
    }


def test_ignored_fields_may_repeat_in_different_case(book_customer, model):
    assert validate_customer(dict(book_customer, Note="a", NOTE="b"), model.schema)["tenure"] == 41
