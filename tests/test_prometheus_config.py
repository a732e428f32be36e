"""The shipped Prometheus configuration: valid for promtool, its alert rules unit-tested, and its
Kubernetes discovery finding the pods of deploy/kubernetes."""

import re
import shutil
import subprocess

import pytest
import yaml

from helpers import skip_or_fail

PROMETHEUS_DIR = "deploy/prometheus"


@pytest.fixture(scope="module")
def promtool():
    path = shutil.which("promtool")
    if path is None:
        skip_or_fail("promtool is not installed (apt-get install prometheus, as .ci/run does)")
    return path


@pytest.mark.parametrize(
    "arguments",
    [["check", "config", "prometheus.yml"], ["check", "rules", "rules.yml"], ["test", "rules", "rules.test.yml"]],
    ids=" ".join,
)
def test_promtool_accepts_the_configuration_and_the_rules_pass_their_unit_tests(promtool, project_dir, arguments):
    checked = subprocess.run([promtool, *arguments], cwd=project_dir / PROMETHEUS_DIR, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_kubernetes_discovery_keeps_the_deployments_pods_on_their_annotated_port_and_path(project_dir):
    config = yaml.safe_load((project_dir / PROMETHEUS_DIR / "prometheus-kubernetes.yml").read_text())
    [job] = config["scrape_configs"]
    relabels = {tuple(rule["source_labels"]): rule for rule in job["relabel_configs"]}
    deployment = next(yaml.safe_load_all((project_dir / "deploy/kubernetes/deployment.yaml").read_text()))
    pod = deployment["spec"]["template"]["metadata"]
    label = relabels[("__meta_kubernetes_pod_label_app_kubernetes_io_name",)]
    assert re.fullmatch(label["regex"], pod["labels"]["app.kubernetes.io/name"]) and label["action"] == "keep"
    assert pod["annotations"]["prometheus.io/scrape"] == "true"
    ports = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert int(pod["annotations"]["prometheus.io/port"]) in [port["containerPort"] for port in ports]
    assert pod["annotations"]["prometheus.io/path"] == "/metrics"
