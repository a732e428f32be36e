"""The benchmark keeps working: its quick mode measures every part once. No speed is asserted here."""

import json
import re
import subprocess
import sys

import pytest

from bench.benchmark import TARGETS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_run(project_dir, tmp_path_factory):
    """The results file and the printed report of one `--quick` run with the Python load generator."""
    output = tmp_path_factory.mktemp("bench") / "results.json"
    command = [sys.executable, "bench/benchmark.py", "--quick", "--load-generator", "python", "--output", str(output)]
    completed = subprocess.run(command, cwd=project_dir, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    return json.loads(output.read_text()), completed.stdout


def test_every_server_answers_the_load_without_errors(quick_run):
    results, _ = quick_run
    assert results["load_generator"].startswith("python")
    for name in ("service", "floor", "parsing floor"):
        for server in ("gunicorn", "waitress"):
            run = results["servers"][f"{server} {name}"]
            assert run["requests_per_second"] > 0 and run["errors"] == 0 and run["p50_ms"] > 0


def test_the_inference_protocol_is_measured_beside_predict(quick_run, model):
    results, printed = quick_run
    assert set(results["protocols"]) == {"/predict", f"/v2/models/{model.name}/infer"}
    assert all(run["requests_per_second"] > 0 and run["errors"] == 0 for run in results["protocols"].values())
    assert "gunicorn infer" in printed and "gunicorn predict" in printed


def test_every_part_is_measured(quick_run):
    results, _ = quick_run
    in_process = results["in_process"]
    for key in ("full_request_us", "logged_request_us", "explain_request_us", "score_us"):
        assert in_process[key] > 0, key
    assert in_process["sklearn"]["predict_proba_us"] > 0
    for size, batch in results["batch"].items():
        assert batch["customers"] == int(size) and batch["predict_ms"] > 0 and batch["json_ms"] > 0
        assert batch["infer_ms"] > 0
    assert set(results["batch"]) == {"1000", "10000"} and results["batch"]["10000"]["prediction_logged_ms"] > 0
    assert all(run["customers_per_second"] > 0 and run["errors"] == 0 for run in results["served_batches"].values())
    assert in_process["prediction_log"]["on_request_us"] > 0 and in_process["prediction_log"]["off_request_us"] > 0
    assert results["offline_scoring"]["rows_per_second"] > 0
    for name in ("service", "floor"):
        assert results["cold_start_and_memory"][name]["cold_start_ms"] > 0
        assert results["cold_start_and_memory"][name]["rss_per_worker_kib"] > 0


def test_the_report_gives_the_prediction_logs_cost(quick_run):
    results, printed = quick_run
    [in_process, served] = [line for line in printed.splitlines() if line.startswith("prediction log to a file, ")]
    one = results["in_process"]["prediction_log"]
    assert f"one customer {one['on_request_us']:.1f} µs against {one['off_request_us']:.1f}" in in_process
    on, off = (results["prediction_log"][switch]["requests_per_second"] for switch in ("on", "off"))
    assert f"{on:.0f} requests/s against {off:.0f}" in served and on > 0 and off > 0
    assert results["prediction_log"]["lines"] > 0  # the log was on, and written


def test_the_report_gives_each_targets_ratio_and_whether_it_is_met(quick_run):
    results, printed = quick_run
    assert set(results["ratios"]) == set(TARGETS)
    for name, target in TARGETS.items():
        value = results["ratios"][name]
        [row] = [line for line in printed.splitlines() if line.startswith(target.description)]
        ratio, verdict = re.fullmatch(r".{48}\s*(\d+\.\d\d)\s+[<>]= \S+\s+(yes|NO)", row).groups()
        assert float(ratio) == round(value, 2) and verdict == ("yes" if target.met(value) else "NO")
