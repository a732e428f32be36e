"""The Open Inference Protocol (KServe's V2, also Triton's, MLServer's and Seldon's) over REST, for
the one model this service serves: its metadata, and the columnar inference request turned into
customers and their scores back into output tensors.

An inference request carries one input per customer field, each a column: `shape` [n] (or [n, 1],
as MLServer's pandas codec sends a DataFrame's columns) and `data` its n values, flat or nested.
The columns are then scored by the same Scorer as POST /predict's customers, a column at a time
(churn.core.scorer.Scorer.score_columns). Pure functions of plain data; ProtocolError says what is
wrong with a request. Standard library only. The binary tensor data extension is not supported:
tensors travel as JSON.
"""

import operator

from churn import SERVICE_NAME, SERVICE_VERSION
from churn.core.messages import echo, echo_value, json_type
from churn.core.prediction import DECISION, PROBABILITY
from churn.http.customers import CustomerLimit
from churn.http.turns import in_turns
from churn.http.web import empty_body

PLATFORM = "python"  # the model runs as plain Python arithmetic (no framework at serve time)
OUTPUTS = {PROBABILITY: "FP64", DECISION: "BOOL"}  # the book's answer, a tensor each
# The protocol's tensor data types. Any is taken for any field: the values themselves are checked
# as /predict checks them (a JSON true is never a flag's 1, "41" is a number's digits).
DATATYPES = (
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64", "BF16", "BYTES",
)  # fmt: skip
BINARY_HEADER = "HTTP_INFERENCE_HEADER_CONTENT_LENGTH"  # set by a client that sends binary tensors
INFERENCE_REQUEST = "an inference request as JSON"  # what to send, said when the body is empty
NO_INPUTS = "the request must have inputs: a list of tensors, one per field of the model"
ROWS_PER_PIECE = 1000  # the rows scored at once: a few milliseconds' work
# The keys the protocol gives a request and a tensor: any other is refused as it is met, never held.
REQUEST_KEYS = ("id", "parameters", "inputs", "outputs")
TENSOR_KEYS = ("name", "shape", "datatype", "parameters", "data")


class ProtocolError(ValueError):
    """An inference request the protocol does not allow, or that does not fit the model's inputs."""


def server_metadata():
    """The server's name and version; no extension (binary tensor data included) is supported."""
    return {"name": SERVICE_NAME, "version": SERVICE_VERSION, "extensions": []}


def datatype(rule):
    """The tensor data type of a customer field (a churn.core.schema.FieldRule)."""
    if rule.values is None:
        return "FP64"
    return "BYTES" if all(isinstance(value, str) for value in rule.values) else "INT64"


def model_metadata(name, version, schema):
    """The model's name, its one version, one input per customer field and the two outputs."""
    return {
        "name": name,
        "versions": [version],
        "platform": PLATFORM,
        "inputs": [{"name": rule.name, "datatype": datatype(rule), "shape": [-1]} for rule in schema.rules],
        "outputs": [{"name": output, "datatype": kind, "shape": [-1]} for output, kind in OUTPUTS.items()],
    }


def inference_request(customers, schema):
    """The protocol's request for these customers: a column of each field, as model_metadata types it."""
    return {
        "inputs": [
            {
                "name": rule.name,
                "datatype": datatype(rule),
                "shape": [len(customers)],
                "data": [c[rule.name] for c in customers],
            }
            for rule in schema.rules
        ]
    }


def columns_of(request, schema, max_batch, columns=None):
    """The request's inputs as columns (field -> its values, a row per customer) and the outputs it asks
    for; `columns`: what read_request has already read of its inputs."""
    if not isinstance(request, dict):
        raise ProtocolError(f"the request must be an inference request (a JSON object), not {json_type(request)}")
    _check_keys(request, REQUEST_KEYS, "an inference request")
    _check_optional(request, "id", str, "a string")
    _check_optional(request, "parameters", dict, "an object")
    if columns is None:
        inputs = request.get("inputs")
        if not isinstance(inputs, list):
            raise ProtocolError(NO_INPUTS)
        columns = _columns((_column(tensor, schema, max_batch) for tensor in inputs), schema)
    _check_row_counts(columns)
    return columns, _outputs(request)


def column_pieces(columns, rows=ROWS_PER_PIECE):
    """(their rows, the columns' values of those rows) of each piece of `rows` rows of the columns."""
    count = len(next(iter(columns.values())))
    for start in range(0, count, rows):
        yield (
            range(start, min(start + rows, count)),
            {name: values[start : start + rows] for name, values in columns.items()},
        )


def read_request(reader, schema, max_batch):
    """(request, columns) of the inference request that a churn.core.customer_files.JSONReader holds, for
    columns_of: its inputs read a tensor at a time, each checked as it is read, so that what is held is
    at most max_batch values per input, whatever the request holds."""
    first = reader.peek()
    if not first:
        raise empty_body(INFERENCE_REQUEST)
    if first != "{":
        columns_of(reader.value()[0], schema, max_batch)  # names what the request is instead
    request, columns = {}, None
    for key in reader.object_keys():
        _check_key(key, REQUEST_KEYS, "an inference request")
        if key == "inputs" and columns is None and reader.peek() == "[":
            tensors = (_read_tensor(reader, schema, max_batch) for _ in reader.array_slots())
            columns = _columns(in_turns(tensors), schema)
        else:
            request[key], _ = reader.value()
    reader.finish()
    if "inputs" in request:
        raise ProtocolError("inputs is given more than once, or is not a list of tensors")
    return request, columns


def _read_tensor(reader, schema, max_batch):
    """(field, values) of the tensor that starts here, as _column makes them, its data read as _read_data reads it."""
    if reader.peek() != "{":
        _column(reader.value()[0], schema, max_batch)  # names what it is instead
    tensor = {}
    for key in reader.object_keys():
        _check_key(key, TENSOR_KEYS, "a tensor")
        if key == "data" and reader.peek() == "[":
            tensor[key] = _read_data(reader, max_batch)
        else:
            tensor[key], _ = reader.value()
    return _column(tensor, schema, max_batch)


def _read_data(reader, max_batch):
    """A tensor's data: its values (or [value]s) decoded by the json module in one call when its text,
    judged first, holds at most max_batch of them and nothing else (churn.core.customer_files); else a
    value at a time, refused at the first that is not one. Each text is held once, however often it
    repeats (the decoder makes a new one each time: a column of "Yes" and "No" held 10,000 of them)."""
    texts = {}
    values = reader.values_array(max_batch)
    if values is not None:
        try:
            return list(map(texts.setdefault, values, values))
        except TypeError:  # [value]s: a list is no key
            return values
    values = []
    for _ in in_turns(reader.array_slots()):
        if len(values) == max_batch:
            raise CustomerLimit("request", max_batch).error()
        value, _ = reader.value()
        if isinstance(value, dict) or (isinstance(value, list) and (len(value) != 1 or _is_nested(value[0]))):
            raise ProtocolError(f"row {len(values)} of an input's data is {json_type(value)}, not a value")
        if type(value) is list and type(value[0]) is str:
            value[0] = texts.setdefault(value[0], value[0])
        values.append(texts.setdefault(value, value) if type(value) is str else value)
    return values


def _is_nested(value):
    return isinstance(value, (list, dict))


def inference_response(name, version, columns, outputs, request_id=None):
    """The protocol's answer: the `outputs` (names) of `columns` (output -> its values, a row per
    customer) as tensors."""
    response = {"model_name": name, "model_version": version}
    if request_id is not None:
        response["id"] = request_id
    response["outputs"] = [
        {"name": output, "datatype": OUTPUTS[output], "shape": [len(columns[output])], "data": columns[output]}
        for output in outputs
    ]
    return response


def _check_keys(document, keys, described):
    for key in document:
        _check_key(key, keys, described)


def _check_key(key, keys, described):
    if key not in keys:
        raise ProtocolError(f"unknown key {echo_value(key)} in {described}; the protocol gives it {', '.join(keys)}")


def _check_optional(document, key, kind, described):
    if key in document and not isinstance(document[key], kind):
        raise ProtocolError(f"{key} must be {described}, not {json_type(document[key])}")


def _columns(named_columns, schema):
    """field -> its column of values, every field of the model exactly once, from (field, values)."""
    columns = {}
    for name, values in named_columns:
        if name in columns:
            raise ProtocolError(f"input {name} is given more than once")
        columns[name] = values
    if not columns:
        raise ProtocolError(NO_INPUTS)
    missing = [field for field in schema.required if field not in columns]
    if missing:
        raise ProtocolError(f"missing inputs: {', '.join(missing)}")
    rows = len(next(iter(columns.values())))
    for field in schema.optional:  # blank in training: an input left out is blank for every customer
        columns.setdefault(field, [None] * rows)
    return columns


def _column(tensor, schema, max_batch):
    if not isinstance(tensor, dict):
        raise ProtocolError(f"each input must be a tensor (a JSON object), not {json_type(tensor)}")
    _check_keys(tensor, TENSOR_KEYS, "a tensor")
    name = tensor.get("name")
    if name not in schema.fields:
        known = ", ".join(schema.fields)
        raise ProtocolError(f"unknown input {echo(str(name))}; the model's inputs are {known}")
    if tensor.get("datatype") not in DATATYPES:
        raise ProtocolError(f"input {name}: datatype must be one of {', '.join(DATATYPES)}")
    _check_optional(tensor, "parameters", dict, "an object")
    return name, _values(name, tensor.get("shape"), tensor.get("data"), max_batch)


def _values(name, shape, data, max_batch):
    """A column's n values: shape [n] or [n, 1], data flat or nested as the shape says, n <= max_batch."""
    if not (isinstance(shape, list) and 1 <= len(shape) <= 2 and _is_count(shape[0]) and shape[1:] in ([], [1])):
        raise ProtocolError(f"input {name}: shape must be [n] or [n, 1] (a column of n customers), not {shape!r}")
    if shape[0] > max_batch:
        raise CustomerLimit("request", max_batch).error()
    if not isinstance(data, list):
        raise ProtocolError(f"input {name}: data must be a list of its {shape[0]} values")
    values = _unwrapped(data) if len(shape) == 2 else data
    if len(values) != shape[0]:
        raise ProtocolError(f"input {name}: shape says {shape[0]} values, data has {len(values)}")
    if _CONTAINERS & set(map(type, values)):  # the usual column has none: no row is looked at
        nested = next(row for row, value in enumerate(values) if _is_nested(value))
        raise ProtocolError(f"input {name}: row {nested} is {json_type(values[nested])}, not a value")
    return values


_CONTAINERS = {list, dict}


def _unwrapped(data):
    """[[value], …] as [value, …] (an item that is not [value] stays as it is, for _values to name)."""
    if set(map(type, data)) == {list} and set(map(len, data)) == {1}:
        return list(map(operator.itemgetter(0), data))
    return [item[0] if isinstance(item, list) and len(item) == 1 else item for item in data]


def _is_count(number):
    return type(number) is int and number >= 0  # exactly int: a JSON true is no size


def _check_row_counts(columns):
    counts = {len(column) for column in columns.values()}
    if len(counts) > 1:
        raise ProtocolError(f"the inputs have different numbers of rows: {', '.join(map(str, sorted(counts)))}")


def _outputs(request):
    """The names of the outputs the request asks for, in its order; all of them when it asks none."""
    asked = request.get("outputs")
    if asked is None:
        return list(OUTPUTS)
    if not isinstance(asked, list) or not all(isinstance(output, dict) for output in asked):
        raise ProtocolError("outputs must be a list of objects, each with the name of an output")
    names = [output.get("name") for output in asked]
    unknown = [name for name in names if name not in OUTPUTS]
    if unknown:
        raise ProtocolError(f"unknown output {echo(str(unknown[0]))}; the model's outputs are {', '.join(OUTPUTS)}")
    return names
