"""The shipped Prometheus configuration: valid for promtool, its alert rules unit-tested, and its
Kubernetes discovery finding the pods of deploy/kubernetes."""

import re
import subprocess

import pytest
import yaml

from helpers import required_command

PROMETHEUS_DIR = "deploy/prometheus"


@pytest.fixture(scope="module")
def promtool():
    return required_command("promtool", "apt-get install prometheus, as .ci/run does")


def _documented_promtool_commands(project_dir):
    text = (project_dir / "docs" / "monitoring.md").read_text()
    blocks = re.findall(r"^```bash\n(.*?)^```$", text, re.M | re.S)
    return [line.split() for block in blocks for line in block.splitlines() if line.startswith("promtool ")]


def test_the_documented_promtool_commands_accept_the_configuration_and_pass_the_rules_tests(promtool, project_dir):
    commands = _documented_promtool_commands(project_dir)
    assert {tuple(command[1:3]) for command in commands} == {("check", "config"), ("check", "rules"), ("test", "rules")}
    for command in commands:
        checked = subprocess.run([promtool, *command[1:]], cwd=project_dir, capture_output=True, text=True)
        assert checked.returncode == 0, " ".join(command) + "\n" + checked.stdout + checked.stderr


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
