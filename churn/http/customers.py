"""POST /predict: the customers a request sends, scored, and the answer of their scores, within bounds
on what they cost.

A small body (churn.http.web.SMALL_BODY_BYTES) is read and decoded whole. A larger one is read as it
is parsed: a JSON array a slice of text at a time, each slice decoded by the json module in one call
(churn.core.customer_files.JSONReader.array_slices), a file a piece of lines at a time. Each piece is
scored at once by the service's Scorer and refused past the request's limit, so that what a request
holds is its valid customers' rows, whatever its body holds. Long work goes in turns
(churn/http/turns.py), and a large answer is streamed, each piece made as the client takes the last.

The observers hear of it here: the customers refused, as they are found; the customers scored, once
every customer of the request is valid, before the answer is made. Standard library only.
"""

import itertools
from typing import NamedTuple

from churn.core.customer_files import InputError, InvalidJSON, TooLarge, csv_customers, json_customers
from churn.core.explain import DEFAULT_TOP, ExplainRequestError, explain, requested_top
from churn.core.messages import echo
from churn.core.output_formats import (
    CSV_MEDIA_TYPE,
    FORMAT_FOR_MEDIA_TYPE,
    JSON_LINES_MEDIA_TYPE,
    JSON_MEDIA_TYPE,
    OUTPUT_FORMATS,
)
from churn.core.prediction import Results, book_answer_json, result, result_json
from churn.core.schema import InvalidCustomer, describe
from churn.core.scorer import Refusal, Scores
from churn.http.turns import Turns, customers_per_turn, take_turn
from churn.http.web import (
    HTTPError,
    Response,
    body_json_reader,
    body_text,
    empty_body,
    media_type,
    preferred,
    query_parameters,
    read_json,
)

MAX_REPORTED_ERRORS = 20
NOT_CUSTOMERS = "the body must be a customer (JSON object) or a list of customers (JSON array)"
# What to send, said when the body is empty.
JSON_CUSTOMERS = "a customer as JSON"
FILE_OF_CUSTOMERS = "customers as CSV with a header row, or as JSON lines"
ROWS_PER_PIECE = 256  # a file's rows scored at once: a few milliseconds' work
# How an error names where its customer is: "index" in a batch, "line" in a file, "row" in a V2 request.
_WHERE_NAMED = {"index": "customer", "line": "line", "row": "row"}
_ANSWER_TYPES = tuple(output.media_type for output in OUTPUT_FORMATS)
_JSON_ANSWER = OUTPUT_FORMATS[0]


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


def predict(request):
    """POST /predict's handler: a customer, a batch or a file, scored and answered."""
    environ, settings = request.environ, request.service.settings
    query, accept = environ.get("QUERY_STRING"), environ.get("HTTP_ACCEPT")
    # Most callers ask for no explanation, and send no Accept, or */*: they pay for no parsing.
    explain_top = _explain_top(query, request.service.model) if query else None
    answer_format = _answer_format(accept) if accept and accept != "*/*" else _JSON_ANSWER
    # No Vary: answers to POST are not cached without freshness, which these never carry.
    sent_as = media_type(environ)
    if sent_as == JSON_MEDIA_TYPE:
        if request.large:
            scores, one = _large_json_body(request, explain_top)
        else:
            payload = read_json(environ, settings.max_body_bytes, JSON_CUSTOMERS)
            scores, one = (None, payload) if type(payload) is dict else _small_batch(request, payload, explain_top)
        if one is not None:
            return one_customer_response(request, one, explain_top, answer_format)
    elif sent_as in (CSV_MEDIA_TYPE, JSON_LINES_MEDIA_TYPE):
        scores = file_body(request, sent_as, explain_top)
    else:
        raise _unsupported_media_type(environ)
    return scores_response(request, scores, explain_top, answer_format)


def _answer_format(accept):
    """The OutputFormat the Accept header prefers (JSON when it prefers none of them)."""
    return FORMAT_FOR_MEDIA_TYPE[preferred(accept, _ANSWER_TYPES)]


def _small_batch(request, payload, explain_top):
    """(the Scores of a small JSON body's batch (a JSON array), None); 400 for another JSON value."""
    if not isinstance(payload, list):
        raise HTTPError(400, NOT_CUSTOMERS)
    limit = CustomerLimit("batch", request.service.settings.max_batch, explain_top)
    return scored(request, "json", [(range(len(payload)), payload)], "index", limit), None


def _large_json_body(request, explain_top):
    """A large JSON body's customers, read as it is parsed: (None, the customer as sent) for one
    customer (a JSON object), which one_customer_response answers; or (their Scores, None) for a batch."""
    settings = request.service.settings
    reader = body_json_reader(request.environ, settings.max_body_bytes)
    try:
        return _read_json_body(request, reader, CustomerLimit("batch", settings.max_batch, explain_top))
    except InputError as error:
        raise input_error(error, "the body is not valid JSON") from None


def _read_json_body(request, reader, limit):
    first = reader.peek()
    if not first:
        raise empty_body(JSON_CUSTOMERS)
    if first == "[":
        scores = scored(request, "json", _numbered(reader.array_slices()), "index", limit)
        reader.finish()
        return scores, None
    payload, _ = reader.value()
    reader.finish()
    if type(payload) is not dict:
        raise HTTPError(400, NOT_CUSTOMERS)
    return None, payload


def _numbered(slices):
    """(their indexes in the array, the items) of each slice of an array's items."""
    count = 0
    for items in slices:
        yield range(count, count + len(items)), items
        count += len(items)


def file_body(request, media_type, explain_top):
    """The Scores of the customers of a file in the body (CSV, else JSON lines), each named by its line,
    as predict.py reads them."""
    settings = request.service.settings
    text = body_text(request.environ, settings.max_body_bytes)
    schema = request.service.model.schema
    if media_type == CSV_MEDIA_TYPE:
        rows = csv_customers(text, schema.required, schema.optional, schema.id_names)
    else:
        rows = json_customers(text, False)
    limit = CustomerLimit("file", settings.max_batch, explain_top)
    try:
        scores = scored(request, "file", file_pieces(rows), "line", limit)
    except InputError as error:
        raise empty_body(FILE_OF_CUSTOMERS) if text.blank else input_error(error) from None
    if text.blank:
        raise empty_body(FILE_OF_CUSTOMERS)
    return scores


def file_pieces(rows):
    """(their lines, the customers) of each piece of ROWS_PER_PIECE of a file's (line, customer) rows."""
    while piece := list(itertools.islice(rows, ROWS_PER_PIECE)):
        lines, customers = zip(*piece, strict=True)
        yield lines, customers


def input_error(error, prefix=None):
    """The 4xx for an InputError, reading input as customers: 413 for a part over its size limit; the
    message of a JSON body is `prefix` and why."""
    if isinstance(error, TooLarge):
        return HTTPError(413, str(error))
    if prefix is None:
        return HTTPError(400, str(error))
    reason = f"line {error.line}: {error.reason}" if isinstance(error, InvalidJSON) else str(error)
    return HTTPError(400, f"{prefix}: {reason}")


def scored(request, interface, pieces, position, limit, score=None):
    """The Scores of every customer of `pieces` ((where each is, the customers), where is its `position`:
    "index", "line" or "row"), scored by `score` (the service Scorer's score, unless given), a piece
    a turn; the observers hear of them once every one is valid. One invalid customer refuses them
    all, naming each (the first MAX_REPORTED_ERRORS errors, and how many more); more than the
    CustomerLimit `limit` allows are refused as soon as a piece holds one too many.

    The rows are kept past the observers only for explanations (limit.explain_top), compacted as they
    are scored: the answer of the others needs only their scores."""
    service = request.service
    score, explained = score or service.scorer.score, bool(limit.explain_top)
    whole, shown, errors, count, turns = _empty(), [], 0, 0, Turns()
    for wheres, customers in pieces:
        count += len(wheres)
        if count > limit.count:
            raise limit.error()
        scores = score(customers)
        if explained:
            scores = scores._replace(rows=service.scorer.compact(scores.rows))
        if scores.refused:
            for notify in service.events.refused:
                notify(request, interface, scores.refused)
            errors += sum(len(refusal.errors) for refusal in scores.refused)
            shown.extend(_shown(scores.refused, wheres, position, MAX_REPORTED_ERRORS - len(shown)))
            whole = _empty()  # none will be answered: hold none
        elif not errors:
            _extend(whole, scores)
        turns.tick()
    if errors:
        raise _unprocessable(shown, errors, position)
    for notify in service.events.scored:
        notify(request, interface, whole)
    return whole if explained else whole._replace(rows=None)


def _empty():
    return Scores([], [], [], [], [])


def _extend(whole, scores):
    whole.rows.extend(scores.rows)
    whole.ids.extend(scores.ids)
    whole.probabilities.extend(scores.probabilities)
    whole.decisions.extend(scores.decisions)


def _shown(refused, wheres, position, room):
    """The errors of refused customers as the 422 lists them: each with where its customer is."""
    shown = ({position: wheres[refusal.index], **error} for refusal in refused for error in refusal.errors)
    return list(itertools.islice(shown, max(room, 0)))


def _unprocessable(shown, errors, position):
    by_customer = itertools.groupby(shown, key=lambda error: error[position])
    detail = "; ".join(f"{_WHERE_NAMED[position]} {where}: {describe(list(group))}" for where, group in by_customer)
    if errors > len(shown):
        detail += f"; and {errors - len(shown)} more errors"
    return HTTPError(422, detail, errors=shown)


def one_customer_response(request, raw, explain_top, answer_format):
    """200 with the answer for one customer, sent as a JSON object: the book's answer, explained or not,
    as a JSON object, or in another OutputFormat (a CSV row, a JSON line); 422 naming each invalid field."""
    service = request.service
    try:
        row, customerid, probability = service.scorer.one(raw)
    except InvalidCustomer as invalid:
        for notify in service.events.refused:
            notify(request, "json", [Refusal(0, invalid.errors, None)])
        raise HTTPError(422, str(invalid), errors=invalid.errors) from None
    decision = probability >= service.model.threshold
    for notify in service.events.scored_one:
        notify(request, "json", row, customerid, probability, decision)
    if answer_format.media_type == JSON_MEDIA_TYPE and not explain_top:  # the book's answer: the usual one
        return Response(200, JSON_MEDIA_TYPE, book_answer_json(customerid, probability, decision).encode())
    explanation = explain(service.model.explainer, row, explain_top) if explain_top else None
    answer = result(customerid, probability, decision, explanation)
    if answer_format.media_type == JSON_MEDIA_TYPE:
        return Response(200, JSON_MEDIA_TYPE, result_json(answer).encode())
    text = "".join(answer_format.pieces([Results.of([answer])], explain_top))
    return Response(200, answer_format.content_type, text.encode("utf-8"))


def scores_response(request, scores, explain_top, answer_format):
    """200 with the results of the Scores, in an OutputFormat (a JSON array, CSV, JSON lines), made a
    turn's work at a time; streamed when they are more than a turn's work."""
    per_turn = customers_per_turn(explain_top)
    result_lists = _results_in_turns(request.service.scorer, scores, explain_top, per_turn)
    pieces = (text.encode("utf-8") for text in answer_format.pieces(result_lists, explain_top))
    if len(scores.probabilities) <= per_turn:
        return Response(200, answer_format.content_type, b"".join(pieces))
    return Response(200, answer_format.content_type, pieces)


def _results_in_turns(scorer, scores, explain_top, per_turn):
    for start in range(0, len(scores.probabilities), per_turn):
        if start:
            take_turn()
        yield scorer.results(scores, explain_top, start, start + per_turn)


def _explain_top(query, model):
    """How many factors of each explanation the query asks for: None when it asks for none."""
    key = (query, len(model.schema.fields), model.explainer is not None)
    top = _EXPLAIN_TOPS.get(key, _NOT_READ)
    if top is _NOT_READ:
        top = _read_explain_top(query, model)
        if len(_EXPLAIN_TOPS) < _REMEMBERED_QUERIES:  # callers send the same few queries
            _EXPLAIN_TOPS[key] = top
    return top


_EXPLAIN_TOPS, _NOT_READ, _REMEMBERED_QUERIES = {}, object(), 256


def _read_explain_top(query, model):
    parameters = query_parameters(query)
    try:
        return requested_top(parameters.get("explain", "false"), parameters.get("top", str(DEFAULT_TOP)), model)
    except ExplainRequestError as error:
        raise HTTPError(400, str(error)) from None


def _unsupported_media_type(environ):
    sent = echo(environ.get("CONTENT_TYPE", "")) or "none"
    return HTTPError(
        415,
        "send the body as JSON with 'Content-Type: application/json', or a file of customers as "
        f"{CSV_MEDIA_TYPE} or {JSON_LINES_MEDIA_TYPE} (got {sent})",
    )
