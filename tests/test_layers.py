"""The package's layers, read from its imports: each module imports only its own layer and those below it,
and no two modules import each other, directly or round a longer cycle (imports inside functions count).

A layer is a folder of src/course (the README's Layout section draws them), bottom first:
  course/ and content/  what every other part shares: the package's own modules (limits, the escaper of
                        student text, the feedback exception, the translations, the version) and the
                        course itself (the curriculum, the data, the reference models);
  sandbox/              running student code where it cannot reach the judge: containment, zygote,
                        supervisor, runner, the protocol and the wire format, the judge's side of the
                        worker, and the probes a runner runs;
  engine/               reading a submission, judging values, the integrity scan, grading one submission
                        into a Result;
  render/               what a result becomes for a reader: exports, feedback pages, the terminal, a
                        class's files, figures;
  front/                the pytest plugin, the batch runner, releases, notebooks.

The tests keep one rule of their own: a test module shares tables and helpers through tests/conftest.py and
the helper modules beside it (tests/*.py without the test_ prefix), and never imports another test module.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import course

PACKAGE = Path(course.__file__).parent
TESTS = Path(__file__).resolve().parent

LAYERS = ["", "content", "sandbox", "engine", "render", "front"]  # "": modules at the package's top
LEVEL = {"": 0, "content": 0, "sandbox": 1, "engine": 2, "render": 3, "front": 4}
NAMES = ["course/ and content/", "course/ and content/", "sandbox/", "engine/", "render/", "front/"]


def name_of(path: Path) -> str:
    """A module's name inside the package: "untrusted", "sandbox.worker"."""
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def layer(module: str) -> str:
    return module.split(".")[0] if "." in module else ""


def resolve(dotted: str) -> str | None:
    """The package module a dotted name under course names ("course.sandbox.worker" -> "sandbox.worker");
    None for a package itself or anything else."""
    parts = dotted.split(".")[1:]
    path = PACKAGE.joinpath(*parts)
    return ".".join(parts) if parts and path.with_suffix(".py").is_file() else None


def imports_of(path: Path) -> set[str]:
    """The package modules a module imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "course":
            own = resolve(node.module)
            if own is not None:
                found.add(own)
            else:  # from a package: each name a module of it, or a name its __init__ defines
                found |= {m for alias in node.names if (m := resolve(f"{node.module}.{alias.name}"))}
        elif isinstance(node, ast.Import):
            found |= {m for alias in node.names if alias.name.startswith("course.") and (m := resolve(alias.name))}
    return found - {name_of(path)}


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")
GRAPH = {name_of(path): imports_of(path) for path in MODULES}


def test_every_module_is_in_a_layer():
    assert [m for m in GRAPH if layer(m) not in LEVEL] == []
    assert [m for m in GRAPH if m.count(".") > 1] == []  # one level of folders: a layer is a folder


def test_the_package_has_every_layer():
    assert sorted({layer(m) for m in GRAPH}) == sorted(LAYERS)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module):
    upward = sorted(m for m in GRAPH[module] if LEVEL[layer(m)] > LEVEL[layer(module)])
    assert upward == [], f"{module} ({NAMES[LAYERS.index(layer(module))]}) imports a layer above it: {upward}"


def test_the_layer_test_reads_imports_of_every_form():
    """Each import form the package uses is read: from a package, from a module, import of a module."""
    found = GRAPH["front.grading"]
    assert {"untrusted", "i18n", "render.terminal", "engine.core", "engine.judge"} <= found, found
    assert {"sandbox.contain", "sandbox.protocol"} <= GRAPH["sandbox.supervisor"]


def test_no_import_cycle():
    cycles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for other in sorted(GRAPH.get(module, ())):
            if state.get(other) == "open":
                cycles.append(path[path.index(other):] + [other])
            elif other not in state:
                visit(other, path + [other])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def imported_test_modules(path: Path) -> set[str]:
    """The test modules of tests/ that a module imports, anywhere in it (as test_x, tests.test_x or from tests)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    stems = {name.removeprefix("tests.").split(".")[0] for name in names}
    return {stem for stem in stems if stem.startswith("test_") and (TESTS / f"{stem}.py").is_file()}


def test_no_test_module_imports_another():
    imported = {path.name: sorted(imported_test_modules(path)) for path in sorted(TESTS.glob("test_*.py"))}
    assert {name: found for name, found in imported.items() if found} == {}
