"""The book's data set: where it is, and how to fetch and verify it (churn.training.telco says what
it is; churn.training.table reads it, as any table). The split train.py makes of every table.

Used by train.py and the tests only; the service never reads the data set.
"""

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from churn.core.telco import DATA_FILE_NAME, DATA_SHA256, DATA_URL
from churn.training.spec import TELCO
from churn.training.table import read_table

# The book's split: the part held out to test on, and the seed of the split and the cross-validation folds.
TEST_SIZE = 0.2
RANDOM_STATE = 1
# Where a downloaded copy is kept: data/ in the project, which git ignores.
DEFAULT_DATA_PATH = Path(__file__).resolve().parents[2] / "data" / DATA_FILE_NAME
_DOWNLOAD_TIMEOUT_SECONDS = 30
_CHUNK_BYTES = 1 << 16


class DataError(Exception):
    """The data set cannot be found, fetched or trusted; the message says what to do."""


def locate_dataset(path=None, default=DEFAULT_DATA_PATH, url=DATA_URL):
    """Return the data set's path: `path` if given, else `default`, downloading it there if absent."""
    if path is not None:
        if not Path(path).is_file():
            raise DataError(f"data file {path} does not exist")
        return Path(path)
    if Path(default).is_file():
        return Path(default)
    return download(url, default)


def download(url, destination, sha256=DATA_SHA256):
    """Fetch `url` to `destination`, keeping it only if its sha256 matches; return the path.

    On any failure nothing is left behind: not the partial file, not a folder made for it.
    """
    destination = Path(destination)
    made_folder = not destination.parent.exists()
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = tempfile.NamedTemporaryFile(dir=destination.parent, prefix=".download-", delete=False)  # noqa: SIM115
    try:
        with temporary:
            digest = _fetch(url, temporary)
        if digest != sha256:
            raise DataError(f"refusing the file downloaded from {url}: its sha256 is {digest}, expected {sha256}")
        os.replace(temporary.name, destination)
    except BaseException:
        os.unlink(temporary.name)
        if made_folder:
            destination.parent.rmdir()
        raise
    return destination


def _fetch(url, file):
    """Copy the body of `url` into `file` and return its sha256 hex digest."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_SECONDS) as response:
            while chunk := response.read(_CHUNK_BYTES):
                digest.update(chunk)
                file.write(chunk)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DataError(
            f"could not download the data set from {url} ({reason}); pass --data PATH to a local copy"
        ) from error
    return digest.hexdigest()


def file_sha256(path):
    """The sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def read_customers(path):
    """The book's table's customers, prepared as train.py prepares them (churn.training.table.TARGET: 0/1)."""
    return read_table(path, TELCO).customers
