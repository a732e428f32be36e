"""The examples of the README and docs/ are real: run them against a live server and compare with what
they show.

What the examples print depends on the model in model/. They always must have the shape the
documentation shows; their numbers must be the documentation's when model/ holds the model it was
written from (the README names its version). After a retrain they differ, and only that comparison
is skipped. The data set's path in an example is the one train.py downloads to; here it is the
tests' copy (conftest.py's data_path).
"""

import ast
import csv
import io
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from churn.training.data import DATA_FILE_NAME
from conftest import FETCH_DATA
from helpers import assert_as_shown, documentation_files, documentation_text, skip_or_fail

BOOK_URL = "http://localhost:9696"
DOCUMENTED_DATA = f"data/{DATA_FILE_NAME}"  # where train.py downloads the data set
EXAMPLES_VERSION = re.compile(r"answers of the shipped model, version `([0-9a-f]{12})`")


@pytest.fixture(scope="module")
def readme_text(project_dir):
    """The README and docs/, as one text."""
    return documentation_text(project_dir)


@pytest.fixture(scope="module")
def readme_blocks(readme_text):
    """The fenced code blocks of the README and docs/, in order, as (language, text)."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", readme_text, flags=re.MULTILINE | re.DOTALL)


@pytest.fixture
def readme_describes_model(readme_text, model):
    """Skip a comparison of numbers when model/ is not the model the README's examples came from."""
    [version] = EXAMPLES_VERSION.findall(readme_text)
    if version != model.version:
        skip_or_fail(f"model/ holds version {model.version}, the README's examples are of version {version}")


def _block_after(blocks, language, marker):
    """The block following the first `language` block that contains `marker`."""
    index = next(i for i, (lang, text) in enumerate(blocks) if lang == language and marker in text)
    return blocks[index][1], blocks[index + 1][1]


def _curl_answers(blocks, readme_text, serve):
    """Each README curl command's JSON answer from a live server, with the JSON the README shows."""
    examples = [
        (command.strip(), answer)
        for (lang, command), (next_lang, answer) in itertools.pairwise(blocks)
        if lang == "bash" and command.startswith("curl") and BOOK_URL in command and next_lang == "json"
    ]  # the shipped model's examples (docs/your-data.md asks a model of another table)
    assert len(examples) >= 5
    open_server, locked_server = serve("gunicorn"), serve("gunicorn", env={"CHURN_API_KEY": "change-me"})
    answers = []
    for command, shown in examples:
        server = locked_server if command in _access_section(readme_text) else open_server
        result = subprocess.run(
            command.replace(BOOK_URL, server.url), shell=True, capture_output=True, text=True, check=True
        )
        answers.append((command, json.loads(result.stdout), json.loads(shown)))
    return answers


def _access_section(readme_text):
    """The README's paragraphs on the API key, whose examples are about a service started with it."""
    start = readme_text.index("**Access.**")
    return readme_text[start : readme_text.index("\n## ", start)]


def _shape(document):
    """What a retrain keeps of a JSON document: its objects' keys, its arrays' lengths, which values are
    booleans or null; numbers and strings are all "value" (a factor's value is either, by field)."""
    if isinstance(document, dict):
        return {key: _shape(value) for key, value in document.items()}
    if isinstance(document, list):
        return [_shape(item) for item in document]
    return "boolean" if isinstance(document, bool) else "null" if document is None else "value"


needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


@needs_curl
def test_readme_curl_examples_answer_in_the_shape_the_readme_shows(readme_blocks, readme_text, serve):
    for command, answer, shown in _curl_answers(readme_blocks, readme_text, serve):
        assert _shape(answer) == _shape(shown), command


@needs_curl
def test_readme_curl_examples_answer_what_the_readme_shows(readme_blocks, readme_text, serve, readme_describes_model):
    for command, answer, shown in _curl_answers(readme_blocks, readme_text, serve):
        assert_as_shown(answer, shown, command)


def _csv_example(readme_blocks, serve, project_dir, data_path):
    """What the documented CSV upload prints against a live server, and what the documentation shows."""
    command, shown = _block_after(readme_blocks, "bash", "-H 'Content-Type: text/csv'")
    assert f"@{DOCUMENTED_DATA}" in command
    server = serve("gunicorn")
    command = command.replace(BOOK_URL, server.url).replace(f"@{DOCUMENTED_DATA}", f"@{data_path}")
    result = subprocess.run(command, shell=True, cwd=project_dir, capture_output=True, text=True, check=True)
    return list(csv.reader(io.StringIO(result.stdout))), list(csv.reader(io.StringIO(shown)))


def test_readme_csv_upload_answers_csv_in_the_shape_the_readme_shows(readme_blocks, serve, project_dir, data_path):
    printed, shown = _csv_example(readme_blocks, serve, project_dir, data_path)
    assert printed[0] == shown[0] and len(printed) == len(shown)
    assert [row[0] for row in printed] == [row[0] for row in shown]


def test_readme_csv_upload_answers_what_the_readme_shows(
    readme_blocks, serve, project_dir, data_path, readme_describes_model
):
    printed, shown = _csv_example(readme_blocks, serve, project_dir, data_path)
    for row, shown_row in zip(printed[1:], shown[1:], strict=True):
        assert_as_shown([row[0], float(row[1]), row[2]], [shown_row[0], float(shown_row[1]), shown_row[2]], row[0])


def _python_example(readme_blocks, serve):
    """What the README's Python client prints against a live server, and what the README shows."""
    code, shown = _block_after(readme_blocks, "python", "requests.post")
    server = serve("waitress")
    result = subprocess.run(
        [sys.executable, "-c", code.replace(BOOK_URL, server.url)], capture_output=True, text=True, check=True
    )
    return result.stdout.splitlines(), shown.splitlines()


def _v2_client_example(readme_blocks, serve):
    """What the README's tritonclient example prints against a live server, and what the README shows."""
    code, shown = _block_after(readme_blocks, "python", "tritonclient")
    server = serve("gunicorn")
    code = code.replace('url="localhost:9696"', f'url="127.0.0.1:{server.port}"')
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return result.stdout, shown


def test_readme_v2_client_example_prints_the_probability_and_decision(readme_blocks, serve, model, book_probability):
    printed, _ = _v2_client_example(readme_blocks, serve)
    probability, decision = re.fullmatch(r"\[(\S+)\] \[(True|False)\]\n", printed).groups()
    assert abs(float(probability) - book_probability) < 1e-8  # numpy prints 8 digits
    assert decision == str(book_probability >= model.threshold)


def test_readme_v2_client_example_prints_what_the_readme_shows(readme_blocks, serve, readme_describes_model):
    printed, shown = _v2_client_example(readme_blocks, serve)
    assert printed == shown


def test_readme_python_example_prints_a_result_and_the_decision(readme_blocks, serve):
    (result, decision), _ = _python_example(readme_blocks, serve)
    result = ast.literal_eval(result)
    assert list(result) == ["customerid", "churn_probability", "churn"]
    assert decision == f"{'sending' if result['churn'] else 'not sending'} promo email to {result['customerid']}"


def test_readme_python_example_prints_what_the_readme_shows(readme_blocks, serve, readme_describes_model):
    (result, decision), (shown_result, shown_decision) = _python_example(readme_blocks, serve)
    assert_as_shown(ast.literal_eval(result), ast.literal_eval(shown_result), "the Python client")
    assert decision == shown_decision


def test_readme_test_command_is_what_ci_runs(readme_blocks, project_dir):
    test_command = next(text.strip() for lang, text in readme_blocks if lang == "bash" and "pytest" in text)
    assert test_command in (project_dir / ".ci" / "run").read_text()


def test_ci_runs_the_readme_test_command_in_a_clone_with_nothing_beside_it(readme_blocks, project_dir):
    check = (project_dir / ".ci" / "public-clone-check").read_text()
    pattern = re.search(r"grep -m1 -E '(.*?)' README\.md", check).group(1)
    test_command = next(text.strip() for lang, text in readme_blocks if lang == "bash" and "pytest" in text)
    assert [line for line in (project_dir / "README.md").read_text().splitlines() if re.search(pattern, line)] == [
        test_command
    ]
    assert "bash .ci/public-clone-check\n" in (project_dir / ".ci" / "run").read_text()


def test_readme_fetches_the_data_set_as_the_skipped_tests_say(readme_blocks):
    assert ("bash", FETCH_DATA + "\n") in readme_blocks


def _tests_using_the_data(project_dir, *options):
    """How many tests pytest would run with `options` that take the data set (the data_path fixture),
    as a developer runs it (CI=true would add the slow ones)."""
    env = {name: value for name, value in os.environ.items() if name != "CI"}
    listing = subprocess.run(
        [sys.executable, "-m", "pytest", "--fixtures-per-test", "-q", *options, "tests"],
        cwd=project_dir, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return len(re.findall(r"^data_path -- ", listing.stdout, re.M))


@pytest.mark.slow
def test_readme_says_how_many_tests_need_the_data_set(readme_text, project_dir):
    in_all, quick = map(int, re.search(r"(\d+) tests \((\d+) of the quick ones\) need", readme_text).groups())
    assert (in_all, quick) == (_tests_using_the_data(project_dir, "--slow"), _tests_using_the_data(project_dir))


def _run_example(readme_blocks, marker, project_dir, data_path=None):
    """Run the documented command containing `marker` (the data set and interpreter this run's); return
    (what it printed, what the documentation shows)."""
    command, shown = _block_after(readme_blocks, "bash", marker)
    arguments = [str(data_path) if arg == DOCUMENTED_DATA else arg for arg in command.split()[1:]]
    env = {**os.environ, "CHURN_DATA": str(data_path)} if data_path else None  # where train.py looks first
    result = subprocess.run(
        [sys.executable, *arguments], cwd=project_dir, env=env, capture_output=True, text=True, check=True
    )
    return result.stdout, shown


def _prediction_and_verdict(text):
    return re.fullmatch(r"prediction: (0\.\d{3})\nverdict: (Churn|Not churn)\n", text).groups()


def test_readme_offline_scoring_example_prints_like_the_books_script(readme_blocks, project_dir, model):
    printed, shown = _run_example(readme_blocks, "predict.py examples/customer.json", project_dir)
    probability, verdict = _prediction_and_verdict(printed)
    assert _prediction_and_verdict(shown)
    assert verdict == ("Churn" if float(probability) >= model.threshold else "Not churn")


def test_readme_offline_scoring_example_shows_the_models_probability(
    readme_blocks, project_dir, book_probability, readme_describes_model
):
    _, shown = _block_after(readme_blocks, "bash", "predict.py examples/customer.json")
    probability, _ = _prediction_and_verdict(shown)
    assert abs(float(probability) - book_probability) <= 0.0005 + 1e-12  # three decimals, rounded


def _scored_file(readme_blocks, project_dir, data_path, tmp_path):
    """The rows predict.py writes for the README's file-scoring command, and the rows the README shows."""
    index = next(i for i, (lang, text) in enumerate(readme_blocks) if lang == "bash" and "--output scores.csv" in text)
    command, shown = readme_blocks[index][1], readme_blocks[index + 2][1]
    output = tmp_path / "scores.csv"
    replaced = {"scores.csv": str(output)}
    replaced[DOCUMENTED_DATA] = str(data_path)
    arguments = [replaced.get(arg, arg) for arg in command.split()[1:]]
    subprocess.run([sys.executable, *arguments], cwd=project_dir, capture_output=True, check=True)
    shown_rows = list(csv.reader(io.StringIO(shown)))
    with open(output, newline="") as file:
        return list(itertools.islice(csv.reader(file), len(shown_rows))), shown_rows


def test_readme_scored_file_example_has_the_columns_the_readme_shows(readme_blocks, project_dir, data_path, tmp_path):
    written, shown = _scored_file(readme_blocks, project_dir, data_path, tmp_path)
    assert written[0] == shown[0] == ["customerid", "churn_probability", "churn", "explanation"]
    assert [row[0] for row in written] == [row[0] for row in shown]


def test_readme_scored_file_example_starts_as_the_readme_shows(
    readme_blocks, project_dir, data_path, tmp_path, readme_describes_model
):
    written, shown = _scored_file(readme_blocks, project_dir, data_path, tmp_path)
    for row, shown_row in zip(written[1:], shown[1:], strict=True):
        as_numbers = [[*line[:1], float(line[1]), *line[2:]] for line in (row, shown_row)]
        assert_as_shown(*as_numbers, row[0])


@pytest.mark.slow
def test_readme_cross_validation_example_is_what_train_prints(readme_blocks, project_dir, data_path):
    printed, shown = _run_example(readme_blocks, "train.py --cv", project_dir, data_path)
    pattern = r"C=(\S+) +AUC (0\.\d{3}) ± (0\.\d{3})"
    printed_rows, shown_rows = (re.findall(pattern, text) for text in (printed, shown))
    assert len(printed_rows) == len(printed.splitlines()) and [row[0] for row in printed_rows] == [
        row[0] for row in shown_rows
    ]
    for printed_row, shown_row in zip(printed_rows, shown_rows, strict=True):
        for printed_number, shown_number in zip(printed_row[1:], shown_row[1:], strict=True):
            # Three decimals: equal up to the rounding of the last one, whatever side of it a CPU lands on.
            assert abs(float(printed_number) - float(shown_number)) <= 0.001 + 1e-9, (printed_row, shown_row)


README_MAX_BYTES = 12 * 1024
# Options whose value is a file or folder the command writes, not one it reads.
_OUTPUT_OPTIONS = ("--output", "--output-dir", "--report", "--prediction-log", "--log")
_PATH = re.compile(r"@?([\w.-]*/[\w./-]*|[\w.-]+\.(?:py|txt|in|json|csv|yaml))")


def test_readme_is_short_enough_to_read_in_five_minutes(project_dir):
    assert (project_dir / "README.md").stat().st_size <= README_MAX_BYTES


def _documented_commands(project_dir):
    """Each shell command line of the README and docs/, split as the shell splits it."""
    blocks = re.findall(r"^```(?:bash|powershell)\n(.*?)^```$", documentation_text(project_dir), re.M | re.S)
    return [shlex.split(line.replace("\\", "/")) for block in blocks for line in block.splitlines() if line.strip()]


def _paths_read_and_written(words):
    """The project paths a command names: (those it reads, those it writes)."""
    read, written = [], []
    for before, word in itertools.pairwise(["", *words]):
        match = _PATH.fullmatch(word)
        if match and "://" not in word:
            (written if before in _OUTPUT_OPTIONS else read).append(match.group(1))
    return read, written


def test_documented_commands_name_only_files_a_clone_has(project_dir):
    commands = _documented_commands(project_dir)
    written = tuple(path.rstrip("/") for words in commands for path in _paths_read_and_written(words)[1])
    for words in commands:
        read, _ = _paths_read_and_written(words)
        for path in read:
            # data/ holds the data set train.py fetches, and the tables users put there (docs/your-data.md)
            made_by_the_commands = path in written or path.startswith((".venv/", "deployment/", "data/"))
            made_by_the_commands = made_by_the_commands or path.startswith(tuple(f"{w}/" for w in written))
            assert made_by_the_commands or (project_dir / path).exists(), f"{' '.join(words)}: no {path} in a clone"


def test_git_ignores_what_documented_commands_write(project_dir):
    if not (project_dir / ".git").exists():
        pytest.skip("not a git checkout")
    written = [path for words in _documented_commands(project_dir) for path in _paths_read_and_written(words)[1]]
    written += [".venv/", DOCUMENTED_DATA]
    assert written and all(
        subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=project_dir).returncode == 0
        for path in written
    ), written


def test_paths_read_and_written_tell_outputs_from_inputs():
    words = shlex.split("python predict.py data/x.csv --explain --output scores.csv --model model/m.json")
    assert _paths_read_and_written(words) == (["predict.py", "data/x.csv", "model/m.json"], ["scores.csv"])


def _links(path):
    return re.findall(r"\]\(([^)\s]+)\)", path.read_text())


def _anchors(path):
    """The anchors GitHub makes for a Markdown file's headings."""
    headings = re.findall(r"^#+ (.*)$", path.read_text(), re.M)
    return {re.sub(r"[^\w -]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_every_link_between_the_documents_reaches_a_file_and_heading_that_exist(project_dir):
    for document in documentation_files(project_dir):
        for link in _links(document):
            if re.match(r"[a-z]+:", link):
                continue
            target, _, anchor = link.partition("#")
            target = (document.parent / target).resolve() if target else document
            assert target.exists(), f"{document.name}: {link}"
            assert not anchor or anchor in _anchors(target), f"{document.name}: {link}"


def test_the_readmes_training_command_is_the_retraining_command_the_tests_run(project_dir):
    readme = (project_dir / "README.md").read_text()
    blocks = re.findall(r"^```bash\n(.*?)^```$", readme, re.M | re.S)
    [command] = [block for block in blocks if "train.py" in block and "--download" not in block]
    retraining = (project_dir / "docs" / "model.md").read_text().split("## Retraining", 1)[1]
    assert command == re.findall(r"^```bash\n(.*?)^```$", retraining, re.M | re.S)[0]
