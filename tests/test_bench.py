"""The benchmark keeps working: its quick mode runs every part once. No speed is asserted here."""

import json
import subprocess
import sys


def test_quick_benchmark_measures_every_part(project_dir, tmp_path):
    output = tmp_path / "results.json"
    command = [sys.executable, "bench/benchmark.py", "--quick", "--load-generator", "python", "--output", str(output)]
    completed = subprocess.run(command, cwd=project_dir, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    results = json.loads(output.read_text())
    assert results["load_generator"].startswith("python")
    for name in ("service", "floor", "parsing floor"):
        for server in ("gunicorn", "waitress"):
            run = results["servers"][f"{server} {name}"]
            assert run["requests_per_second"] > 0 and run["errors"] == 0
            assert 0 < run["p50_ms"] <= run["p99_ms"]
    assert results["in_process"]["full_request_us"] > 0 and results["in_process"]["score_us"] > 0
    assert results["in_process"]["sklearn"]["predict_proba_us"] > 0
    assert results["batch"]["customers"] == 10_000 and results["batch"]["server_ms"] > 0
    assert results["in_process"]["explain_request_us"] > 0
    assert results["in_process"]["logged_request_us"] > 0
    assert results["offline_scoring"]["rows_per_second"] > 0
    for name in ("service", "floor"):
        assert results["cold_start_and_memory"][name]["cold_start_ms"] > 0
        assert results["cold_start_and_memory"][name]["rss_per_worker_kib"] > 0
    assert set(results["ratios"]) == {
        "gunicorn_rps_vs_floor",
        "in_process_speedup_vs_sklearn",
        "batch_vs_json_loads",
        "cold_start_vs_floor",
        "rss_vs_floor",
        "explain_vs_plain",
    }
    assert "service / floor requests/s under gunicorn" in completed.stdout
