"""The CSV the service writes, opened by a real spreadsheet: LibreOffice Calc (Debian's
libreoffice-calc-nogui), splitting cells on commas and on semicolons (as German or French Excel
does), finds no formula in an HTTP answer (JSON in, explained, streamed; CSV in) nor in predict.py's
output and rejects, whatever ids the customers had."""

import csv
import json
import re
import subprocess
from pathlib import Path

import pytest

from helpers import required_command
from test_scorer import _predict

pytestmark = pytest.mark.slow

# The ids of tests/csv_cells.json that a spreadsheet would run as formulas, were they written bare.
HOSTILE_IDS = [
    case["value"]
    for case in json.loads((Path(__file__).parent / "csv_cells.json").read_text())
    if isinstance(case["value"], str) and case["cell"] != case["value"]
]
SEPARATORS = {"comma": 44, "semicolon": 59}  # LibreOffice's CSV filter takes the separator's code
STREAMED = 1500  # customers: past where an answer is streamed


@pytest.fixture(scope="module")
def soffice():
    return required_command("soffice", "LibreOffice: apt-get install libreoffice-calc-nogui, as .ci/run does")


def _formulas(soffice, files, separator, tmp_path):
    """{file name: the formulas LibreOffice Calc made of its cells} for CSV files opened with `separator`."""
    out = tmp_path / f"opened-{separator}"
    command = [
        soffice, f"-env:UserInstallation=file://{tmp_path}/profile", "--headless",
        f"--infilter=CSV:{SEPARATORS[separator]},34,76,1", "--convert-to", "fods", "--outdir", str(out),
        *map(str, files),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=180)
    opened = {path.stem: path.read_text(encoding="utf-8") for path in out.glob("*.fods")}
    assert sorted(opened) == sorted(Path(file).stem for file in files)  # every file was opened
    return {name: re.findall(r'table:formula="([^"]*)"', text) for name, text in opened.items()}


def _customers(book_customer, count):
    return [dict(book_customer, customerid=HOSTILE_IDS[n % len(HOSTILE_IDS)]) for n in range(count)]


def _csv_file(path, customers):
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(customers[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(customers)
    return path


def test_no_spreadsheet_finds_a_formula_in_what_the_service_writes(soffice, app, model, book_customer, tmp_path):
    customers = _customers(book_customer, len(HOSTILE_IDS))
    answers = {
        "json-in": app.post_json("/predict", customers, headers={"Accept": "text/csv"}),
        "explained": app.post_json("/predict?explain=true", customers, headers={"Accept": "text/csv"}),
        "streamed": app.post_json("/predict", _customers(book_customer, STREAMED), headers={"Accept": "text/csv"}),
        "csv-in": app.post(
            "/predict",
            _csv_file(tmp_path / "in.csv", customers).read_bytes(),
            content_type="text/csv",
            headers={"Accept": "text/csv"},
        ),
    }
    files = []
    for name, answer in answers.items():
        (tmp_path / f"{name}.csv").write_bytes(answer.body)
        files.append(tmp_path / f"{name}.csv")
    source = _csv_file(tmp_path / "customers.csv", [*customers, dict(customers[0], tenure=-1)])
    _predict(model, source, "--output", tmp_path / "predicted.csv", "--skip-invalid")
    files += [tmp_path / "predicted.csv", tmp_path / "predicted.rejects.csv"]
    for separator in SEPARATORS:
        assert _formulas(soffice, files, separator, tmp_path) == {file.stem: [] for file in files}, separator


def test_the_check_sees_a_formula_written_bare(soffice, tmp_path):
    bare = tmp_path / "bare.csv"
    bare.write_text("customerid,churn\nx\r=1+1,true\nx;=5+5,false\n", encoding="utf-8", newline="")
    assert _formulas(soffice, [bare], "comma", tmp_path)["bare"]
    assert _formulas(soffice, [bare], "semicolon", tmp_path)["bare"]
