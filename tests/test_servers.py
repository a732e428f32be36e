"""End to end: the real servers, started as a user starts them, answering over HTTP."""

import json
import runpy
import signal
import socket
import time
import urllib.request

import pytest
from gunicorn.workers.ggevent import GeventWorker

import churn.server.cpus
from bench.process_group import free_port
from bench.servers import COMMANDS
from churn.core.artifact import DEFAULT_MODEL_PATH, with_content_hash
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
    """Send raw bytes, stop writing, and read the answer until the server closes the connection.
    Returns (answer, reset): `reset` when the connection ended in a reset, which a server's close
    with bytes of the request still unread causes. A timeout fails the test."""
    reset = False
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        try:
            connection.sendall(request)
            connection.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            reset = True
        chunks = []
        try:
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            reset = True
    return b"".join(chunks), reset


def _status(answer):
    """The status code of a raw HTTP answer, or None when there was no answer."""
    return int(answer.split(b" ", 2)[1]) if answer else None


JSON = "Content-Type: application/json\r\n"


def _request(body, headers=JSON, method=b"POST", path=b"/predict"):
    """A raw request; with Content-Length of the body unless `headers` frame it otherwise."""
    if body and "Content-Length" not in headers and "Transfer-Encoding" not in headers:
        headers += f"Content-Length: {len(body)}\r\n"
    head = method + b" " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers.encode()
    return head + b"\r\n" + body


def _chunked(body, chunk_size=65536):
    pieces = [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


# name -> (raw request, the status gunicorn as shipped answers it with, MAX_BODY_BYTES=100000)
HOSTILE_REQUESTS = {
    "garbage": (b"\x00\xff\x13\x37 not http at all\r\n\r\n", 400),
    "unknown method": (_request(b"", method=b"FROB"), 405),
    "negative length": (_request(b"{}", JSON + "Content-Length: -1\r\n"), 400),
    "word length": (_request(b"{}", JSON + "Content-Length: ten\r\n"), 400),
    "huge length": (_request(b"{}", JSON + "Content-Length: 999999999999\r\n"), 413),
    "short body": (_request(b'{"tenure":', JSON + "Content-Length: 5000\r\n"), 400),
    "chunked flood": (_request(_chunked(b"[" + b" " * 200_000 + b"]"), JSON + "Transfer-Encoding: chunked\r\n"), 413),
    "deep nesting": (_request(b"[" * 50_000 + b"]" * 50_000), 400),
    "invalid utf-8": (_request(b'{"gender": "\xff\xfe"}'), 400),
    "5000 digits": (_request(b"9" * 5000), 400),
    "NaN everywhere": (_request(b"[NaN, Infinity, -Infinity]"), 422),
    "form post": (_request(b"a=1", "Content-Type: application/x-www-form-urlencoded\r\n"), 415),
    "long header": (_request(b"", "X-Junk: " + "x" * 20_000 + "\r\n"), 431),
    "many headers": (_request(b"", "".join(f"X-{n}: y\r\n" for n in range(500))), 431),
    "path traversal": (_request(b"", method=b"GET", path=b"/../../etc/passwd"), 404),
    "three arrays": (_request(b"[{}]" * 3), 400),
}
# The server stops reading a body it refuses part way: closing with the rest unread resets the connection.
ENDS_IN_A_RESET = {"chunked flood"}


def test_hostile_requests_get_4xx_and_the_server_keeps_serving(serve, book_customer):
    server = serve("gunicorn", env={"MAX_BODY_BYTES": "100000"})
    for name, (request, status) in HOSTILE_REQUESTS.items():
        answer, reset = _raw_exchange(server.port, request)
        assert _status(answer) == status, f"{name}: {answer[:200]!r}"
        assert reset is (name in ENDS_IN_A_RESET), f"{name}: reset={reset}"
    assert server.get("/ping") == (200, b"PONG")
    assert server.post_json("/predict", book_customer)[0] == 200
    assert server.process.poll() is None


@pytest.mark.parametrize("server_name", SERVERS)
@pytest.mark.parametrize("coding", ["xchunked", "chunked, identity", "identity", "identity, chunked", "gzip, chunked"])
def test_a_transfer_coding_is_never_a_5xx(serve, server_name, coding):
    """Codings no server reads are the client's 400, naming the header; gunicorn reads the body of
    those that end in chunked (whose {} the app then refuses), waitress refuses them too."""
    server = serve(server_name)
    answer, _ = _raw_exchange(server.port, _request(_chunked(b"{}"), JSON + f"Transfer-Encoding: {coding}\r\n"))
    assert 400 <= _status(answer) < 500, answer[:300]
    if _status(answer) == 400:
        assert b"transfer-encoding" in answer.lower(), answer[:300]
    else:
        assert (server_name, coding.split(", ")[-1], _status(answer)) == ("gunicorn", "chunked", 422), answer[:300]
    assert server.get("/ping") == (200, b"PONG")


@pytest.mark.parametrize("server_name", SERVERS)
def test_a_body_cut_short_by_the_client_is_never_scored(serve, server_name, book_customer):
    server = serve(server_name)
    body = json.dumps(book_customer).encode()
    request = _request(body, JSON + f"Content-Length: {len(body) + 100}\r\n")
    answer, reset = _raw_exchange(server.port, request)  # sends the body, then half-closes
    # gunicorn hands the short body to the app, which refuses it; waitress closes without dispatching it.
    assert (_status(answer), reset) == ((400, False) if server_name == "gunicorn" else (None, False))
    assert server.post_json("/predict", book_customer)[0] == 200


def test_sigterm_answers_the_request_in_flight_and_exits_before_docker_would_kill(serve, book_customer, project_dir):
    graceful_timeout = runpy.run_path(str(project_dir / "gunicorn.conf.py"))["graceful_timeout"]
    server = serve("gunicorn")
    idle = socket.create_connection(("127.0.0.1", server.port))  # a client that keeps its connection open
    body = json.dumps(book_customer).encode()
    in_flight = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    in_flight.sendall(_request(body[:100], JSON + f"Content-Length: {len(body)}\r\n"))
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


def test_a_server_stopped_while_a_worker_boots_exits_at_once(start_server, project_dir, tmp_path):
    boot_seconds = 5
    config = tmp_path / "gunicorn.conf.py"
    # The shipped settings, with a worker that takes boot_seconds to boot once forked.
    config.write_text(
        f"exec(compile(open({str(project_dir / 'gunicorn.conf.py')!r}).read(), 'gunicorn.conf.py', 'exec'))\n"
        "import time\n"
        "_shipped_post_fork = globals().get('post_fork', lambda server, worker: None)\n"
        f"def post_fork(server, worker):\n    _shipped_post_fork(server, worker)\n    time.sleep({boot_seconds})\n"
    )
    port = free_port()
    command, _ = COMMANDS["gunicorn"](port, "wsgi:app", ["--config", str(config), "--workers", "1"])
    server = start_server(command, port)
    server.wait_until(lambda: "Booting worker" in server.log())
    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=15)
    assert time.monotonic() - signalled < boot_seconds  # not graceful_timeout (8 s), nor the boot


def test_sighup_keeps_the_loaded_model_and_says_so_in_the_log(serve, shipped_artifact, tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(shipped_artifact))
    server = serve("gunicorn", env={"MODEL_PATH": str(path)})
    served_version = json.loads(server.get("/model")[1])["version"]
    path.write_text(json.dumps(with_content_hash(dict(shipped_artifact, intercept=0.0))))  # a new model
    server.process.send_signal(signal.SIGHUP)
    server.wait_until(lambda: "does not reload the model" in server.log(), timeout=10)
    [line] = [line for line in server.log().splitlines() if "SIGHUP" in line]
    assert f"still serving model {path} version {served_version}" in line
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


@pytest.mark.parametrize(("cpus", "workers"), [(0.5, 1), (1, 1), (1.5, 2), (2, 2), (64, 64)])
def test_gunicorn_runs_one_gevent_worker_per_usable_cpu_rounded_up(project_dir, monkeypatch, cpus, workers):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.setattr(churn.server.cpus, "usable_cpus", lambda: cpus)  # what a cgroup quota or affinity allows
    config = runpy.run_path(str(project_dir / "gunicorn.conf.py"))
    assert config["workers"] == workers
    assert issubclass(config["worker_class"], GeventWorker) and config["preload_app"] is True
