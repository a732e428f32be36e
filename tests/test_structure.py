"""The project's modules form no import cycle, its packages keep their layers (by when their code runs),
and nothing imports the entry point (wsgi.py) but the servers that run it."""

import ast

import pytest

_NOT_OURS = (".venv", "data", ".git")


def _project_files(project_dir):
    return sorted(
        path for path in project_dir.rglob("*.py") if not set(path.relative_to(project_dir).parts) & set(_NOT_OURS)
    )


def _module_name(project_dir, path):
    parts = path.relative_to(project_dir).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
    """Every module a file imports, at any depth of its code (function-level imports too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # "from churn import x"
    return names


@pytest.fixture(scope="module")
def import_graph(project_dir):
    """Project module -> the project modules it imports."""
    files = {_module_name(project_dir, path): path for path in _project_files(project_dir)}
    return {module: _imports(path) & set(files) for module, path in files.items()}


def _cycle_from(module, graph, path=()):
    if module in path:
        return [*path[path.index(module) :], module]
    for imported in sorted(graph[module]):
        cycle = _cycle_from(imported, graph, (*path, module))
        if cycle:
            return cycle
    return None


def test_no_module_imports_one_that_imports_it_back(import_graph):
    for module in import_graph:
        cycle = _cycle_from(module, import_graph)
        assert cycle is None, " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert _cycle_from("a", graph) == ["a", "b", "c", "a"] and _cycle_from("d", graph) is None


# bench/trace_request.py follows a request through wsgi:app as gunicorn imports it, as a server would.
_RUN_THE_ENTRY_POINT = {"bench.trace_request"}


def test_no_module_imports_the_entry_point(import_graph):
    importers = [module for module, imported in import_graph.items() if "wsgi" in imported]
    assert [module for module in importers if module not in _RUN_THE_ENTRY_POINT] == []


# Which of our packages each layer may import (besides itself and the top-level `churn`). Serving is
# churn.core, churn.http and churn.server with the entry points that run them; training and the batch
# path (NumPy) and evaluation are apart.
LAYERS = {
    "churn.core": set(),
    "churn.http": {"churn.core"},
    "churn.server": {"churn.core", "churn.http"},
    "churn.training": {"churn.core"},
    "churn.batch": {"churn.core"},
    # The model card's charts and tables; and the service itself, to log the test split through it.
    "churn.evaluation": {"churn.core", "churn.training", "churn.http", "app"},
    "app": {"churn.core", "churn.http"},
    "wsgi": {"app", "churn.core", "churn.http"},
    "serve": {"churn.core", "churn.http", "churn.server"},
    "gunicorn.conf": {"churn.core", "churn.http", "churn.server"},
}


def _layer(module):
    return next((layer for layer in LAYERS if module == layer or module.startswith(layer + ".")), None)


def _layer_violations(graph):
    """(module, imported) pairs where a module of a layer imports one its layer may not."""
    violations = []
    for module, imported in sorted(graph.items()):
        layer = _layer(module)
        if layer is None:
            continue
        allowed = {layer, *LAYERS[layer]}
        violations += [
            (module, other) for other in sorted(imported) if _layer(other) not in allowed and other != "churn"
        ]
    return violations


def test_every_package_of_churn_has_a_layer(project_dir):
    packages = {path.parent.name for path in (project_dir / "churn").glob("*/__init__.py")}
    assert {f"churn.{name}" for name in packages} == {layer for layer in LAYERS if layer.startswith("churn.")}
    assert [path.name for path in (project_dir / "churn").glob("*.py")] == ["__init__.py"]


def test_each_layer_imports_only_the_layers_it_may(import_graph):
    assert _layer_violations(import_graph) == []


def test_the_layer_check_finds_core_importing_http_and_serving_importing_training():
    graph = {
        "churn.core.model": {"churn.http.web", "churn"},
        "churn.http.web": {"churn.core.model"},
        "app": {"churn.training.data"},
        "churn.training.data": {"churn.core.model"},
    }
    assert _layer_violations(graph) == [("app", "churn.training.data"), ("churn.core.model", "churn.http.web")]
