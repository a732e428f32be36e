"""The model's fields and the one preparation step that training and serving share.

The book (Machine Learning Bookcamp, ch. 3) prepares the Telco data by lower-casing column names
and string values, replacing spaces by underscores, and reading a blank `totalcharges` as 0.
`prepare_customer` does exactly that for a CSV row and for a customer posted to the service, so
the two can never drift apart.
"""

import re

CATEGORICAL = (
    "gender",
    "seniorcitizen",
    "partner",
    "dependents",
    "phoneservice",
    "multiplelines",
    "internetservice",
    "onlinesecurity",
    "onlinebackup",
    "deviceprotection",
    "techsupport",
    "streamingtv",
    "streamingmovies",
    "contract",
    "paperlessbilling",
    "paymentmethod",
)
NUMERICAL = ("tenure", "monthlycharges", "totalcharges")
FIELDS = CATEGORICAL + NUMERICAL
TARGET = "churn"

# Fields whose values are numbers, even when they arrive as text (every value in the CSV is text).
_NUMBER_FIELDS = frozenset(NUMERICAL + ("seniorcitizen",))
_BLANK_IS_ZERO = frozenset({"totalcharges"})  # blank for the 11 customers with tenure 0, as in the book
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


def prepare_customer(raw):
    """Return a copy of one customer's fields, normalised exactly as the training data is.

    Values that cannot be prepared (a word where a number belongs, a list, null) are passed through
    unchanged, for validation to name.
    """
    prepared = {}
    for key, value in raw.items():
        field = normalise(key)
        prepared[field] = prepare_value(field, value)
    return prepared


def prepare_value(field, value):
    """One value of `field` prepared as prepare_customer prepares it: text read as a number for a field
    of numbers, other text normalised, anything else as it is."""
    if not isinstance(value, str):
        return value
    return _parse_number(field, value) if field in _NUMBER_FIELDS else normalise(value)


def text_pattern(field, values=None):
    """The anchored regex of the text that prepare_customer reads as a number for `field` (only as
    one of the non-negative integers `values`, when given), or None: its text is a category's name."""
    number = _NUMBER_TEXT_PATTERN if values is None else _integers_text_pattern(values)
    if field not in _NUMBER_FIELDS or number is None:
        return None
    return f"^( *|{number})$" if field in _BLANK_IS_ZERO else f"^{number}$"


def _integers_text_pattern(values):
    """The digit strings that read as one of these integers (leading zeros, a fraction of zeros)."""
    written = [str(value) for value in values if type(value) is int and value >= 0]
    choices = [f"0{{0,{_TEXT_DIGITS - len(text)}}}{text}" for text in written if len(text) <= _TEXT_DIGITS]
    return rf"({'|'.join(choices)})(\.0{{1,{_TEXT_DIGITS}}})?" if choices else None


def _parse_number(field, text):
    if field in _BLANK_IS_ZERO and not text.strip(" "):
        return 0.0
    if not _NUMBER_TEXT.fullmatch(text):
        return text
    return float(text) if "." in text else int(text)
