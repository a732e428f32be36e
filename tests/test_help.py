"""Every command a user runs answers --help, exit status 0, with help for each of its options.

Each runs in a process of its own, as a user runs it, with argparse watched: the parser that prints
the help is asked which of its options say nothing."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
USERS_SCRIPTS = {"train.py", "predict.py", "predict_spark.py", "evaluate.py", "serve.py"}


def _commands():
    """("script", path) of each script with a __main__ block (the project's and bench/'s), and
    ("module", name) of each module of churn/ run with python -m."""
    runs_as_main = 'if __name__ == "__main__":'
    scripts = [*PROJECT_DIR.glob("*.py"), *(PROJECT_DIR / "bench").glob("*.py")]
    modules = (PROJECT_DIR / "churn").rglob("*.py")
    return [
        ("script", str(path.relative_to(PROJECT_DIR))) for path in sorted(scripts) if runs_as_main in path.read_text()
    ] + [
        ("module", ".".join(path.relative_to(PROJECT_DIR).with_suffix("").parts))
        for path in sorted(modules)
        if runs_as_main in path.read_text()
    ]


# Run `command` as __main__ with argv [--help]; print, as JSON after the help, the options without help.
_WATCHED_HELP = """
import argparse, json, runpy, sys
kind, name = sys.argv[1:3]
shown = argparse.ArgumentParser.print_help
def print_help(parser, file=None):
    shown(parser, file)
    silent = [action.option_strings or [action.dest] for action in parser._actions
              if not action.help and not isinstance(action, argparse._HelpAction)]
    print("\\nUNDOCUMENTED " + json.dumps(silent))
argparse.ArgumentParser.print_help = print_help
sys.argv = [name, "--help"]
runpy.run_path(name, run_name="__main__") if kind == "script" else runpy.run_module(name, run_name="__main__")
"""


def _help(project_dir, kind, name):
    return subprocess.run(
        [sys.executable, "-c", _WATCHED_HELP, kind, name], cwd=project_dir, capture_output=True, text=True, timeout=60
    )


def test_every_command_a_user_is_told_about_is_checked():
    assert {name for kind, name in _commands()} >= USERS_SCRIPTS
    assert ("module", "churn.evaluation.test_split") in _commands()


@pytest.mark.parametrize(("kind", "name"), _commands())
def test_help_works_and_documents_every_option(project_dir, kind, name):
    result = _help(project_dir, kind, name)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: "), result.stdout
    assert not result.stderr
    silent = result.stdout.rpartition("\nUNDOCUMENTED ")[2]
    assert json.loads(silent) == [], f"{name}: options without help"


def test_the_help_check_sees_an_option_without_help(project_dir, tmp_path):
    script = tmp_path / "silent.py"
    script.write_text(
        "import argparse\nparser = argparse.ArgumentParser()\nparser.add_argument('--quiet')\nparser.parse_args()\n"
    )
    result = _help(project_dir, "script", str(script))
    assert result.returncode == 0
    assert json.loads(result.stdout.rpartition("\nUNDOCUMENTED ")[2]) == [["--quiet"]]
