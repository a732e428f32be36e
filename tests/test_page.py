"""The page for people, in a real browser (Debian's Chromium, driven by Playwright) against a live server.

Screenshots of each run go to screenshots/ (git-ignored), 1280, 390 and 375 px wide, for a person to look
at; docs/ holds a copy of the 1280 and 390 px ones of the shipped model.
"""

import csv
import io
import json
import os
import random
from pathlib import Path

import pytest

from helpers import skip_or_fail, write_csv

pytestmark = pytest.mark.slow
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
PHONE_WIDTH = 375
# Headless, and quiet: these keep Chromium from calling Google's services, which are not the page's.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-default-apps",
]  # fmt: skip
API_KEY = "page-test-key"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        skip_or_fail(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Visit:
    """One browser tab on a server's page, recording console errors and every URL it requests."""

    def __init__(self, browser, server, width=1280):
        self.server = server
        self.context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
        self.page = self.context.new_page()
        self.errors, self.requests = [], []
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.goto(server.url + "/")

    def ready(self):
        """Wait until the page has read the model and built its form."""
        self.page.wait_for_selector("#customer-section:not([hidden])")
        return self

    def score_file(self, path):
        """Choose the file `path` and wait until its customers' scores are shown."""
        self.page.set_input_files("#file", str(path))
        self.page.wait_for_selector("#file-result:not([hidden])")

    def screenshot(self, name):
        SCREENSHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser):
    """visit(server, width) opens the server's page in a new tab; all close after the test."""
    visits = []

    def open_page(server, width=1280):
        visits.append(Visit(browser, server, width))
        return visits[-1]

    yield open_page
    for opened in visits:
        opened.close()


def _percent(probability):
    return f"{probability * 100:.1f} %"  # as the page shows a probability


@pytest.fixture(scope="module")
def hundred_rows(data_path, tmp_path_factory):
    """The raw Telco CSV's header and first 100 customers, as a file (never committed)."""
    path = tmp_path_factory.mktemp("upload") / "hundred.csv"
    with open(data_path, newline="") as source:
        path.write_text("".join(line for _, line in zip(range(101), source, strict=False)))
    return path


def test_the_page_loads_with_no_console_error_and_no_request_leaving_its_origin(serve, visit, model):
    server = serve("gunicorn")
    tab = visit(server).ready()
    tab.page.wait_for_load_state("networkidle")
    assert tab.errors == []
    assert tab.requests and all(url.startswith(server.url + "/") for url in tab.requests), tab.requests
    summary = tab.page.text_content("#model-summary")
    assert model.version in summary and f"{model.metadata['test_auc']:.3f}" in summary
    assert tab.page.is_visible("#card-link")
    assert tab.page.get_attribute("#card-link", "href") == "model/card/MODEL_CARD.html"


def test_scoring_the_book_customer_shows_the_apis_probability_and_why(serve, visit, model, book_customer):
    server = serve("gunicorn")
    tab = visit(server).ready()
    tab.page.click("#score-customer")
    tab.page.wait_for_selector("#result:not([hidden])")
    status, answer = server.post_json("/predict?explain=true&top=all", book_customer)
    assert status == 200
    assert tab.page.text_content("#probability") == _percent(answer["churn_probability"])
    decision = tab.page.text_content("#decision")
    assert decision.startswith("churn:" if answer["churn"] else "not churn:") and _percent(model.threshold) in decision
    factors = tab.page.locator("#factors li")
    assert factors.count() == len(model.schema.fields)
    for shown, factor in zip(factors.all(), answer["explanation"]["factors"], strict=True):
        value = (
            _value_label(model, factor["field"], factor["value"])
            if factor["field"] in model.schema.categorical
            else str(factor["value"])
        )
        assert (
            shown.locator(".factor-label").text_content().startswith(f"{_field_label(model, factor['field'])}: {value}")
        )
        assert shown.locator(f".bar.{'lowers' if factor['contribution'] < 0 else 'raises'}").count() == 1
        assert f"{abs(factor['contribution']):.2f}" in shown.text_content()
    tab.screenshot("one-customer-desktop")
    assert tab.errors == []


def test_an_invalid_value_shows_the_fields_message_next_to_it_and_a_summary_above_the_fields(
    serve, visit, book_customer, model
):
    server = serve("gunicorn")
    tab = visit(server).ready()
    tab.page.fill("#field-tenure", "-5")
    tab.page.click("#score-customer")
    tab.page.wait_for_selector("#error-tenure:not(:empty)")
    status, answer = server.post_json("/predict", {**book_customer, "tenure": -5})
    [problem] = answer["errors"]
    assert status == 422
    assert tab.page.text_content("#error-tenure") == problem["message"]
    assert tab.page.get_attribute("#field-tenure", "aria-invalid") == "true"
    assert tab.page.is_hidden("#result")
    assert tab.page.text_content("#form-message") == f"One field needs a change: {_field_label(model, 'tenure')}."
    summary, fields = (tab.page.locator(selector).bounding_box() for selector in ("#form-message", "#fields"))
    assert summary["y"] + summary["height"] <= fields["y"]  # read before the fields, not after them


def test_fields_and_values_read_as_people_write_them_from_the_served_models_table(serve, visit, model):
    server = serve("gunicorn")
    tab = visit(server).ready()
    for field in model.schema.fields:
        assert tab.page.text_content(f"label[for=field-{field}]") == _field_label(model, field)
    for field in model.schema.categorical:
        shown = tab.page.locator(f"#field-{field} option").all_text_contents()
        assert shown == list(model.schema.rule(field).value_labels)
    assert "1,000,000,000" not in tab.page.text_content("#fields")


def test_a_model_of_another_table_shows_a_form_of_its_fields_labelled_from_its_columns(serve, visit, credit_card_model):
    server = serve("gunicorn", env={"MODEL_PATH": str(credit_card_model / "churn-model.json")})
    tab = visit(server).ready()
    assert tab.page.text_content("label[for=field-months_on_book]") == "Months on book"
    assert tab.page.text_content("label[for=field-customer_age]") == "Customer age"
    assert "$60K - $80K" in tab.page.locator("#field-income_category option").all_text_contents()
    assert tab.page.is_hidden("#field-tenure") and tab.page.locator("#field-tenure").count() == 0
    tab.page.click("#score-customer")
    tab.page.wait_for_selector("#result:not([hidden])")
    example = json.loads(server.get("/openapi.json")[1])["components"]["schemas"]["Customer"]["example"]
    status, answer = server.post_json("/predict", example)
    assert status == 200 and tab.page.text_content("#probability") == _percent(answer["churn_probability"])
    assert tab.errors == []


def test_a_model_that_cannot_explain_still_scores_on_the_page_and_says_why_there_is_no_explanation(
    serve, visit, project_dir, book_customer
):
    server = serve("gunicorn", env={"MODEL_PATH": str(project_dir / "model" / "churn-model.bin")})
    tab = visit(server).ready()
    tab.page.click("#score-customer")
    tab.page.wait_for_selector("#result:not([hidden])")
    # A pickle names no example customer: the form starts from one made of the schema's rules.
    example = json.loads(server.get("/openapi.json")[1])["components"]["schemas"]["Customer"]["example"]
    status, answer = server.post_json("/predict", example)
    assert status == 200 and tab.page.text_content("#probability") == _percent(answer["churn_probability"])
    assert tab.page.is_hidden("#why") and "cannot say why" in tab.page.text_content("#no-explanation")
    assert tab.errors == []


def test_uploading_a_100_row_csv_shows_100_rows_the_histogram_and_the_count_flagged(serve, visit, hundred_rows, model):
    server = serve("gunicorn")
    tab = visit(server).ready()
    tab.score_file(hundred_rows)
    status, body = server.post("/predict", hundred_rows.read_bytes(), "text/csv")
    answers = json.loads(body)
    assert status == 200
    flagged = sum(answer["churn_probability"] >= model.threshold for answer in answers)
    assert tab.page.locator("#scores tbody tr").count() == 100
    assert tab.page.text_content("#flagged").startswith(f"{flagged} of 100 customers flagged as churn")
    first = tab.page.locator("#scores tbody tr").first.locator("td").all_text_contents()
    assert first == [
        answers[0]["customerid"],
        _percent(answers[0]["churn_probability"]),
        "yes" if answers[0]["churn"] else "no",
    ]
    assert tab.page.locator("#histogram rect.bin").count() == 20
    assert tab.page.locator("#histogram line.threshold").count() == 1
    histogram, figure = (tab.page.locator(selector).bounding_box() for selector in ("#histogram", "figure.histogram"))
    assert histogram["width"] >= 0.95 * figure["width"]  # it uses its width
    ticks = [int(text.replace(",", "")) for text in tab.page.locator("#histogram text.y-tick").all_text_contents()]
    bins = [0] * 20
    for answer in answers:
        bins[min(19, int(answer["churn_probability"] * 20))] += 1
    step = ticks[1] - ticks[0]
    assert ticks == list(range(0, ticks[-1] + 1, step)) and ticks[-1] - step < max(bins) <= ticks[-1]  # a y axis
    tab.screenshot("file-desktop")
    assert tab.errors == []


def test_the_scored_csv_downloads_as_the_api_writes_it(serve, visit, hundred_rows):
    server = serve("gunicorn")
    tab = visit(server).ready()
    tab.score_file(hundred_rows)
    with tab.page.expect_download() as download:
        tab.page.click("#download")
    assert download.value.suggested_filename == "hundred-scores.csv"
    downloaded = Path(download.value.path()).read_bytes()
    assert downloaded == server.post("/predict", hundred_rows.read_bytes(), "text/csv", accept="text/csv")[1]
    assert len(list(csv.reader(io.StringIO(downloaded.decode())))) == 101


def test_a_file_with_a_bad_row_shows_its_line_and_what_is_wrong(serve, visit, hundred_rows, tmp_path):
    server = serve("gunicorn")
    tab = visit(server).ready()
    lines = hundred_rows.read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace("Month-to-month", "Weekly")
    bad = tmp_path / "bad.csv"
    bad.write_text("".join(lines))
    tab.page.set_input_files("#file", str(bad))
    tab.page.wait_for_selector("#file-message:has-text('line 4')")
    assert "bad.csv: line 4: contract: unknown value" in tab.page.text_content("#file-message")
    assert tab.page.is_hidden("#file-result")


def test_with_an_api_key_the_page_asks_for_it_and_works_once_it_is_given(serve, visit, book_customer):
    server = serve("gunicorn", env={"CHURN_API_KEY": API_KEY})
    tab = visit(server)
    tab.page.wait_for_selector("#key-section:not([hidden])")
    assert tab.page.is_hidden("#customer-section") and "needs an API key" in tab.page.text_content("#model-summary")
    tab.page.fill("#api-key", "wrong")
    tab.page.click("text=Use this key")
    tab.page.wait_for_selector("#key-message:has-text('not accepted')")
    tab.page.fill("#api-key", API_KEY)
    tab.page.click("text=Use this key")
    tab.ready()
    tab.page.click("#score-customer")
    tab.page.wait_for_selector("#result:not([hidden])")
    assert tab.page.evaluate("sessionStorage.getItem('churn-api-key')") == API_KEY
    assert tab.page.evaluate("localStorage.length") == 0  # never kept beyond the tab
    assert visit(server).page.wait_for_selector("#key-section:not([hidden])")  # a new tab asks again


def test_a_fields_message_goes_away_once_the_field_is_edited(serve, visit):
    tab = visit(serve("gunicorn")).ready()
    tab.page.fill("#field-tenure", "-5")
    tab.page.click("#score-customer")
    tab.page.wait_for_selector("#error-tenure:not(:empty)")
    tab.page.fill("#field-tenure", "5")
    assert tab.page.text_content("#error-tenure") == ""
    assert tab.page.get_attribute("#field-tenure", "aria-invalid") is None
    assert tab.page.text_content("#form-message") == ""


def test_an_empty_number_field_asks_for_a_number_without_asking_the_service(serve, visit, model):
    tab = visit(serve("gunicorn")).ready()
    tab.page.fill("#field-monthlycharges", "")
    asked = len(tab.requests)
    tab.page.click("#score-customer")
    tab.page.wait_for_selector("#error-monthlycharges:not(:empty)")
    assert tab.page.text_content("#error-monthlycharges") == "enter a number"
    assert (
        tab.page.text_content("#form-message") == f"One field needs a change: {_field_label(model, 'monthlycharges')}."
    )
    assert tab.requests[asked:] == []


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("customers.xlsx", b"PK\x03\x04" + bytes(range(256)) * 8, "is a zip archive, as an Excel .xlsx"),
        (
            "customers.csv",
            "customerid,gender\ncafé,female\n".encode("cp1252"),
            "is not UTF-8 text (byte 0xE9 at line 2)",
        ),
    ],
)
def test_a_spreadsheet_or_another_encoding_is_named_as_such(serve, visit, tmp_path, name, content, said):
    tab = visit(serve("gunicorn")).ready()
    path = tmp_path / name
    path.write_bytes(content)
    tab.page.set_input_files("#file", str(path))
    tab.page.wait_for_selector("#file-message:not(.ok)")
    message = tab.page.text_content("#file-message")
    assert message.startswith(f"{name}: the body {said}") and message.endswith(
        'save it as "CSV UTF-8" (in Excel: File > Save As)'
    )


# The monitoring section's labels that do not show whole: cut by their box, or overlapping the next
# label of the same chart.
_DRIFT_LABELS_NOT_READABLE = """
[...document.querySelectorAll("#drift li")].flatMap((item) => {
  const labels = [...item.querySelectorAll(".drift-bin-label, .drift-edge-label")].filter((label) => label.textContent);
  const cut = labels.filter(
    (label) => label.scrollWidth > label.clientWidth + 1 || label.scrollHeight > label.clientHeight + 1);
  const boxes = labels.map((label) => label.getBoundingClientRect());
  const overlapping = labels.filter((label, index) => index > 0 && boxes[index].left < boxes[index - 1].right);
  const outside = labels.filter((label, index) => boxes[index].right > item.getBoundingClientRect().right + 1);
  const title = item.querySelector(".drift-title").textContent;
  return [...cut, ...overlapping, ...outside].map((label) => `${title}: ${label.textContent}`);
})
"""


@pytest.mark.parametrize("width", [1280, 390])
def test_the_monitoring_sections_labels_are_whole_and_numbers_read_as_ranges(
    serve, visit, made_up_customers, width, model
):
    tab = visit(serve("gunicorn"), width=width).ready()
    tab.score_file(made_up_customers)
    tab.page.click("#refresh-monitoring")
    tab.page.wait_for_selector("#drift li >> nth=0")
    assert tab.page.evaluate(_DRIFT_LABELS_NOT_READABLE) == []
    tenure = tab.page.locator("#drift li", has_text=_field_label(model, "tenure"))
    titles = [bin.get_attribute("title") for bin in tenure.locator(".drift-bin").all()]
    assert titles[0].startswith("up to ") and titles[-1].startswith("more than ")
    assert all(title.startswith("more than ") and ", up to " in title for title in titles[1:-1])
    assert "…" not in tab.page.text_content("#drift")
    assert tab.errors == []


@pytest.fixture(scope="module")
def made_up_customers(model, tmp_path_factory):
    """100 customers made up from the model's allowed values: what the screenshots in docs/ show (they
    may not show the data set's customers)."""
    chosen = random.Random(0)
    riskiest = {term.field: max(term.weights, key=term.weights.get) for term in model.terms if term.categorical}
    rows = []
    for number in range(100):
        risk = chosen.random()  # how many of a customer's fields take their riskiest value
        customer = {
            field: riskiest[field] if chosen.random() < risk else chosen.choice(values)
            for field, values in model.schema.categorical.items()
        }
        tenure, monthly = chosen.randint(0, 72), round(chosen.uniform(18, 120), 2)
        rows.append({"customerid": f"demo-{number:03}", **customer, "tenure": tenure, "monthlycharges": monthly,
                     "totalcharges": round(tenure * monthly, 2)})  # fmt: skip
    return write_csv(tmp_path_factory.mktemp("made-up") / "customers.csv", rows)


# The selects too narrow for one of their values: each value's text measured in the select's font,
# against the select's room for text (its width less its padding and its arrow).
_SELECTS_CUTTING_A_VALUE = """
[...document.querySelectorAll("#fields select")].filter((select) => {
  const style = getComputedStyle(select);
  const probe = Object.assign(document.createElement("span"), { style: `font: ${style.font}; white-space: pre` });
  document.body.append(probe);
  const widest = Math.max(...[...select.options].map((option) => {
    probe.textContent = option.text;
    return probe.getBoundingClientRect().width;
  }));
  probe.remove();
  const arrow = 20;
  return widest > select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - arrow;
}).map((select) => select.id)
"""


@pytest.mark.parametrize("width", [1280, 390, PHONE_WIDTH])
def test_the_page_with_a_customer_and_a_file_scored_fits_its_width(serve, visit, made_up_customers, width):
    server = serve("gunicorn")
    tab = visit(server, width=width).ready()
    tab.page.click("#score-customer")
    tab.page.wait_for_selector("#result:not([hidden])")
    tab.score_file(made_up_customers)
    tab.page.wait_for_selector("#card:not([hidden])")
    assert tab.page.evaluate("document.documentElement.scrollWidth") <= width
    assert tab.page.evaluate(_SELECTS_CUTTING_A_VALUE) == []
    tab.screenshot(f"page-{width}px")  # docs/ holds copies of the 1280 and 390 px ones
    assert tab.errors == []


def test_every_control_has_a_label_and_the_keyboard_alone_scores_a_customer(serve, visit):
    server = serve("gunicorn")
    tab = visit(server).ready()
    unlabelled = tab.page.evaluate(
        "[...document.querySelectorAll('input, select, textarea')]"
        ".filter((control) => !control.labels.length).map((control) => control.id)"
    )
    assert unlabelled == []
    for _ in range(60):  # from the top of the page, Tab until the button, then Enter
        tab.page.keyboard.press("Tab")
        if tab.page.evaluate("document.activeElement.id") == "score-customer":
            break
    tab.page.keyboard.press("Enter")
    tab.page.wait_for_selector("#result:not([hidden])")
    assert tab.page.evaluate("document.activeElement.id") == "result-title"  # focus follows the answer


def test_the_model_card_and_its_charts_open_from_the_page_as_a_page(serve, visit, model):
    server = serve("gunicorn")
    tab = visit(server).ready()
    tab.page.wait_for_selector("#card:not([hidden])")
    # the page sets the charts' addresses as it shows the card; a busy machine may still be loading them
    tab.page.wait_for_function("[...document.querySelectorAll('.charts img')].every((image) => image.complete)")
    widths = tab.page.evaluate("[...document.querySelectorAll('.charts img')].map((image) => image.naturalWidth)")
    assert len(widths) == 3 and all(width > 0 for width in widths)  # each chart loaded and drew
    tab.page.click("#card-link")
    tab.page.wait_for_url("**/model/card/MODEL_CARD.html")
    tab.page.wait_for_load_state("networkidle")
    assert model.version in tab.page.text_content("h1") and model.sha256 in tab.page.text_content("main")
    assert tab.page.locator("main table").count() >= 2
    widths = tab.page.evaluate("[...document.querySelectorAll('main img')].map((image) => image.naturalWidth)")
    assert len(widths) == 3 and all(width > 0 for width in widths)
    assert tab.page.evaluate("getComputedStyle(document.body).fontFamily").startswith("system-ui")  # the page's style
    assert tab.errors == []


def test_the_inputs_are_shown_against_the_training_data_worst_first(serve, visit, made_up_customers, model):
    server = serve("gunicorn")
    tab = visit(server).ready()
    tab.score_file(made_up_customers)
    tab.page.click("#refresh-monitoring")
    tab.page.wait_for_selector("#drift li >> nth=0")
    status, body = server.get("/model/monitoring")
    watched = json.loads(body)
    assert status == 200 and watched["reference"] is True
    titles = tab.page.locator("#drift .drift-title").all_text_contents()
    assert len(titles) == len(model.schema.fields) + 1 and titles[0].startswith("Churn probability")
    worst = watched["features"][0]
    assert titles[1].startswith(_field_label(model, worst["feature"]))
    assert tab.page.locator("#drift li").nth(1).locator(".drift-bin").count() == len(worst["bins"])
    assert tab.errors == []


def test_a_model_without_a_reference_says_how_to_get_one(serve, visit, project_dir):
    server = serve("gunicorn", env={"MODEL_PATH": str(project_dir / "model" / "churn-model.bin")})
    tab = visit(server).ready()
    tab.page.wait_for_selector("#monitoring-section:not([hidden])")
    assert "retrain it with train.py" in tab.page.text_content("#monitoring-summary")


def test_a_campaign_by_budget_beside_the_histogram_says_whom_to_contact_and_what_the_test_split_reached(
    serve, visit, hundred_rows, model
):
    server = serve("gunicorn")
    tab = visit(server).ready()
    tab.score_file(hundred_rows)
    answers = json.loads(server.post("/predict", hundred_rows.read_bytes(), "text/csv")[1])
    ranked = sorted(answers, key=lambda answer: -answer["churn_probability"])
    flagged = sum(answer["churn"] for answer in answers)
    assert tab.page.input_value("#budget") == tab.page.input_value("#budget-slider") == str(flagged)
    tab.page.fill("#budget", "25")
    expected = sum(answer["churn_probability"] for answer in ranked[:25])
    summary = tab.page.text_content("#campaign-summary")
    assert summary.startswith("Contact the 25 riskiest of 100 customers (25.0 %)")
    assert f"{expected:.1f} churners expected among them" in summary
    split = json.loads(server.get("/model")[1])["test_split"]
    top = round(0.25 * split["customers"])
    churners = split["churned_by_rank"][:top].count("1")
    assert tab.page.text_content("#campaign-test-split") == (
        f"On the test split, the riskiest {top:,} of {split['customers']:,} reached precision {churners / top:.3f} "
        f"({churners} churned) and recall {churners / split['churners']:.3f} (of {split['churners']} churners)."
    )
    assert tab.page.input_value("#budget-slider") == "25"
    with tab.page.expect_download() as download:
        tab.page.click("#download-campaign")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [row["customerid"] for row in rows] == [answer["customerid"] for answer in ranked[:25]]
    assert [float(row["churn_probability"]) for row in rows] == [answer["churn_probability"] for answer in ranked[:25]]
    tab.page.fill("#budget", "1000")  # more than the file: all of it
    assert tab.page.input_value("#budget") == "100"
    assert tab.errors == []


def test_the_pages_csv_cells_follow_the_apis_rule_on_the_same_cases(serve, visit):
    cases = json.loads((Path(__file__).parent / "csv_cells.json").read_text())
    tab = visit(serve("gunicorn")).ready()
    written = tab.page.evaluate(
        "async (values) => values.map((await import('./static/app.js')).csvCell)",
        [case["value"] for case in cases],
    )
    assert written == [case["cell"] for case in cases]
    assert tab.errors == []


def _field_label(model, field):
    return model.schema.rule(field).label


def _value_label(model, field, value):
    rule = model.schema.rule(field)
    return dict(zip(rule.values, rule.value_labels, strict=True))[value]
