"""Slow and idle clients cannot take the service down, as shipped and on the Procfile path.

bench/slow_clients.py opens the connections and probes the server meanwhile; the limits come from
gunicorn.conf.py, so that a change of them is tested as it is.
"""

import runpy

import pytest

from bench import slow_clients


@pytest.fixture(scope="module")
def limits(project_dir):
    """gunicorn's bounds on slow clients, in seconds: gunicorn.conf.py's keepalive, its worker's others."""
    config = runpy.run_path(str(project_dir / "gunicorn.conf.py"))
    worker = config["worker_class"]
    return {"keepalive": config["keepalive"], "IDLE_SECONDS": worker.idle_seconds,
            "REQUEST_SECONDS": worker.request_seconds}  # fmt: skip


def _closed_within(report, kind, seconds):
    times = report.closed_after[kind]
    return report.still_open[kind] == 0 and max(times) <= seconds


@pytest.mark.parametrize(("server_name", "connections"), [("gunicorn", 512), ("procfile", 64)])
def test_slow_and_idle_clients_leave_the_service_answering(serve, limits, server_name, connections):
    server = serve(server_name)
    seconds = limits["IDLE_SECONDS"] + 2
    report = slow_clients.run(server.port, slow_clients.KINDS, connections, seconds)
    assert report.probes >= 20 and report.slow_probes == 0, report.as_dict()
    # Silent before or inside the headers: closed once the headers are overdue.
    assert _closed_within(report, "idle", limits["keepalive"] + 1), report.as_dict()
    assert _closed_within(report, "headers", limits["keepalive"] + 1), report.as_dict()
    # Silent inside a body: closed after IDLE_SECONDS without a byte.
    assert _closed_within(report, "stalled", limits["IDLE_SECONDS"] + 1), report.as_dict()
    # Slow but moving (an honest client on a slow link): not cut off before REQUEST_SECONDS.
    assert report.closed_after["body"] == report.closed_after["reader"] == [], report.as_dict()


def test_a_request_not_done_within_request_seconds_is_cut_off(serve, project_dir, tmp_path):
    config = tmp_path / "gunicorn.conf.py"
    # The shipped settings, with a short request limit: the shipped worker's, shortened.
    config.write_text(
        f"exec(compile(open({str(project_dir / 'gunicorn.conf.py')!r}).read(), 'gunicorn.conf.py', 'exec'))\n"
        "worker_class = type('ShortRequests', (worker_class,), {'request_seconds': 3})\n"
    )
    server = serve("gunicorn", env={"GUNICORN_CMD_ARGS": f"--config {config}"})
    report = slow_clients.run(server.port, ("body",), 4, 6)
    assert _closed_within(report, "body", 3 + 1) and report.slow_probes == 0, report.as_dict()
    assert server.log().count("took over 3 s; connection closed") == 4
