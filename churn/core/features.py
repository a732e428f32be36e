"""How a customer's text is read, the same in training and in serving: the one preparation step.

The book (Machine Learning Bookcamp, ch. 3) prepares its data by lower-casing column names and string
values and replacing spaces by underscores (`normalise`); a field of numbers reads the text of a
number as the CSV writes it (`read_number`). What a blank means is a field's own rule, kept in the
artifact (churn.core.schema.FieldRule), so that no module here knows any one table's columns.
"""

import re

# Numbers as the CSV writes them ("41", "3320.75"): plain digits only, so no "1_000", "nan", "1e999",
# "-5" or 5,000-digit integers. /openapi.json documents this same grammar (text_pattern).
# Up to nine digits each side of the point, and the largest number a field takes by default
# (churn.core.schema's bounds), as text too: every number the pattern admits is within those bounds.
MAX_NUMBER = 1_000_000_000
_TEXT_DIGITS = 9
_NUMBER_TEXT_PATTERN = (
    rf"([0-9]{{1,{_TEXT_DIGITS}}}(\.[0-9]{{1,{_TEXT_DIGITS}}})?|{MAX_NUMBER}(\.0{{1,{_TEXT_DIGITS}}})?)"
)
_NUMBER_TEXT = re.compile(_NUMBER_TEXT_PATTERN)


def normalise(text):
    """Lower-case `text` and replace spaces by underscores, as the book does."""
    return text.lower().replace(" ", "_")


def is_blank(value):
    """Whether a value as sent is blank: null, or text of nothing but spaces (a CSV's empty cell)."""
    return value is None or (type(value) is str and not value.strip(" "))


def read_number(text):
    """The number the text of a CSV writes (an int, or a float where it has a point); the text itself
    when it is none, for validation to name."""
    if not _NUMBER_TEXT.fullmatch(text):
        return text
    return float(text) if "." in text else int(text)


def text_pattern(values=None, blank=False):
    """The anchored regex of the text read as a number (only as one of the non-negative integers
    `values`, when given; also blank text, when a blank is allowed), or None: no text is a number."""
    number = _NUMBER_TEXT_PATTERN if values is None else _integers_text_pattern(values)
    if number is None:
        return None
    return f"^( *|{number})$" if blank else f"^{number}$"


def _integers_text_pattern(values):
    """The digit strings that read as one of these integers (leading zeros, a fraction of zeros)."""
    written = [str(value) for value in values if type(value) is int and value >= 0]
    choices = [f"0{{0,{_TEXT_DIGITS - len(text)}}}{text}" for text in written if len(text) <= _TEXT_DIGITS]
    return rf"({'|'.join(choices)})(\.0{{1,{_TEXT_DIGITS}}})?" if choices else None
