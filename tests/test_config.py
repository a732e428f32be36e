"""The environment configures the service: limits, key, access log, prediction log, model and threshold; a bad
value is named."""

import dataclasses
import json
import re
import sys
from pathlib import Path

import pytest

from churn.core.artifact import DEFAULT_MODEL_PATH, ModelError, with_content_hash
from churn.core.scorer import Scores
from churn.http.config import (
    EXIT_CANNOT_START,
    MAX_WORKERS,
    MAX_WORKERS_PER_CPU,
    MOST_BATCH,
    MOST_BODY_BYTES,
    ConfigurationError,
    Settings,
    listen_port,
    load_or_exit,
    model_from_environment,
    prediction_log,
    settings_from_environment,
    startup_summary,
    worker_count,
)
from churn.http.metrics import SLOTS


def test_settings_come_from_the_environment():
    environ = {"MAX_BODY_BYTES": "2048", "MAX_BATCH": "5", "CHURN_API_KEY": "k", "ACCESS_LOG": "off"}
    assert settings_from_environment(environ) == Settings(max_body_bytes=2048, max_batch=5, api_key="k")


def test_unset_or_empty_variables_mean_the_defaults_and_an_access_log():
    settings = settings_from_environment({"CHURN_API_KEY": ""})
    assert settings.access_log is not None
    assert dataclasses.replace(settings, access_log=None) == Settings()


def test_access_log_is_on_or_off_nothing_else():
    with pytest.raises(ConfigurationError, match="ACCESS_LOG must be on or off, not 'maybe'"):
        settings_from_environment({"ACCESS_LOG": "maybe"})


@pytest.mark.parametrize("value", ["0", "-1", "ten", "1e6", " 5", "٥", str(MOST_BATCH + 1), "9" * 30])
def test_a_bad_limit_in_the_environment_is_named_with_its_range(value):
    with pytest.raises(ConfigurationError, match=f"^MAX_BATCH must be a whole number from 1 to 20,000, not '{value}'$"):
        settings_from_environment({"MAX_BATCH": value})


def test_no_limit_can_be_set_past_its_most():
    most = settings_from_environment({"MAX_BATCH": str(MOST_BATCH), "MAX_BODY_BYTES": str(MOST_BODY_BYTES)})
    assert (most.max_batch, most.max_body_bytes) == (MOST_BATCH, MOST_BODY_BYTES)
    with pytest.raises(
        ConfigurationError, match=f"^MAX_BODY_BYTES must be a whole number from 1 to {MOST_BODY_BYTES:,}"
    ):
        settings_from_environment({"MAX_BODY_BYTES": str(MOST_BODY_BYTES + 1)})


def test_model_path_chooses_the_model(shipped_artifact, tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(with_content_hash(dict(shipped_artifact, intercept=0.25))))
    assert model_from_environment({"MODEL_PATH": str(path)}).intercept == 0.25
    assert model_from_environment({}).sha256 == shipped_artifact["sha256"]


def test_churn_threshold_replaces_the_models_threshold(model):
    assert model_from_environment({"CHURN_THRESHOLD": "0.3"}).threshold == 0.3
    assert model_from_environment({"CHURN_THRESHOLD": ""}).threshold == model.threshold


@pytest.mark.parametrize(("value", "named"), [("1.5", "1.5"), ("0", "0.0"), ("nan", "nan"), ("high", "'high'")])
def test_a_threshold_outside_0_to_1_is_named(value, named):
    with pytest.raises(ConfigurationError, match=f"^CHURN_THRESHOLD must be a number between 0 and 1, not {named}$"):
        model_from_environment({"CHURN_THRESHOLD": value})


def test_the_startup_summary_names_the_model_its_quality_and_threshold(model):
    summary = startup_summary({}, model)
    assert summary == (
        f"model {DEFAULT_MODEL_PATH} version {model.version} (test AUC {model.metadata['test_auc']:.3f}), "
        f"threshold {model.threshold}, prediction log off"
    )


def test_the_startup_summary_says_where_predictions_are_logged(model):
    assert startup_summary({"PREDICTION_LOG": "stdout"}, model).endswith(", prediction log to standard output")
    hashed = {"PREDICTION_LOG": "/var/log/p.jsonl", "PREDICTION_LOG_ID_KEY": "k" * 16}
    assert startup_summary(hashed, model).endswith(", prediction log to /var/log/p.jsonl (customer ids hashed)")


@pytest.mark.parametrize("value", ["", "off", "OFF", " off "])
def test_the_prediction_log_is_off_unless_asked_for(value, model):
    assert prediction_log({"PREDICTION_LOG": value}, model) is None
    assert load_or_exit({"PREDICTION_LOG": value})[1].prediction_log is None


def test_the_prediction_log_appends_to_the_file_it_names(tmp_path, model):
    path = tmp_path / "predictions.jsonl"
    path.write_bytes(b"earlier\n")
    log = load_or_exit({"PREDICTION_LOG": str(path), "PREDICTION_LOG_ID_KEY": "a secret of 16+ chars"})[
        1
    ].prediction_log
    try:
        assert log.id_key == b"a secret of 16+ chars" and log.lines("json", "r", Scores([], [], [], [], [])) == []
        log.write([b"later\n"])
        log.flush()  # the service's log writes a batch at a time
        assert path.read_bytes() == b"earlier\nlater\n"
    finally:
        log.close()


def test_the_prediction_log_to_stdout_writes_to_its_descriptor(model):
    log = prediction_log({"PREDICTION_LOG": "Stdout"}, model)
    assert log.fd == sys.stdout.fileno() and log.id_key is None


def test_a_prediction_log_that_cannot_be_opened_stops_the_start_naming_it(tmp_path, capsys):
    missing = tmp_path / "no such folder" / "p.jsonl"
    with pytest.raises(SystemExit) as stopped:
        load_or_exit({"PREDICTION_LOG": str(missing)})
    assert stopped.value.code == EXIT_CANNOT_START
    assert capsys.readouterr().err == (
        f"churn service: cannot start: PREDICTION_LOG: cannot append to {missing}: No such file or directory\n"
    )


def test_a_short_id_key_is_refused_before_anything_is_opened(tmp_path):
    environ = {"PREDICTION_LOG": str(tmp_path / "p.jsonl"), "PREDICTION_LOG_ID_KEY": "short"}
    with pytest.raises(
        ConfigurationError, match="PREDICTION_LOG_ID_KEY must be a secret of at least 16 characters, not 5"
    ):
        settings_from_environment(environ)
    assert not (tmp_path / "p.jsonl").exists()


@pytest.mark.parametrize(("value", "port"), [("", 9696), ("8080", 8080), ("1", 1), ("65535", 65535)])
def test_the_port_comes_from_port_else_the_books(value, port):
    assert listen_port({"PORT": value}) == port


@pytest.mark.parametrize("value", ["0", "65536", "abc", "-1", "80.0", " 80"])
def test_a_port_that_is_not_a_port_number_is_named(value):
    with pytest.raises(ConfigurationError, match=f"^PORT must be a port number from 1 to 65535, not '{value}'$"):
        listen_port({"PORT": value})


@pytest.mark.parametrize(("cpus", "workers"), [(0.5, 1), (1, 1), (1.5, 2), (4, 4)])
def test_gunicorn_runs_one_worker_per_usable_cpu_unless_web_concurrency_says(cpus, workers):
    assert worker_count({}, cpus) == workers
    assert worker_count({"WEB_CONCURRENCY": "3"}, cpus) == 3


@pytest.mark.parametrize("value", ["0", "x", "-1", "2.5", "9", "100000", "9" * 30])
def test_a_web_concurrency_that_is_no_count_of_workers_or_too_many_is_named(value):
    limit = f"{MAX_WORKERS_PER_CPU * 2} ({MAX_WORKERS_PER_CPU} per CPU, {MAX_WORKERS} in all)"
    with pytest.raises(
        ConfigurationError,
        match=rf"^WEB_CONCURRENCY must be a whole number from 1 to {re.escape(limit)}, not '{value}'$",
    ):
        worker_count({"WEB_CONCURRENCY": value}, 2)
    assert worker_count({"WEB_CONCURRENCY": str(MAX_WORKERS_PER_CPU * 2)}, 1.5) == MAX_WORKERS_PER_CPU * 2


def test_no_more_workers_than_the_metrics_table_has_rows_for_through_a_reload():
    assert worker_count({}, 512) == MAX_WORKERS == SLOTS // 2
    with pytest.raises(ConfigurationError, match=f"from 1 to {MAX_WORKERS} "):
        worker_count({"WEB_CONCURRENCY": str(MAX_WORKERS + 1)}, 512)


@pytest.mark.parametrize("destination", ["/proc/version", "/dev/null"])
def test_the_prediction_log_goes_only_to_a_regular_file_or_a_pipe(model, destination):
    if not Path(destination).exists():
        pytest.skip(f"no {destination} here")
    with pytest.raises(ConfigurationError, match=f"^PREDICTION_LOG={destination}: not a regular file or a pipe$"):
        prediction_log({"PREDICTION_LOG": destination}, model)


def test_a_model_path_that_cannot_be_loaded_names_the_variable(tmp_path):
    with pytest.raises(ModelError, match=f"^MODEL_PATH: cannot load model {tmp_path}/none.json: No such file"):
        model_from_environment({"MODEL_PATH": str(tmp_path / "none.json")})
