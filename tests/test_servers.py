"""End to end: the real servers, started as a user starts them, answering over HTTP."""

import json
import math
import runpy
import signal
import socket
import time
import urllib.request

import pytest
from gunicorn.workers.ggevent import GeventWorker

from churn.artifact import DEFAULT_MODEL_PATH, with_content_hash
from churn.cpus import usable_cpus
from helpers import reference_probability

SERVERS = ["gunicorn", "waitress"]


@pytest.mark.parametrize("server_name", SERVERS)
def test_real_server_answers_the_book_customer(serve, server_name, model, book_customer, book_probability):
    server = serve(server_name)
    assert server.get("/ping") == (200, b"PONG")
    status, result = server.post_json("/predict", book_customer)
    assert status == 200 and result["churn"] is (book_probability >= model.threshold)
    assert result["churn_probability"] == pytest.approx(book_probability, rel=1e-12)


@pytest.mark.parametrize("server_name", SERVERS)
def test_real_server_refuses_bad_input_and_keeps_serving(serve, server_name, book_customer):
    server = serve(server_name)
    status, problem = server.post_json("/predict", {"tenure": -5})
    assert status == 422 and problem["status"] == 422 and "tenure: must not be negative" in problem["detail"]
    assert server.post_json("/predict", book_customer)[0] == 200


def test_model_path_selects_the_model_to_serve(serve, shipped_artifact, tmp_path, book_customer):
    document = dict(shipped_artifact, intercept=shipped_artifact["intercept"] + 1.0)
    (tmp_path / "model.json").write_text(json.dumps(with_content_hash(document)))
    server = serve("gunicorn", env={"MODEL_PATH": str(tmp_path / "model.json")})
    expected = reference_probability(document, book_customer)
    assert server.post_json("/predict", book_customer)[1]["churn_probability"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("factor", "churn"), [(0.99, True), (1.01, False)])
def test_churn_threshold_overrides_the_models(serve, book_customer, book_probability, factor, churn):
    server = serve("waitress", env={"CHURN_THRESHOLD": repr(book_probability * factor)})
    assert server.post_json("/predict", book_customer)[1]["churn"] is churn


def test_gunicorn_config_honours_web_concurrency(project_dir, monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert runpy.run_path(str(project_dir / "gunicorn.conf.py"))["workers"] == 3


def _raw_exchange(port, request, timeout=10):
    """Send raw bytes to the server, stop writing, and return everything it answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        try:
            connection.sendall(request)
            connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may refuse and close before it has read everything
        chunks = []
        try:
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
    return b"".join(chunks)


def _request(body, headers="Content-Type: application/json\r\n", method=b"POST", path=b"/predict"):
    head = method + b" " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers.encode()
    return head + b"\r\n" + body


def _chunked(body, chunk_size=65536):
    pieces = [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


HOSTILE_REQUESTS = {
    "garbage": b"\x00\xff\x13\x37 not http at all\r\n\r\n",
    "unknown method": _request(b"", method=b"FROB"),
    "negative length": _request(b"{}", "Content-Type: application/json\r\nContent-Length: -1\r\n"),
    "word length": _request(b"{}", "Content-Type: application/json\r\nContent-Length: ten\r\n"),
    "huge length": _request(b"{}", "Content-Type: application/json\r\nContent-Length: 999999999999\r\n"),
    "short body": _request(b'{"tenure":', "Content-Type: application/json\r\nContent-Length: 5000\r\n"),
    "chunked flood": _request(
        _chunked(b"[" + b"0," * 200_000 + b"0]"), "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    ),
    "deep nesting": _request(
        b"[" * 50_000 + b"]" * 50_000, "Content-Type: application/json\r\nContent-Length: 100000\r\n"
    ),
    "invalid utf-8": _request(b'{"gender": "\xff\xfe"}', "Content-Type: application/json\r\nContent-Length: 18\r\n"),
    "5000 digits": _request(b"9" * 5000, "Content-Type: application/json\r\nContent-Length: 5000\r\n"),
    "NaN everywhere": _request(
        b"[NaN, Infinity, -Infinity]", "Content-Type: application/json\r\nContent-Length: 26\r\n"
    ),
    "form post": _request(b"a=1", "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n"),
    "long header": _request(b"", "X-Junk: " + "x" * 20_000 + "\r\n"),
    "many headers": _request(b"", "".join(f"X-{n}: y\r\n" for n in range(500))),
    "path traversal": _request(b"", method=b"GET", path=b"/../../etc/passwd"),
    "lying batch": _request(b"[{}]" * 3, "Content-Type: application/json\r\nContent-Length: 12\r\n"),
}


def test_hostile_requests_never_get_5xx_and_the_server_keeps_serving(serve, book_customer):
    server = serve("gunicorn", env={"MAX_BODY_BYTES": "100000"})
    for name, request in HOSTILE_REQUESTS.items():
        status_line = _raw_exchange(server.port, request).split(b"\r\n", 1)[0]
        assert status_line.startswith(b"HTTP/1.1 4"), f"{name}: {status_line!r}"
    assert server.get("/ping") == (200, b"PONG")
    assert server.post_json("/predict", book_customer)[0] == 200
    assert server.process.poll() is None


@pytest.mark.parametrize("server_name", SERVERS)
def test_a_body_cut_short_by_the_client_is_never_scored(serve, server_name, book_customer):
    server = serve(server_name)
    body = json.dumps(book_customer).encode()
    headers = f"Content-Type: application/json\r\nContent-Length: {len(body) + 100}\r\n"
    answer = _raw_exchange(server.port, _request(body, headers))  # sends the body, then half-closes
    # gunicorn hands the short body to the app, which refuses it; waitress never dispatches it.
    assert answer.startswith(b"HTTP/1.1 400") if server_name == "gunicorn" else answer == b""
    assert server.post_json("/predict", book_customer)[0] == 200


def test_sigterm_answers_the_request_in_flight_and_exits_before_docker_would_kill(serve, book_customer, project_dir):
    graceful_timeout = runpy.run_path(str(project_dir / "gunicorn.conf.py"))["graceful_timeout"]
    server = serve("gunicorn")
    idle = socket.create_connection(("127.0.0.1", server.port))  # a client that keeps its connection open
    body = json.dumps(book_customer).encode()
    in_flight = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    in_flight.sendall(_request(body[:100], f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"))
    time.sleep(0.5)
    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    time.sleep(1)
    in_flight.sendall(body[100:])  # the rest of the body, after SIGTERM
    assert in_flight.recv(65536).startswith(b"HTTP/1.1 200 OK")
    server.process.wait(timeout=graceful_timeout + 2)
    assert time.monotonic() - signalled <= graceful_timeout + 1 < 10  # Docker's stop grace
    idle.close()
    in_flight.close()


def test_sighup_keeps_the_loaded_model_and_says_so_in_the_log(serve, shipped_artifact, tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(shipped_artifact))
    server = serve("gunicorn", env={"MODEL_PATH": str(path)})
    path.write_text(json.dumps(with_content_hash(dict(shipped_artifact, intercept=0.0))))  # a new model
    server.process.send_signal(signal.SIGHUP)
    server.wait_until(lambda: "does not reload the model" in server.log(), timeout=10)
    [line] = [line for line in server.log().splitlines() if "SIGHUP" in line]
    assert f"still serving model {path} version {shipped_artifact['sha256'][:12]}" in line
    assert "To serve a new model, restart the service." in line
    assert json.loads(server.get("/model")[1])["sha256"] == shipped_artifact["sha256"]


@pytest.mark.parametrize("server_name", SERVERS)
def test_real_servers_log_each_request_with_its_request_id(serve, server_name, book_customer):
    server = serve(server_name)
    request = urllib.request.Request(
        server.url + "/predict",
        json.dumps(book_customer).encode(),
        {"Content-Type": "application/json", "X-Request-ID": "trace-42"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["X-Request-ID"] == "trace-42"
        size = len(response.read())
    server.wait_until(lambda: "request_id=trace-42" in server.log(), timeout=5)
    [line] = [line for line in server.log().splitlines() if "request_id=trace-42" in line]
    assert "method=POST path=/predict status=200 " in line and f" bytes={size} " in line


def test_access_log_off_writes_no_line(serve):
    server = serve("gunicorn", env={"ACCESS_LOG": "off"})
    server.get("/ping")
    time.sleep(0.2)
    assert "path=/ping" not in server.log()


def test_gunicorn_logs_model_version_auc_threshold_and_address_once(serve, model):
    server = serve("gunicorn")
    lines = [line for line in server.log().splitlines() if "churn service:" in line]
    auc = model.metadata["test_auc"]
    assert len(lines) == 1
    assert (
        f"model {DEFAULT_MODEL_PATH} version {model.version} (test AUC {auc:.3f}), threshold {model.threshold}"
        in lines[0]
    )
    assert f"listening on http://127.0.0.1:{server.port}" in lines[0]


def test_waitress_logs_the_model_before_its_own_serving_line(serve, model):
    server = serve("waitress")
    log = server.log()
    auc = model.metadata["test_auc"]
    assert f"churn service: model {DEFAULT_MODEL_PATH} version {model.version} (test AUC {auc:.3f})" in log
    assert f"Serving on http://127.0.0.1:{server.port}" in log


def test_the_books_pickle_serves_like_its_json(serve, project_dir, book_customer):
    from_pickle = serve("gunicorn", env={"MODEL_PATH": str(project_dir / "model" / "churn-model.bin")})
    from_json = serve("waitress")
    assert from_pickle.post_json("/predict", book_customer) == from_json.post_json("/predict", book_customer)


def test_gunicorn_config_defaults_to_two_sync_workers_per_usable_cpu(project_dir, monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    config = runpy.run_path(str(project_dir / "gunicorn.conf.py"))
    assert config["workers"] == max(1, math.ceil(2 * usable_cpus()))
    assert issubclass(config["worker_class"], GeventWorker) and config["preload_app"] is True
