"""The service's OpenAPI 3.1 document, built from the loaded model's schema."""

from churn.features import NUMBER_TEXT_PATTERN
from churn.schema import ID_FIELD, MAX_ID_CHARS, MAX_ID_INTEGER, MAX_NUMBER, MIN_ID_INTEGER

# The book's example customer (Machine Learning Bookcamp, chapter 5).
EXAMPLE_CUSTOMER = {
    "customerid": "8879-zkjof",
    "gender": "female",
    "seniorcitizen": 0,
    "partner": "no",
    "dependents": "no",
    "tenure": 41,
    "phoneservice": "yes",
    "multiplelines": "no",
    "internetservice": "dsl",
    "onlinesecurity": "yes",
    "onlinebackup": "no",
    "deviceprotection": "yes",
    "techsupport": "yes",
    "streamingtv": "yes",
    "streamingmovies": "yes",
    "contract": "one_year",
    "paperlessbilling": "yes",
    "paymentmethod": "bank_transfer_(automatic)",
    "monthlycharges": 79.85,
    "totalcharges": 3320.75,
}
_NUMBER_TEXT = f"^{NUMBER_TEXT_PATTERN}$"
_BLANK_OR_NUMBER_TEXT = f"^( *|{NUMBER_TEXT_PATTERN})$"
_ZERO_OR_ONE_TEXT = r"^0{0,8}[01](\.0{1,9})?$"  # the digit strings that read as 0 or 1


def openapi_document(schema, max_batch, api_key_required):
    """The OpenAPI document: every route, the customer schema with the model's allowed values."""
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "Churn prediction service",
            "version": "1",
            "description": "How likely is a customer to churn? The Machine Learning Bookcamp churn model.",
        },
        "paths": {
            "/": _get_operation("Index of the service and its routes", _json_ref("Index")),
            "/ping": _get_operation("Health check", {"text/plain": {"schema": {"const": "PONG"}}}, secured=False),
            "/predict": {"post": _predict_operation(max_batch, len(schema.fields))},
            "/model": _get_operation("The deployed model", _json_ref("ModelInfo")),
            "/openapi.json": _get_operation("This document", {"application/json": {"schema": {"type": "object"}}}),
        },
        "components": {"schemas": _component_schemas(schema), "responses": _error_responses()},
    }
    if api_key_required:
        document["components"]["securitySchemes"] = {"apiKey": {"type": "http", "scheme": "bearer"}}
        document["security"] = [{"apiKey": []}]
    return document


def _json_ref(name):
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}


def _get_operation(summary, content, secured=True):
    responses = {"200": {"description": "OK", "content": content}}
    if secured:
        responses["401"] = {"$ref": "#/components/responses/Unauthorized"}
    head_responses = {code: {"description": "as for GET, without the body"} for code in responses}
    operation = {"summary": summary, "responses": responses}
    if not secured:
        operation["security"] = []
    return {"get": operation, "head": {**operation, "responses": head_responses}}


def _predict_operation(max_batch, fields):
    customers = {"type": "array", "items": {"$ref": "#/components/schemas/Customer"}, "maxItems": max_batch}
    results = {"type": "array", "items": {"$ref": "#/components/schemas/Prediction"}}
    return {
        "summary": "Churn probability of one customer, or of each customer of a batch",
        "parameters": [
            {
                "name": "explain",
                "in": "query",
                "description": "add each customer's exact explanation in log-odds",
                "schema": {"type": "string", "enum": ["true", "false", "1", "0"], "default": "false"},
            },
            {
                "name": "top",
                "in": "query",
                "description": "how many factors each explanation gives, largest first (with explain=true)",
                "schema": {"type": "string", "enum": [*map(str, range(1, fields + 1)), "all"], "default": "3"},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"oneOf": [{"$ref": "#/components/schemas/Customer"}, customers]},
                    "examples": {
                        "customer": {"summary": "The book's customer", "value": EXAMPLE_CUSTOMER},
                        "batch": {"summary": "A batch", "value": [EXAMPLE_CUSTOMER]},
                    },
                }
            },
        },
        "responses": {
            "200": {
                "description": "One result per customer, in the order sent",
                "content": {
                    "application/json": {
                        "schema": {"oneOf": [{"$ref": "#/components/schemas/Prediction"}, results]},
                        "example": {"customerid": "8879-zkjof", "churn_probability": 0.0676, "churn": False},
                    }
                },
            },
            **{code: {"$ref": f"#/components/responses/{name}"} for code, name in _ERROR_RESPONSES.items()},
        },
    }


_ERROR_RESPONSES = {
    "400": "BadRequest",
    "401": "Unauthorized",
    "413": "ContentTooLarge",
    "415": "UnsupportedMediaType",
    "422": "UnprocessableContent",
    "500": "InternalServerError",
}
_ERROR_DESCRIPTIONS = {
    "BadRequest": (
        "The body is empty, shorter than its Content-Length, not UTF-8, not JSON, or neither an object nor an array"
    ),
    "Unauthorized": "The API key is required and was missing or wrong",
    "ContentTooLarge": "The body is larger than the service accepts",
    "UnsupportedMediaType": "The body was not sent as Content-Type: application/json",
    "UnprocessableContent": "A customer the model cannot score (`errors` names each field), or a batch over the limit",
    "InternalServerError": "A fault in the service; the details are in its log",
}


def _error_responses():
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    responses = {name: {"description": text, "content": problem} for name, text in _ERROR_DESCRIPTIONS.items()}
    responses["Unauthorized"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}}
    return responses


def _component_schemas(schema):
    return {
        "Customer": _customer_schema(schema),
        "Prediction": {
            "type": "object",
            "required": ["churn_probability", "churn"],
            "properties": {
                ID_FIELD: {"type": ["string", "integer"], "description": "the customer's id, as sent"},
                "churn_probability": {"type": "number", "minimum": 0, "maximum": 1},
                "churn": {"type": "boolean", "description": "churn_probability >= the model's threshold"},
                "explanation": {"$ref": "#/components/schemas/Explanation"},
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
                "factors": {"type": "array", "items": {"$ref": "#/components/schemas/Factor"}},
            },
        },
        "Factor": {
            "type": "object",
            "required": ["field", "value", "contribution", "direction", "text"],
            "properties": {
                "field": {"type": "string"},
                "value": {"type": ["string", "number"]},
                "contribution": {"type": "number", "description": "log-odds this field's value adds"},
                "direction": {"enum": ["raises", "lowers", "none"]},
                "text": {"type": "string", "example": "contract = month-to-month: +0.85"},
            },
        },
        "Index": {
            "type": "object",
            "required": ["service", "model_version", "routes"],
            "properties": {
                "service": {"type": "string"},
                "model_version": {"type": "string"},
                "routes": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "ModelInfo": _model_info_schema(schema),
        "Problem": {
            "type": "object",
            "description": "An error (RFC 9457)",
            "required": ["title", "status", "detail"],
            "properties": {
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
            },
        },
        "FieldError": {
            "type": "object",
            "required": ["field", "message"],
            "properties": {
                "index": {"type": "integer", "description": "position of the customer in a batch"},
                "field": {"type": "string"},
                "message": {"type": "string"},
            },
        },
    }


def _model_info_schema(schema):
    optional_text, optional_count = {"type": ["string", "null"]}, {"type": ["integer", "null"], "minimum": 0}
    return {
        "type": "object",
        "required": ["name", "version", "sha256", "format_version", "threshold", "features"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string", "description": "the first 12 hex digits of sha256"},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "format_version": {"type": "integer"},
            "trained_at": optional_text,
            "training_rows": optional_count,
            "test_auc": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "sklearn_version": optional_text,
            "source": optional_text,
            "model_card": {**optional_text, "description": "the model card written next to the artifact"},
            "explains": {"type": "boolean", "description": "whether /predict?explain=true is available"},
            "threshold": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
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


def _customer_schema(schema):
    properties = {field: _categorical_schema(field, values) for field, values in schema.categorical.items()}
    properties.update({field: _number_schema(field) for field in schema.numerical})
    properties[ID_FIELD] = {
        "oneOf": [
            {"type": "string", "maxLength": MAX_ID_CHARS},
            {"type": "integer", "minimum": MIN_ID_INTEGER, "maximum": MAX_ID_INTEGER},
        ],
        "description": f"optional; a string or an integer of at most {MAX_ID_CHARS} characters, echoed in the result",
    }
    return {
        "type": "object",
        "description": (
            "Field names are matched ignoring case, and string values are read as the training data "
            "was (lower-cased, spaces as underscores), so the raw data set's spellings such as "
            '"Month-to-month" are accepted too. Other fields are ignored.'
        ),
        "required": list(schema.fields),
        "properties": properties,
        "additionalProperties": True,
        "example": EXAMPLE_CUSTOMER,
    }


def _categorical_schema(field, values):
    if all(isinstance(value, str) for value in values):
        return {"type": "string", "enum": list(values)}
    numbers = {"type": "number", "enum": list(values)}
    if list(values) != [0, 1]:
        return numbers
    # seniorcitizen: 0 or 1, as a JSON number or as the CSV writes it
    return {"oneOf": [numbers, {"type": "string", "pattern": _ZERO_OR_ONE_TEXT}]}


def _number_schema(field):
    text = _BLANK_OR_NUMBER_TEXT if field == "totalcharges" else _NUMBER_TEXT
    return {
        "oneOf": [
            {"type": "number", "minimum": 0, "maximum": MAX_NUMBER},
            {"type": "string", "pattern": text, "description": "digits as in the CSV"},
        ]
    }
