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
# Plain decimal notation only, and short: no "1_000", no "nan", no 5,000-digit integers.
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?")
_MAX_NUMBER_TEXT = 32


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
        if isinstance(value, str):
            value = _parse_number(field, value) if field in _NUMBER_FIELDS else normalise(value)
        prepared[field] = value
    return prepared


def _parse_number(field, text):
    stripped = text.strip()
    if not stripped and field == "totalcharges":
        return 0.0  # blank for the 11 customers with tenure 0, as in the book
    if len(stripped) > _MAX_NUMBER_TEXT or not _NUMBER_TEXT.fullmatch(stripped):
        return text
    return int(stripped) if stripped.lstrip("+-").isdigit() else float(stripped)
