"""What a valid customer is: a rule per model field, and validation of one customer against them by
one pure function.

The contract, shared by the service and offline scoring:
- field names match case-insensitively and values are prepared as the training data was, so the
  book's names and values and the raw data set's spellings are all accepted;
- a model field is required, unless the training table had blanks in it: then a blank (absent,
  null, or text of spaces) reads as the artifact says (a category of its own, a number, or a
  number's blank: its term adds what training learned for it);
- categorical values must be ones the model was trained on;
- numbers are JSON numbers or digit strings as in the CSV, finite, within their rule's bounds (by
  default 0 <= x <= MAX_NUMBER);
- other fields are ignored, except that a `customerid` (or the training table's own id column),
  when given, must be a string or an integer of at most MAX_ID_CHARS characters as written: it is
  echoed in the result as `customerid`, as given, so that batch callers can join results back.

Each field's rule also carries what people read and what the table called it (its label, its column,
its values' labels): the artifact describes the model's table, and everything that serves reads it.
"""

import dataclasses
import re
from collections import Counter

from churn.core.features import MAX_NUMBER, is_blank, normalise, read_number, text_pattern
from churn.core.messages import echo_value, is_finite_number, is_number, json_repr, json_type

# A number field's default bounds: never negative, and far beyond any count or amount, which keeps
# the arithmetic meaningful.
MIN_NUMBER = 0  # and MAX_NUMBER, which the text of numbers (churn.core.features) also reads
ID_FIELD = "customerid"
MAX_ID_CHARS = 128
# The integers written with at most MAX_ID_CHARS characters, a minus sign included.
MIN_ID_INTEGER = -(10 ** (MAX_ID_CHARS - 1) - 1)
MAX_ID_INTEGER = 10**MAX_ID_CHARS - 1
ID_RULE = f"must be a string or an integer of at most {MAX_ID_CHARS} characters"
# JSON's \ud800 decodes to a lone surrogate, which is no character: no UTF-8 answer or file can hold it.
NOT_TEXT = "must be text: it holds a lone surrogate (\\ud800 to \\udfff), which is no character"
MISSING = "is required"
REQUIRED = None  # FieldRule.blank of a field that must be given (the artifact's: no "blank" key)


class _BlankNumber:
    def __repr__(self):
        return "BLANK_NUMBER"


BLANK_NUMBER = _BlankNumber()  # FieldRule.blank of a number whose blank adds its own weight: the row holds None


def label_of(name):
    """What people read for a table's column or a value, by the documented rule: underscores as spaces,
    words of a camel-cased name apart, the first letter a capital ("Months_on_book" -> "Months on book",
    "CreditScore" -> "Credit score", "one_year" -> "One year")."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", str(name).replace("_", " "))
    words = [word if word.isupper() and len(word) > 1 else word.lower() for word in text.split(" ")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


@dataclasses.dataclass(frozen=True)
class FieldRule:
    """What one model field accepts: the one description that validation, the scorer's fast path, the
    batch path's column checks and /openapi.json all read."""

    name: str
    values: tuple | None  # a categorical field's allowed values, as trained on; None: a number
    text: str | None  # anchored regex of the text read as a value (the CSV's digits); None: a category's name
    minimum: float = MIN_NUMBER  # a number's bounds (not a category's)
    maximum: float = MAX_NUMBER
    # What a blank reads as: REQUIRED (no blank), a value (an allowed category, or a number), or
    # BLANK_NUMBER (None in the row: the number's term adds its blank's weight).
    blank: object = REQUIRED
    column: str = ""  # the training table's own name of the field ("" : the field's name)
    label: str = ""  # what people read ("" : label_of the column)
    value_labels: tuple = ()  # what people read for each allowed value, in order (() : label_of each)
    reads_numbers: bool = dataclasses.field(init=False, repr=False, compare=False)
    numbers_as_text: bool = dataclasses.field(init=False, repr=False, compare=False)
    # Whether the field may be left out (or sent blank): the training table had blanks in it.
    optional: bool = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        numbers = self.values is None or not all(type(value) is str for value in self.values)
        object.__setattr__(self, "reads_numbers", numbers)
        # A category of digits ("1" to "4", chosen by --categorical) reads a JSON number as its digits.
        digits = not numbers and any(value.isdigit() for value in self.values)
        object.__setattr__(self, "numbers_as_text", digits)
        object.__setattr__(self, "optional", self.blank is not REQUIRED)
        object.__setattr__(self, "column", self.column or self.name)
        object.__setattr__(self, "label", self.label or label_of(self.column))
        if self.values is not None and not self.value_labels:
            object.__setattr__(self, "value_labels", tuple(map(value_label, self.values)))

    def prepare(self, value):
        """A value as sent, prepared as the training data was: a blank as the rule reads it, text read
        as a number for a field of numbers, other text normalised, anything else as it is."""
        if self.blank is not REQUIRED and is_blank(value):
            return None if self.blank is BLANK_NUMBER else self.blank
        if type(value) is not str:
            return str(value) if type(value) is int and self.numbers_as_text else value
        return read_number(value) if self.reads_numbers else normalise(value)

    def read(self, raw):
        """(`raw`, the value as sent, prepared as validation prepares it; what is wrong with it, or None)."""
        value = self.prepare(raw)
        return value, self.problem(value)

    def problem(self, value):
        """What is wrong with a prepared value of this field, or None."""
        if value is None and self.blank is BLANK_NUMBER:
            return None
        return _number_problem(value, self) if self.values is None else _category_problem(value, self.values)

    def admits(self, numbers):
        """Whether numbers lie within the field's bounds: one number, or each of a NumPy array of them
        (NaN never does). Written with `&`, which both take, so that both follow this one rule."""
        return (self.minimum <= numbers) & (numbers <= self.maximum)


@dataclasses.dataclass(frozen=True)
class Schema:
    """The model's inputs: a FieldRule per field, the categorical fields first, in the artifact's order."""

    rules: tuple
    id_column: str = ID_FIELD  # the training table's id column: a customer's id under this name too
    example: dict | None = None  # a real customer of the training table, in the model's spelling
    fields: tuple = dataclasses.field(init=False)
    id_names: frozenset = dataclasses.field(init=False)  # the normalised names of a customer's id
    required: tuple = dataclasses.field(init=False)  # the fields a customer must have: never blank in training
    optional: tuple = dataclasses.field(init=False)  # the fields a customer may leave out
    _by_name: dict = dataclasses.field(init=False, repr=False, compare=False)
    _optional_rules: tuple = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "fields", tuple(rule.name for rule in self.rules))
        object.__setattr__(self, "id_names", frozenset({ID_FIELD, normalise(self.id_column)}))
        object.__setattr__(self, "required", tuple(rule.name for rule in self.rules if not rule.optional))
        object.__setattr__(self, "_optional_rules", tuple(rule for rule in self.rules if rule.optional))
        object.__setattr__(self, "optional", tuple(rule.name for rule in self._optional_rules))
        object.__setattr__(self, "_by_name", {rule.name: rule for rule in self.rules})

    @classmethod
    def of(cls, categorical, numerical, described=None, id_column=ID_FIELD, example=None):
        """The schema of an artifact: allowed values per categorical field, the numerical fields, and
        what the table says of each (`described`: field -> {"column", "label", "value_labels",
        "blank"}, each optional; churn.core.model checks them)."""
        described = described or {}
        rules = [_rule(name, tuple(values), described.get(name, {})) for name, values in categorical.items()]
        rules += [_rule(name, None, described.get(name, {})) for name in numerical]
        return cls(tuple(rules), id_column, example)

    @property
    def categorical(self):
        """field -> its allowed values, for the categorical fields."""
        return {rule.name: rule.values for rule in self.rules if rule.values is not None}

    @property
    def numerical(self):
        """The numerical fields."""
        return tuple(rule.name for rule in self.rules if rule.values is None)

    def rule(self, field):
        """The FieldRule of `field`."""
        return self._by_name[field]

    def with_rule(self, rule):
        """This schema with `rule` in place of the rule of the same field."""
        rules = tuple(rule if old.name == rule.name else old for old in self.rules)
        return dataclasses.replace(self, rules=rules)

    def prepare(self, raw):
        """A customer's names normalised and each of its model fields' values prepared (FieldRule.prepare);
        its other values as they are."""
        rules = self._by_name
        prepared = {}
        for key, value in raw.items():
            field = normalise(key)
            rule = rules.get(field)
            prepared[field] = rule.prepare(value) if rule is not None else value
        return prepared


def _rule(name, values, described):
    """A field's FieldRule from the artifact's allowed values (None: a number) and its description."""
    blank = described.get("blank", REQUIRED)
    reads_numbers = values is None or not all(type(value) is str for value in values)
    text = text_pattern(values, blank is not REQUIRED) if reads_numbers else None
    labels = tuple(described.get("value_labels", ()))
    return FieldRule(name, values, text, blank=blank, column=described.get("column", ""),
                     label=described.get("label", ""), value_labels=labels)  # fmt: skip


def value_label(value):
    """What people read for an allowed value with no label of its own: 0 and 1 (a flag) read "No" and
    "Yes", others as label_of makes them."""
    if type(value) is int and value in (0, 1):
        return ("No", "Yes")[value]
    return label_of(value)


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
    """Return the customer's prepared model fields (and its `customerid`), or raise InvalidCustomer:
    the full path, which names every problem. churn.core.scorer.Scorer applies it to every customer
    its fast path does not take."""
    if not isinstance(raw, dict):
        raise InvalidCustomer([_error("customer", f"must be a JSON object, not {json_type(raw)}")])
    errors = _duplicate_names(raw, schema)
    customer = schema.prepare(raw)
    for rule in schema._optional_rules:
        if rule.name not in customer:
            customer[rule.name] = rule.prepare(None)
    errors += [_error(field, MISSING) for field in schema.fields if field not in customer]
    errors += [_error(rule.name, problem) for rule in schema.rules if (problem := _value_problem(rule, customer))]
    id_key = id_key_of(raw, schema)
    if id_key is not None and (problem := id_problem(raw[id_key])):
        errors.append(_error(ID_FIELD, problem))
    if errors:
        raise InvalidCustomer(errors)
    valid = {field: customer[field] for field in schema.fields}
    if id_key is not None:
        valid[ID_FIELD] = raw[id_key]  # echoed as the caller wrote it, not lower-cased like model values
    return valid


# The exact types of a value as validation returns it: bool, a subclass of int, is never one.
VALUE_TYPES = frozenset({str, int, float})
NUMBER_TYPES = frozenset({int, float})


def _error(field, message):
    return {"field": field, "message": message}


def id_key_of(raw, schema):
    """The key of a customer's id (customerid, or the table's own id column; names ignore case), or None."""
    return next((key for key in raw if isinstance(key, str) and normalise(key) in schema.id_names), None)


def _duplicate_names(raw, schema):
    # "Age" and "age" in one customer are the same field given twice: refuse to guess.
    # Ignored fields may repeat; their names are never echoed.
    counts = Counter(ID_FIELD if (name := normalise(key)) in schema.id_names else name for key in raw)
    known = (*schema.fields, ID_FIELD)
    return [_error(field, "is given more than once (names ignore case)") for field in known if counts[field] > 1]


def are_valid_ids(values):
    """Whether each of `values` is a customerid (is_valid_id): a list of text checked in C."""
    if set(map(type, values)) <= {str}:
        # str.isascii reads a flag the string keeps: no character is looked at
        fits = max(map(len, values), default=0) <= MAX_ID_CHARS
        return fits and (all(map(str.isascii, values)) or all(map(is_text, values)))
    return all(map(is_valid_id, values))


def is_valid_id(value):
    """Whether `value` is a customerid: a string or an integer of at most MAX_ID_CHARS characters."""
    if type(value) is str:  # the usual id, checked here: no call more for every customer
        return len(value) <= MAX_ID_CHARS and (value.isascii() or is_text(value))
    return id_problem(value) is None


def id_problem(value):
    """What is wrong with a customerid as sent, or None: it must be a string (text, see is_text) or an
    integer of at most MAX_ID_CHARS characters."""
    if type(value) is int:  # exactly int: a JSON true is not an id
        fits = MIN_ID_INTEGER <= value <= MAX_ID_INTEGER
    elif type(value) is float:  # 7590.0 is an integer too, in JSON Schema's terms (and OpenAPI's)
        fits = value.is_integer() and MIN_ID_INTEGER <= value <= MAX_ID_INTEGER
    elif isinstance(value, str) and len(value) <= MAX_ID_CHARS:
        return None if is_text(value) else NOT_TEXT
    else:
        fits = False
    return None if fits else ID_RULE


def is_text(text):
    """Whether a string is text that UTF-8 can carry: no lone surrogate, as JSON's "\\ud800" makes."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _value_problem(rule, customer):
    """What is wrong with the customer's value of this field, or None (also when it is missing)."""
    if rule.name not in customer:
        return None
    return rule.problem(customer[rule.name])


def _category_problem(value, allowed):
    # bool is an int in Python (True == 1); a JSON true is never a flag's 1.
    if not isinstance(value, bool) and isinstance(value, (str, int, float)) and value in allowed:
        return None
    choices = ", ".join(json_repr(choice) for choice in allowed)
    return f"unknown value {echo_value(value)}; allowed values: {choices}"


def _number_problem(value, rule):
    if not is_number(value):
        return f"must be a number, not {echo_value(value)}"
    if isinstance(value, float) and not is_finite_number(value):  # an int goes on to the bounds
        return "must be a finite number"
    if value < rule.minimum:
        if rule.minimum == 0:
            return f"must not be negative, got {echo_value(value)}"
        return f"must be at least {rule.minimum!r}, got {echo_value(value)}"
    if value > rule.maximum:
        return f"must be at most {rule.maximum!r}"
    return None
