"""Reading and repeating what callers write: JSON numbers, whole numbers given as text, values shown
as JSON writes them, and short echoes of either in error messages. Standard library only."""

import math

ECHO_CHARS = 40  # the longest piece of a caller's text repeated back in a message or a log line
# Why JSON that the standard library could not decode is refused, in the caller's terms.
TOO_DEEP = "it is nested too deeply"
TOO_MANY_DIGITS = "it has a number with too many digits"


def is_number(value):
    """A JSON number: an int or a float, never a bool (True is an int in Python)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite_number(value):
    """A JSON number that a float can hold: not NaN, not infinite, not an int beyond a float's range."""
    if not is_number(value):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int of more than about 308 digits
        return False


# The digits of the longest whole number read from text: far more than any count, size or port needs.
WHOLE_DIGITS = 18


def whole_number(text):
    """The int that `text` writes with ASCII digits only ("0042" is 42), else None: no sign, no
    space, no "_", no exponent, nothing that int() would also accept; and no more than WHOLE_DIGITS
    digits past its leading zeros (Python reads no more than 4,300)."""
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > WHOLE_DIGITS:
        return None
    return int(text)


def echo(text, limit=ECHO_CHARS):
    """At most `limit` characters of something the caller sent."""
    return text if len(text) <= limit else text[:limit] + "…"


def echo_value(value):
    """A short echo of a JSON value, written as the caller wrote it."""
    return echo(json_repr(value))


def json_repr(value):
    """A value the way it is written in JSON; arrays and objects by their kind only."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, dict)):
        return json_type(value)
    return repr(value)


def json_type(value):
    """The kind of a JSON value, as a message names it: "an array", "a string", "null", …"""
    if value is None:
        return "null"
    return next((name for kind, name in _TYPE_NAMES if isinstance(value, kind)), "a number")


_TYPE_NAMES = ((bool, "a boolean"), (str, "a string"), (list, "an array"), (dict, "an object"))
