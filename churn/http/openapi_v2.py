"""The Open Inference Protocol's part of /openapi.json: its operations, path parameters, schemas and
error answers ({"error": …}, not problem documents). churn/http/openapi.py assembles the document."""

from churn.http.open_inference import DATATYPES, OUTPUTS, datatype

_JSON = "application/json"
_ERROR = {_JSON: {"schema": {"$ref": "#/components/schemas/V2Error"}}}
_SERVED = "the served model only; another answers 404"
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer", "minimum": 1}, "required": True}}  # with a 503


def path_parameters(path, model):
    """The {model} and {version} parameters a protocol path template has: the served model's own."""
    parameters = []
    if "{model}" in path:
        parameters.append(_path_parameter("model", model.name, f"the model's name ({_SERVED})"))
    if "{version}" in path:
        parameters.append(_path_parameter("version", model.version, f"the model's version ({_SERVED})"))
    return parameters


def _path_parameter(name, value, description):
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"enum": [value]}}


def _responses(schema, errors=()):
    """200 with `schema`, and the protocol's answers to 401 and to `errors` (status codes)."""
    responses = {"200": {"description": "OK", "content": {_JSON: {"schema": schema}}}}
    responses.update({code: {"$ref": f"#/components/responses/{_ERRORS[code][0]}"} for code in ("401", *errors)})
    return responses


def _answers(schema, errors=()):
    """An operation that answers as _responses says."""
    return lambda model, max_batch: {"responses": _responses(schema, errors)}


def _infer(model, max_batch):
    return {
        "requestBody": {
            "required": True,
            "description": f"one input per field of the model, each a column of the same n <= {max_batch} rows",
            "content": {_JSON: {"schema": {"$ref": "#/components/schemas/V2InferenceRequest"}}},
        },
        "responses": _responses(
            {"$ref": "#/components/schemas/V2InferenceResponse"}, ("400", "404", "408", "413", "500", "503")
        ),
    }


_BOOLEAN, _STRING = {"type": "boolean"}, {"type": "string"}
# The operations of the protocol's routes: (model, max_batch) -> the operation, but for its summary.
LIVE = _answers({"type": "object", "required": ["live"], "properties": {"live": _BOOLEAN}})
READY = _answers({"type": "object", "required": ["ready"], "properties": {"ready": _BOOLEAN}})
SERVER_METADATA = _answers({"$ref": "#/components/schemas/V2ServerMetadata"})
MODEL_METADATA = _answers({"$ref": "#/components/schemas/V2ModelMetadata"}, ("404",))
_MODEL_READY = {
    "type": "object",
    "required": ["name", "ready"],
    "properties": {"name": {"type": "string"}, "ready": _BOOLEAN},
}
MODEL_READY = _answers(_MODEL_READY, ("404",))
INFER = _infer
# Status -> (the response's name, what it means), all with the protocol's {"error": …}.
_ERRORS = {
    "400": ("V2BadRequest", "Not an inference request this model can answer; `error` says why (`row i: field: …`)"),
    "401": ("V2Unauthorized", "The API key is required and was missing or wrong"),
    "404": ("V2NotFound", "No such model, or no such version of it"),
    "408": ("V2RequestTimeout", "The body stopped arriving before its end"),
    "413": ("V2ContentTooLarge", "The body, or one value in it, is larger than the service accepts"),
    "500": ("V2InternalServerError", "A fault in the service; the details are in its log"),
    "503": ("V2ServiceUnavailable", "Busy with other large requests; try again after Retry-After seconds"),
}


def responses():
    """The protocol's error answers, by name."""
    answers = {name: {"description": text, "content": _ERROR} for name, text in _ERRORS.values()}
    answers["V2Unauthorized"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}}
    answers["V2ServiceUnavailable"]["headers"] = RETRY_AFTER
    return answers


def schemas(model):
    """The protocol's request, response and metadata schemas, for the served model's inputs."""
    tensor = {"name": {"type": "string"}, "datatype": {"type": "string"}, "shape": {"type": "array"}}
    return {
        "V2Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
        "V2ServerMetadata": {
            "type": "object",
            "required": ["name", "version", "extensions"],
            "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "extensions": {"type": "array"}},
        },
        "V2ModelMetadata": {
            "type": "object",
            "required": ["name", "platform", "inputs", "outputs"],
            "properties": {
                "name": {"const": model.name},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "inputs": {"type": "array", "items": {"type": "object", "properties": tensor}},
                "outputs": {"type": "array", "items": {"type": "object", "properties": tensor}},
            },
        },
        "V2InferenceRequest": _request_schema(model),
        "V2InferenceResponse": _response_schema(),
    }


def _request_schema(model):
    columns = ", ".join(f"{rule.name} ({datatype(rule)})" for rule in model.schema.rules)
    column = {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"enum": list(model.schema.fields)},
            "shape": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0},
                "minItems": 1,
                "maxItems": 2,
                "description": "[n], or [n, 1] as MLServer's pandas codec sends columns",
            },
            "datatype": {"enum": list(DATATYPES)},
            "parameters": {"type": "object"},
            "data": {"type": "array", "description": "the n values, checked as POST /predict checks a customer's"},
        },
    }
    return {
        "type": "object",
        "required": ["inputs"],
        "description": f"One input per field, each once: {columns}",
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object", "description": 'accepted, e.g. MLServer\'s {"content_type": "pd"}'},
            "inputs": {"type": "array", "minItems": 1, "items": column},
            "outputs": {
                "type": "array",
                "items": {"type": "object", "required": ["name"], "properties": {"name": {"enum": list(OUTPUTS)}}},
            },
        },
    }


def _response_schema():
    output = {
        "type": "object",
        "required": ["name", "datatype", "shape", "data"],
        "properties": {
            "name": {"enum": list(OUTPUTS)},
            "datatype": {"enum": list(OUTPUTS.values())},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "data": {"type": "array", "items": {"type": ["number", "boolean"]}},
        },
    }
    properties = {"model_name": _STRING, "model_version": _STRING, "id": _STRING}
    required = ["model_name", "model_version", "outputs"]
    return {
        "type": "object",
        "required": required,
        "properties": {**properties, "outputs": {"type": "array", "items": output}},
    }
