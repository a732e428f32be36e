"""GET /metrics: the whole instance's counts, every worker's summed, never decreasing."""

import concurrent.futures
import io
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
import webtest
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from bench import process_group
from bench.servers import metric_samples as _samples
from churn.core.prediction_log import PredictionLog, open_log
from churn.http.config import Settings
from churn.http.drift import BINNED_PER_REQUEST
from churn.http.open_inference import inference_request
from helpers import skip_or_fail


def _requests(samples, route, method, code):
    return samples.get(("churn_http_requests_total", f'route="{route}",method="{method}",code="{code}"'), 0)


def test_metrics_count_each_request_by_its_route_template_method_and_status(model, book_customer):
    app = webtest.TestApp(create_app(model))
    for _ in range(3):
        app.post_json("/predict", book_customer)
    app.post_json("/predict", {}, status=422)
    app.get("/no/such/path", status=404)
    app.get(f"/v2/models/{model.name}/ready")
    samples = _samples(app.get("/metrics").text)
    assert _requests(samples, "/predict", "POST", 200) == 3 and _requests(samples, "/predict", "POST", 422) == 1
    assert _requests(samples, "unmatched", "GET", 404) == 1
    assert _requests(samples, "/v2/models/{model}/ready", "GET", 200) == 1  # the template, not the path
    count = samples[("churn_http_request_duration_seconds_count", 'route="/predict"')]
    assert count == 4 == samples[("churn_http_request_duration_seconds_bucket", 'route="/predict",le="+Inf"')]
    assert samples[("churn_http_requests_in_flight", "")] == 1  # this scrape


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_the_requests_a_killed_worker_held_are_no_longer_in_flight_and_its_answers_stay_counted(model):
    metrics = create_app(model).metrics
    pid = os.fork()
    if pid == 0:  # a worker in slot 1: answers one request, is killed while it holds two more
        metrics.use_slot(1)
        recorder = metrics.started()
        recorder.finished("/predict", "POST", 200, 0.0, 0.001)
        metrics.started(), metrics.started()
        os.kill(os.getpid(), signal.SIGKILL)
    os.waitpid(pid, 0)
    samples = _samples(metrics.exposition().decode())
    assert samples[("churn_http_requests_in_flight", "")] == 2
    metrics.worker_gone(1)  # what gunicorn's master does (gunicorn.conf.py, child_exit)
    samples = _samples(metrics.exposition().decode())
    assert samples[("churn_http_requests_in_flight", "")] == 0
    assert _requests(samples, "/predict", "POST", 200) == 1


def test_metrics_off_counts_nothing_and_answers_404(model):
    app = webtest.TestApp(create_app(model, Settings(metrics=False)))
    assert app.get("/metrics", status=404).json["detail"] == "metrics are off (METRICS=off)"


def _workers(server):
    pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    parent = {pid: _parent(pid) for pid in pids}
    return [pid for pid, ppid in parent.items() if ppid == server.process.pid]


def _parent(pid):
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


@pytest.mark.slow
def test_one_scrape_sums_every_worker_and_keeps_the_counts_of_a_killed_one(serve, book_customer):
    server = serve("gunicorn", env={"WEB_CONCURRENCY": "4"})
    server.wait_until(lambda: len(_workers(server)) == 4)
    body = json.dumps(book_customer).encode()
    for _ in range(200):
        assert server.post("/predict", body, "application/json")[0] == 200
    os.kill(_workers(server)[0], signal.SIGKILL)
    for _ in range(100):
        assert server.post("/predict", body, "application/json")[0] == 200
        assert server.post("/predict", b"{}", "application/json")[0] == 422
    server.wait_until(lambda: len(_workers(server)) == 4)  # gunicorn has replaced the killed worker
    status, text = server.get("/metrics")
    samples = _samples(text.decode())
    assert status == 200
    assert _requests(samples, "/predict", "POST", 200) == 300 and _requests(samples, "/predict", "POST", 422) == 100


def _open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.slow
def test_after_sighup_and_a_killed_worker_no_two_live_workers_share_a_row_and_every_request_counts(serve):
    """SIGHUP runs gunicorn.conf.py again while the old workers finish; then a new worker is killed and
    replaced. The slots stay the master's: each live worker counts in a row of its own, so every
    request counts and the gauges are the live workers' own."""
    server = serve("gunicorn", env={"WEB_CONCURRENCY": "2", "ACCESS_LOG": "off"})
    server.wait_until(lambda: len(_workers(server)) == 2)
    before = _requests(_samples(server.get("/metrics")[1].decode()), "/ping", "GET", 200)  # the start's
    sent = _pings(server, 300)
    first = set(_workers(server))
    server.process.send_signal(signal.SIGHUP)
    server.wait_until(lambda: len(_workers(server)) == 2 and not first & set(_workers(server)), timeout=20)
    sent += _pings(server, 300)
    os.kill(max(_workers(server)), signal.SIGKILL)  # the last forked: its slot is not the first free one
    server.wait_until(lambda: len(_workers(server)) == 2)
    sent += _pings(server, 300)
    time.sleep(1.1)  # each worker refreshes its gauges once a second, at the end of a request
    # one at a time, so that as it refreshes, a worker holds no other client's connection open
    sent += sum(server.get("/ping")[0] == 200 for _ in range(200))
    samples = _samples(server.get("/metrics")[1].decode())
    assert _requests(samples, "/ping", "GET", 200) - before == sent
    live = _workers(server)
    counted = samples[("process_open_fds", "")]
    assert abs(counted - sum(map(_open_fds, live))) <= 2 * len(live), (counted, [_open_fds(pid) for pid in live])


def _pings(server, count):
    """`count` GETs of /ping over a few connections at once; how many were answered 200."""
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return sum(status == 200 for status, _ in pool.map(lambda _: server.get("/ping"), range(count)))


def test_a_requests_customers_are_counted_once_its_answer_is_sent(model, book_customer):
    app = create_app(model)
    customers = [dict(book_customer, customerid=str(n)) for n in range(3000)]  # an answer streamed in pieces
    body = json.dumps(customers).encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/predict", "CONTENT_TYPE": "application/json",
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
               "wsgi.errors": io.StringIO()}  # fmt: skip
    answer = app(environ, lambda status, headers: None)
    pieces = iter(answer)
    next(pieces)
    scored = _samples(app.metrics.exposition().decode())
    assert _scored(scored, "json", "true") + _scored(scored, "json", "false") == 0  # being sent
    for _ in pieces:
        pass
    answer.close()  # the server's, once the last byte is sent
    scored = _samples(app.metrics.exposition().decode())
    assert _scored(scored, "json", "true") + _scored(scored, "json", "false") == 3000


def test_a_client_that_leaves_mid_answer_is_counted_alike_everywhere(model, data_path, tmp_path):
    """Every customer of a request is scored before its answer is sent: a client that leaves while it
    streams (curl | head -3) has all of them counted, by the counter, the histogram, the drift bins and
    the prediction log alike (docs/monitoring.md)."""
    log_path = tmp_path / "predictions.jsonl"
    log = PredictionLog(open_log(log_path), model)
    app = create_app(model, Settings(prediction_log=log))
    app.metrics.threads_share_a_process = True  # drift bins added at the end of each request, as waitress does
    with open(data_path, "rb") as file:
        body = file.read()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/predict", "CONTENT_TYPE": "text/csv",
               "HTTP_ACCEPT": "text/csv", "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
               "wsgi.errors": io.StringIO()}  # fmt: skip
    answer = app(environ, lambda status, headers: None)
    pieces = iter(answer)
    assert next(pieces) and next(pieces)  # streamed: two pieces, then the client is gone
    answer.close()  # as the server does when the client has left
    samples = _samples(app.metrics.exposition().decode())
    customers = body.count(b"\n") - 1
    assert _scored(samples, "file", "true") + _scored(samples, "file", "false") == customers
    assert samples[("churn_prediction_probability_count", "")] == customers
    binned = sum(value for (name, labels), value in samples.items()
                 if name == "churn_feature_customers_total" and 'feature="tenure"' in labels)  # fmt: skip
    assert binned == BINNED_PER_REQUEST  # the request's sample, as for any request
    log.flush()
    assert log_path.read_bytes().count(b"\n") == customers


def _scored(samples, interface, churn):
    return samples.get(("churn_customers_scored_total", f'interface="{interface}",churn="{churn}"'), 0)


def test_metrics_count_customers_by_interface_and_decision_and_invalid_ones_by_field(model, book_customer):
    app = webtest.TestApp(create_app(model))
    risky = dict(book_customer, customerid="=secret-id", contract="month-to-month", tenure=1)
    app.post_json("/predict", book_customer)
    app.post_json("/predict?explain=true", [book_customer, risky, book_customer])
    app.post("/predict", "".join(json.dumps(c) + "\n" for c in (risky, risky)), content_type="application/x-ndjson")
    app.post_json(f"/v2/models/{model.name}/infer", inference_request([risky], model.schema))
    app.post_json(
        "/predict", [dict(book_customer, tenure=-1, contract="weekly"), dict(book_customer, tenure=-2)], status=422
    )
    text = app.get("/metrics").text
    samples = _samples(text)
    churns = {
        name: app.post_json("/predict", customer).json["churn"]
        for name, customer in (("book", book_customer), ("risky", risky))
    }
    expected = {("json", "book"): 3, ("json", "risky"): 1, ("file", "risky"): 2, ("v2", "risky"): 1}
    for interface in ("json", "file", "v2"):
        for churn in ("true", "false"):
            wanted = sum(n for (i, who), n in expected.items() if i == interface and str(churns[who]).lower() == churn)
            assert _scored(samples, interface, churn) == wanted, (interface, churn)
    assert samples[("churn_prediction_probability_count", "")] == 7
    assert samples[("churn_invalid_customers_total", 'field="tenure"')] == 2
    assert samples[("churn_invalid_customers_total", 'field="contract"')] == 1
    assert "secret-id" not in text and "weekly" not in text  # nothing a client sent


def test_prometheus_own_parser_reads_every_family_the_service_writes(model, book_customer):
    app = webtest.TestApp(create_app(model))
    app.post_json("/predict", [book_customer] * 3)
    app.post_json("/predict", {}, status=422)
    app.get("/nowhere", status=404)
    families = {family.name: family for family in text_string_to_metric_families(app.get("/metrics").text)}
    kinds = {name: family.type for name, family in families.items()}
    assert kinds == {
        "churn_http_requests": "counter",
        "churn_http_request_duration_seconds": "histogram",
        "churn_http_requests_in_flight": "gauge",
        "churn_http_requests_shed": "counter",
        "churn_customers_scored": "counter",
        "churn_prediction_probability": "histogram",
        "churn_invalid_customers": "counter",
        "churn_model_info": "gauge",
        "process_cpu_seconds": "counter",
        "process_resident_memory_bytes": "gauge",
        "process_open_fds": "gauge",
        "process_start_time_seconds": "gauge",
        "churn_feature_customers": "counter",  # the shipped model has a reference to watch against
        "churn_feature_reference_share": "gauge",
        "churn_feature_psi": "gauge",
    }
    [info] = families["churn_model_info"].samples
    assert info.labels["version"] == model.version and float(info.labels["threshold"]) == model.threshold
    scored = sum(sample.value for sample in families["churn_customers_scored"].samples)
    assert scored == 3


def test_promtool_finds_nothing_to_say_of_the_exposition(model, book_customer):
    promtool = shutil.which("promtool")
    if promtool is None:
        skip_or_fail("promtool is not installed (apt-get install prometheus, as .ci/run does)")
    app = webtest.TestApp(create_app(model))
    app.post_json("/predict", [book_customer] * 2)
    app.post_json("/predict", {}, status=422)
    checked = subprocess.run([promtool, "check", "metrics"], input=app.get("/metrics").body, capture_output=True)
    assert checked.returncode == 0 and checked.stdout == b"" and checked.stderr == b"", checked


@pytest.mark.slow
def test_under_waitress_every_thread_counts_and_one_scrape_sums_them(serve, book_customer):
    server = serve("waitress")
    body = json.dumps(book_customer).encode()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: server.post("/predict", body, "application/json")[0], range(400)))
    assert statuses == [200] * 400
    samples = _samples(server.get("/metrics")[1].decode())
    assert _requests(samples, "/predict", "POST", 200) == 400


def _prometheus_sum(prometheus, query):
    """The value of a PromQL query that sums to one number, as Prometheus' HTTP API answers it."""
    status, body = prometheus.get("/api/v1/query?" + urllib.parse.urlencode({"query": query}))
    result = json.loads(body)["data"]["result"] if status == 200 else []
    return float(result[0]["value"][1]) if result else None


@pytest.mark.slow
def test_a_real_prometheus_scraping_four_workers_sums_exactly_what_was_sent(
    serve, start_server, book_customer, tmp_path
):
    binary = shutil.which("prometheus")
    if binary is None:
        skip_or_fail("prometheus is not installed (apt-get install prometheus, as .ci/run does)")
    service = serve("gunicorn", env={"WEB_CONCURRENCY": "4"})
    service.wait_until(lambda: len(_workers(service)) == 4)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        f"scrape_configs: [{{job_name: churn, static_configs: [{{targets: ['127.0.0.1:{service.port}']}}]}}]\n"
    )
    port = process_group.free_port()
    prometheus = start_server(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        port,
    )  # fmt: skip
    prometheus.wait_until(lambda: prometheus.get("/-/ready")[0] == 200)
    body = json.dumps(book_customer).encode()
    for number in range(300):
        if number == 150:
            os.kill(_workers(service)[0], signal.SIGKILL)
        assert service.post("/predict", body, "application/json")[0] == 200
        if number % 3 == 0:
            assert service.post("/predict", b"{}", "application/json")[0] == 422
            assert service.get("/no/such/path")[0] == 404
    queries = {
        'sum(churn_http_requests_total{route="/predict",code="200"})': 300,
        'sum(churn_http_requests_total{route="/predict",code="422"})': 100,
        'sum(churn_http_requests_total{route="unmatched",code="404"})': 100,
        'sum(churn_http_request_duration_seconds_count{route="/predict"})': 400,
        'sum(churn_customers_scored_total{interface="json"})': 300,
    }
    prometheus.wait_until(lambda: all(_prometheus_sum(prometheus, q) == n for q, n in queries.items()), timeout=30)
