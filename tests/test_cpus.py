"""The CPUs gunicorn sizes its workers by: a container's cgroup quota first, read from fake cgroup trees."""

import os

import pytest

from churn.server.cpus import cgroup_cpu_limit, scheduler_cpus, usable_cpus


def _tree(root, files):
    """Write a fake cgroup mount: {relative path: content}."""
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def _membership(tmp_path, text):
    path = tmp_path / "proc-self-cgroup"
    path.write_text(text)
    return path


V2 = {"cgroup.controllers": "cpuset cpu io memory pids\n"}


@pytest.mark.parametrize(
    ("files", "membership", "cpus"),
    [
        # Docker, Kubernetes with a cgroup namespace: the container's cgroup is the mount's root.
        ({**V2, "cpu.max": "100000 100000\n"}, "0::/\n", 1.0),
        ({**V2, "cpu.max": "150000 100000\n"}, "0::/\n", 1.5),
        ({**V2, "cpu.max": "max 100000\n"}, "0::/\n", None),
        # The host's view: the process's own cgroup, whose ancestors may limit it more.
        (
            {**V2, "kubepods/pod1/ctr/cpu.max": "200000 100000", "kubepods/pod1/cpu.max": "50000 100000"},
            "0::/kubepods/pod1/ctr\n",
            0.5,
        ),
        (
            {**V2, "kubepods/pod1/ctr/cpu.max": "25000 100000", "kubepods/pod1/cpu.max": "max 100000"},
            "0::/kubepods/pod1/ctr\n",
            0.25,
        ),
        # A path that is not below the mount (another namespace's): the mount's own limit.
        ({**V2, "cpu.max": "300000 100000"}, "0::/../../elsewhere\n", 3.0),
        ({**V2, "cpu.max": "300000 100000"}, "0::/system.slice/absent.scope\n", 3.0),
        ({**V2}, "0::/\n", None),  # the root cgroup has no cpu.max
        ({**V2, "cpu.max": "garbage\n"}, "0::/\n", None),
        ({**V2, "cpu.max": "0 100000\n"}, "0::/\n", None),
    ],
)
def test_cgroup_v2_cpu_max_is_the_limit(tmp_path, files, membership, cpus):
    root = _tree(tmp_path / "cgroup", files)
    assert cgroup_cpu_limit(root, _membership(tmp_path, membership)) == cpus


@pytest.mark.parametrize(
    ("mount", "files", "membership", "cpus"),
    [
        (
            "cpu,cpuacct",
            {"cpu.cfs_quota_us": "200000\n", "cpu.cfs_period_us": "100000\n"},
            "4:cpu,cpuacct:/docker/abc\n",
            2.0,
        ),
        ("cpu", {"cpu.cfs_quota_us": "50000\n", "cpu.cfs_period_us": "100000\n"}, "3:cpuset:/\n1:cpu:/\n", 0.5),
        ("cpu", {"cpu.cfs_quota_us": "-1\n", "cpu.cfs_period_us": "100000\n"}, "1:cpu:/\n", None),
        (
            "cpu",
            {"a/cpu.cfs_quota_us": "100000", "a/cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1"},
            "1:cpu:/a\n",
            1.0,
        ),
        ("cpu", {"cpu.cfs_quota_us": "100000\n"}, "1:cpu:/\n", None),  # no period: no usable limit
    ],
)
def test_cgroup_v1_cfs_quota_over_period_is_the_limit(tmp_path, mount, files, membership, cpus):
    root = _tree(tmp_path / "cgroup", {f"{mount}/{name}": text for name, text in files.items()})
    assert cgroup_cpu_limit(root, _membership(tmp_path, membership)) == cpus


def test_no_cgroup_tree_means_no_limit(tmp_path):
    """macOS and Windows have no /sys/fs/cgroup nor /proc/self/cgroup."""
    assert cgroup_cpu_limit(tmp_path / "absent", tmp_path / "absent-too") is None


def test_a_quota_below_the_cpus_available_is_what_may_be_used(tmp_path):
    root = _tree(tmp_path / "cgroup", {**V2, "cpu.max": "50000 100000"})
    assert usable_cpus(root, _membership(tmp_path, "0::/\n")) == 0.5


def test_a_quota_above_the_cpus_available_counts_only_those(tmp_path):
    root = _tree(tmp_path / "cgroup", {**V2, "cpu.max": f"{1000 * 100000} 100000"})
    assert usable_cpus(root, _membership(tmp_path, "0::/\n")) == scheduler_cpus()


def test_without_cpu_affinity_all_the_machines_cpus_count(monkeypatch):
    """macOS and Windows have no os.sched_getaffinity."""
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    assert scheduler_cpus() == os.cpu_count()
