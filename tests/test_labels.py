"""People read fields and values as the training table wrote them: the artifact keeps each field's
label and its values' labels, and the page and OpenAPI show them."""

import pytest

from churn.core.schema import label_of, value_label


def test_every_field_of_the_shipped_model_has_a_label_of_its_own(model):
    labels = [model.schema.rule(field).label for field in model.schema.fields]
    assert len(set(labels)) == len(labels)
    assert model.schema.rule("tenure").label == "Tenure (months)"  # the book's table's label, with its unit


def test_each_value_reads_as_the_table_wrote_it(model):
    rules = {rule.name: rule for rule in model.schema.rules}
    assert dict(zip(rules["paymentmethod"].values, rules["paymentmethod"].value_labels, strict=True))[
        "bank_transfer_(automatic)"
    ] == ("Bank transfer (automatic)")
    internet = rules["internetservice"]
    assert dict(zip(internet.values, internet.value_labels, strict=True))["dsl"] == "DSL"
    assert rules["seniorcitizen"].value_labels == ("No", "Yes")


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("CreditScore", "Credit score"),
        ("NumOfProducts", "Num of products"),
        ("Months_on_book", "Months on book"),
        ("customerID", "Customer ID"),
        ("Total_Amt_Chng_Q4_Q1", "Total amt chng Q4 Q1"),
        ("one_year", "One year"),
        ("senior_discount", "Senior discount"),
        ("", ""),
    ],
)
def test_a_column_without_a_label_reads_by_the_documented_rule(name, label):
    assert label_of(name) == label


@pytest.mark.parametrize(("value", "label"), [(0, "No"), (1, "Yes"), (False, "False"), (2, "2")])
def test_a_flags_values_read_no_and_yes(value, label):
    assert value_label(value) == label


def test_openapi_gives_each_field_its_label_and_column_and_each_value_its_name(app, model):
    properties = app.get("/openapi.json").json["components"]["schemas"]["Customer"]["properties"]
    for rule in model.schema.rules:
        assert properties[rule.name]["title"] == rule.label
        assert properties[rule.name]["x-column"] == rule.column
    for field in model.schema.categorical:
        schema = properties[field].get("oneOf", [properties[field]])[0]
        assert schema["x-enumNames"] == list(model.schema.rule(field).value_labels)
