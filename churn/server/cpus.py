"""How many CPUs this process may really use, to size gunicorn's workers (gunicorn.conf.py).

A container's CPU limit (`docker run --cpus`, a Kubernetes or ECS CPU limit) is a cgroup quota that
neither os.cpu_count() nor the CPU affinity sees: on a 64-core node they say 64 for a container
allowed one CPU. So, in order: the cgroup v2 `cpu.max` or cgroup v1 `cpu.cfs_quota_us` /
`cpu.cfs_period_us` of this process's cgroup and its ancestors (the smallest wins), capped by the
CPU affinity where the OS has it (Linux), else os.cpu_count(). Outside Linux there is no cgroup
tree and the count is the OS's. Standard library only, and no call that exists only on Linux.
"""

import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
_V1_CPU_MOUNTS = ("cpu,cpuacct", "cpu", "cpuacct,cpu")


def usable_cpus(cgroup_root=CGROUP_ROOT, membership=PROC_SELF_CGROUP):
    """The CPUs this process may use, possibly fractional (a quota of 1.5 CPUs is 1.5)."""
    available = scheduler_cpus()
    limit = cgroup_cpu_limit(cgroup_root, membership)
    return available if limit is None else min(limit, available)


def scheduler_cpus():
    """CPUs the OS lets this process run on: its affinity where the OS has one, else all of them."""
    if hasattr(os, "sched_getaffinity"):  # Linux only
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cgroup_cpu_limit(cgroup_root, membership):
    """The cgroup CPU quota in CPUs, or None when there is none (or no cgroup tree at all).

    `cgroup_root` is where the cgroup file system is mounted; `membership` is the file that says
    which cgroup this process is in (/proc/self/cgroup)."""
    root = Path(cgroup_root)
    if (root / "cgroup.controllers").is_file():  # cgroup v2: one unified tree
        return _smallest(_v2_quota, _levels(root, _cgroup_path(membership, _is_v2_line)))
    for mount in _V1_CPU_MOUNTS:
        if (root / mount).is_dir():
            return _smallest(_v1_quota, _levels(root / mount, _cgroup_path(membership, _is_v1_cpu_line)))
    return None


def _cgroup_path(membership, is_wanted_line):
    """The cgroup path of this process in /proc/self/cgroup ("0::/a/b" -> "/a/b"), "/" if unknown."""
    try:
        lines = Path(membership).read_text().splitlines()
    except OSError:
        return "/"
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3 and is_wanted_line(parts):
            return parts[2] or "/"
    return "/"


def _is_v2_line(parts):
    return parts[0] == "0" and parts[1] == ""


def _is_v1_cpu_line(parts):
    return "cpu" in parts[1].split(",")


def _levels(mount, cgroup_path):
    """The directories of a cgroup and of each ancestor up to the mount, the cgroup first.

    Inside a container the mount is often the container's own cgroup while /proc/self/cgroup names
    a path of the host's tree (or one above the namespace's root, with ".."); then the mount itself
    is the cgroup."""
    parts = [part for part in cgroup_path.split("/") if part]
    directory = mount.joinpath(*parts)
    if ".." in parts or not directory.is_dir():
        return [mount]
    levels = [directory]
    while levels[-1] != mount:
        levels.append(levels[-1].parent)
    return levels


def _smallest(quota_of, directories):
    quotas = [quota for quota in map(quota_of, directories) if quota is not None]
    return min(quotas, default=None)


def _v2_quota(directory):
    # cpu.max: "max 100000" (no limit) or "150000 100000" (1.5 CPUs); the root cgroup has none.
    fields = _read_fields(directory / "cpu.max")
    if fields is None or len(fields) != 2 or fields[0] == "max":
        return None
    return _ratio(fields[0], fields[1])


def _v1_quota(directory):
    # cpu.cfs_quota_us is -1 when there is no limit.
    quota, period = _read_fields(directory / "cpu.cfs_quota_us"), _read_fields(directory / "cpu.cfs_period_us")
    if not quota or not period:
        return None
    return _ratio(quota[0], period[0])


def _read_fields(path):
    try:
        return path.read_text().split()
    except OSError:
        return None


def _ratio(quota, period):
    try:
        quota, period = int(quota), int(period)
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None
