"""The scripts' option values: whole numbers from 1, and finite numbers within bounds, each refusal
naming what was wanted."""

import argparse

import pytest

from churn.core.options import number, whole_number_from_1


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "x", "", "٣"])
def test_a_whole_number_from_1_is_digits_of_1_or_more(text):
    with pytest.raises(argparse.ArgumentTypeError, match=f"^must be a whole number from 1, not {text!r}$"):
        whole_number_from_1(text)
    assert whole_number_from_1("12") == 12


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "2", "-0.1", "x"])
def test_a_number_must_be_finite_and_fit(text):
    share = number(lambda value: 0 <= value <= 1, "a number from 0 to 1")
    with pytest.raises(argparse.ArgumentTypeError, match=f"^must be a number from 0 to 1, not {text!r}$"):
        share(text)
    assert share("0.05") == 0.05 and share("1") == 1.0
