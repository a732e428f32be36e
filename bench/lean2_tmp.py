import json
import math
import operator
import sys
import time

sys.path.insert(0, "/work/main")
from churn.access_log import AccessLog, access_line, request_id
from churn.model import load_model
from churn.results import result_json

model = load_model("/work/main/model/churn-model.json")
log = AccessLog(sys.stdout)
dec = json.JSONDecoder().decode
cat_fields = list(model.categorical_weights)
num_fields = list(model.numerical_weights)
wd = [model.categorical_weights[f] for f in cat_fields]
nw = [model.numerical_weights[f] for f in num_fields]
ig = operator.itemgetter(*cat_fields)
ign = operator.itemgetter(*num_fields)
getitem = dict.__getitem__
mul = operator.mul


def fused(raw):
    cv = ig(raw)
    nv = ign(raw)
    z = sum(map(mul, nw, nv), sum(map(getitem, wd, cv), model.intercept))
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def app(environ, start_response):
    started = time.perf_counter()
    rid = request_id(environ)
    raw = dec(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])).decode())
    p = fused(raw)
    out = result_json({"customerid": raw["customerid"], "churn_probability": p, "churn": p >= 0.5}).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out))), ("X-Request-ID", rid)]
    )
    log(access_line(environ, 200, len(out), started, rid))
    return [out]
