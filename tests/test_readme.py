"""The README's examples are real: run them against a live server and compare with what it shows."""

import itertools
import json
import re
import shutil
import subprocess
import sys

import pytest

BOOK_URL = "http://localhost:9696"


@pytest.fixture(scope="module")
def readme_blocks(project_dir):
    """The README's fenced code blocks, in order, as (language, text)."""
    text = (project_dir / "README.md").read_text()
    return re.findall(r"^```(\w*)\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def _block_after(blocks, language, marker):
    """The block following the first `language` block that contains `marker`."""
    index = next(i for i, (lang, text) in enumerate(blocks) if lang == language and marker in text)
    return blocks[index][1], blocks[index + 1][1]


def _curl_examples(blocks):
    """Each README curl command with the JSON answer shown right after it."""
    return [
        (command.strip(), answer)
        for (lang, command), (next_lang, answer) in itertools.pairwise(blocks)
        if lang == "bash" and command.startswith("curl") and next_lang == "json"
    ]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_curl_examples_answer_what_the_readme_shows(readme_blocks, serve):
    examples = _curl_examples(readme_blocks)
    assert len(examples) >= 5
    open_server, locked_server = serve("gunicorn"), serve("gunicorn", env={"CHURN_API_KEY": "change-me"})
    after_key_section = False
    for command, shown in examples:
        # The examples after the one that sends the key are about the locked service.
        after_key_section = after_key_section or "Bearer change-me" in command
        server = locked_server if after_key_section else open_server
        result = subprocess.run(
            command.replace(BOOK_URL, server.url), shell=True, capture_output=True, text=True, check=True
        )
        assert json.loads(result.stdout) == json.loads(shown), command


def test_readme_python_example_prints_what_the_readme_shows(readme_blocks, serve):
    code, shown = _block_after(readme_blocks, "python", "requests.post")
    server = serve("waitress")
    result = subprocess.run(
        [sys.executable, "-c", code.replace(BOOK_URL, server.url)], capture_output=True, text=True, check=True
    )
    assert result.stdout == shown


def test_readme_test_command_is_what_ci_runs(readme_blocks, project_dir):
    test_command = next(text.strip() for lang, text in readme_blocks if lang == "bash" and "pytest" in text)
    assert test_command in (project_dir / ".ci" / "run").read_text()


def test_readme_offline_scoring_example_prints_what_the_readme_shows(readme_blocks, project_dir):
    command, shown = _block_after(readme_blocks, "bash", "predict.py ../shared/examples/customer.json")
    arguments = command.split()[1:]  # without ".venv/bin/python": the interpreter running the tests
    result = subprocess.run([sys.executable, *arguments], cwd=project_dir, capture_output=True, text=True, check=True)
    assert result.stdout == shown


def test_readme_cross_validation_example_is_what_train_prints(readme_blocks, project_dir, data_path):
    command, shown = _block_after(readme_blocks, "bash", "train.py --cv")
    arguments = [str(data_path) if arg.endswith(".csv") else arg for arg in command.split()[1:]]
    result = subprocess.run([sys.executable, *arguments], cwd=project_dir, capture_output=True, text=True, check=True)
    assert result.stdout == shown
