"""evaluate.py: predictions joined with outcomes (the last prediction before each outcome), the realized
quality beside the model card's, and an exit status a scheduled job can alert on."""

import csv
import json
import re
import subprocess
import sys

import pytest
import webtest

import evaluate
from app import create_app
from churn.core.prediction_log import PredictionLog, customerid_hash, open_log
from churn.evaluation import report, test_split
from churn.http.config import Settings
from churn.training.model_card import calibration_table, confusion_table
from helpers import require_trained_on

_KEY = "a key of sixteen characters or more"


def _log_through_the_service(model, path, rows, id_key=None, headers=None):
    """Score `rows` (the raw data set's, without Churn) as a JSON-lines file, logged to `path`."""
    log = PredictionLog(open_log(path), model, id_key)
    app = webtest.TestApp(create_app(model, Settings(prediction_log=log)))
    body = "".join(json.dumps({k: v for k, v in row.items() if k != "Churn"}) + "\n" for row in rows)
    return app.post("/predict", body, content_type="application/x-ndjson", headers=headers or {}).json


def _table_rows(report):
    """The Quality table: name -> (realized, card)."""
    section = report.split("## Quality", 1)[1].split("\n\n")[1]
    cells = ([cell.strip() for cell in line.strip("|").split("|")] for line in section.splitlines()[2:])
    return {name: (realized, card) for name, realized, card in cells}


def _outcomes(path, rows, churned=lambda row: row["Churn"], observed_at=None):
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["customerid", "churned", *(["observed_at"] if observed_at else [])])
        for row in rows:
            writer.writerow([row["customerID"], churned(row), *([observed_at] if observed_at else [])])


def test_the_test_split_logged_through_the_service_reproduces_the_model_card(model, data_path, tmp_path):
    require_trained_on(model.metadata, data_path)
    test_split.main([str(data_path), "--log", str(tmp_path / "p.jsonl")])
    report_path = tmp_path / "evaluation" / "report.md"
    status = evaluate.main([str(tmp_path / "p.jsonl"), "--outcomes", str(data_path), "--report", str(report_path)])
    report, card = report_path.read_text(), model.card["MODEL_CARD.md"].decode()
    assert status == evaluate.EXIT_OK
    rows = _table_rows(report)
    assert all(realized == on_card for realized, on_card in rows.values()), rows
    assert rows["customers"][0] == f"{model.metadata['test_rows']:,}"
    assert f"ROC AUC: **{rows['ROC AUC'][0]}**" in card
    assert (f"precision {rows['at the threshold: precision'][0]}, recall {rows['at the threshold: recall'][0]}, "
            f"accuracy {rows['accuracy'][0]}") in card  # fmt: skip
    confusion = re.search(r"realized:\n\n(\|.*?)\n\n", report, re.S)[1]
    calibration = re.search(r"lowest first\), realized:\n\n(\|.*?)\n\n", report, re.S)[1]
    assert confusion in card and calibration in card  # the card's tables, to the last digit
    assert {"roc.svg", "calibration.svg"} <= {path.name for path in report_path.parent.iterdir()}


def test_the_last_prediction_before_the_outcome_is_used_and_everything_else_is_counted(model, raw_rows, tmp_path):
    customers = raw_rows[:300]
    log = tmp_path / "p.jsonl"
    first = _log_through_the_service(model, log, customers)
    _log_through_the_service(model, log, customers[:50])  # scored again
    lines = log.read_text().splitlines()
    # The second scoring of the first 50 happened "after" their outcome; the first, before it.
    later = [line.replace(json.loads(line)["time"], "2030-01-01T00:00:00.000Z") for line in lines[300:]]
    log.write_text("\n".join([*lines[:300], *later, "heroku[router]: at=info method=POST", lines[0][:80]]) + "\n")
    _outcomes(tmp_path / "o.csv", customers[:250], observed_at="2029-12-31")
    report_path = tmp_path / "r.md"
    evaluate.main(
        [str(log), "--outcomes", str(tmp_path / "o.csv"), "--report", str(report_path), "--min-customers", "10"]
    )
    report = report_path.read_text()
    for expected in ("350 predictions read, of 300 customers", "**250 customers evaluated**",
                     "50 predictions made after the customer's outcome", "50 customers scored have no outcome yet",
                     "0 customers with an outcome were never scored", "1 prediction log lines were cut short",
                     "1 other lines of the logs"):  # fmt: skip
        assert expected in report
    assert len(first) == 300


def test_a_later_prediction_before_the_outcome_replaces_an_earlier_one(tmp_path, model):
    line = (
        '{"schema": 1, "time": "%s", "request_id": "r", "interface": "json", "model_version": "v", '
        '"customerid": "%s", "inputs": {}, "churn_probability": %s, "churn": %s}'
    )
    lines = [line % ("2026-01-01T00:00:00.000Z", f"c{n}", 0.9 if n % 2 else 0.1, "false") for n in range(40)]
    lines += [line % ("2026-02-01T00:00:00.000Z", f"c{n}", 0.1 if n % 2 else 0.9, "false") for n in range(40)]
    (tmp_path / "p.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "o.csv").write_text(
        "customerid,churned,observed_at\n" + "".join(f"c{n},{n % 2},2026-03-01\n" for n in range(40))
    )
    arguments = [str(tmp_path / "p.jsonl"), "--outcomes", str(tmp_path / "o.csv"), "--report", str(tmp_path / "r.md")]
    assert evaluate.main([*arguments, "--min-customers", "10"]) == evaluate.EXIT_BELOW  # the later ones rank wrongly
    (tmp_path / "o.csv").write_text(
        "customerid,churned,observed_at\n" + "".join(f"c{n},{n % 2},2026-01-15\n" for n in range(40))
    )
    assert evaluate.main([*arguments, "--min-customers", "10"]) == evaluate.EXIT_OK  # before them, the earlier ones


def test_hashed_ids_are_joined_with_the_key_and_refused_without_it(model, raw_rows, tmp_path, monkeypatch, capsys):
    customers = raw_rows[:400]
    _log_through_the_service(model, tmp_path / "p.jsonl", customers, id_key=_KEY.encode())
    assert customers[0]["customerID"] not in (tmp_path / "p.jsonl").read_text()
    assert customerid_hash(customers[0]["customerID"], _KEY.encode()) in (tmp_path / "p.jsonl").read_text()
    _outcomes(tmp_path / "o.csv", customers)
    arguments = [str(tmp_path / "p.jsonl"), "--outcomes", str(tmp_path / "o.csv"), "--report", str(tmp_path / "r.md")]
    assert evaluate.main(arguments) == evaluate.EXIT_USAGE
    assert "set PREDICTION_LOG_ID_KEY" in capsys.readouterr().err
    monkeypatch.setenv("PREDICTION_LOG_ID_KEY", _KEY)
    assert evaluate.main([*arguments, "--min-auc", "0.5"]) == evaluate.EXIT_OK  # joined: not a verdict on 400
    assert "**400 customers evaluated**" in (tmp_path / "r.md").read_text()


def test_a_file_scored_by_predict_py_is_evaluated_as_made_before_every_outcome(project_dir, data_path, tmp_path):
    scored = tmp_path / "scores.csv"
    subprocess.run([sys.executable, "predict.py", str(data_path), "--output", str(scored)], cwd=project_dir, check=True)
    status = evaluate.main([str(scored), "--outcomes", str(data_path), "--report", str(tmp_path / "r.md")])
    report = (tmp_path / "r.md").read_text()
    assert status == evaluate.EXIT_OK and "**7,043 customers evaluated**" in report


def test_worse_ranking_exits_1_and_too_few_customers_exit_3(model, raw_rows, tmp_path):
    customers = raw_rows[:400]
    _log_through_the_service(model, tmp_path / "p.jsonl", customers)
    _outcomes(tmp_path / "o.csv", customers, churned=lambda row: "No" if row["Churn"] == "Yes" else "Yes")
    arguments = [str(tmp_path / "p.jsonl"), "--outcomes", str(tmp_path / "o.csv"), "--report", str(tmp_path / "r.md")]
    assert evaluate.main(arguments) == evaluate.EXIT_BELOW
    assert "**Below: realized ROC AUC" in (tmp_path / "r.md").read_text()
    assert evaluate.main([*arguments, "--min-customers", "1000"]) == evaluate.EXIT_TOO_FEW


@pytest.mark.parametrize(
    ("outcomes", "message"),
    [
        ("customerid,churned\nc1,maybe\n", "o.csv, line 2: churned must be yes or no (true/false, 1/0), not 'maybe'"),
        ("customerid,churned\nc1,yes\nc1,no\n", "o.csv, line 3: customer c1 has an outcome on line 2 too"),
        ("id,churned\nc1,yes\n", "an outcomes file needs the columns customerid and churned"),
        ("customerid,churned,observed_at\nc1,yes,last week\n", "observed_at must be an ISO 8601 date or time"),
    ],
)
def test_a_bad_outcomes_file_is_named_with_its_line(tmp_path, capsys, outcomes, message):
    (tmp_path / "p.jsonl").write_text("")
    (tmp_path / "o.csv").write_text(outcomes)
    status = evaluate.main(
        [str(tmp_path / "p.jsonl"), "--outcomes", str(tmp_path / "o.csv"), "--report", str(tmp_path / "r.md")]
    )
    assert status == evaluate.EXIT_USAGE and message in capsys.readouterr().err


def test_the_card_tables_are_the_model_cards_own_code():
    assert confusion_table(1, 2, 3, 4).splitlines()[2] == "| churned | 1 | 2 |"
    assert calibration_table([(10, 0.1, 0.2)]).splitlines()[2] == "| 1 | 10 | 0.100 | 0.200 |"


@pytest.mark.parametrize(
    ("predictions", "message"),
    [
        (b"\x89\xff\xfe binary", "p.txt: not a prediction log, nor a file predict.py scored (not UTF-8 text)"),
        (b'[{"customerid": "c1", ', "p.txt, line 1: not JSON"),
        (b"customerid,probability\nc1,0.5\n", "p.txt, line 2: a scored row needs customerid, churn_probability"),
        (b'{"schema": 2, "time": "2026-12-02T00:00:00Z"}\n', "p.txt, line 1: schema 2; this evaluate.py reads 1"),
    ],
)
def test_predictions_it_cannot_read_are_named_with_their_line(tmp_path, capsys, predictions, message):
    (tmp_path / "p.txt").write_bytes(predictions)
    (tmp_path / "o.csv").write_text("customerid,churned\nc1,yes\n")
    status = evaluate.main(
        [str(tmp_path / "p.txt"), "--outcomes", str(tmp_path / "o.csv"), "--report", str(tmp_path / "r.md")]
    )
    assert status == evaluate.EXIT_USAGE and message in capsys.readouterr().err


def test_ctrl_c_while_the_report_is_made_leaves_an_earlier_report_as_it_was(
    model, raw_rows, tmp_path, monkeypatch, capsys
):
    log, outcomes, report_path = tmp_path / "p.jsonl", tmp_path / "o.csv", tmp_path / "evaluation" / "report.md"
    _log_through_the_service(model, log, raw_rows[:300])
    _outcomes(outcomes, raw_rows[:300])
    arguments = [str(log), "--outcomes", str(outcomes), "--report", str(report_path), "--min-customers", "10"]
    evaluate.main(arguments)
    before = {path.name: path.read_bytes() for path in report_path.parent.iterdir()}
    capsys.readouterr()

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "report", interrupted)  # the charts are drawn by then
    assert evaluate.main(arguments) == evaluate.EXIT_INTERRUPTED
    assert capsys.readouterr().err == f"evaluate.py: interrupted: {report_path} left as it was\n"
    assert {path.name: path.read_bytes() for path in report_path.parent.iterdir()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["evaluation", "o.csv", "p.jsonl"]
