"""train.py's output folder, and evaluate.py's report, written whole or not at all, whatever stops
them: an error, Ctrl-C, a full disk (churn/core/output_folder.py)."""

import errno
import os
import signal

import pytest

from churn.core.output_folder import written_whole


def _contents(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.fixture
def model_dir(tmp_path):
    """A folder as train.py left it last time, with a file of the user's beside the model's."""
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("churn-model.bin", "churn-model.json", "MODEL_CARD.md", "notes.txt"):
        (folder / name).write_text(f"old {name}")
    return folder


def test_a_new_folder_appears_whole(tmp_path):
    with written_whole(tmp_path / "new" / "model") as staging:
        (staging / "a.json").write_text("a")
        (staging / "b.bin").write_text("b")
    assert _contents(tmp_path / "new" / "model") == {"a.json": b"a", "b.bin": b"b"}
    assert os.listdir(tmp_path / "new") == ["model"]


def test_written_files_replace_their_namesakes_and_others_stay(model_dir):
    with written_whole(model_dir) as staging:
        (staging / "churn-model.json").write_text("new")
    assert _contents(model_dir)["churn-model.json"] == b"new"
    assert _contents(model_dir)["notes.txt"] == b"old notes.txt"
    assert sorted(os.listdir(model_dir.parent)) == ["model"]


@pytest.mark.parametrize(
    "stop",
    [KeyboardInterrupt(), OSError(errno.ENOSPC, "No space left on device"), ValueError("a bug")],
    ids=["ctrl-c", "full disk", "error"],
)
def test_whatever_stops_the_writing_leaves_the_folder_as_it_was(model_dir, stop):
    before = _contents(model_dir)
    with pytest.raises(type(stop)), written_whole(model_dir) as staging:
        (staging / "churn-model.bin").write_text("new pickle")
        raise stop
    assert _contents(model_dir) == before
    assert sorted(os.listdir(model_dir.parent)) == ["model"]


def test_an_absent_folder_stays_absent_when_stopped(tmp_path):
    with pytest.raises(KeyboardInterrupt), written_whole(tmp_path / "model") as staging:
        (staging / "churn-model.bin").write_text("new pickle")
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_ctrl_c_while_the_files_move_in_waits_until_all_have(model_dir, monkeypatch):
    replace = os.replace

    def pressed_during_the_first_move(source, destination):
        monkeypatch.setattr(os, "replace", replace)
        os.kill(os.getpid(), signal.SIGINT)  # handled at once, by the handler in place
        replace(source, destination)

    with pytest.raises(KeyboardInterrupt), written_whole(model_dir) as staging:
        for name in ("churn-model.bin", "churn-model.json", "MODEL_CARD.md"):
            (staging / name).write_text(f"new {name}")
        monkeypatch.setattr(os, "replace", pressed_during_the_first_move)
    assert {name: text for name, text in _contents(model_dir).items() if name != "notes.txt"} == {
        "churn-model.bin": b"new churn-model.bin",
        "churn-model.json": b"new churn-model.json",
        "MODEL_CARD.md": b"new MODEL_CARD.md",
    }
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
