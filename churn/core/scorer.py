"""The one way customers become scores: every interface (a JSON object or array, CSV, JSON lines, the
Open Inference Protocol's columns, predict.py's text files) hands its customers to a Scorer, as they
arrived or already prepared, and gets back, per customer, its score or the errors that name its
fields. Standard library only.

A customer is first tried on the fast path: one already in the model's spelling (a JSON customer as
the book writes it), or a row of text in spellings seen before (a CSV row), is checked and scored in
one pass of C (map over the model's terms). Anything else takes the full path, validation
(churn.core.schema.validate_customer), which prepares the customer or names every problem. Both
read the same rules (the schema's FieldRule) and the same terms (churn.core.model); a property test
holds them to the same answers. A customer's scored form is its row: its prepared values in the
terms' order (churn.core.model.ChurnModel.row).
"""

import itertools
import math
import operator
from typing import NamedTuple

from churn.core.explain import explain
from churn.core.prediction import Results
from churn.core.schema import (
    ID_FIELD,
    NUMBER_TYPES,
    InvalidCustomer,
    are_valid_ids,
    id_key_of,
    is_valid_id,
    validate_customer,
)

# A field's spellings (text -> prepared value) are learned up to this many, from the customers the full
# path accepted: a category has a few (its values as the book and the raw data set write them).
MAX_SPELLINGS = 1024
_UNSEEN = object()


class Refusal(NamedTuple):
    """A customer that cannot be scored: its position among those scored, the errors naming its
    fields ({"field", "message"}), and its customerid as given, if it has one."""

    index: int
    errors: list
    customerid: object


class Scores(NamedTuple):
    """What a Scorer made of some customers: the valid ones' rows, customerids (None: none given),
    probabilities and decisions, in order; and the invalid ones' Refusals, in order. Sequences: lists
    that a request read a piece at a time extends, or a lone customer's tuples."""

    rows: list
    ids: list
    probabilities: list
    decisions: list
    refused: list


class Scorer:
    """Scores a model's customers: the fast path and the full path, and the results people read."""

    def __init__(self, model):
        self.model = model
        terms, rules = model.terms, {rule.name: rule for rule in model.schema.rules}
        self._fields = len(terms)
        row_rules = [rules[term.field] for term in terms]
        # The checks of the fast path, by position in a row: each number's bounds; the categorical fields
        # whose values are numbers, where a bool would pass for 0 or 1 (a bool is an int).
        self._numbers = tuple(
            (at, rule.minimum, rule.maximum) for at, rule in enumerate(row_rules) if rule.values is None
        )
        self._number_valued = tuple(
            at for at, rule in enumerate(row_rules) if rule.values and not all(type(v) is str for v in rule.values)
        )
        self._spellings = tuple({} for _ in terms)  # per position: text seen -> its prepared value
        self._row_rules = tuple(row_rules)
        self._reads_numbers = tuple(rule.values is None for rule in row_rules)
        self._canonical = tuple(
            {value: value for value in term.weights}.__getitem__ if term.categorical else operator.pos
            for term in terms
        )  # fmt: skip

    def one(self, raw):
        """(the customer's row, its customerid or None, its churn probability); InvalidCustomer naming
        each of its problems."""
        if type(raw) is dict:
            extra = len(raw) - self._fields
            if not extra or (extra == 1 and is_valid_id(raw.get(ID_FIELD))):
                try:
                    sent = self.model.row(raw)
                except KeyError:  # a field is missing
                    return self._in_full(raw)
                row = sent if self._is_prepared(sent) else self._prepared(sent)
                if row is not None:
                    try:
                        return row, raw.get(ID_FIELD), self.model.probability(row)
                    except (KeyError, TypeError):  # a value the model was not trained on; one that is no key
                        pass
        return self._in_full(raw)

    def score(self, customers):
        """The Scores of a list of customers, as sent or read."""
        scores = self._all_prepared(customers)
        if scores is not None:
            return scores
        rows, ids, probabilities, refused = [], [], [], []
        for index, raw in enumerate(customers):
            try:
                row, customerid, probability = self.one(raw)
            except InvalidCustomer as invalid:
                refused.append(Refusal(index, invalid.errors, given_id(raw, self.model.schema)))
                continue
            rows.append(row)
            ids.append(customerid)
            probabilities.append(probability)
        return Scores(rows, ids, probabilities, self.decisions(probabilities), refused)

    def score_columns(self, columns):
        """The Scores of customers given as columns (field -> its values, every field of the model, each
        as long), such as the Open Inference Protocol sends; they have no customerid."""
        fields = self.model.row_fields
        sent_rows = list(zip(*(columns[field] for field in fields), strict=True))
        scores = self._prepared_rows(sent_rows, [None] * len(sent_rows))
        if scores is not None:
            return scores
        rows, probabilities, refused = [], [], []
        for index, sent in enumerate(sent_rows):
            row = sent if self._is_prepared(sent) else self._prepared(sent)
            probability = None if row is None else self._probability(row)
            if probability is None:
                try:
                    row, _, probability = self._in_full(dict(zip(fields, sent, strict=True)))
                except InvalidCustomer as invalid:
                    refused.append(Refusal(index, invalid.errors, None))
                    continue
            rows.append(row)
            probabilities.append(probability)
        return Scores(rows, [None] * len(rows), probabilities, self.decisions(probabilities), refused)

    def compact(self, rows):
        """The rows, holding the model's own objects for their categorical values, shared by every row,
        where the JSON decoder makes new ones for each customer: rows kept long (a large batch to
        explain) take a third of the memory."""
        canonical = self._canonical
        return [tuple(map(operator.call, canonical, row)) for row in rows]

    def _all_prepared(self, customers):
        """The Scores of customers each exactly as validation returns one (a batch of the book's
        customers), checked and scored a list at a time, in C where it can; None if one is not."""
        try:
            rows = list(map(self.model.row, customers))  # KeyError: a field missing; TypeError: not an object
        except (KeyError, TypeError):
            return None
        ids = self._ids(customers)
        return None if ids is None else self._prepared_rows(rows, ids)

    def _prepared_rows(self, rows, ids):
        """The Scores of rows each as validation prepares one, and their ids; None if one is not."""
        if not self._are_prepared(rows):
            return None
        try:
            probabilities = self.model.probabilities(rows)
        except (KeyError, TypeError):  # a value the model was not trained on; one that is no key (a list)
            return None
        return Scores(rows, ids, probabilities, self.decisions(probabilities), [])

    def _ids(self, customers):
        """Each customer's customerid (None: none), when each has the model's fields and at most a valid
        customerid besides; else None."""
        sizes, count = list(map(len, customers)), len(customers)
        named = count - sizes.count(self._fields)  # those with one key more: it must be a customerid
        if not named:
            return [None] * count
        if sizes.count(self._fields + 1) != named:
            return None
        ids = list(map(dict.get, customers, itertools.repeat(ID_FIELD)))
        if ids.count(None) != count - named:
            return None
        return ids if are_valid_ids(ids if named == count else list(filter(_given, ids))) else None

    def decisions(self, probabilities):
        """Whether each customer of these probabilities is said to churn: probability >= threshold."""
        return list(map(self.model.threshold.__le__, probabilities))

    def explanations(self, rows, top):
        """The explanation of each row: the base value and its `top` largest contributions."""
        explainer = self.model.explainer
        return [explain(explainer, row, top) for row in rows]

    def results(self, scores, explain_top=None, start=0, stop=None):
        """The Results (churn.core.prediction) of the scored customers from `start` to `stop`, each
        explained with its `explain_top` largest contributions when asked."""
        part = slice(start, stop)
        explanations = self.explanations(scores.rows[part], explain_top) if explain_top else None
        return Results(scores.ids[part], scores.probabilities[part], scores.decisions[part], explanations)

    def customer(self, row, customerid=None):
        """A row as the customer validation returns: the model's fields, and its customerid if it has one."""
        customer = dict(zip(self.model.row_fields, row, strict=True))
        if customerid is not None:
            customer[ID_FIELD] = customerid
        return customer

    def _prepared(self, sent):
        """A row of values as sent, as validation would prepare it, where a value is text: as a spelling
        seen before (or a number's text) reads; None when that is not known for sure."""
        row = []
        for value, spellings, reads_number, rule in zip(
            sent, self._spellings, self._reads_numbers, self._row_rules, strict=True
        ):
            if type(value) is str:
                known = spellings.get(value, _UNSEEN)
                if known is _UNSEEN:
                    known = rule.prepare(value) if reads_number else None
                    if type(known) not in NUMBER_TYPES:
                        return None
                value = known
            row.append(value)
        row = tuple(row)
        return row if self._is_prepared(row) else None

    def _are_prepared(self, rows):
        """_is_prepared of each row, a column at a time, in C."""
        for at, minimum, maximum in self._numbers:
            column = list(map(operator.itemgetter(at), rows))
            if not set(map(type, column)) <= NUMBER_TYPES:
                return False
            # min() and max() pass over a NaN; their sum does not (once the bounds hold, it is finite).
            if column and not (minimum <= min(column) and max(column) <= maximum) or math.isnan(sum(column)):
                return False
        return all(bool not in set(map(type, map(operator.itemgetter(at), rows))) for at in self._number_valued)

    def _is_prepared(self, row):
        """Whether a row's numbers are numbers within their bounds (not NaN, not a bool), and no
        categorical field of numbers holds a bool; its categorical values are checked as it is scored."""
        for at, minimum, maximum in self._numbers:
            number = row[at]
            if type(number) not in NUMBER_TYPES or not minimum <= number <= maximum:  # also False for NaN
                return False
        for at in self._number_valued:  # noqa: SIM110 (a loop: all() of a generator costs twice as much)
            if type(row[at]) is bool:
                return False
        return True

    def _probability(self, row):
        """The row's churn probability; None when one of its categorical values is not the model's."""
        try:
            return self.model.probability(row)
        except (KeyError, TypeError):  # a value the model was not trained on; one that is no key (a list)
            return None

    def _in_full(self, raw):
        """one() by the full path; the text spellings of a valid customer are learned for the fast path."""
        customer = validate_customer(raw, self.model.schema)
        row = self.model.row(customer)
        if type(raw) is dict:
            self._learn(raw, row)
        return row, customer.get(ID_FIELD), self.model.probability(row)

    def _learn(self, raw, row):
        """Learn the categorical values of `raw` that are text under a field's own name: their spellings."""
        for at, field in enumerate(self.model.row_fields):
            text, spellings = raw.get(field), self._spellings[at]
            if type(text) is str and not self._reads_numbers[at] and len(spellings) < MAX_SPELLINGS:
                spellings[text] = row[at]


def _given(customerid):
    return customerid is not None


def given_id(raw, schema):
    """The customerid of a customer as sent (names ignore case), or None: also when it is no valid id,
    which is never echoed."""
    if not isinstance(raw, dict):
        return None
    key = id_key_of(raw, schema)
    given = None if key is None else raw[key]
    return given if is_valid_id(given) else None
