"""The customers a request sends and the answer of their scores, within bounds on what they cost.

A small body (churn.http.web.SMALL_BODY_BYTES) is read and decoded whole. A larger one is read as it is
parsed, one customer at a time, each validated at once and refused past the request's limit, so that
what a request holds is its valid customers, whatever its body holds. Long work goes in turns
(churn/http/turns.py), and a large answer is streamed, each piece made as the client takes the last.
Standard library only.
"""

import itertools
from typing import NamedTuple

from churn.core.customer_files import (
    InputError,
    InvalidJSON,
    JSONReader,
    TooLarge,
    csv_customers,
    json_customers,
)
from churn.core.explain import DEFAULT_TOP
from churn.core.model import score, score_prepared
from churn.core.output_formats import CSV_MEDIA_TYPE, JSON_MEDIA_TYPE
from churn.core.prediction import DECISION, churns, predictions, result, result_json
from churn.core.prediction_log import NOT_LOGGED
from churn.core.schema import InvalidCustomer, compact, describe, validate_customer
from churn.http.metrics import NOT_COUNTED
from churn.http.turns import Turns, customers_per_turn, parts_in_turns
from churn.http.web import HTTPError, Response, body_text, empty_body, is_large, read_json

MAX_REPORTED_ERRORS = 20
NOT_CUSTOMERS = "the body must be a customer (JSON object) or a list of customers (JSON array)"
# What to send, said when the body is empty.
JSON_CUSTOMERS = "a customer as JSON"
FILE_OF_CUSTOMERS = "customers as CSV with a header row, or as JSON lines"
# How an error names where its customer is: "index" in a batch, "line" in a file, "row" in a V2 request.
_WHERE_NAMED = {"index": "customer", "line": "line", "row": "row"}


class CustomerLimit(NamedTuple):
    """How many customers a request may send in a `what` ("batch", "file"): max_batch, and when each
    is explained with `explain_top` factors, as many as make max_batch * DEFAULT_TOP factors in all,
    which bounds the largest answer (about 6 MB) and its work."""

    what: str
    max_batch: int
    explain_top: int | None = None

    @property
    def count(self):
        """The most customers allowed."""
        if not self.explain_top:
            return self.max_batch
        return min(self.max_batch, self.max_batch * DEFAULT_TOP // self.explain_top)

    def error(self):
        """The 422 for a request that sends more."""
        message = f"the {self.what} has more than {self.count} customers; the limit is {self.count} per request"
        if self.explain_top:
            factors = self.max_batch * DEFAULT_TOP
            message += f" when each is explained with {self.explain_top} factors ({factors} factors in all)"
        return HTTPError(422, message)


def json_body_customers(environ, model, settings, explain_top, counts=NOT_COUNTED, lines=NOT_LOGGED):
    """The customers of a JSON body: (what hold_for holds of them, None) for a batch (a JSON array), or
    (None, the customer as sent) for one customer (a JSON object): one_customer_response answers it.
    A batch's customers are noted in `lines` (churn.core.prediction_log.RequestLines)."""
    if not is_large(environ):
        payload = read_json(environ, settings.max_body_bytes, JSON_CUSTOMERS)
        if type(payload) is dict:
            return None, payload
        if not isinstance(payload, list):
            raise HTTPError(400, NOT_CUSTOMERS)
        limit = CustomerLimit("batch", settings.max_batch, explain_top)
        hold = hold_for(model, explain_top, counts, lines)
        return validated(enumerate(payload), model, "index", limit, hold, counts), None
    reader = JSONReader(body_text(environ, settings.max_body_bytes))
    try:
        return _read_json_customers(reader, model, settings, explain_top, counts, lines)
    except InputError as error:
        raise input_error(error, "the body is not valid JSON") from None


def _read_json_customers(reader, model, settings, explain_top, counts, lines):
    first = reader.peek()
    if not first:
        raise empty_body(JSON_CUSTOMERS)
    if first == "[":
        items = (value for _, value in reader.array_items())
        limit = CustomerLimit("batch", settings.max_batch, explain_top)
        held = validated(enumerate(items), model, "index", limit, hold_for(model, explain_top, counts, lines), counts)
        reader.finish()
        return held, None
    payload, _ = reader.value()
    reader.finish()
    if type(payload) is not dict:
        raise HTTPError(400, NOT_CUSTOMERS)
    return None, payload


def file_customers(media_type, environ, model, settings, explain_top, counts=NOT_COUNTED, lines=NOT_LOGGED):
    """What hold_for holds of the customers of a file in the body (CSV, else JSON lines), each named by
    its line, as predict.py reads them; each noted in `lines`."""
    text = body_text(environ, settings.max_body_bytes)
    rows = csv_customers(text, model.schema.fields) if media_type == CSV_MEDIA_TYPE else json_customers(text, False)
    limit = CustomerLimit("file", settings.max_batch, explain_top)
    try:
        customers = validated(rows, model, "line", limit, hold_for(model, explain_top, counts, lines), counts)
    except InputError as error:
        raise empty_body(FILE_OF_CUSTOMERS) if text.blank else input_error(error) from None
    if text.blank:
        raise empty_body(FILE_OF_CUSTOMERS)
    return customers


def input_error(error, prefix=None):
    """The 4xx for an InputError, reading input as customers: 413 for a part over its size limit; the
    message of a JSON body is `prefix` and why."""
    if isinstance(error, TooLarge):
        return HTTPError(413, str(error))
    if prefix is None:
        return HTTPError(400, str(error))
    reason = f"line {error.line}: {error.reason}" if isinstance(error, InvalidJSON) else str(error)
    return HTTPError(400, f"{prefix}: {reason}")


def one_customer_response(model, raw, explain_top, answer_format, counts=NOT_COUNTED, lines=NOT_LOGGED):
    """200 with the answer for one customer, sent as a JSON object: the book's answer, explained or not,
    as a JSON object, or in another OutputFormat (a CSV row, a JSON line); 422 naming each invalid field.
    The customer's line of the prediction log is written (`lines`)."""
    try:
        customer, probability = scored(model, raw)
    except InvalidCustomer as invalid:
        counts.invalid(invalid.errors)
        raise HTTPError(422, str(invalid), errors=invalid.errors) from None
    answer = result(model, customer, probability, explain_top)
    counts.scored_customer(customer, probability, answer[DECISION])
    lines.add(customer, probability, answer[DECISION])
    lines.write()
    if answer_format.media_type == JSON_MEDIA_TYPE:
        return Response(200, JSON_MEDIA_TYPE, result_json(answer).encode())
    text = "".join(answer_format.pieces([[answer]], explain_top))
    return Response(200, answer_format.content_type, text.encode("utf-8"))


def hold_for(model, explain_top, counts=NOT_COUNTED, lines=NOT_LOGGED):
    """raw customer -> what a request holds of it until its answer is made: its result, scored at
    once; or, to be explained, the customer (compact), explained as the answer is made. Its inputs
    are counted as it is validated, and its score noted in `lines` (RequestLines), which are written
    once every customer is valid. Raises InvalidCustomer. A 10,000-customer batch holds 3 MB of
    results, or 6 MB of customers; and with the prediction log, 7 MB of its lines."""
    if explain_top and lines is NOT_LOGGED:
        return lambda raw: compact(counts.inputs(validate_customer(raw, model.schema)), model.schema)
    if explain_top:

        def hold_logged(raw):
            customer, probability = scored(model, raw)
            lines.add(counts.inputs(customer), probability, churns(model, probability))
            return compact(customer, model.schema)

        return hold_logged

    def hold(raw):
        customer, probability = scored(model, raw)
        answer = result(model, counts.inputs(customer), probability)
        lines.add(customer, probability, answer[DECISION])
        return answer

    return hold


def scored(model, raw):
    """(the customer as validation returns it, its churn probability): a customer already in the
    model's spelling in one pass (churn.core.model.score_prepared), any other validated, then scored."""
    probability = score_prepared(model, raw)
    if probability is not None:
        return raw, probability
    customer = validate_customer(raw, model.schema)
    return customer, score(model, [customer])[0]


def validated(rows, model, position, limit, hold, counts=NOT_COUNTED):
    """What `hold` makes of every (position, raw customer) of `rows`, in turns; one invalid refuses them
    all, naming each (the first MAX_REPORTED_ERRORS errors, and how many more), each counted; more than
    the CustomerLimit `limit` allows are refused as soon as one too many is read."""
    held, shown, errors, turns = [], [], 0, Turns()
    for count, (where, raw) in enumerate(rows, 1):
        if count > limit.count:
            raise limit.error()
        turns.tick()
        try:
            kept = hold(raw)
        except InvalidCustomer as invalid:
            counts.invalid(invalid.errors)
            errors += len(invalid.errors)
            shown.extend({position: where, **error} for error in invalid.errors[: MAX_REPORTED_ERRORS - len(shown)])
            held.clear()  # none will be answered: hold none
            continue
        if not errors:
            held.append(kept)
    if errors:
        raise _unprocessable(shown, errors, position)
    return held


def _unprocessable(shown, errors, position):
    by_customer = itertools.groupby(shown, key=lambda error: error[position])
    detail = "; ".join(f"{_WHERE_NAMED[position]} {where}: {describe(list(group))}" for where, group in by_customer)
    if errors > len(shown):
        detail += f"; and {errors - len(shown)} more errors"
    return HTTPError(422, detail, errors=shown)


def scores_response(model, held, explain_top, answer_format, counts=NOT_COUNTED):
    """200 with the results of what hold_for held, in an OutputFormat (a JSON array, CSV, JSON lines),
    each counted as it is made. Streamed, a turn's work at a time, when they are more than a turn's work."""
    if explain_top:
        result_lists = (predictions(model, part, explain_top) for part in _turns_of(held, explain_top))
    else:
        result_lists = _turns_of(held, None)
    result_lists = (_counted(results, counts) for results in result_lists)
    pieces = (text.encode("utf-8") for text in answer_format.pieces(result_lists, explain_top))
    if len(held) <= customers_per_turn(explain_top):
        return Response(200, answer_format.content_type, b"".join(pieces))
    return Response(200, answer_format.content_type, pieces)


def _counted(results, counts):
    counts.scored_results(results)
    return results


def _turns_of(held, explain_top):
    return parts_in_turns(held, customers_per_turn(explain_top))
