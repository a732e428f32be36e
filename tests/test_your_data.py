"""Any customer table: train.py on a company's own columns, served, explained and scored by predict.py
with no code change; bad tables refused before fitting, in one line, with nothing written."""

import csv
import io
import json
import math
import random
import subprocess
import sys

import pytest
import webtest

import train
from app import create_app
from bench.process_group import free_port
from churn.core.model import load_model
from churn.core.schema import label_of
from helpers import require_process_groups, write_csv

PREDICT = [sys.executable, "predict.py"]


def _table_rows(path, count):
    with open(path, newline="") as file:
        return [row for _, row in zip(range(count), csv.DictReader(file), strict=False)]


def _predict_py(project_dir, model_dir, rows, tmp_path):
    """predict.py's probability for each row (its id column kept), scoring a CSV of them."""
    path = write_csv(tmp_path / "customers.csv", rows)
    command = [
        *PREDICT,
        str(path),
        "--model",
        str(model_dir / "churn-model.json"),
        "--output",
        str(tmp_path / "out.csv"),
    ]
    subprocess.run(command, cwd=project_dir, check=True, capture_output=True, text=True, timeout=120)
    with open(tmp_path / "out.csv", newline="") as file:
        return {row["customerid"]: float(row["churn_probability"]) for row in csv.DictReader(file)}


def test_the_credit_card_table_is_served_through_gunicorn_in_its_own_spelling_as_predict_py_scores_it(
    project_dir, credit_card_path, credit_card_model, start_server, tmp_path
):
    require_process_groups()
    rows = [{k: v for k, v in row.items() if k != "Attrition_Flag"} for row in _table_rows(credit_card_path, 5)]
    expected = _predict_py(project_dir, credit_card_model, rows, tmp_path)
    port = free_port()
    env = {"MODEL_PATH": str(credit_card_model / "churn-model.json"), "PORT": str(port), "WEB_CONCURRENCY": "1"}
    server = start_server([sys.executable, "serve.py"], port, env=env).wait_until_serving()
    model = load_model(credit_card_model / "churn-model.json")
    for row in rows:
        answer = json.loads(server.post("/predict?explain=true", json.dumps(row).encode(), "application/json")[1])
        assert answer["customerid"] == row["CLIENTNUM"]  # the table's own id, echoed as customerid
        assert answer["churn_probability"] == pytest.approx(expected[row["CLIENTNUM"]], abs=1e-12)
        factors = answer["explanation"]["factors"]
        assert {factor["field"] for factor in factors} <= set(model.schema.fields)
        assert "customer_age" in model.schema.fields and "clientnum" not in model.schema.fields


def test_the_credit_card_models_fields_read_as_its_columns(credit_card_model):
    model = load_model(credit_card_model / "churn-model.json")
    properties = webtest.TestApp(create_app(model)).get("/openapi.json").json["components"]["schemas"]["Customer"]
    titles = {name: schema.get("title") for name, schema in properties["properties"].items()}
    assert titles["months_on_book"] == "Months on book" and titles["customer_age"] == "Customer age"
    assert properties["example"]["customerid"] and set(model.schema.fields) <= set(properties["example"])
    income = model.schema.rule("income_category")
    assert "$60K - $80K" in income.value_labels  # the table's own spelling of its values
    assert model.metadata["target"] == {
        "column": "Attrition_Flag",
        "positive": "Attrited Customer",
        "negative": "Existing Customer",
    }


# --- the book's table, changed the way real tables differ ---------------------------------------------


@pytest.fixture(scope="module")
def changed_telco(data_path, tmp_path_factory):
    """The Telco CSV with columns renamed and reordered, a row-number column, Partner dropped by the
    test, blanks in a category (PaymentMethod) and in numbers (MonthlyCharges) of some rows."""
    rows = _table_rows(data_path, 10_000)
    randomly = random.Random(1)
    renamed = {"tenure": "Months With Us", "Contract": "Plan", "customerID": "Account"}
    changed = []
    for number, row in enumerate(rows, start=1):
        row = {renamed.get(name, name): value for name, value in row.items()}
        if randomly.random() < 0.05:
            row["PaymentMethod"] = ""
        if randomly.random() < 0.05:
            row["MonthlyCharges"] = " "
        changed.append({"RowNumber": number, **dict(reversed(list(row.items())))})
    return write_csv(tmp_path_factory.mktemp("changed") / "telco-changed.csv", changed)


@pytest.fixture(scope="module")
def changed_model(changed_telco, tmp_path_factory):
    folder = tmp_path_factory.mktemp("changed-model")
    options = ["--data", str(changed_telco), "--target", "Churn", "--id", "Account", "--drop", "RowNumber,Partner"]
    assert train.main([*options, "--output-dir", str(folder)]) == 0
    return load_model(folder / "churn-model.json")


def test_a_changed_table_trains_under_its_own_names(changed_model):
    assert {"months_with_us", "plan"} <= set(changed_model.schema.fields)
    assert not {"partner", "rownumber", "account", "tenure"} & set(changed_model.schema.fields)
    assert changed_model.schema.rule("plan").column == "Plan" and changed_model.schema.rule("plan").label == "Plan"
    assert changed_model.schema.rule("months_with_us").label == "Months with us"
    assert changed_model.metadata["target"]["positive"] == "Yes"


def test_blanks_in_training_make_a_field_optional_and_the_others_stay_required(changed_model, book_customer):
    app = webtest.TestApp(create_app(changed_model))
    customer = {
        {"tenure": "months_with_us", "contract": "plan", "customerid": "account"}.get(name, name): value
        for name, value in book_customer.items()
        if name != "partner"
    }
    full = app.post_json("/predict?explain=true&top=all", customer).json
    for blank in ({"paymentmethod": None}, {"monthlycharges": None}, {"monthlycharges": " "}, {"paymentmethod": ""}):
        answer = app.post_json("/predict?explain=true&top=all", {**customer, **blank}).json
        assert answer["churn_probability"] != full["churn_probability"]
        explained = answer["explanation"]
        logit = explained["base_value"] + sum(factor["contribution"] for factor in explained["factors"])
        assert 1 / (1 + math.exp(-logit)) == pytest.approx(answer["churn_probability"], abs=1e-12)
    absent = {name: value for name, value in customer.items() if name != "monthlycharges"}
    assert (
        app.post_json("/predict", absent).json == app.post_json("/predict", {**customer, "monthlycharges": None}).json
    )
    refused = app.post_json("/predict", {name: v for name, v in customer.items() if name != "plan"}, status=422).json
    assert refused["errors"] == [{"field": "plan", "message": "is required"}]
    assert changed_model.schema.rule("monthlycharges").optional and not changed_model.schema.rule("plan").optional


def test_a_blank_number_adds_its_learned_weight_exactly(changed_model, book_customer):
    term = next(term for term in changed_model.terms if term.field == "monthlycharges")
    imputed_row = changed_model.row({**_renamed(book_customer), "monthlycharges": None})
    assert changed_model.logit(imputed_row) - changed_model.logit(
        changed_model.row({**_renamed(book_customer), "monthlycharges": 0})
    ) == pytest.approx(term.blank)


def _renamed(book_customer):
    names = {"tenure": "months_with_us", "contract": "plan"}
    customer = {names.get(name, name): value for name, value in book_customer.items()}
    return {name: value for name, value in customer.items() if name not in ("partner", "customerid")}


# --- bad tables, refused before fitting ----------------------------------------------------------------


def _table(tmp_path, text, name="table.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _synthetic(rows=200, extra=None, target=lambda i: "Yes" if i % 3 == 0 else "No"):
    """A made-up table of `rows` customers: a plan, a number of months, a target; `extra` adds columns."""
    randomly = random.Random(7)
    lines = []
    for i in range(rows):
        row = {"Plan": randomly.choice(["Basic", "Gold"]), "Months": randomly.randint(1, 60), "Left": target(i)}
        row.update(extra(i) if extra else {})
        lines.append(row)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(lines[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(lines)
    return out.getvalue()


@pytest.mark.parametrize(
    ("text", "options", "said"),
    [
        (_synthetic(), ["--target", "Exited"], "the table has no column 'Exited' (its columns: Plan, Months, Left)"),
        (
            _synthetic(target=lambda i: ["Yes", "No", "Maybe"][min(i, 2)] if i < 5 else "No"),
            ["--target", "Left"],
            "the target Left has more than two values ('Yes', 'No', 'Maybe'): a churn target has two; "
            "{path}, line 4 is the first row with 'Maybe'",
        ),
        (
            _synthetic().replace("\nGold,", "\nGold,extra,", 1),
            ["--target", "Left"],
            "{path}, line {line}: 4 cells where the header has 3 columns",
        ),
        (
            _synthetic(extra=lambda i: {"Surname": f"Name{i}"}),
            ["--target", "Left"],
            "Surname has 200 different values: an identifier or free text, not a category (at most 100); "
            "pass --drop Surname, or --id Surname if it names the customer",
        ),
        (
            _synthetic(extra=lambda i: {"Id": f"c{i % 150}"}),
            ["--target", "Left", "--id", "Id"],
            "the id Id 'c0' is on {path}, line 2 and again on {path}, line 152",
        ),
        (
            _synthetic(target=lambda i: "A" if i % 3 else "B"),
            ["--target", "Left"],
            "the target Left has the values 'B' and 'A': say which means churn with --positive",
        ),
        (
            _synthetic(rows=6),
            ["--target", "Left"],
            "{path} is too small to split: its held-out part of 2 customers has 0 churners; "
            "a model needs both churners and stayers in each part",
        ),
        (
            _synthetic(extra=lambda i: {"Number": i + 1}),
            ["--target", "Left"],
            "Number has a different integer in every row: an identifier, not something to learn from; "
            "pass --drop Number, or --id Number if it names the customer (--numerical Number keeps it)",
        ),
        (
            _synthetic(extra=lambda i: {"Balance": i % 7 - 3}),
            ["--target", "Left"],
            "{path}, line 2: Balance holds '-3', a number the service does not read (it reads digits with an "
            "optional point: no sign, no exponent); change or --drop the column",
        ),
    ],
    ids=[
        "no-target",
        "three-values",
        "cells",
        "free-text",
        "duplicate-id",
        "positive",
        "too-small",
        "id-like",
        "signed-numbers",
    ],  # fmt: skip
)
def test_a_bad_table_is_refused_in_one_line_before_fitting_with_nothing_written(tmp_path, capsys, text, options, said):
    path = _table(tmp_path, text)
    line = next((n for n, row in enumerate(text.splitlines(), 1) if row.count(",") == 3), 0)
    output = tmp_path / "model"
    assert train.main(["--data", str(path), *options, "--output-dir", str(output)]) == 2
    err = capsys.readouterr().err
    assert err == f"train.py: error: {said.format(path=path, line=line)}\n"
    assert not output.exists()


def test_a_column_of_one_value_is_dropped_and_said(tmp_path, capsys):
    path = _table(tmp_path, _synthetic(extra=lambda i: {"Country": "France"}))
    assert train.main(["--data", str(path), "--target", "Left", "--output-dir", str(tmp_path / "model")]) == 0
    assert "dropped: Country (it has one value, 'France')" in capsys.readouterr().out
    assert "country" not in load_model(tmp_path / "model" / "churn-model.json").schema.fields


def test_a_flag_is_a_category_of_numbers_and_options_override_the_rule(tmp_path):
    path = _table(tmp_path, _synthetic(extra=lambda i: {"HasCard": i % 2, "Products": i % 4 + 1}))
    assert train.main(["--data", str(path), "--target", "Left", "--output-dir", str(tmp_path / "a")]) == 0
    inferred = load_model(tmp_path / "a" / "churn-model.json").schema
    assert inferred.categorical["hascard"] == (0, 1) and "products" in inferred.numerical
    options = ["--categorical", "Products", "--numerical", "HasCard"]
    assert train.main(["--data", str(path), "--target", "Left", *options, "--output-dir", str(tmp_path / "b")]) == 0
    chosen = load_model(tmp_path / "b" / "churn-model.json").schema
    assert chosen.categorical["products"] == ("1", "2", "3", "4") and "hascard" in chosen.numerical
    app = webtest.TestApp(create_app(load_model(tmp_path / "b" / "churn-model.json")))
    customer = {"Plan": "Gold", "Months": 12, "HasCard": 1}
    assert (
        app.post_json("/predict", {**customer, "Products": 3}).json
        == app.post_json("/predict", {**customer, "Products": "3"}).json
    )


def test_a_table_option_without_a_target_is_refused(capsys):
    assert train.main(["--id", "customerID"]) == 2
    assert (
        capsys.readouterr().err == "train.py: error: --id describes a table: name its target column with --target too\n"
    )


def test_labels_read_as_the_column_names_do_unless_a_labels_file_says(tmp_path):
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"Months": "Months as a customer"}))
    path = _table(tmp_path, _synthetic())
    options = ["--target", "Left", "--labels", str(labels), "--output-dir", str(tmp_path / "m")]
    assert train.main(["--data", str(path), *options]) == 0
    schema = load_model(tmp_path / "m" / "churn-model.json").schema
    assert schema.rule("months").label == "Months as a customer" and schema.rule("plan").label == label_of("Plan")


def test_the_open_inference_protocol_takes_a_field_blank_in_training_left_out(changed_model, book_customer):
    app = webtest.TestApp(create_app(changed_model))
    customer = {**_renamed(book_customer), "monthlycharges": None}
    inputs = [
        {"name": name, "shape": [1], "datatype": "BYTES" if isinstance(value, str) else "FP64", "data": [value]}
        for name, value in customer.items()
        if name != "monthlycharges"
    ]
    answer = app.post_json(f"/v2/models/{changed_model.name}/infer", {"inputs": inputs}).json
    [probability] = next(output["data"] for output in answer["outputs"] if output["name"] == "churn_probability")
    assert probability == app.post_json("/predict", customer).json["churn_probability"]
    without_plan = {"inputs": [tensor for tensor in inputs if tensor["name"] != "plan"]}
    refused = app.post_json(f"/v2/models/{changed_model.name}/infer", without_plan, status=400).json
    assert "missing inputs: plan" in refused["error"]


def test_the_credit_card_table_as_parquet_scores_as_its_csv_through_the_arrow_column_scorer(
    project_dir, credit_card_path, credit_card_model, tmp_path
):
    import pyarrow.csv as pcsv  # noqa: PLC0415 (the batch requirements)
    import pyarrow.parquet as pq  # noqa: PLC0415

    rows = _table_rows(credit_card_path, 300)
    by_rows = _predict_py(project_dir, credit_card_model, rows, tmp_path)
    parquet = tmp_path / "customers.parquet"
    pq.write_table(pcsv.read_csv(tmp_path / "customers.csv"), parquet)  # Arrow's own types: ints, floats, text
    model = credit_card_model / "churn-model.json"
    command = [*PREDICT, str(parquet), "--model", str(model), "--output", str(tmp_path / "scores.parquet")]
    subprocess.run(command, cwd=project_dir, check=True, capture_output=True, timeout=120)
    scored = pq.read_table(tmp_path / "scores.parquet").to_pylist()
    assert len(scored) == len(rows)
    for result in scored:
        assert result["churn_probability"] == pytest.approx(by_rows[str(result["customerid"])], abs=1e-12)


def test_a_parquet_table_trains_the_model_its_csv_trains(tmp_path):
    import pyarrow.csv as pcsv  # noqa: PLC0415 (the batch requirements)
    import pyarrow.parquet as pq  # noqa: PLC0415

    text = _synthetic(extra=lambda i: {"HasCard": i % 2, "Spend": round(i * 1.25, 2)})
    csv_path = _table(tmp_path, text)
    pq.write_table(pcsv.read_csv(csv_path), tmp_path / "table.parquet")  # typed columns: ints, floats, text
    for source, folder in ((csv_path, "from-csv"), (tmp_path / "table.parquet", "from-parquet")):
        assert train.main(["--data", str(source), "--target", "Left", "--output-dir", str(tmp_path / folder)]) == 0
    from_csv, from_parquet = (
        json.loads((tmp_path / f / "churn-model.json").read_text()) for f in ("from-csv", "from-parquet")
    )
    assert from_parquet["weights"] == from_csv["weights"] and from_parquet["schema"] == from_csv["schema"]


def test_the_prediction_log_holds_another_tables_inputs_a_blank_as_null(changed_model, book_customer, tmp_path):
    from churn.core.prediction_log import PredictionLog, open_log  # noqa: PLC0415
    from churn.http.config import Settings  # noqa: PLC0415

    log = PredictionLog(open_log(tmp_path / "predictions.jsonl"), changed_model)
    app = webtest.TestApp(create_app(changed_model, Settings(prediction_log=log, access_log=None)))
    customer = {**_renamed(book_customer), "monthlycharges": None, "Account": "A-1"}
    answer = app.post_json("/predict", customer).json
    log.close()
    [line] = [json.loads(text) for text in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert line["customerid"] == "A-1" and line["churn_probability"] == answer["churn_probability"]
    assert set(line["inputs"]) == set(changed_model.schema.fields) and line["inputs"]["monthlycharges"] is None
