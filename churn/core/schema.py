"""What a valid customer is: the model's fields and allowed values, checked by one pure function.

The contract, shared by the service and offline scoring:
- field names match case-insensitively and values are prepared as the training data was, so the
  book's names and values and the raw data set's spellings are all accepted;
- all model fields are required; categorical values must be ones the model was trained on;
- numbers are JSON numbers or digit strings as in the CSV, finite, 0 <= x <= MAX_NUMBER; a blank
  totalcharges is 0;
- other fields are ignored, except that a `customerid`, when given, must be a string or an integer
  of at most MAX_ID_CHARS characters as written: it is echoed in the result, as given, so that
  batch callers can join results back.
"""

import dataclasses
from collections import Counter

from churn.core.features import normalise, prepare_customer, text_pattern
from churn.core.messages import echo_value, is_finite_number, is_number, json_repr, json_type

# Every number a field takes lies in [MIN_NUMBER, MAX_NUMBER]: never negative, and far beyond any
# tenure or charge, which keeps the arithmetic meaningful.
MIN_NUMBER, MAX_NUMBER = 0, 1_000_000_000
ID_FIELD = "customerid"
MAX_ID_CHARS = 128
# The integers written with at most MAX_ID_CHARS characters, a minus sign included.
MIN_ID_INTEGER = -(10 ** (MAX_ID_CHARS - 1) - 1)
MAX_ID_INTEGER = 10**MAX_ID_CHARS - 1
ID_RULE = f"must be a string or an integer of at most {MAX_ID_CHARS} characters"
MISSING = "is required"


@dataclasses.dataclass(frozen=True)
class FieldRule:
    """What one model field accepts: the one description that validation, its fast path and
    /openapi.json all read."""

    name: str
    values: tuple | None  # a categorical field's allowed values, as trained on; None: a number
    text: str | None  # anchored regex of the text read as a value (the CSV's digits); None: a category's name


@dataclasses.dataclass(frozen=True)
class Schema:
    """The model's inputs: allowed values per categorical field, and the numerical fields."""

    categorical: dict  # field -> tuple of allowed values
    numerical: tuple
    fields: tuple = dataclasses.field(init=False)
    rules: tuple = dataclasses.field(init=False, repr=False, compare=False)  # a FieldRule per field, in order
    # The rules as the fast path reads them: ((field, frozenset of values), ...) and the number fields
    _allowed_sets: tuple = dataclasses.field(init=False, repr=False, compare=False)
    _number_fields: tuple = dataclasses.field(init=False, repr=False, compare=False)
    # ((field, {value: value}), ...): the objects of its allowed values, that compact() holds
    _canonical_values: tuple = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        rules = tuple(
            FieldRule(name, tuple(values), text_pattern(name, values)) for name, values in self.categorical.items()
        )
        rules += tuple(FieldRule(name, None, text_pattern(name)) for name in self.numerical)
        object.__setattr__(self, "fields", tuple(rule.name for rule in rules))
        object.__setattr__(self, "rules", rules)
        sets = tuple((rule.name, frozenset(rule.values)) for rule in rules if rule.values is not None)
        object.__setattr__(self, "_allowed_sets", sets)
        object.__setattr__(self, "_number_fields", tuple(rule.name for rule in rules if rule.values is None))
        canonical = tuple((rule.name, {value: value for value in rule.values}) for rule in rules if rule.values)
        object.__setattr__(self, "_canonical_values", canonical)


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
    """Return the customer's prepared model fields (and its `customerid`), or raise InvalidCustomer."""
    if type(raw) is dict and _is_already_prepared(raw, schema):
        return raw
    if not isinstance(raw, dict):
        raise InvalidCustomer([_error("customer", f"must be a JSON object, not {json_type(raw)}")])
    errors = _duplicate_names(raw, schema)
    customer = prepare_customer(raw)
    errors += [_error(field, MISSING) for field in schema.fields if field not in customer]
    errors += [_error(rule.name, problem) for rule in schema.rules if (problem := _value_problem(rule, customer))]
    id_key = next((key for key in raw if normalise(key) == ID_FIELD), None)
    if id_key is not None and not is_valid_id(raw[id_key]):
        errors.append(_error(ID_FIELD, ID_RULE))
    if errors:
        raise InvalidCustomer(errors)
    valid = {field: customer[field] for field in schema.fields}
    if id_key is not None:
        valid[ID_FIELD] = raw[id_key]  # echoed as the caller wrote it, not lower-cased like model values
    return valid


def compact(customer, schema):
    """A validated customer as a batch holds it: the same fields and values, but the schema's own
    objects for the field names and categorical values, shared by all customers, where the JSON
    decoder makes new ones for each (a 10,000-customer batch holds 6 MB instead of 26 MB)."""
    held = {name: values[customer[name]] for name, values in schema._canonical_values}
    for name in schema._number_fields:
        held[name] = customer[name]
    if ID_FIELD in customer:
        held[ID_FIELD] = customer[ID_FIELD]
    return held


# The exact types of a value as validation returns it: bool, a subclass of int, is never one.
VALUE_TYPES = frozenset({str, int, float})
NUMBER_TYPES = frozenset({int, float})
_NOT_GIVEN = object()


def _is_already_prepared(raw, schema):
    """Whether `raw` is exactly what validation would return: the model fields, written as training
    data (plus a valid customerid) and nothing else. The common case, checked without copying;
    anything else takes the full path, which prepares it or names what is wrong."""
    if not has_fields_and_at_most_an_id(raw, schema):
        return False
    get = raw.get
    for name, allowed in schema._allowed_sets:
        value = get(name, _NOT_GIVEN)
        if type(value) not in VALUE_TYPES or value not in allowed:
            return False
    return all(is_prepared_number(get(name)) for name in schema._number_fields)


def has_fields_and_at_most_an_id(raw, schema):
    """Whether a dict holds as many keys as the model has fields, or one more that is a valid
    customerid: the keys of a customer as validation returns it (its values are the caller's to check)."""
    extra = len(raw) - len(schema.fields)
    return not extra or (extra == 1 and is_valid_id(raw.get(ID_FIELD)))


def is_prepared_number(value):
    """Whether `value` is a number as validation returns one: an int or float in range (not NaN)."""
    return type(value) in NUMBER_TYPES and MIN_NUMBER <= value <= MAX_NUMBER


def _error(field, message):
    return {"field": field, "message": message}


def _duplicate_names(raw, schema):
    # "Tenure" and "tenure" in one customer are the same field given twice: refuse to guess.
    # Ignored fields may repeat; their names are never echoed.
    counts = Counter(normalise(key) for key in raw)
    known = (*schema.fields, ID_FIELD)
    return [_error(field, "is given more than once (names ignore case)") for field in known if counts[field] > 1]


def is_valid_id(value):
    """Whether `value` is a customerid: a string or an integer of at most MAX_ID_CHARS characters."""
    if type(value) is int:  # exactly int: a JSON true is not an id
        return MIN_ID_INTEGER <= value <= MAX_ID_INTEGER
    if type(value) is float:  # 7590.0 is an integer too, in JSON Schema's terms (and OpenAPI's)
        return value.is_integer() and MIN_ID_INTEGER <= value <= MAX_ID_INTEGER
    return isinstance(value, str) and len(value) <= MAX_ID_CHARS


def checked_value(rule, raw):
    """(the value `raw` of the field `rule` describes, prepared as validate_customer prepares it, what
    is wrong with it or None): one field's check, for the batch path, which checks each distinct
    value of a column once."""
    value = prepare_customer({rule.name: raw})[rule.name]
    return value, _value_problem(rule, {rule.name: value})


def _value_problem(rule, customer):
    """What is wrong with the customer's value of this field, or None (also when it is missing)."""
    if rule.name not in customer:
        return None
    value = customer[rule.name]
    return _number_problem(value) if rule.values is None else _category_problem(value, rule.values)


def _category_problem(value, allowed):
    # bool is an int in Python (True == 1); a JSON true is never a valid seniorcitizen.
    if not isinstance(value, bool) and isinstance(value, (str, int, float)) and value in allowed:
        return None
    choices = ", ".join(json_repr(choice) for choice in allowed)
    return f"unknown value {echo_value(value)}; allowed values: {choices}"


def _number_problem(value):
    if not is_number(value):
        return f"must be a number, not {echo_value(value)}"
    if isinstance(value, float) and not is_finite_number(value):  # an int goes on to the bounds
        return "must be a finite number"
    if value < MIN_NUMBER:
        return f"must not be negative, got {echo_value(value)}"
    if value > MAX_NUMBER:
        return f"must be at most {MAX_NUMBER}"
    return None
