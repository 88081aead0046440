"""The house plan holds: no import circle, Flask-free services, doors apart, small modules."""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "webapp")
MAX_LINES = 450
DOORS = ("views", "api", "commands")
# The only modules outside services/ that a service may import: plain values, no Flask.
PLAIN = {"webapp.version"}
# Infrastructure kept flat in webapp/ (CONTRIBUTING.md says what each holds).
FLAT = {"__init__", "config", "extensions", "errors", "logging_setup", "i18n", "navigation",
        "version", "gunicorn_conf"}


def module_name(path):
    """webapp/services/batch/scorer.py -> webapp.services.batch.scorer (packages by __init__)."""
    parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules():
    """{module name: path} of every module of webapp/."""
    found = {}
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                found[module_name(path)] = path
    return found


MODULES = modules()


def imported(name, path):
    """Every module name imported anywhere in the file (function-level imports included),
    relative imports resolved; `from a import b` counts as a.b when a.b is a module."""
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    found = set()
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def graph():
    """{module: modules of webapp/ it imports}."""
    return {name: sorted(target for target in imported(name, path) if target in MODULES
                         and target != name)
            for name, path in MODULES.items()}


def registers_own_submodule(source, target):
    """A package importing its own sub-modules (to attach routes) is not a circle."""
    return target.startswith(source + ".") and MODULES[source].endswith("__init__.py")


def find_cycle(edges):
    """One import circle as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in edges[node]:
            if registers_own_submodule(node, target):
                continue
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def door_of(name):
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in DOORS else None


def test_the_checker_finds_a_circle():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": [], "c": ["a"]}) is None


def test_the_checker_reads_function_level_and_relative_imports(tmp_path):
    path = tmp_path / "__init__.py"
    path.write_text("def f():\n    from .sub import thing\n    import webapp.services.audit\n")
    found = imported("webapp.fake", str(path))
    assert {"webapp.fake.sub", "webapp.fake.sub.thing", "webapp.services.audit"} <= found


def test_no_import_circle_in_webapp():
    cycle = find_cycle(graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_services_never_import_flask():
    offenders = [f"{name} imports {target}" for name, path in MODULES.items()
                 if name.startswith("webapp.services")
                 for target in imported(name, path)
                 if target.split(".")[0] == "flask" or target.startswith("flask_")
                 or target.split(".")[0] == "wtforms"
                 or (target in MODULES and not target.startswith("webapp.services")
                     and target not in PLAIN)]
    assert offenders == []


def test_a_door_never_imports_another_door():
    offenders = [f"{name} imports {target}" for name, targets in graph().items()
                 for target in targets
                 if door_of(name) and door_of(target) and door_of(name) != door_of(target)]
    assert offenders == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_small_and_says_what_it_is(name):
    with open(MODULES[name], encoding="utf-8") as handle:
        text = handle.read()
    assert len(text.splitlines()) <= MAX_LINES, f"{name}: over {MAX_LINES} lines, split it"
    if text.strip():
        assert ast.get_docstring(ast.parse(text)), f"{name}: no docstring"


def test_only_infrastructure_is_left_flat_in_webapp():
    flat = {os.path.basename(path)[:-3] for path in MODULES.values()
            if os.path.dirname(path) == PACKAGE}
    assert flat <= FLAT, f"move {sorted(flat - FLAT)} into views/, api/, commands/ or services/"
