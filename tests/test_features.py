import pytest

from churn.core.features import is_blank, normalise, read_number
from churn.core.model import load_model
from churn.core.schema import BLANK_NUMBER, FieldRule


def test_text_is_normalised_as_the_book_does():
    assert normalise("Bank transfer (automatic)") == "bank_transfer_(automatic)"
    assert normalise("Month-to-month") == "month-to-month"


def test_numbers_are_read_as_the_csv_writes_them():
    assert read_number("41") == 41 and read_number("3320.75") == 3320.75
    assert [read_number(text) for text in ("-5", "1e9", "nan", "1_000", "9" * 5000)] == [
        "-5",
        "1e9",
        "nan",
        "1_000",
        "9" * 5000,
    ]


@pytest.mark.parametrize("value", [None, "", " ", "   "])
def test_a_blank_is_null_or_spaces(value):
    assert is_blank(value)


@pytest.mark.parametrize("value", [0, "0", "x", " x "])
def test_anything_else_is_not_blank(value):
    assert not is_blank(value)


def test_a_rule_reads_a_blank_as_the_artifact_says():
    assert FieldRule("x", None, None, blank=0.0).prepare(" ") == 0.0
    assert FieldRule("x", None, None, blank=BLANK_NUMBER).read(None) == (None, None)
    assert FieldRule("x", ("", "a"), None, blank="").read("") == ("", None)
    assert FieldRule("x", None, None).read(None) == (None, "must be a number, not null")


def test_the_shipped_models_fields_are_read_from_its_table_spelling():
    schema = load_model("model/churn-model.json").schema
    prepared = schema.prepare({"Contract": "Month-to-month", "TotalCharges": " ", "tenure": "41", "customerID": "A-1"})
    assert prepared == {"contract": "month-to-month", "totalcharges": 0.0, "tenure": 41, "customerid": "A-1"}
