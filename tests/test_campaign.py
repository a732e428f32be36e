"""Campaigns by budget: the k riskiest customers, the churners expected among them, and what the same
share of the test split reached; in predict.py and, for the page, in GET /model."""

import csv
import io
import json
import math
import re
import subprocess
import sys
from types import SimpleNamespace

import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from churn.batch.campaigns import summary
from churn.core.artifact import ModelError, with_content_hash
from churn.core.campaign import Reach, at_top_fraction, riskiest
from churn.core.model import load_model


def _run(project_dir, *args):
    command = [sys.executable, "predict.py", *map(str, args)]
    return subprocess.run(command, cwd=project_dir, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def all_scores(project_dir, data_path):
    result = _run(project_dir, data_path)
    assert result.returncode == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def _summary(stderr):
    return [line.removeprefix("predict.py: campaign: ") for line in stderr.splitlines() if "campaign:" in line]


def test_a_budget_lists_the_k_riskiest_and_the_churners_expected_among_them(project_dir, data_path, all_scores, model):
    result = _run(project_dir, data_path, "--budget", "500")
    contacted = list(csv.DictReader(io.StringIO(result.stdout)))
    expected = sorted(all_scores, key=lambda row: -float(row["churn_probability"]))[:500]
    assert result.returncode == 0 and contacted == expected
    probabilities = [float(row["churn_probability"]) for row in contacted]
    first, churners, test_split = _summary(result.stderr)
    share = 500 / len(all_scores)
    assert first.startswith(f"contact 500 of {len(all_scores):,} customers ({share:.1%}; budget 500)")
    assert churners == f"churners expected among them: {math.fsum(probabilities):,.1f} (the sum of their probabilities)"
    ranked = model.held_out.churned_by_rank
    top = round(share * len(ranked))
    reached = ranked[:top].count("1")
    assert test_split == (
        f"on the test split, its riskiest {share:.1%} ({top:,} of {len(ranked):,}) reached precision "
        f"{reached / top:.3f} ({reached:,} churners) and recall {reached / ranked.count('1'):.3f} "
        f"(of {ranked.count('1'):,})"
    )


def test_a_cost_and_a_value_contact_whom_it_pays_to_within_the_budget(project_dir, data_path, all_scores):
    worth = [row for row in all_scores if float(row["churn_probability"]) * 40 >= 10]
    result = _run(project_dir, data_path, "--cost", "10", "--value", "40", "--format", "jsonl")
    contacted = [json.loads(line) for line in result.stdout.splitlines()]
    assert {row["customerid"] for row in contacted} == {row["customerid"] for row in worth}
    assert [row["churn_probability"] for row in contacted] == sorted(
        (r["churn_probability"] for r in contacted), reverse=True
    )
    assert any(line.startswith("expected value: ") for line in _summary(result.stderr))
    capped = _run(project_dir, data_path, "--cost", "10", "--value", "40", "--budget", "7")
    assert len(list(csv.DictReader(io.StringIO(capped.stdout)))) == 7


def test_a_campaign_from_parquet_contacts_whom_the_csv_gives(project_dir, data_path, tmp_path, all_scores):
    pq.write_table(pcsv.read_csv(data_path), tmp_path / "customers.parquet")
    result = _run(project_dir, tmp_path / "customers.parquet", "--budget", "20", "--output", tmp_path / "c.parquet")
    assert result.returncode == 0, result.stderr
    ids = pq.read_table(tmp_path / "c.parquet").column("customerid").to_pylist()
    assert ids == [row["customerid"] for row in sorted(all_scores, key=lambda r: -float(r["churn_probability"]))[:20]]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--cost", "10"], "--cost and --value go together"),
        (["--value", "0", "--cost", "1"], "--value: must be a number above 0, not '0'"),
        (["--cost", "nan", "--value", "1"], "--cost: must be a number from 0, not 'nan'"),
        (["--budget", "0"], "--budget: must be a whole number from 1, not '0'"),
    ],
)
def test_campaign_options_that_cannot_be_used_are_named(project_dir, data_path, arguments, message):
    result = _run(project_dir, data_path, *arguments)
    assert result.returncode == 2 and message in result.stderr


def test_a_campaign_needs_customer_ids(project_dir, tmp_path, book_customer):
    anonymous = {key: value for key, value in book_customer.items() if key != "customerid"}
    (tmp_path / "c.jsonl").write_text(json.dumps(anonymous) + "\n" + json.dumps(anonymous) + "\n")
    result = _run(project_dir, tmp_path / "c.jsonl", "--budget", "1")
    assert result.returncode == 2 and "a campaign lists customers by customerid" in result.stderr


def test_the_share_of_the_test_split_is_rounded_to_whole_customers_and_at_least_one():
    assert at_top_fraction("1100100000", 0.3) == Reach(3, 2, 3)
    assert at_top_fraction("1100100000", 0.0001).contacted == 1 and at_top_fraction("10", 0).contacted == 0
    assert at_top_fraction("1100100000", 1.0).recall == 1.0


def test_riskiest_keeps_ties_in_order_and_k_none_means_all():
    results = [("a", 0.5), ("b", 0.9), ("c", 0.5), ("d", 0.1)]
    assert riskiest(results, 3, lambda r: r[1]) == [("b", 0.9), ("a", 0.5), ("c", 0.5)]
    assert riskiest(results, None, lambda r: r[1])[-1] == ("d", 0.1)


def test_the_model_gives_its_test_split_riskiest_first_for_the_page(app, model):
    split = app.get("/model").json["test_split"]
    probabilities, churned = model.metadata["test_split"]["probabilities"], model.metadata["test_split"]["churned"]
    order = sorted(range(len(probabilities)), key=lambda at: -probabilities[at])
    assert split == {
        "customers": len(probabilities),
        "churners": sum(churned),
        "churned_by_rank": "".join(str(churned[at]) for at in order),
    }


@pytest.mark.parametrize(
    "split", [{"probabilities": [0.5], "churned": [2]}, {"probabilities": [0.5, 0.1], "churned": [1]}, [1, 2]]
)
def test_a_malformed_test_split_stops_the_model_loading(split, shipped_artifact, tmp_path):
    document = {key: value for key, value in shipped_artifact.items() if key != "sha256"}
    document["metadata"] = {**document["metadata"], "test_split": split}
    (tmp_path / "m.json").write_text(json.dumps(with_content_hash(document)))
    with pytest.raises(ModelError, match="test_split"):
        load_model(tmp_path / "m.json")


_EXPECTED_VALUE = r"expected value: about (\S+) \((\S+) churners kept x (\S+) - (\S+) discounts x (\S+)\)"


def test_the_expected_value_adds_up_from_the_figures_it_shows(model):
    contacted = [{"customerid": str(n), "churn_probability": p} for n, p in enumerate([0.9, 0.77777, 0.512345] * 1030)]
    args = SimpleNamespace(budget=None, cost=10.0, value=40.0)
    [line] = [line for line in summary(contacted, 7043, model, args) if line.startswith("expected value: ")]
    net, expected, value, discounts, cost = (
        float(number.replace(",", "")) for number in re.fullmatch(_EXPECTED_VALUE, line).groups()
    )
    assert abs(expected * value - discounts * cost - net) <= 0.5 + value * 0.005  # each figure's rounding
    assert expected == round(sum(result["churn_probability"] for result in contacted), 2)
