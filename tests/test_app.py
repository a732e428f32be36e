import dataclasses
import io
import json
import math
import re
from types import SimpleNamespace

import pytest
import webtest

from app import create_app
from churn.http.access_log import AccessLog
from churn.http.config import Settings
from churn.http.customers import MAX_REPORTED_ERRORS
from churn.http.routes import ROUTES
from helpers import CountingStream, logged_lines

PROBLEM = "application/problem+json"


def _post_raw(app, body, **kwargs):
    return app.post("/predict", body, content_type="application/json", **kwargs)


def _assert_problem(response, status, detail_part):
    assert response.status_int == status
    assert response.content_type == PROBLEM
    assert response.json["status"] == status
    assert detail_part in response.json["detail"]


def test_ping_answers_pong_as_plain_text(app):
    response = app.get("/ping")
    assert response.text == "PONG"
    assert response.content_type == "text/plain"


def test_head_ping_answers_without_a_body(app):
    response = app.head("/ping")
    assert response.status_int == 200 and response.body == b""


def test_predict_answers_the_book_customer_in_the_books_shape(app, model, book_customer, book_probability):
    anonymous = {field: value for field, value in book_customer.items() if field != "customerid"}
    response = app.post_json("/predict", anonymous)
    assert response.content_type == "application/json"
    assert set(response.json) == {"churn_probability", "churn"}
    assert response.json["churn_probability"] == pytest.approx(book_probability, rel=1e-12)
    assert response.json["churn"] is (book_probability >= model.threshold)


def test_churn_is_true_from_the_threshold_up(model, book_customer):
    def churn(threshold):
        app = webtest.TestApp(create_app(dataclasses.replace(model, threshold=threshold)))
        return app.post_json("/predict", book_customer).json["churn"]

    probability = webtest.TestApp(create_app(model)).post_json("/predict", book_customer).json["churn_probability"]
    assert churn(probability) is True
    assert churn(math.nextafter(probability, 1)) is False


def test_predict_accepts_raw_data_set_names_and_spellings(app, book_customer):
    raw = {key.upper(): value for key, value in book_customer.items()}
    raw.update(CONTRACT="One year", TENURE="41", PAYMENTMETHOD="Bank transfer (automatic)")
    assert app.post_json("/predict", raw).json == app.post_json("/predict", book_customer).json


def test_batch_answers_each_customer_in_order(app, book_customer):
    risky = dict(book_customer, contract="month-to-month", tenure=1)
    single = [app.post_json("/predict", customer).json for customer in (book_customer, risky, book_customer)]
    assert app.post_json("/predict", [book_customer, risky, book_customer]).json == single


def test_empty_batch_answers_an_empty_array(app):
    assert app.post_json("/predict", []).json == []


def test_missing_fields_get_422_listing_every_one(app, book_customer, model):
    response = app.post_json("/predict", {"gender": "female"}, status=422)
    missing = [rule.name for rule in model.schema.rules if rule.name != "gender" and not rule.optional]
    _assert_problem(response, 422, f"missing fields: {', '.join(missing)}")
    assert response.json["errors"] == [{"field": field, "message": "is required"} for field in missing]


def test_unknown_categorical_value_gets_422_naming_the_allowed_values(app, book_customer):
    response = app.post_json("/predict", dict(book_customer, contract="weekly"), status=422)
    assert response.json["detail"] == (
        'contract: unknown value "weekly"; allowed values: "month-to-month", "one_year", "two_year"'
    )


@pytest.mark.parametrize("value", [2, -1, True, "yes", None, 0.5])
def test_seniorcitizen_other_than_0_or_1_gets_422(app, book_customer, value):
    response = app.post_json("/predict", dict(book_customer, seniorcitizen=value), status=422)
    assert [error["field"] for error in response.json["errors"]] == ["seniorcitizen"]


def test_numbers_as_csv_text_and_blank_totalcharges_are_accepted(app, book_customer):
    as_text = dict(book_customer, seniorcitizen="0", tenure="41", monthlycharges="79.85", totalcharges="3320.75")
    assert app.post_json("/predict", as_text).json == app.post_json("/predict", book_customer).json
    new_customer = dict(book_customer, tenure=0, totalcharges=" ")
    assert (
        app.post_json("/predict", new_customer).json
        == app.post_json("/predict", dict(new_customer, totalcharges=0)).json
    )


@pytest.mark.parametrize(
    ("tenure", "status", "detail"),
    [
        (b"true", 422, "tenure: must be a number, not true"),
        (b"null", 422, "tenure: must be a number, not null"),
        (b"[41]", 422, "tenure: must be a number, not an array"),
        (b'{"months": 41}', 422, "tenure: must be a number, not an object"),
        (b"NaN", 422, "tenure: must be a finite number"),
        (b"Infinity", 422, "tenure: must be a finite number"),
        (b"1e999", 422, "tenure: must be a finite number"),
        (b"1e300", 422, "tenure: must be at most 1000000000"),
        (b"-5", 422, "tenure: must not be negative, got -5"),
        (b'"-5"', 422, 'tenure: must be a number, not "-5"'),
        (b'"1e3"', 422, 'tenure: must be a number, not "1e3"'),
        (b"9" * 5000, 400, "the body is not valid JSON: it has a number with too many digits"),
    ],
)
def test_numbers_that_are_not_finite_non_negative_numbers_get_4xx(app, book_customer, tenure, status, detail):
    body = json.dumps(dict(book_customer, tenure="TENURE")).encode().replace(b'"TENURE"', tenure)
    _assert_problem(_post_raw(app, body, status=status), status, detail)


def test_extra_fields_are_ignored_and_customerid_is_echoed_as_sent(app, book_customer):
    customer = dict(book_customer, customerid="8879-ZKJOF", favourite_colour="blue")
    del customer["customerid"]
    customer["customerID"] = "8879-ZKJOF"
    result = app.post_json("/predict", customer).json
    assert list(result) == ["customerid", "churn_probability", "churn"]
    assert result["customerid"] == "8879-ZKJOF"


def test_batch_results_carry_each_customerid(app, book_customer):
    batch = [dict(book_customer, customerid=f"id-{n}") for n in range(3)] + [{**book_customer}]
    del batch[3]["customerid"]
    results = app.post_json("/predict", batch).json
    assert [result.get("customerid") for result in results] == ["id-0", "id-1", "id-2", None]


@pytest.mark.parametrize("customerid", [7590, 0, -1, 10**128 - 1, -(10**127 - 1), 7590.0, "", "x" * 128])
def test_customerid_string_or_integer_is_echoed_as_given(app, book_customer, customerid):
    result = app.post_json("/predict", dict(book_customer, customerid=customerid)).json
    assert result["customerid"] == customerid and type(result["customerid"]) is type(customerid)


def test_integer_customerid_is_echoed_as_written(app, book_customer):
    body = json.dumps(dict(book_customer, customerid="ID")).replace('"ID"', "12345678901234567890123")
    assert _post_raw(app, body.encode()).text.startswith('{"customerid": 12345678901234567890123,')


@pytest.mark.parametrize("customerid", [None, 42.5, 1e300, True, ["a"], {"id": 1}, "x" * 129, 10**128, -(10**127)])
def test_customerid_that_is_not_a_short_string_or_integer_gets_422(app, book_customer, customerid):
    response = app.post_json("/predict", dict(book_customer, customerid=customerid), status=422)
    message = "must be a string or an integer of at most 128 characters"
    assert response.json["errors"] == [{"field": "customerid", "message": message}]


def test_a_field_given_twice_in_different_case_gets_422(app, book_customer):
    response = app.post_json("/predict", dict(book_customer, Tenure=5), status=422)
    assert response.json["errors"] == [{"field": "tenure", "message": "is given more than once (names ignore case)"}]


def test_batch_over_the_limit_gets_422_with_the_limit(model, book_customer):
    app = webtest.TestApp(create_app(model, Settings(max_batch=2)))
    response = app.post_json("/predict", [book_customer] * 3, status=422)
    _assert_problem(response, 422, "the batch has more than 2 customers; the limit is 2 per request")
    assert len(app.post_json("/predict", [book_customer] * 2).json) == 2


@pytest.mark.parametrize("content_type", ["", "text/plain", "application/x-www-form-urlencoded"])
def test_body_not_sent_as_json_or_a_file_gets_415_saying_what_to_send(app, book_customer, content_type):
    response = app.post("/predict", json.dumps(book_customer), content_type=content_type, status=415)
    _assert_problem(
        response,
        415,
        "send the body as JSON with 'Content-Type: application/json', "
        f"or a file of customers as text/csv or application/x-ndjson (got {content_type or 'none'})",
    )


@pytest.mark.parametrize("content_type", ["application/json; charset=latin-1", "text/csv; charset=utf-16"])
def test_a_body_in_another_charset_than_utf8_gets_415(app, book_customer, content_type):
    response = app.post("/predict", json.dumps(book_customer), content_type=content_type, status=415)
    _assert_problem(response, 415, f"send the body in UTF-8 (got {content_type})")


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON;charset=UTF-8"])
def test_json_content_type_with_parameters_is_accepted(app, book_customer, book_probability, content_type):
    result = app.post("/predict", json.dumps(book_customer), content_type=content_type).json
    assert result["churn_probability"] == pytest.approx(book_probability, rel=1e-12)


def test_invalid_customer_gets_422_naming_each_field(app, book_customer):
    customer = dict(book_customer, tenure=-5, contract="weekly")
    del customer["gender"]
    response = app.post_json("/predict", customer, status=422)
    _assert_problem(response, 422, "tenure: must not be negative")
    assert {error["field"] for error in response.json["errors"]} == {"gender", "tenure", "contract"}


def test_batch_errors_name_the_index_of_each_bad_customer(app, book_customer):
    batch = [book_customer, dict(book_customer, tenure="x"), book_customer, {}]
    response = app.post_json("/predict", batch, status=422)
    _assert_problem(response, 422, "customer 1: tenure: must be a number")
    assert {error["index"] for error in response.json["errors"]} == {1, 3}


def test_batch_error_list_is_capped_and_says_how_many_more(app, model):
    response = app.post_json("/predict", [{}] * 10, status=422)
    assert len(response.json["errors"]) == MAX_REPORTED_ERRORS
    required = sum(not rule.optional for rule in model.schema.rules)
    assert response.json["detail"].endswith(f"and {10 * required - MAX_REPORTED_ERRORS} more errors")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", "the body is empty"),
        (b'{"tenure": ', "the body is not valid JSON"),
        (b"\xff\xfe{}", "the body is not UTF-8 text (byte 0xFF at line 1)"),
        (b"41", "the body must be a customer (JSON object) or a list of customers (JSON array)"),
        (b"null", "the body must be a customer"),
        (b"[" * 100_000 + b"]" * 100_000, "the body is not valid JSON"),
    ],
)
def test_unusable_body_gets_400_saying_what_is_wrong(app, body, detail):
    _assert_problem(_post_raw(app, body, status=400), 400, detail)


@pytest.mark.parametrize("value", [b"[1, 2]", b"null", b'"x"'])
def test_batch_items_that_are_not_objects_get_422(app, value):
    response = _post_raw(app, b"[" + value + b"]", status=422)
    assert response.json["errors"][0]["field"] == "customer"


def test_utf8_with_byte_order_mark_is_accepted(app, book_customer, book_probability):
    response = _post_raw(app, b"\xef\xbb\xbf" + json.dumps(book_customer).encode())
    assert response.json["churn_probability"] == pytest.approx(book_probability, rel=1e-12)


def test_body_over_the_limit_gets_413_before_it_is_read(model, book_customer):
    body = json.dumps(book_customer).encode()
    stream = CountingStream(body)
    app = create_app(model, Settings(max_body_bytes=100))
    status, _, problem = _call(app, CONTENT_LENGTH=str(len(body)), **{"wsgi.input": stream})
    assert status.startswith("413") and problem["detail"] == f"the body is {len(body)} bytes; the limit is 100 bytes"
    assert stream.bytes_read == 0


def test_unknown_path_gets_404(app):
    _assert_problem(app.get("/nope", status=404), 404, "no such endpoint: /nope; see GET /openapi.json")


def test_wrong_method_gets_405_with_allow(app):
    response = app.get("/predict", status=405)
    _assert_problem(response, 405, "/predict does not accept GET")
    assert response.headers["Allow"] == "POST"
    assert app.post("/ping", status=405).headers["Allow"] == "GET, HEAD"


def _call(wsgi_app, **environ):
    """Call the app directly, for requests WebTest will not build; returns (status, headers, body)."""
    base = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/predict",
        "CONTENT_TYPE": "application/json",
        "wsgi.input": io.BytesIO(b"{}"),
        "wsgi.errors": io.StringIO(),
    }
    captured = {}
    body = b"".join(
        wsgi_app({**base, **environ}, lambda status, headers: captured.update(status=status, headers=dict(headers)))
    )
    return captured["status"], captured["headers"], json.loads(body)


def test_chunked_body_over_the_limit_gets_413_without_reading_it_all(model):
    stream = CountingStream(b"[" + b" " * 10_000_000 + b"]")
    app = create_app(model, Settings(max_body_bytes=1000))
    status, _, body = _call(
        app, HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input": stream, "wsgi.input_terminated": True}
    )
    assert status.startswith("413") and body["detail"] == "the body is larger than the limit of 1000 bytes"
    assert stream.bytes_read <= 1001


def test_chunked_body_within_the_limit_is_read_to_its_end(model, book_customer, book_probability):
    stream = io.BytesIO(json.dumps(book_customer).encode())
    status, _, body = _call(create_app(model), **{"wsgi.input": stream, "HTTP_TRANSFER_ENCODING": "chunked"})
    assert status.startswith("200") and body["churn_probability"] == pytest.approx(book_probability, rel=1e-12)


def test_long_paths_and_methods_are_echoed_only_as_a_short_prefix(app, model):
    path_detail = app.get("/" + "x" * 5000, status=404).json["detail"]
    assert path_detail == f"no such endpoint: /{'x' * 39}…; see GET /openapi.json"
    status, _, problem = _call(create_app(model), REQUEST_METHOD="Y" * 5000)
    assert status.startswith("405") and problem["detail"] == f"/predict does not accept {'Y' * 40}…"


@pytest.fixture
def locked_app(model):
    return webtest.TestApp(create_app(model, Settings(api_key="s3cret-key")))


@pytest.mark.parametrize("path", ["/predict", "/openapi.json"])
def test_with_api_key_a_request_without_it_gets_401_with_www_authenticate(locked_app, book_customer, path):
    response = (
        locked_app.post_json(path, book_customer, status="*")
        if path == "/predict"
        else locked_app.get(path, status="*")
    )
    _assert_problem(response, 401, "send the API key as 'Authorization: Bearer <key>'")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_with_api_key_a_wrong_key_gets_401(locked_app, book_customer):
    headers = {"Authorization": "Bearer wrong"}
    response = locked_app.post_json("/predict", book_customer, headers=headers, status=401)
    _assert_problem(response, 401, "the API key is not valid")
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_with_api_key_the_right_key_is_served(locked_app, book_customer):
    headers = {"Authorization": "Bearer s3cret-key"}
    assert locked_app.post_json("/predict", book_customer, headers=headers).status_int == 200


def test_with_api_key_ping_stays_open_for_health_checks(locked_app):
    assert locked_app.get("/ping").text == "PONG"


def test_a_body_shorter_than_its_content_length_gets_400_and_is_not_scored(model, book_customer):
    body = json.dumps(book_customer).encode()  # a whole customer, but fewer bytes than announced
    status, _, problem = _call(
        create_app(model), CONTENT_LENGTH=str(len(body) + 10), **{"wsgi.input": io.BytesIO(body)}
    )
    assert status.startswith("400")
    assert (
        problem["detail"]
        == f"the body ended after {len(body)} of the {len(body) + 10} bytes its Content-Length announced"
    )


@pytest.mark.parametrize("length", ["-1", "abc", "1e3"])
def test_invalid_content_length_gets_400(model, length):
    status, _, body = _call(create_app(model), CONTENT_LENGTH=length)
    assert status.startswith("400") and body["detail"] == f"invalid Content-Length: {length}"


class _ExplodingWeights(dict):
    def __getitem__(self, value):
        raise RuntimeError("scoring exploded")


def test_unexpected_error_gets_a_generic_500_and_the_traceback_goes_to_the_log(model, book_customer):
    exploding = tuple(
        dataclasses.replace(term, weights=_ExplodingWeights(term.weights)) if term.categorical else term
        for term in model.terms
    )
    broken = dataclasses.replace(model, terms=exploding)
    errors = io.StringIO()
    status, headers, body = _call(
        create_app(broken),
        CONTENT_LENGTH=str(len(json.dumps(book_customer))),
        **{"wsgi.input": io.BytesIO(json.dumps(book_customer).encode()), "wsgi.errors": errors},
    )
    assert status.startswith("500") and headers["Content-Type"] == PROBLEM
    assert body == {
        "title": "Internal Server Error",
        "status": 500,
        "detail": "the server could not answer this request",
    }
    assert "RuntimeError: scoring exploded" in errors.getvalue()


def test_index_lists_the_service_its_model_version_and_every_route(app, model):
    index = app.get("/").json
    assert index["service"] == "churn prediction service" and index["model_version"] == model.version
    assert set(index["routes"]) == {f"{route.method} {route.path}" for route in ROUTES}
    assert all(description and "\n" not in description for description in index["routes"].values())


def test_model_endpoint_says_exactly_what_is_deployed(app, model):
    info = app.get("/model").json
    assert info["version"] == model.version and info["sha256"] == model.sha256
    assert info["format_version"] == 1 and info["threshold"] == model.threshold
    for key in ("training_rows", "test_auc", "trained_at", "sklearn_version"):
        assert info[key] == model.metadata[key]
    assert info["features"]["categorical"]["paymentmethod"] == list(model.schema.categorical["paymentmethod"])
    assert info["model_card"] == "MODEL_CARD.md" and info["explains"] is True


def test_model_endpoint_reports_the_threshold_in_effect(model):
    app = webtest.TestApp(create_app(dataclasses.replace(model, threshold=0.3)))
    assert app.get("/model").json["threshold"] == 0.3


@pytest.mark.parametrize("path", ["/", "/model"])
def test_with_api_key_index_and_model_need_it(locked_app, path):
    assert locked_app.get(path, status=401).headers["WWW-Authenticate"] == "Bearer"
    assert locked_app.get(path, headers={"Authorization": "Bearer s3cret-key"}).status_int == 200


def _logged_app(model):
    """An app whose access log is kept in memory, and the function that gives its lines."""
    settings, lines = logged_lines()
    return webtest.TestApp(create_app(model, settings)), lines


ACCESS_LINE = re.compile(
    r"time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z method=(?P<method>\S+) path=(?P<path>\S+|\".*\") "
    r"status=(?P<status>\d{3}) duration_ms=\d+\.\d{3} bytes=(?P<bytes>\d+) request_id=(?P<request_id>\S+)"
)


def test_every_request_writes_one_access_line_with_what_was_answered(model, book_customer):
    app, lines = _logged_app(model)
    response = app.post_json("/predict", book_customer, headers={"X-Request-ID": "abc-123"})
    app.get("/nowhere", status=404)
    app.head("/ping")
    fields = [ACCESS_LINE.fullmatch(line).groupdict() for line in lines()]
    assert fields[0] == {
        "method": "POST", "path": "/predict", "status": "200", "bytes": str(len(response.body)), "request_id": "abc-123"
    }  # fmt: skip
    assert [(f["path"], f["status"], f["bytes"]) for f in fields[1:]] == [
        ("/nowhere", "404", fields[1]["bytes"]),
        ("/ping", "200", "0"),
    ]


def test_the_request_id_is_returned_and_made_up_when_missing_or_unsafe(app, book_customer):
    given = app.get("/ping", headers={"X-Request-ID": "trace:1.2_3-4"})
    assert given.headers["X-Request-ID"] == "trace:1.2_3-4"
    for unsafe in ("has space", "x" * 65, 'quote"', "a=b", "é"):
        made_up = app.get("/ping", headers={"X-Request-ID": unsafe}).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", made_up)
    first, second = (app.get("/ping").headers["X-Request-ID"] for _ in range(2))
    assert first != second


def test_a_hostile_path_cannot_forge_access_log_fields_or_lines(model):
    app, lines = _logged_app(model)
    app.get('/x status=200 request_id=forged\n"', status=404, expect_errors=True)
    [line] = lines()
    assert "\n" not in line and ACCESS_LINE.fullmatch(line)["request_id"] != "forged"
    assert ACCESS_LINE.fullmatch(line)["status"] == "404"


def test_the_access_log_is_written_in_writes_of_whole_lines_that_a_pipe_keeps_whole():
    class Stream:
        writes, flushed = [], 0

        def write(self, text):
            self.writes.append(text)

        def flush(self):
            self.flushed += 1

    stream = Stream()
    log = AccessLog(stream, flush_seconds=3600)
    for n in range(1000):  # lines of many lengths: paths of up to 300 characters (logged up to 200)
        log.request_answered(SimpleNamespace(environ={"REQUEST_METHOD": "GET", "PATH_INFO": "/" + "x" * (n % 300)},
                                             started=0.0, id=f"r{n}"), 404, 100)  # fmt: skip
    log.flush()
    written = "".join(stream.writes)
    assert [line.rsplit("request_id=", 1)[1] for line in written.splitlines()] == [f"r{n}" for n in range(1000)]
    assert all(len(text.encode()) <= 4096 and text.endswith("\n") for text in stream.writes)
    assert stream.flushed == len(stream.writes) > 1


def test_without_an_access_log_nothing_is_written(app, capsys):
    app.get("/ping")
    assert capsys.readouterr() == ("", "")


def test_with_api_key_an_unknown_path_gets_401_not_404(locked_app):
    response = locked_app.get("/nope", status=401)  # without the key, nothing says which paths exist
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert locked_app.get("/nope", headers={"Authorization": "Bearer s3cret-key"}, status=404).json["status"] == 404


@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "chunked"])
@pytest.mark.parametrize(
    ("path", "content_type", "expected"),
    [
        ("/predict", "application/json", "a customer as JSON"),
        ("/predict", "text/csv", "customers as CSV with a header row, or as JSON lines"),
        ("/v2/models/{name}/infer", "application/json", "an inference request as JSON"),
    ],
)
def test_an_empty_body_says_what_to_send(model, path, content_type, expected, chunked):
    framing = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True} if chunked else {}
    environ = {
        "PATH_INFO": path.format(name=model.name),
        "CONTENT_TYPE": content_type,
        "wsgi.input": io.BytesIO(b""),
        **framing,
    }
    status, _, body = _call(create_app(model), CONTENT_LENGTH="0", **environ)
    assert status.startswith("400")
    assert (body.get("detail") or body.get("error")) == f"the body is empty; send {expected}"
