"""The project's modules form no import cycle, and nothing imports the entry point (wsgi.py) but the
servers that run it."""

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


def test_no_module_imports_the_entry_point(import_graph):
    assert [module for module, imported in import_graph.items() if "wsgi" in imported] == []
