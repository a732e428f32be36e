"""People read fields and values as the data set wrote them, from one table, on the page and in OpenAPI."""

import pytest

from churn.core.labels import FIELD_LABELS, field_label, value_label


def test_every_field_of_the_model_has_a_label_of_its_own(model):
    assert set(model.schema.fields) <= set(FIELD_LABELS)
    assert len(set(FIELD_LABELS.values())) == len(FIELD_LABELS)


@pytest.mark.parametrize(
    ("value", "label"),
    [
        ("bank_transfer_(automatic)", "Bank transfer (automatic)"),
        ("one_year", "One year"),
        ("month-to-month", "Month-to-month"),
        ("no_internet_service", "No internet service"),
        ("dsl", "DSL"),
        (0, "No"),
        (1, "Yes"),
        (False, "False"),  # a bool is not seniorcitizen's 0
        ("", ""),
    ],
)
def test_a_value_reads_as_the_data_set_wrote_it(value, label):
    assert value_label(value) == label


def test_a_field_a_retrained_model_adds_reads_by_the_same_rule():
    assert field_label("senior_discount") == "Senior discount"


def test_openapi_gives_each_field_its_label_and_each_value_its_name(app, model):
    properties = app.get("/openapi.json").json["components"]["schemas"]["Customer"]["properties"]
    for field in model.schema.fields:
        assert properties[field]["title"] == field_label(field)
    for field, values in model.schema.categorical.items():
        schema = properties[field].get("oneOf", [properties[field]])[0]
        assert schema["x-enumNames"] == [value_label(value) for value in values]
