import sys
from pathlib import Path

import pytest

import train
from bench.process_group import free_port
from churn.training.data import DATA_FILE_NAME, DATA_SHA256, DataError, download, locate_dataset
from conftest import FETCH_DATA, PROJECT_DIR, data_set_candidates


@pytest.fixture
def serve_directory(start_server):
    """serve_directory(folder) serves a folder over HTTP on 127.0.0.1 (Python's http.server, in a
    process of its own) for the test's duration; returns its URL."""

    def serve(directory):
        port = free_port()
        command = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(directory), str(port)]
        server = start_server(command, port)
        server.wait_until(lambda: server.get("/")[0] == 200)
        return server.url

    return serve


def test_download_keeps_the_file_when_its_sha256_matches(data_path, serve_directory, tmp_path):
    base_url = serve_directory(data_path.parent)
    destination = tmp_path / "data" / data_path.name
    assert download(f"{base_url}/{data_path.name}", destination) == destination
    assert destination.read_bytes() == data_path.read_bytes()
    assert list(destination.parent.iterdir()) == [destination]


def test_download_refuses_a_corrupted_file_and_writes_nothing(data_path, serve_directory, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / data_path.name).write_bytes(data_path.read_bytes().replace(b"Yes", b"No", 1))
    destination = tmp_path / "data" / data_path.name
    with pytest.raises(DataError, match=f"its sha256 is [0-9a-f]{{64}}, expected {DATA_SHA256}"):
        download(f"{serve_directory(served)}/{data_path.name}", destination)
    assert not destination.parent.exists()


def test_locate_downloads_to_the_default_location_only_once(data_path, serve_directory, tmp_path):
    default = tmp_path / "data" / data_path.name
    url = f"{serve_directory(data_path.parent)}/{data_path.name}"
    assert locate_dataset(default=default, url=url) == default
    assert locate_dataset(default=default, url="http://127.0.0.1:1/unreachable") == default


def test_locate_prefers_the_given_path(data_path, tmp_path):
    assert locate_dataset(data_path, default=tmp_path / "absent.csv") == data_path


def test_locate_names_a_given_path_that_does_not_exist(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        locate_dataset(tmp_path / "absent.csv")


def test_train_offline_fails_with_one_line_telling_to_pass_data(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CHURN_DATA", raising=False)
    url = f"http://127.0.0.1:{free_port()}/data.csv"
    argv = ["--data-url", url, "--output-dir", str(tmp_path / "model")]
    status = train.main(argv, default_data_path=tmp_path / "data" / "absent.csv")
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "could not download the data set" in err and "pass --data PATH" in err
    assert not (tmp_path / "model").exists() and not (tmp_path / "data").exists()


def test_train_download_fetches_the_data_set_into_data_and_trains_nothing(
    data_path, serve_directory, tmp_path, monkeypatch
):
    monkeypatch.delenv("CHURN_DATA", raising=False)  # a copy named there would be where the data set is
    default = tmp_path / "data" / data_path.name
    url = f"{serve_directory(data_path.parent)}/{data_path.name}"
    argv = ["--download", "--data-url", url, "--output-dir", str(tmp_path / "model")]
    assert train.main(argv, default_data_path=default) == 0
    assert default.read_bytes() == data_path.read_bytes()
    assert not (tmp_path / "model").exists()


def test_the_tests_look_for_the_data_set_where_train_py_does(monkeypatch):
    assert data_set_candidates({"CHURN_DATA": "/elsewhere/telco.csv"}) == [Path("/elsewhere/telco.csv")]
    in_data, beside = data_set_candidates({})
    assert in_data == PROJECT_DIR / "data" / DATA_FILE_NAME == train.DEFAULT_DATA_PATH
    assert beside == PROJECT_DIR.parent / "shared" / "data" / DATA_FILE_NAME


def test_the_download_the_skip_reason_names_is_train_py_s_own_option():
    command = FETCH_DATA.split()
    assert command[:2] == [".venv/bin/python", "train.py"]
    assert vars(train.parse_args(command[2:]))["download"] is True
