"""The Open Inference Protocol (V2) beside the book's API: the same customers, checks and numbers.

In process for the protocol's rules and errors; against a live server with tritonclient, a client
nobody here wrote, for what a KServe or Triton client sees.
"""

import dataclasses
import json

import pytest
import webtest

from app import create_app
from churn.http.config import Settings
from churn.http.open_inference import DATATYPES, datatype, inference_request

SUBMITTED = {"binary_data": False}  # the binary tensor extension is not supported: JSON tensors


def _outputs(answer):
    return {output["name"]: output for output in answer["outputs"]}


def test_health_and_server_metadata(app):
    assert app.get("/v2/health/live").json == {"live": True}
    assert app.get("/v2/health/ready").json == {"ready": True}
    metadata = app.get("/v2").json
    assert metadata["name"] == "churn prediction service" and metadata["extensions"] == []


@pytest.mark.parametrize("versioned", [False, True])
def test_model_metadata_lists_each_field_as_an_input_and_the_two_outputs(app, model, versioned):
    path = f"/v2/models/{model.name}" + (f"/versions/{model.version}" if versioned else "")
    metadata = app.get(path).json
    assert metadata["name"] == model.name and metadata["versions"] == [model.version]
    inputs = {tensor["name"]: tensor for tensor in metadata["inputs"]}
    assert list(inputs) == list(model.schema.fields)
    for field, values in model.schema.categorical.items():
        assert inputs[field]["datatype"] == ("BYTES" if isinstance(values[0], str) else "INT64")
    assert all(inputs[field]["datatype"] == "FP64" for field in model.schema.numerical)
    assert all(tensor["shape"] == [-1] for tensor in metadata["inputs"] + metadata["outputs"])
    assert [(tensor["name"], tensor["datatype"]) for tensor in metadata["outputs"]] == [
        ("churn_probability", "FP64"),
        ("churn", "BOOL"),
    ]
    assert app.get(f"{path}/ready").json == {"name": model.name, "ready": True}


def test_another_model_or_version_is_not_found_in_the_protocols_words(app, model):
    assert app.get("/v2/models/other", status=404).json == {
        "error": f"no model other here; this server serves {model.name}"
    }
    answer = app.post_json(f"/v2/models/{model.name}/versions/0123/infer", {}, status=404).json
    assert answer == {"error": f"model {model.name} has no version 0123; it serves {model.version}"}


@pytest.mark.parametrize("versioned", [False, True])
def test_inference_answers_what_predict_answers_to_the_last_bit(app, model, book_customer, versioned):
    risky = dict(book_customer, contract="month-to-month", tenure=1, totalcharges=79.85)
    customers = [book_customer, risky, dict(book_customer, seniorcitizen=1)]
    path = f"/v2/models/{model.name}" + (f"/versions/{model.version}" if versioned else "") + "/infer"
    answer = app.post_json(path, {"id": "batch-7", **inference_request(customers, model.schema)}).json
    predicted = app.post_json("/predict", customers).json
    assert (answer["model_name"], answer["model_version"], answer["id"]) == (model.name, model.version, "batch-7")
    outputs = _outputs(answer)
    probabilities = [result["churn_probability"] for result in predicted]
    assert outputs["churn_probability"] == {
        "name": "churn_probability",
        "datatype": "FP64",
        "shape": [3],
        "data": probabilities,
    }
    assert outputs["churn"]["data"] == [p["churn"] for p in predicted] and outputs["churn"]["shape"] == [3]


def test_mlservers_pandas_requests_with_columns_of_shape_n_by_1_are_taken(app, model, book_customer):
    request = inference_request([book_customer, book_customer], model.schema)
    for tensor in request["inputs"]:
        tensor.update(shape=[2, 1], data=[[value] for value in tensor["data"]])
    request["parameters"] = {"content_type": "pd"}
    answer = app.post_json(f"/v2/models/{model.name}/infer", request).json
    expected = app.post_json("/predict", book_customer).json["churn_probability"]
    assert _outputs(answer)["churn_probability"]["data"] == [expected, expected]


def test_only_the_outputs_asked_for_come_back_in_the_order_asked(app, model, book_customer):
    request = {**inference_request([book_customer], model.schema), "outputs": [{"name": "churn"}]}
    assert [output["name"] for output in app.post_json(f"/v2/models/{model.name}/infer", request).json["outputs"]] == [
        "churn"
    ]


def test_no_rows_give_empty_outputs(app, model):
    answer = app.post_json(f"/v2/models/{model.name}/infer", inference_request([], model.schema)).json
    assert [(output["shape"], output["data"]) for output in answer["outputs"]] == [([0], []), ([0], [])]


def _error(app, model, request, status=400, **kwargs):
    return app.post_json(f"/v2/models/{model.name}/infer", request, status=status, **kwargs).json["error"]


def test_an_invalid_value_is_named_by_its_row_and_field(app, model, book_customer):
    customers = [book_customer, dict(book_customer, tenure=-5, contract="weekly")]
    message = _error(app, model, inference_request(customers, model.schema))
    assert message.startswith('row 1: contract: unknown value "weekly"; allowed values: ')
    assert message.endswith("tenure: must not be negative, got -5")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["inputs"].pop(-2), "missing inputs: monthlycharges"),  # totalcharges may be left out
        (lambda r: r["inputs"].append(dict(r["inputs"][0])), "input gender is given more than once"),
        (lambda r: r["inputs"][0].update(name="colour"), "unknown input colour; the model's inputs are gender, "),
        (lambda r: r["inputs"][0].update(shape=[1, 2]), "input gender: shape must be [n] or [n, 1]"),
        (lambda r: r["inputs"][0].update(shape=[2]), "input gender: shape says 2 values, data has 1"),
        (lambda r: r["inputs"][0].update(datatype="TEXT"), f"input gender: datatype must be one of {DATATYPES[0]}"),
        (lambda r: r["inputs"][0].update(data="female"), "input gender: data must be a list of its 1 values"),
        (lambda r: r.update(id=7), "id must be a string, not a number"),
        (lambda r: r.update(outputs=[{"name": "score"}]), "unknown output score; the model's outputs are "),
        (lambda r: r.update(inputs=[]), "the request must have inputs: a list of tensors, one per field"),
        (lambda r: r.update(extra=[[]]), 'unknown key "extra" in an inference request; the protocol gives it id, '),
        (lambda r: r["inputs"][1].update(note=1), 'unknown key "note" in a tensor; the protocol gives it name, '),
    ],
)
def test_a_request_the_protocol_or_the_model_cannot_take_gets_400_saying_why(
    app, model, book_customer, change, message
):
    request = inference_request([book_customer], model.schema)
    change(request)
    assert _error(app, model, request).startswith(message)


def test_columns_of_different_lengths_are_refused(app, model, book_customer):
    request = inference_request([book_customer, book_customer], model.schema)
    request["inputs"][0].update(shape=[1], data=["female"])
    assert _error(app, model, request) == "the inputs have different numbers of rows: 1, 2"


def test_the_batch_limit_of_predict_holds(model, book_customer):
    app = webtest.TestApp(create_app(model, Settings(max_batch=2)))
    request = inference_request([book_customer] * 3, model.schema)
    assert _error(app, model, request) == "the request has more than 2 customers; the limit is 2 per request"


def test_binary_tensors_are_refused_clearly(app, model, book_customer):
    headers = {"Inference-Header-Content-Length": "100"}
    message = _error(app, model, inference_request([book_customer], model.schema), headers=headers)
    assert message == "the binary tensor data extension is not supported: send the tensors as JSON"


def test_a_body_over_the_limit_gets_413_in_the_protocols_words(model, book_customer):
    app = webtest.TestApp(create_app(model, Settings(max_body_bytes=100)))
    assert "the limit is 100 bytes" in _error(app, model, inference_request([book_customer], model.schema), status=413)


def test_the_api_key_guards_inference_but_not_the_health_checks(model, book_customer):
    app = webtest.TestApp(create_app(model, Settings(api_key="k")))
    assert app.get("/v2/health/ready").status_int == 200 and app.get("/v2/health/live").status_int == 200
    refused = app.post_json(
        f"/v2/models/{model.name}/infer", inference_request([book_customer], model.schema), status=401
    )
    assert refused.json == {"error": "send the API key as 'Authorization: Bearer <key>'"}
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert app.get("/v2/models/other", status=401).json["error"]  # which models exist is not said without it
    headers = {"Authorization": "Bearer k"}
    assert app.post_json(
        f"/v2/models/{model.name}/infer", inference_request([book_customer], model.schema), headers=headers
    ).json


def test_a_model_named_otherwise_is_served_under_its_own_name(model, book_customer):
    renamed = dataclasses.replace(model, metadata={**model.metadata, "name": "retention"})
    app = webtest.TestApp(create_app(renamed))
    assert app.get("/v2/models/retention").json["name"] == "retention"
    assert app.get(f"/v2/models/{model.name}", status=404).json["error"].startswith("no model churn here")


# --- a client nobody here wrote ------------------------------------------------------------------


@pytest.fixture
def triton(serve):
    """A tritonclient HTTP client of a live gunicorn server, and the server."""
    http = pytest.importorskip("tritonclient.http")
    server = serve("gunicorn")
    client = http.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    yield client, http, server
    client.close()


def _triton_inputs(http, model, customers):
    import numpy as np

    inputs = []
    for rule in model.schema.rules:
        values = [customer[rule.name] for customer in customers]
        kind = datatype(rule)
        array = np.array(values, dtype={"FP64": np.float64, "INT64": np.int64, "BYTES": np.object_}[kind])
        tensor = http.InferInput(rule.name, [len(values)], kind)
        tensor.set_data_from_numpy(array, **SUBMITTED)
        inputs.append(tensor)
    return inputs


@pytest.mark.slow
def test_tritonclient_sees_a_live_ready_server_and_the_models_metadata(triton, model):
    client, _, _ = triton
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(model.name) and client.is_model_ready(model.name, model.version)
    metadata = client.get_model_metadata(model.name)
    assert [tensor["name"] for tensor in metadata["inputs"]] == list(model.schema.fields)
    assert client.get_server_metadata()["extensions"] == []


@pytest.mark.slow
@pytest.mark.parametrize("how_many", [1, 50])
def test_tritonclient_infers_what_predict_answers(triton, model, book_customer, how_many):
    client, http, server = triton
    customers = [dict(book_customer, tenure=tenure) for tenure in range(how_many)]
    outputs = [http.InferRequestedOutput(name, binary_data=False) for name in ("churn_probability", "churn")]
    result = client.infer(model.name, _triton_inputs(http, model, customers), outputs=outputs, request_id="r1")
    status, predicted = server.post_json("/predict", customers)
    assert status == 200 and result.get_response()["id"] == "r1"
    assert result.as_numpy("churn_probability").tolist() == [p["churn_probability"] for p in predicted]
    assert result.as_numpy("churn").tolist() == [p["churn"] for p in predicted]


@pytest.mark.slow
def test_tritonclient_asking_for_binary_outputs_still_gets_the_answer_as_json(triton, model, book_customer):
    client, http, server = triton
    result = client.infer(model.name, _triton_inputs(http, model, [book_customer]))  # binary_data_output
    assert result.as_numpy("churn_probability").tolist() == [
        server.post_json("/predict", book_customer)[1]["churn_probability"]
    ]


@pytest.mark.slow
def test_tritonclient_hears_a_field_error_in_the_protocols_words(triton, model, book_customer):
    client, http, _ = triton
    with pytest.raises(Exception, match="row 0: tenure: must not be negative, got -5") as raised:
        client.infer(model.name, _triton_inputs(http, model, [dict(book_customer, tenure=-5)]))
    assert type(raised.value).__name__ == "InferenceServerException" and raised.value.status() == "400"


def test_a_path_that_spells_out_a_placeholder_is_not_the_served_model(app):
    assert app.get("/v2/models/%7Bmodel%7D", status=404).json["error"].startswith("no model {model} here")


@pytest.mark.parametrize("content_type", ["", "application/x-www-form-urlencoded"])
def test_the_request_is_read_as_json_whatever_its_content_type_says(app, model, book_customer, content_type):
    body = json.dumps(inference_request([book_customer], model.schema))
    answer = app.post(f"/v2/models/{model.name}/infer", body, content_type=content_type).json
    assert _outputs(answer)["churn_probability"]["data"] == [
        app.post_json("/predict", book_customer).json["churn_probability"]
    ]
