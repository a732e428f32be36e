"""What a valid customer is: the model's fields and allowed values, checked by one pure function."""

import math
from dataclasses import dataclass

from churn.features import prepare_customer

# Longest piece of a caller's value repeated back in an error message.
_ECHO_CHARS = 40
MISSING = "is required"


@dataclass(frozen=True)
class Schema:
    """The model's inputs: allowed values per categorical field, and the numerical fields."""

    categorical: dict  # field -> tuple of allowed values
    numerical: tuple

    @property
    def fields(self):
        return tuple(self.categorical) + self.numerical


class InvalidCustomer(ValueError):
    """A customer the model cannot score; `errors` is a list of {"field", "message"} dicts."""

    def __init__(self, errors):
        super().__init__(describe(errors))
        self.errors = errors


def describe(errors):
    """One readable line for one customer's errors: the missing fields together, then the rest."""
    missing = [error["field"] for error in errors if error["message"] == MISSING]
    parts = [f"missing fields: {', '.join(missing)}"] if missing else []
    parts += [f"{error['field']}: {error['message']}" for error in errors if error["message"] != MISSING]
    return "; ".join(parts)


def validate_customer(raw, schema):
    """Prepare one customer as training did and return its model fields, or raise InvalidCustomer."""
    if not isinstance(raw, dict):
        raise InvalidCustomer([_error("customer", f"must be a JSON object, not {_json_type(raw)}")])
    customer = prepare_customer(raw)
    errors = [_error(field, MISSING) for field in schema.fields if field not in customer]
    for field, allowed in schema.categorical.items():
        if field in customer and not _is_allowed(customer[field], allowed):
            errors.append(_error(field, _not_allowed_message(customer[field], allowed)))
    for field in schema.numerical:
        message = _number_problem(customer[field]) if field in customer else None
        if message:
            errors.append(_error(field, message))
    if errors:
        raise InvalidCustomer(errors)
    return {field: customer[field] for field in schema.fields}


def _error(field, message):
    return {"field": field, "message": message}


def _is_allowed(value, allowed):
    # bool is an int in Python (True == 1); a JSON true is never a valid seniorcitizen.
    return not isinstance(value, bool) and isinstance(value, (str, int, float)) and value in allowed


def _not_allowed_message(value, allowed):
    choices = ", ".join(json_repr(choice) for choice in allowed)
    return f"unknown value {_echo(value)}; allowed values: {choices}"


def _number_problem(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"must be a number, not {_echo(value)}"
    try:
        number = float(value)
    except OverflowError:
        return "is too large"
    if not math.isfinite(number):
        return "must be a finite number"
    if number < 0:
        return f"must not be negative, got {_echo(value)}"
    return None


def json_repr(value):
    """Show a value the way the caller wrote it in JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, dict)):
        return "an array" if isinstance(value, list) else "an object"
    return repr(value)


def _echo(value):
    text = json_repr(value)
    return text if len(text) <= _ECHO_CHARS else text[:_ECHO_CHARS] + "…"


def _json_type(value):
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
