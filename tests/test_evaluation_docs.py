"""docs/evaluation.md's and docs/prediction-log.md's commands are real: the local ones run as written in
a checkout and print what the doc shows; the others name only options and variables that exist."""

import json
import re
import shlex

import pytest

import evaluate
import predict
from churn.core.scorer import Scorer
from helpers import (
    as_pattern,
    assert_as_shown,
    documented_checkout,
    require_trained_on,
    run_documented,
    shown_after,
    skip_or_fail,
)

_CHECKOUT = ("predict.py", "evaluate.py", "app.py", "churn", "model", "static", "requirements-evaluate.txt")


def _doc(project_dir, name):
    return (project_dir / "docs" / name).read_text()


def _blocks(text, language):
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.M | re.S)


@pytest.fixture
def checkout(project_dir, data_path, tmp_path):
    """A folder as a clone looks after the README's install."""
    return documented_checkout(tmp_path, project_dir, data_path, _CHECKOUT)


@pytest.mark.slow
def test_the_evaluation_commands_run_verbatim_and_print_what_the_doc_shows(project_dir, checkout, model, data_path):
    require_trained_on(model.metadata, data_path)  # the doc's figures are the shipped model's
    doc = _doc(project_dir, "evaluation.md")
    commands = [line for block in _blocks(doc, "bash") for line in block.splitlines() if line.strip()]
    printed = {command: run_documented(command, checkout) for command in commands}
    assert len(commands) == 6
    for marker in ("evaluate.py test-split.jsonl", "evaluate.py predictions.jsonl", "--budget 500"):
        output = next(output for command, output in printed.items() if marker in command)
        shown = shown_after(doc, marker)
        assert re.search(as_pattern(shown), output), (shown, output[-2000:])
    test_split = (checkout / "evaluation" / "test-split.md").read_text()
    assert f"against the test split's {model.metadata['test_auc']:.3f}" in test_split
    assert len((checkout / "campaign.csv").read_text().splitlines()) == 501
    assert "**7,043 customers evaluated**" in (checkout / "evaluation" / "report.md").read_text()


def test_the_schedule_and_campaign_options_are_ones_the_scripts_take(project_dir):
    doc = _doc(project_dir, "evaluation.md")
    [cron] = [line for block in _blocks(doc, "sh") for line in block.splitlines() if "evaluate.py" in line]
    command = cron.split("&&", 1)[1].split("||")[0].replace("$(date +\\%F)", "2026-12-01")  # cron's % escaped
    words = shlex.split(command)
    options = evaluate.parse_args(words[2:])
    assert options.outcomes == "/srv/crm/outcomes.csv" and options.report.endswith("/report.md")
    assert predict.parse_args(["x.csv", "--cost", "10", "--value", "40"]).value == 40


def test_the_example_line_is_a_line_the_service_writes(project_dir, model, book_customer):
    doc = _doc(project_dir, "prediction-log.md")
    [example] = _blocks(doc, "json")
    line = json.loads(example)
    assert list(line) == ["schema", "time", "request_id", "interface", "model_version", "customerid", "inputs",
                          "churn_probability", "churn"]  # fmt: skip
    assert set(line["inputs"]) == set(model.schema.fields)
    if line["model_version"] != model.version:
        skip_or_fail(f"model/ holds version {model.version}, the example line is of version {line['model_version']}")
    _, _, probability = Scorer(model).one(line["inputs"])
    assert_as_shown([probability, probability >= model.threshold], [line["churn_probability"], line["churn"]], "line")


def test_the_deployment_snippets_set_only_variables_the_service_reads(project_dir):
    doc = _doc(project_dir, "prediction-log.md")
    config = (project_dir / "churn" / "http" / "config.py").read_text()
    named = set(re.findall(r"\b(PREDICTION_LOG(?:_ID_KEY)?)=", doc))
    assert named == {"PREDICTION_LOG", "PREDICTION_LOG_ID_KEY"} and all(name in config for name in named)
    manifest = (project_dir / "deploy" / "kubernetes" / "deployment.yaml").read_text()
    for key in ("prediction-log", "prediction-log-id-key"):
        assert f"--from-literal={key}=" in doc and f"key: {key}\n" in manifest
