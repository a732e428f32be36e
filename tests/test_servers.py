"""End to end: the real servers, started as a user starts them, answering over HTTP."""

import json
import runpy
import subprocess
import sys

import pytest

SERVERS = ["gunicorn", "waitress"]


@pytest.mark.parametrize("server_name", SERVERS)
def test_real_server_answers_the_book_customer(serve, server_name, book_customer):
    server = serve(server_name)
    assert server.get("/ping") == (200, b"PONG")
    status, result = server.post_json("/predict", book_customer)
    assert status == 200 and result["churn"] is False
    assert 0.05 <= result["churn_probability"] <= 0.075


@pytest.mark.parametrize("server_name", SERVERS)
def test_real_server_refuses_bad_input_and_keeps_serving(serve, server_name, book_customer):
    server = serve(server_name)
    status, problem = server.post_json("/predict", {"tenure": -5})
    assert status == 422 and problem["status"] == 422 and "tenure: must not be negative" in problem["detail"]
    assert server.post_json("/predict", book_customer)[0] == 200


def test_model_path_selects_the_model_to_serve(serve, project_dir, tmp_path, book_customer):
    document = json.loads((project_dir / "model" / "churn-model.json").read_text())
    document["threshold"] = 0.01
    (tmp_path / "model.json").write_text(json.dumps(document))
    server = serve("gunicorn", env={"MODEL_PATH": str(tmp_path / "model.json")})
    assert server.post_json("/predict", book_customer)[1]["churn"] is True


def test_serving_imports_no_scikit_learn_numpy_or_scipy(project_dir):
    code = "import sys, wsgi; print(sorted(m for m in ('sklearn', 'numpy', 'scipy') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=project_dir, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(("env", "bind"), [({"PORT": "5000"}, "0.0.0.0:5000"), ({}, "0.0.0.0:9696")])
def test_gunicorn_config_binds_port_or_the_books_9696(project_dir, monkeypatch, env, bind):
    monkeypatch.delenv("PORT", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert runpy.run_path(str(project_dir / "gunicorn.conf.py"))["bind"] == bind


def test_gunicorn_config_honours_web_concurrency(project_dir, monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert runpy.run_path(str(project_dir / "gunicorn.conf.py"))["workers"] == 3
