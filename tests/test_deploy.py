"""What each platform needs from the repository is there, and the Procfile serves as platforms run it."""

import re
import sys

import pytest

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def _read(project_dir, name):
    return (project_dir / name).read_text()


def test_procfile_web_line_checks_the_settings_and_serves_with_gunicorn_conf_py(serve, book_customer, book_probability):
    server = serve("procfile")
    assert server.get("/ping") == (200, b"PONG")
    status, answer = server.post_json("/predict", book_customer)
    assert status == 200 and answer["churn_probability"] == pytest.approx(book_probability, rel=1e-12)
    # Only gunicorn.conf.py sets this worker class and writes the "churn service: model" line.
    assert "Using worker: BoundedGeventWorker" in server.log() and "churn service: model " in server.log()


def test_dockerfile_keeps_python_in_step_with_the_tests(project_dir):
    assert f"ARG PYTHON_IMAGE=python:{PYTHON}-slim" in _read(project_dir, "Dockerfile")
    assert _read(project_dir, ".python-version").strip() == PYTHON  # Heroku's Python version


def test_dockerfile_builds_a_small_non_root_image_with_a_health_check(project_dir):
    dockerfile = _read(project_dir, "Dockerfile")
    assert "pip install --no-cache-dir --require-hashes -r requirements.txt" in dockerfile
    [user] = re.findall(r"^USER (\d+):\d+$", dockerfile, re.MULTILINE)
    assert int(user) > 0  # a number, which Kubernetes can check against runAsNonRoot
    assert "EXPOSE 9696" in dockerfile and "/ping" in dockerfile.split("HEALTHCHECK", 1)[1]
    assert 'ENTRYPOINT ["python", "serve.py"]' in dockerfile
    copied = " ".join(line for line in dockerfile.splitlines() if line.startswith("COPY"))
    assert "tests" not in copied and ".bin" not in copied and "requirements-dev" not in copied


def test_dockerignore_keeps_tests_data_venvs_and_git_out(project_dir):
    ignored = set(_read(project_dir, ".dockerignore").split())
    assert {".git", ".venv", "tests", "data"} <= ignored


def test_requirements_for_the_image_have_no_scikit_learn(project_dir):
    names = re.findall(r"^([a-z0-9_.-]+)==", _read(project_dir, "requirements.txt"), re.MULTILINE)
    assert "gunicorn" in names and "waitress" in names
    assert not {"scikit-learn", "numpy", "scipy"} & set(names)


def _pins(project_dir, name):
    return dict(re.findall(r"^([a-z0-9_.-]+)==(\S+)", _read(project_dir, name), re.MULTILINE))


@pytest.mark.parametrize(
    "lock", ["requirements.txt", "requirements-batch.txt", "requirements-spark.txt", "requirements-evaluate.txt"]
)
def test_the_development_lock_pins_the_service_and_the_batch_path_as_their_own_locks_do(project_dir, lock):
    pinned, development = _pins(project_dir, lock), _pins(project_dir, "requirements-dev.txt")
    assert {name: development.get(name) for name in pinned} == pinned


def test_the_batch_path_is_never_in_the_image(project_dir):
    assert not {"pyarrow", "pyspark", "numpy"} & set(_pins(project_dir, "requirements.txt"))
    assert "requirements-batch" not in _read(project_dir, "Dockerfile")
    assert "requirements-spark" not in _read(project_dir, "Dockerfile")
    assert {"churn/batch", "predict.py", "predict_spark.py"} <= set(_read(project_dir, ".dockerignore").split())


def test_evaluation_is_never_in_the_image(project_dir):
    assert "requirements-evaluate" not in _read(project_dir, "Dockerfile")
    assert {"churn/evaluation", "evaluate.py"} <= set(_read(project_dir, ".dockerignore").split())


def test_a_windows_install_of_the_service_is_waitress_alone(project_dir):
    pins = re.findall(r"^([a-z0-9_.-]+)==\S+( ; [^\\]+)?", _read(project_dir, "requirements.txt"), re.MULTILINE)
    on_windows = [name for name, marker in pins if 'sys_platform != "win32"' not in marker]
    assert on_windows == ["waitress"]


def test_elastic_beanstalk_checks_ping_and_forwards_to_the_service_port(project_dir):
    config = _read(project_dir, ".ebextensions/churn-service.config")
    assert "HealthCheckPath: /ping" in config and "Application Healthcheck URL: /ping" in config
    assert 'PORT: "9696"' in config


def test_elastic_beanstalk_rolls_out_by_health_and_drains_before_stopping(project_dir):
    config = _read(project_dir, ".ebextensions/churn-service.config")
    for setting in ("DeploymentPolicy: Rolling", "RollingUpdateType: Health", 'DeregistrationTimeout: "15"'):
        assert setting in config


def _deploy_commands(project_dir, platform):
    """The commands of the documentation's Deploy section for one platform (its ### heading), one per line."""
    readme = _read(project_dir, "docs/deploy.md")
    section = readme[readme.index(f"### {platform}\n") :].split("\n### ", 1)[0].split("\n## ", 1)[0]
    blocks = re.findall(r"^```bash\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)
    return [line for block in blocks for line in block.splitlines()]


def _exposed_port(project_dir):
    [port] = re.findall(r"^EXPOSE (\d+)$", _read(project_dir, "Dockerfile"), re.MULTILINE)
    return port


def test_readme_docker_commands_run_the_image_they_build_on_its_exposed_port(project_dir):
    build, run = _deploy_commands(project_dir, "Docker")[:2]
    [tag] = re.fullmatch(r"docker build -t (\S+) \.", build).groups()
    host_port, container_port, image = re.fullmatch(r"docker run --rm -p (\d+):(\d+) (\S+)", run).groups()
    assert image == tag and container_port == _exposed_port(project_dir)
    assert host_port == "9696"  # where every other documented example calls the service


def test_readme_elastic_beanstalk_commands_name_one_environment_and_a_full_platform(project_dir):
    commands = _deploy_commands(project_dir, "Elastic Beanstalk")
    [platform] = [re.search(r'eb init -p "([^"]+)"', line)[1] for line in commands if line.startswith("eb init")]
    assert " running on " in platform  # a short name such as "docker" breaks `eb local run`
    [local_port] = [line.split("--port ")[1] for line in commands if line.startswith("eb local run")]
    assert local_port == _exposed_port(project_dir)
    created = [line.split()[2] for line in commands if line.startswith("eb create")]
    terminated = [line.split()[2] for line in commands if line.startswith("eb terminate")]
    assert created == terminated and len(created) == 1
