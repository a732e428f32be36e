"""A folder of files written whole or not at all: train.py's model/ (the pickle, the artifact the
service reads, the card and its charts) must never hold a new pickle beside an old artifact, nor
evaluate.py's report new charts beside an old report, whatever stops the run (an error, Ctrl-C, a
full disk). Standard library only.

The files are written into a new folder beside it, then renamed into it one by one with Ctrl-C held
off: a rename within a file system cannot fail for want of space, so nothing can stop the run
between the first and the last but the machine itself."""

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path


@contextlib.contextmanager
def written_whole(folder):
    """A new empty folder to write the files into; when the block ends without an exception, they
    replace their namesakes in `folder` (made if absent; its other files are kept). On any
    exception the new folder is removed and `folder` is as it was, or still absent."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".partial"))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp's 0700, as mkdir would have made it
        with _ctrl_c_held():
            _move_in(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_in(staging, folder):
    if not folder.exists():
        os.replace(staging, folder)  # the whole folder at once
        return
    for path in sorted(staging.iterdir()):
        os.replace(path, folder / path.name)


@contextlib.contextmanager
def _ctrl_c_held():
    """Ctrl-C (SIGINT) held until the block ends, then raised as KeyboardInterrupt (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: pressed.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
