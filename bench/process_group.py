"""Run a server (or any command) in a process group of its own, and stop the whole group.

gunicorn forks workers, and `sh -c` may fork its command instead of replacing itself (Debian's
dash does), so stopping only the process that was started can leave the rest running. Each
command here starts a new session, hence a new process group led by the started process, and
stopping signals the group. The benchmark and the tests (which import this module) both use it.
POSIX only, like the servers it starts: Windows runs the service with waitress, not these tools.
"""

import contextlib
import os
import signal
import socket
import subprocess
import time

STOP_TIMEOUT_SECONDS = 10
_POLL_SECONDS = 0.1


def free_port():
    """A loopback TCP port that nothing listens on now, for a server to bind."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command, **popen_arguments):
    """subprocess.Popen(command) as the leader of a new process group (its id is the process's pid)."""
    return subprocess.Popen(command, start_new_session=True, **popen_arguments)


def run(command, timeout, **popen_arguments):
    """Like subprocess.run(command, timeout=…): on a timeout the whole group is stopped, then re-raised."""
    process = start(command, **popen_arguments)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        stop(process)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def stop(process, timeout=STOP_TIMEOUT_SECONDS):
    """SIGTERM the process's group, SIGKILL whatever is left after `timeout` s; return once all are gone."""
    _signal(process.pid, signal.SIGTERM)
    if not _wait_for_group(process, timeout):
        _signal(process.pid, signal.SIGKILL)
        _wait_for_group(process, timeout)


def live_members(group_id):
    """The pids of the group's processes that still run (zombies, which only wait to be reaped, do not)."""
    listing = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "pgid=", "-o", "stat="], capture_output=True, text=True)
    rows = (line.split() for line in listing.stdout.splitlines())
    return [int(row[0]) for row in rows if len(row) == 3 and int(row[1]) == group_id and not row[2].startswith("Z")]


def _signal(group_id, signal_number):
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(group_id, signal_number)


def _wait_for_group(process, timeout):
    deadline = time.monotonic() + timeout
    try:
        process.wait(timeout=timeout)  # gunicorn's master waits for its workers before it exits
    except subprocess.TimeoutExpired:
        return False
    while live_members(process.pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL_SECONDS)
    return True
