"""The Kubernetes and KServe manifests validate offline, strictly, and fit the service they run.

Core kinds are checked with kubernetes-validate (strict: an unknown field is an error, as
`kubectl apply --validate=strict` makes it), for each Kubernetes version below; KServe's against
its CRDs in ../shared/kserve/, closed to unknown fields wherever the CRD does not preserve them.
Then what no schema says: the probes' paths, the ports, the user, the grace period, the memory.
"""

import concurrent.futures
import functools
import json
import re
import runpy
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import webtest
import yaml

import churn.server.cpus
from app import create_app
from bench import process_group
from bench.hostile_clients import exchange, request_bytes, status_of, worst_bodies
from churn.http.config import Settings
from helpers import skip_or_fail

KUBERNETES_VERSIONS = ("1.35.0", "1.36.0", "1.37.0")  # the releases supported in December 2026
DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes"
KSERVE_CRDS = Path(__file__).resolve().parent.parent.parent / "shared" / "kserve"
HEADROOM = 1.5  # the memory limit over the most the workers and the master were measured to hold


def _manifests(folder):
    """The documents a kustomization.yaml lists, by kind."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    documents = [yaml.safe_load((folder / name).read_text()) for name in kustomization["resources"]]
    return {document["kind"]: document for document in documents}


@pytest.fixture(scope="module")
def core():
    return _manifests(DEPLOY)


@pytest.fixture(scope="module")
def kserve():
    return _manifests(DEPLOY / "kserve")


def _pod_containers(core, kserve):
    """(name, pod-level securityContext, container, volumes) of each container the manifests run."""
    pod = core["Deployment"]["spec"]["template"]["spec"]
    runtime = kserve["ServingRuntime"]["spec"]
    return [
        ("Deployment", pod.get("securityContext", {}), pod["containers"][0], pod["volumes"]),
        ("ServingRuntime", {}, runtime["containers"][0], runtime["volumes"]),
    ]


def test_each_kustomization_lists_every_manifest_of_its_folder():
    for folder in (DEPLOY, DEPLOY / "kserve"):
        listed = yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"]
        assert sorted(listed) == sorted(
            path.name for path in folder.glob("*.yaml") if path.name != "kustomization.yaml"
        )


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_core_manifests_validate_strictly(core, version):
    for document in core.values():
        kubernetes_validate.validate(document, version, strict=True)  # raises, naming the field


def test_strict_validation_refuses_an_unknown_field(core):
    deployment = json.loads(json.dumps(core["Deployment"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


@functools.cache
def _crds():
    """KServe's CRDs by (group, kind), read once (with libyaml where PyYAML has it: they are 2 MB), from
    ../shared/kserve: without it, a test that needs them skips (fails under CI=true)."""
    if not KSERVE_CRDS.is_dir():
        skip_or_fail(
            f"no KServe CRDs at {KSERVE_CRDS}: copy the three serving.kserve.io_*.yaml of kserve/kserve's "
            "config/crd/full/ there"
        )
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crds = [yaml.load(path.read_text(), Loader=loader) for path in sorted(KSERVE_CRDS.glob("*.yaml"))]
    return {(crd["spec"]["group"], crd["spec"]["names"]["kind"]): crd for crd in crds}


def _crd_schema(document):
    """The JSON Schema of the KServe resource's kind and version, closed as a strict API server is."""
    group, version = document["apiVersion"].split("/")
    crd = _crds()[(group, document["kind"])]
    [served] = [entry for entry in crd["spec"]["versions"] if entry["name"] == version]
    return _closed(served["schema"]["openAPIV3Schema"])


def _closed(schema):
    """`schema` with every object that lists its properties closed to others, but where the CRD says
    x-kubernetes-preserve-unknown-fields; walked as a schema (a field may be called "properties")."""
    if not isinstance(schema, dict):
        return schema
    closed = dict(schema)
    if "properties" in schema:
        closed["properties"] = {name: _closed(field) for name, field in schema["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in schema:
            closed["additionalProperties"] = False
    for key in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(key), dict):
            closed[key] = _closed(schema[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            closed[key] = [_closed(part) for part in schema[key]]
    return closed


def test_the_kserve_manifests_validate_against_kserves_crds(kserve):
    for document in kserve.values():
        jsonschema.Draft7Validator(_crd_schema(document)).validate(document)


def test_the_crd_check_refuses_an_unknown_field(kserve):
    runtime = json.loads(json.dumps(kserve["ServingRuntime"]))
    runtime["spec"]["containers"][0]["imagePolicy"] = "Always"
    with pytest.raises(jsonschema.ValidationError, match="imagePolicy"):
        jsonschema.Draft7Validator(_crd_schema(runtime)).validate(runtime)


def test_the_probes_ask_paths_that_answer_200_without_the_api_key(core, kserve, model):
    locked = webtest.TestApp(create_app(model, Settings(api_key="secret")))
    for owner, _, container, _ in _pod_containers(core, kserve):
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if probe in container:
                assert locked.get(container[probe]["httpGet"]["path"]).status_int == 200, (owner, probe)


def _declared_port(container):
    [port] = container["ports"]
    return port


def test_each_container_listens_where_it_says_and_is_probed_and_served_there(core, kserve):
    for owner, _, container, _ in _pod_containers(core, kserve):
        port = _declared_port(container)
        environment = {variable["name"]: variable.get("value") for variable in container["env"]}
        assert environment["PORT"] == str(port["containerPort"]), owner  # gunicorn.conf.py binds $PORT
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if probe in container:
                assert container[probe]["httpGet"]["port"] in (port.get("name"), port["containerPort"]), (owner, probe)
    assert (
        core["Service"]["spec"]["ports"][0]["targetPort"] == _declared_port(_pod_containers(core, kserve)[0][2])["name"]
    )


def test_the_pods_run_the_dockerfiles_image_as_its_non_root_user_with_no_privilege(core, kserve, project_dir):
    [uid] = re.findall(r"^USER (\d+):\d+$", (project_dir / "Dockerfile").read_text(), re.MULTILINE)
    [tag] = re.findall(r"docker build -t (\S+) \.", (project_dir / "docs" / "deploy.md").read_text())[:1]
    for owner, pod_security, container, _ in _pod_containers(core, kserve):
        security = {**pod_security, **container["securityContext"]}
        assert security["runAsNonRoot"] is True and security["runAsUser"] == int(uid) != 0, owner
        assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False, owner
        assert security["capabilities"]["drop"] == ["ALL"], owner
        assert container["image"].split(":")[0] == tag, owner


def test_the_only_place_gunicorn_writes_is_a_mounted_volume(core, kserve, project_dir, monkeypatch):
    # gunicorn keeps its workers' heartbeat files in worker_tmp_dir, else the system's temporary folder.
    config = runpy.run_path(str(project_dir / "gunicorn.conf.py"))
    heartbeat_folder = config.get("worker_tmp_dir") or "/tmp"  # the image sets no TMPDIR
    for owner, _, container, volumes in _pod_containers(core, kserve):
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        assert heartbeat_folder in mounts, owner
        assert "emptyDir" in next(volume for volume in volumes if volume["name"] == mounts[heartbeat_folder])


def test_the_grace_period_covers_the_pre_stop_pause_and_gunicorns_graceful_stop(core, project_dir):
    pod = core["Deployment"]["spec"]["template"]["spec"]
    pause = int(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][-1])
    graceful_timeout = runpy.run_path(str(project_dir / "gunicorn.conf.py"))["graceful_timeout"]
    assert pause + graceful_timeout + 2 <= pod["terminationGracePeriodSeconds"]


def test_the_service_the_autoscaler_and_the_budget_select_the_deployments_pods(core):
    labels = core["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert core["Deployment"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert core["Service"]["spec"]["selector"].items() <= labels.items()
    assert core["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    target = core["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", core["Deployment"]["metadata"]["name"])
    budget, replicas = core["PodDisruptionBudget"]["spec"]["minAvailable"], core["HorizontalPodAutoscaler"]["spec"]
    assert budget < replicas["minReplicas"]  # a drain can always move a pod


def test_the_inference_service_is_named_as_the_model_and_run_by_the_runtime(kserve, model):
    service, runtime = kserve["InferenceService"], kserve["ServingRuntime"]
    assert service["metadata"]["name"] == model.name  # V2 clients call /v2/models/<its name>/infer
    served = service["spec"]["predictor"]["model"]
    assert served["runtime"] == runtime["metadata"]["name"]
    assert served["protocolVersion"] in runtime["spec"]["protocolVersions"] == ["v2"]
    assert served["modelFormat"]["name"] in [fmt["name"] for fmt in runtime["spec"]["supportedModelFormats"]]


def _cpus(quantity):
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def _bytes(quantity):
    number, unit = re.fullmatch(r"(\d+)([KMG]i)?", quantity).groups()
    return int(number) * {None: 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}[unit]


def _peak_resident_bytes(pid):
    """The most memory the process has held at once (Linux's VmHWM)."""
    return int(re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)[1]) * 1024


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the processes' memory from /proc")
@pytest.mark.parametrize("owner", ["Deployment", "ServingRuntime"])
def test_the_memory_limit_covers_the_workers_busy_with_the_worst_bodies_at_once(
    core, kserve, serve, model, project_dir, monkeypatch, owner
):
    [(_, _, container, volumes)] = [entry for entry in _pod_containers(core, kserve) if entry[0] == owner]
    limits = container["resources"]["limits"]
    monkeypatch.setattr(churn.server.cpus, "usable_cpus", lambda: _cpus(limits["cpu"]))  # as the cgroup quota says
    workers = runpy.run_path(str(project_dir / "gunicorn.conf.py"))["workers"]
    server = serve("gunicorn", args=["--workers", str(workers)])
    clients = 2 * workers * (Settings().large_requests + Settings().large_requests_waiting)  # more than all places
    for name, (path, content_type, body) in worst_bodies(model).items():  # each worker as full as it gets
        requests = [request_bytes("POST", path, body, content_type)] * clients
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            answers = [status_of(answer) for answer, _ in pool.map(functools.partial(exchange, server.port), requests)]
        assert all(status is not None and (status < 500 or status == 503) for status in answers), (name, answers)
    measured = sum(_peak_resident_bytes(pid) for pid in process_group.live_members(server.process.pid))
    in_memory_volumes = sum(_bytes(volume["emptyDir"]["sizeLimit"]) for volume in volumes)
    assert measured * HEADROOM + in_memory_volumes <= _bytes(limits["memory"]), (workers, measured)
