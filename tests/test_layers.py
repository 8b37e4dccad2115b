"""The package's layers, read from its imports: each module imports only its own layer and those below it,
and no two modules import each other, directly or round a longer cycle (imports inside functions count).

The layers, bottom first (the README's Layout section draws them):
  facts      what every other part shares: the curriculum, the data, the reference models, the wire format,
             the protocol's bytes and limits, the escaper of student text, the translations, the version;
  sandbox    running student code where it cannot reach the judge: sandbox, zygote, supervisor, runner, the
             judge's side of the worker, and the probes a runner runs;
  engine     reading a submission, judging values, the integrity scan, grading one submission into a Result;
  renderers  what a result becomes for a reader: exports, feedback pages, figures, the terminal, a class's files;
  front ends the pytest plugin, the batch runner, releases, notebooks.

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

LAYERS = [
    ("facts", {"curriculum", "data", "models", "wire", "protocol", "untrusted", "i18n", "feedback", "version", "limits"}),
    ("sandbox", {"sandbox", "zygote", "supervisor", "runner", "worker", "probes", "inprocess"}),
    ("engine", {"submission", "ipynb", "checks", "integrity", "judge", "plan", "engine", "result"}),
    ("renderers", {"exports", "html_report", "figures", "terminal", "outputs"}),
    ("front ends", {"grading", "batch", "release", "notebooks", "notebook_grading", "stubgen"}),
]
LEVEL = {module: i for i, (_, modules) in enumerate(LAYERS) for module in modules}


def imports_of(path: Path) -> set[str]:
    """The course modules a module imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "course":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("course.")}
    return found - {path.stem, "__version__"}


GRAPH = {path.stem: imports_of(path) for path in sorted(PACKAGE.glob("*.py")) if path.stem != "__init__"}


def test_every_module_has_a_layer():
    assert sorted(set(GRAPH) - set(LEVEL)) == []
    assert sorted(set(LEVEL) - set(GRAPH)) == []  # a layer names no module that is gone


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module):
    upward = sorted(m for m in GRAPH[module] if LEVEL.get(m, -1) > LEVEL[module])
    assert upward == [], f"{module} ({LAYERS[LEVEL[module]][0]}) imports a layer above it: {upward}"


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
