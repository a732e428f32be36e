"""The service's OpenAPI 3.1 document, built from the app's routing table and the model's field rules.

Each row of the table (churn.http.routing.Route) names its summary and one of the operations below,
and says whether it needs the API key.
"""

import re

from churn import SERVICE_VERSION
from churn.core.features import normalise
from churn.core.schema import BLANK_NUMBER, ID_FIELD, MAX_ID_CHARS, MAX_ID_INTEGER, MIN_ID_INTEGER, label_of
from churn.core.scorer import Scorer
from churn.http import openapi_v2


def example_customer(schema):
    """The customer the document shows: the artifact's (a real row of the training table), else one
    made from the rules (each field's first allowed value, or its least number)."""
    if schema.example is not None:
        return schema.example
    return {rule.name: rule.values[0] if rule.values else rule.minimum for rule in schema.rules}


def openapi_document(model, routes, max_batch, api_key_required):
    """The OpenAPI document of `routes` (Route rows), those that need it behind the API key when one is
    required, with the customer schema of the model's field rules."""
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "Churn prediction service",
            "version": SERVICE_VERSION,
            "description": "How likely is a customer to churn? The Machine Learning Bookcamp churn model.",
        },
        "paths": _paths(routes, model, max_batch),
        "components": {
            "schemas": {**_component_schemas(model.schema), **openapi_v2.schemas(model)},
            "responses": {**_error_responses(), **openapi_v2.responses()},
        },
    }
    if api_key_required:
        document["components"]["securitySchemes"] = {"apiKey": {"type": "http", "scheme": "bearer"}}
        document["security"] = [{"apiKey": []}]
    return document


def _paths(routes, model, max_batch):
    paths = {}
    for route in routes:
        operation = _operation(route, model, max_batch)
        if parameters := openapi_v2.path_parameters(route.path, model):
            operation["parameters"] = parameters
        paths.setdefault(route.path, {})[route.method.lower()] = operation
        if route.method == "GET":  # the app answers HEAD wherever it answers GET
            paths[route.path]["head"] = {**operation, "responses": _without_bodies(operation["responses"])}
    return paths


def _operation(route, model, max_batch):
    operation = {"summary": route.summary, **route.operation(model, max_batch)}
    if route.needs_key is False:  # a route open to some requests only is documented as needing the key
        operation["security"] = []
        operation["responses"].pop("401", None)
    elif "401" not in operation["responses"]:
        operation["responses"]["401"] = _ref("responses", "Unauthorized")
    return operation


def _without_bodies(responses):
    return {code: {"description": "as for GET, without the body"} for code in responses}


def _ref(kind, name):
    return {"$ref": f"#/components/{kind}/{name}"}


def _json_ref(name):
    return {"application/json": {"schema": _ref("schemas", name)}}


def _answers(content, missing=None):
    """An operation that answers 200 with `content`; with `missing` (a response's name), 404 when what
    it answers is not there: the model has no such file (NotFound), or the metrics are off (MetricsOff)."""
    responses = {"200": {"description": "OK", "content": content}}
    if missing:
        responses["404"] = _ref("responses", missing)
    return lambda model, max_batch: {"responses": dict(responses)}


def _predict_operation(model, max_batch):
    example = example_customer(model.schema)
    answered = {
        "description": "One result per customer, in the order sent",
        "content": _predict_results(model, example),
    }
    return {
        "parameters": _explain_parameters(len(model.schema.fields)),
        "requestBody": {"required": True, "content": _predict_request(max_batch, example)},
        "responses": {
            "200": answered,
            **{code: _ref("responses", name) for code, name in _PREDICT_ERRORS.items()},
        },
    }


def _explain_parameters(fields):
    explain = {"type": "string", "enum": ["true", "false", "1", "0"], "default": "false"}
    top = {"type": "string", "enum": [*map(str, range(1, fields + 1)), "all"], "default": "3"}
    return [
        {"name": "explain", "in": "query", "description": "add each customer's exact explanation in log-odds",
         "schema": explain},
        {"name": "top", "in": "query", "schema": top,
         "description": "how many factors each explanation gives, largest first (with explain=true)"},
    ]  # fmt: skip


def _predict_request(max_batch, example):
    customers = {"type": "array", "items": _ref("schemas", "Customer"), "maxItems": max_batch}
    file = f"at most {max_batch} customers, each named by its line in errors, as predict.py reads them"
    return {
        "application/json": {
            "schema": {"oneOf": [_ref("schemas", "Customer"), customers]},
            "examples": {
                "customer": {"summary": "A customer of the training table", "value": example},
                "batch": {"summary": "A batch", "value": [example]},
            },
        },
        "text/csv": {
            "schema": {"type": "string", "description": f"a header row, then a customer per row: {file}"},
            "example": f"{','.join(example)}\n{','.join(_cell(value) for value in example.values())}\n",
        },
        "application/x-ndjson": {
            "schema": {"type": "string", "description": f"JSON lines, a customer per line: {file}"},
        },
    }


def _cell(value):
    """A value as a CSV cell: a blank number is an empty cell."""
    return "" if value is None else str(value)


def _predict_results(model, example):
    """The answers' schemas, and the model's own answer to the example customer."""
    results = {"type": "array", "items": _ref("schemas", "Prediction")}
    _, customerid, probability = Scorer(model).one(example)
    decision = probability >= model.threshold
    shown = [customerid] if customerid is not None else []
    return {
        "application/json": {
            "schema": {"oneOf": [_ref("schemas", "Prediction"), results]},
            "example": {
                **({ID_FIELD: customerid} if customerid is not None else {}),
                "churn_probability": round(probability, 4),
                "churn": decision,
            },
        },
        "text/csv": {
            "schema": {"type": "string", "description": "with Accept: text/csv; the columns of predict.py's CSV"},
            "example": ",".join([*(ID_FIELD for _ in shown), "churn_probability", "churn"])
            + "\n"
            + ",".join([*map(str, shown), f"{probability:.4f}", str(decision).lower()])
            + "\n",
        },
        "application/x-ndjson": {
            "schema": {"type": "string", "description": "with Accept: application/x-ndjson; a result per line"},
            "example": '{"customerid": "8879-zkjof", "churn_probability": 0.0676, "churn": false}\n',
        },
    }


# The operations of the app's routes: (model, max_batch) -> the operation, but for summary and security.
_TEXT = {"schema": {"type": "string"}}
INDEX = _answers({**_json_ref("Index"), "text/html": _TEXT})
PING = _answers({"text/plain": {"schema": {"const": "PONG"}}})
PREDICT = _predict_operation
MODEL_INFO = _answers(_json_ref("ModelInfo"))
MODEL_MONITORING = _answers(_json_ref("Monitoring"), missing="MetricsOff")
METRICS = _answers({"text/plain": {"schema": {"type": "string"}}}, missing="MetricsOff")
OPENAPI = _answers({"application/json": {"schema": {"type": "object"}}})
STATIC_FILE = _answers({"text/javascript": _TEXT, "text/css": _TEXT, "image/svg+xml": _TEXT})
MODEL_CARD_PAGE = _answers({"text/html": _TEXT}, missing="NotFound")
MODEL_CARD_FILE = _answers({"text/markdown": _TEXT, "image/svg+xml": _TEXT}, missing="NotFound")
_PREDICT_ERRORS = {
    "400": "BadRequest",
    "408": "RequestTimeout",
    "413": "ContentTooLarge",
    "415": "UnsupportedMediaType",
    "422": "UnprocessableContent",
    "500": "InternalServerError",
    "503": "ServiceUnavailable",
}
_ERROR_DESCRIPTIONS = {
    "BadRequest": (
        "The body is empty, shorter than its Content-Length, not UTF-8, not JSON (or CSV, or JSON lines), or "
        "neither an object nor an array"
    ),
    "Unauthorized": "The API key is required and was missing or wrong",
    "RequestTimeout": "The body stopped arriving before its end",
    "ContentTooLarge": "The body, or one customer in it (a JSON value, a CSV line), is larger than the service accepts",
    "NotFound": "The model has no such file beside it (a model converted from a pickle has no card)",
    "MetricsOff": "The service was started with METRICS=off: it counts nothing",
    "UnsupportedMediaType": "The body was not sent as application/json, text/csv or application/x-ndjson in UTF-8",
    "UnprocessableContent": (
        "A customer the model cannot score (`errors` names each field, and the customer's index in a batch "
        "or line in a file), or a batch or file over the limit"
    ),
    "InternalServerError": "A fault in the service; the details are in its log",
    "ServiceUnavailable": "Busy with other large requests (a body over 64 KiB); try again after Retry-After seconds",
}


def _error_responses():
    problem = {"application/problem+json": {"schema": _ref("schemas", "Problem")}}
    responses = {name: {"description": text, "content": problem} for name, text in _ERROR_DESCRIPTIONS.items()}
    responses["Unauthorized"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}}
    responses["ServiceUnavailable"]["headers"] = openapi_v2.RETRY_AFTER
    return responses


def _component_schemas(schema):
    return {
        "Customer": _customer_schema(schema),
        **_PREDICTION_SCHEMAS,
        "Index": _INDEX_SCHEMA,
        "ModelInfo": _MODEL_INFO_SCHEMA,
        **_MONITORING_SCHEMAS,
        **_PROBLEM_SCHEMAS,
    }


_PREDICTION_SCHEMAS = {
    "Prediction": {
        "type": "object",
        "required": ["churn_probability", "churn"],
        "properties": {
            ID_FIELD: {"type": ["string", "integer"], "description": "the customer's id, as sent"},
            "churn_probability": {"type": "number", "minimum": 0, "maximum": 1},
            "churn": {"type": "boolean", "description": "churn_probability >= the model's threshold"},
            "explanation": _ref("schemas", "Explanation"),
        },
        "additionalProperties": False,
    },
    "Explanation": {
        "type": "object",
        "description": (
            "Exact SHAP values of the logistic regression in log-odds: base_value plus the "
            "contributions of all fields is the customer's log-odds of churn"
        ),
        "required": ["base_value", "factors"],
        "properties": {
            "base_value": {"type": "number", "description": "log-odds of the average training customer"},
            "factors": {"type": "array", "items": _ref("schemas", "Factor")},
        },
    },
    "Factor": {
        "type": "object",
        "required": ["field", "value", "contribution", "direction", "text"],
        "properties": {
            "field": {"type": "string"},
            "value": {"type": ["string", "number", "null"], "description": "null: a number left blank"},
            "contribution": {"type": "number", "description": "log-odds this field's value adds"},
            "direction": {"enum": ["raises", "lowers", "none"]},
            "text": {"type": "string", "description": "field = value: contribution, to two places"},
        },
    },
}
_INDEX_SCHEMA = {
    "type": "object",
    "required": ["service", "model_version", "routes"],
    "properties": {
        "service": {"type": "string"},
        "model_version": {"type": "string"},
        "routes": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_OPTIONAL_TEXT, _OPTIONAL_COUNT = {"type": ["string", "null"]}, {"type": ["integer", "null"], "minimum": 0}
_MODEL_INFO_SCHEMA = {
    "type": "object",
    "required": ["name", "version", "sha256", "format_version", "threshold", "features"],
    "properties": {
        "name": {"type": "string"},
        "version": {"type": "string", "description": "the first 12 hex digits of sha256"},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "format_version": {"type": "integer"},
        "trained_at": _OPTIONAL_TEXT,
        "training_rows": _OPTIONAL_COUNT,
        "test_auc": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "sklearn_version": _OPTIONAL_TEXT,
        "source": _OPTIONAL_TEXT,
        "model_card": {**_OPTIONAL_TEXT, "description": "the model card written next to the artifact"},
        "explains": {"type": "boolean", "description": "whether /predict?explain=true is available"},
        "threshold": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "test_split": {
            "type": ["object", "null"],
            "description": (
                "The held-out customers of training, for sizing a campaign: whether each churned, riskiest "
                "first. The riskiest k of them reached precision (churners among k) / k and recall "
                "(churners among k) / churners. null for a model trained without it."
            ),
            "required": ["customers", "churners", "churned_by_rank"],
            "properties": {
                "customers": {"type": "integer", "minimum": 0},
                "churners": {"type": "integer", "minimum": 0},
                "churned_by_rank": {"type": "string", "pattern": "^[01]*$", "example": "1101001"},
            },
        },
        "features": {
            "type": "object",
            "required": ["categorical", "numerical"],
            "properties": {
                "categorical": {"type": "object", "additionalProperties": {"type": "array"}},
                "numerical": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
}
_SHARE = {"type": "number", "minimum": 0, "maximum": 1}
_MONITORING_SCHEMAS = {
    "Monitoring": {
        "type": "object",
        "description": "The customers scored in the last hour against the model's reference (training data)",
        "required": ["model_version", "reference"],
        "properties": {
            "model_version": {"type": "string"},
            "reference": {"type": "boolean", "description": "whether the model has reference distributions"},
            "detail": {"type": "string", "description": "without a reference: how to get one"},
            "window_seconds": {"type": "integer", "description": "the window's length: the last hour"},
            "minimum_customers": {"type": "integer", "description": "customers a window needs before a PSI"},
            "features": {"type": "array", "items": _ref("schemas", "Drift"), "description": "worst PSI first"},
            "score": _ref("schemas", "Drift"),
        },
    },
    "Drift": {
        "type": "object",
        "required": ["feature", "psi", "status", "customers", "bins"],
        "properties": {
            "feature": {"type": "string", "description": "a field of the model, or score"},
            "psi": {"type": ["number", "null"], "minimum": 0, "description": "null below minimum_customers"},
            "status": {"enum": ["stable", "watch", "drifted", None], "description": "PSI < 0.1, < 0.25, >= 0.25"},
            "customers": {"type": "integer", "minimum": 0, "description": "customers in the window"},
            "bins": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["bin", "reference", "live"],
                    "properties": {
                        "bin": {"type": "string", "description": "a value, or a range's bound (<=29.85, >89.85)"},
                        "reference": {**_SHARE, "description": "the training data's share"},
                        "live": {**_SHARE, "description": "the window's share"},
                    },
                },
            },
        },
    },
}
_PROBLEM_SCHEMAS = {
    "Problem": {
        "type": "object",
        "description": "An error (RFC 9457)",
        "required": ["title", "status", "detail"],
        "properties": {
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": _ref("schemas", "FieldError")},
        },
    },
    "FieldError": {
        "type": "object",
        "required": ["field", "message"],
        "properties": {
            "index": {"type": "integer", "description": "position of the customer in a batch"},
            "line": {"type": "integer", "description": "line of the customer in a file (CSV, JSON lines)"},
            "field": {"type": "string"},
            "message": {"type": "string"},
        },
    },
}


def _customer_schema(schema):
    properties = {rule.name: _field_schema(rule) for rule in schema.rules}
    properties[ID_FIELD] = {
        "title": label_of(schema.id_column),
        "oneOf": [
            {"type": "string", "maxLength": MAX_ID_CHARS},
            {"type": "integer", "minimum": MIN_ID_INTEGER, "maximum": MAX_ID_INTEGER},
        ],
        "description": f"optional; a string or an integer of at most {MAX_ID_CHARS} characters, echoed in the "
        f"result; also accepted under the training table's own id column, {schema.id_column}",
    }
    return {
        "type": "object",
        "description": (
            "Field names are matched ignoring case, and string values are read as the training data "
            "was (lower-cased, spaces as underscores), so the raw data set's spellings such as "
            '"Month-to-month" are accepted too. Other fields are ignored.'
        ),
        "required": [rule.name for rule in schema.rules if not rule.optional],
        "properties": properties,
        "additionalProperties": True,
        "propertyNames": _no_other_spellings((*schema.fields, ID_FIELD)),
        "example": example_customer(schema),
    }


def _no_other_spellings(names):
    """The names a customer may have: each field's own, and any that is not another spelling of one.
    Names ignore case, so "Tenure" beside "tenure" is the field given twice, which is refused."""
    spellings = "|".join("".join(map(_spellings_of, name)) for name in names)
    return {"anyOf": [{"enum": list(names)}, {"not": {"pattern": f"^(?:{spellings})$"}}]}


# The letters whose lower case is another letter's, besides its upper and title case (all of Unicode's).
_OTHER_CAPITALS = {"θ": "\u03f4", "ß": "\u1e9e", "ω": "\u2126", "k": "\u212a", "å": "\u212b"}


def _spellings_of(character):
    """A pattern of the characters a name may have where a field's name has `character`: those that
    churn.core.features.normalise makes it (its other cases; a space for an underscore)."""
    if character == "_":
        return "[_ ]"
    others = {character.upper(), character.title(), *_OTHER_CAPITALS.get(character, "")}
    spellings = sorted(other for other in others | {character} if len(other) == 1 and normalise(other) == character)
    return re.escape(character) if spellings == [character] else f"[{''.join(map(re.escape, spellings))}]"


def _field_schema(rule):
    """A field's JSON Schema: its allowed values, or a number in range; also as text, where it is read
    so; also null, where a blank is allowed. Its title and its values' names (x-enumNames) are what
    people read, and x-column the training table's own name (the artifact's)."""
    if rule.values is None:
        value = {"type": "number", "minimum": rule.minimum, "maximum": rule.maximum}
    else:
        types = sorted({"string" if isinstance(allowed, str) else "number" for allowed in rule.values})
        json_type = types[0] if len(types) == 1 else types
        value = {"type": json_type, "enum": list(rule.values), "x-enumNames": list(rule.value_labels)}
    choices = [value]
    if rule.text is not None:
        choices.append({"type": "string", "pattern": rule.text, "description": "digits as in the CSV"})
    if rule.optional:
        choices.append({"type": "null", "description": "blank: " + _blank_said(rule)})
    described = {"title": rule.label, "x-column": rule.column}
    return {**described, **value} if len(choices) == 1 else {**described, "oneOf": choices}


def _blank_said(rule):
    if rule.blank == "":
        return "a value of its own, as in training"
    if rule.blank is BLANK_NUMBER:
        return "what training learned for a blank"
    return f"read as {rule.blank!r}"
