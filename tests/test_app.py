import dataclasses
import io
import json

import pytest
import webtest

from app import MAX_REPORTED_ERRORS, Settings, create_app

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


def test_predict_answers_the_book_customer_in_the_books_shape(app, book_customer):
    response = app.post_json("/predict", book_customer)
    assert response.content_type == "application/json"
    assert set(response.json) == {"churn_probability", "churn"}
    assert 0.05 <= response.json["churn_probability"] <= 0.075
    assert response.json["churn"] is False


def test_churn_is_true_when_the_probability_reaches_the_threshold(app, book_customer):
    risky = dict(
        book_customer,
        contract="month-to-month",
        tenure=1,
        totalcharges=79.85,
        onlinesecurity="no",
        techsupport="no",
        internetservice="fiber_optic",
        paymentmethod="electronic_check",
    )
    result = app.post_json("/predict", risky).json
    assert result["churn_probability"] >= 0.5 and result["churn"] is True


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


def test_batch_error_list_is_capped_and_says_how_many_more(app):
    response = app.post_json("/predict", [{}] * 10, status=422)
    assert len(response.json["errors"]) == MAX_REPORTED_ERRORS
    assert response.json["detail"].endswith(f"and {10 * 19 - MAX_REPORTED_ERRORS} more errors")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", "the body is empty"),
        (b'{"tenure": ', "the body is not valid JSON"),
        (b"\xff\xfe{}", "the body is not valid UTF-8"),
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


def test_utf8_with_byte_order_mark_is_accepted(app, book_customer):
    response = _post_raw(app, b"\xef\xbb\xbf" + json.dumps(book_customer).encode())
    assert response.json["churn"] is False


def test_body_over_the_limit_gets_413_before_it_is_read(model, book_customer):
    app = webtest.TestApp(create_app(model, Settings(max_body_bytes=100)))
    _assert_problem(app.post_json("/predict", book_customer, status=413), 413, "the limit is 100 bytes")


def test_unknown_path_gets_404(app):
    _assert_problem(app.get("/nope", status=404), 404, "no such endpoint: /nope")


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
        "wsgi.input": io.BytesIO(b"{}"),
        "wsgi.errors": io.StringIO(),
    }
    captured = {}
    body = b"".join(
        wsgi_app({**base, **environ}, lambda status, headers: captured.update(status=status, headers=dict(headers)))
    )
    return captured["status"], captured["headers"], json.loads(body)


@pytest.mark.parametrize("length", ["-1", "abc", "1e3"])
def test_invalid_content_length_gets_400(model, length):
    status, _, body = _call(create_app(model), CONTENT_LENGTH=length)
    assert status.startswith("400") and body["detail"] == f"invalid Content-Length: {length}"


class _ExplodingWeights(dict):
    def items(self):
        raise RuntimeError("scoring exploded")


def test_unexpected_error_gets_a_generic_500_and_the_traceback_goes_to_the_log(model, book_customer):
    broken = dataclasses.replace(model, categorical_weights=_ExplodingWeights(model.categorical_weights))
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


def test_the_app_keeps_serving_after_errors(app, book_customer):
    _post_raw(app, b"{", status=400)
    app.post_json("/predict", {}, status=422)
    assert app.post_json("/predict", book_customer).json["churn"] is False
