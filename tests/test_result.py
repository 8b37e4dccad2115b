"""The Result (course.engine.result): one shape for a graded entry, an ungraded one and one the grader failed on,
and a stored result without that shape is never rendered as if it had it."""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from conftest import batch, gradebook, make_class, results

from course.engine import result
from course.content.curriculum import TASKS
from course.render.outputs import write_outputs
from course.engine.submission import Entry, discover


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    """The sample class's ada (graded), gia.zip (a zip) and an empty folder, graded into OUT."""
    subs = make_class(tmp_path_factory.mktemp("subs") / "class", ["ada", "gia.zip"])
    (subs / "nobody").mkdir()
    out = subs.parent / "out"
    ran = batch(subs, out, "--grader-seed", "3")
    assert ran.clean, ran
    return out


def test_graded_and_ungraded_results_have_one_shape(graded):
    stored = results(graded)
    assert {r["status"] for r in stored.values()} == {"graded", "empty"}
    for student, one in stored.items():
        assert result.conforms(one), student
    keys = {s: (set(r), set(r["grade"])) for s, r in stored.items()}
    assert len({(frozenset(top), frozenset(grade)) for top, grade in keys.values()}) == 1, keys


def test_a_failed_result_has_the_same_shape():
    entry = Entry("sam", "sam", "folder", Path("sam"))
    failed = result.failed(entry, {"grader": "x", "seed": 1}, TASKS, "grading it", RuntimeError("boom"))
    assert result.conforms(failed)
    assert failed["status"] == "error" and "RuntimeError: boom" in failed["message"]


def _drop(path: tuple) -> Callable[[dict], None]:
    def change(r: dict) -> None:
        *parents, last = path
        for key in parents:
            r = r[key]
        del r[last]
    return change


def _set(path: tuple, value) -> Callable[[dict], None]:
    def change(r: dict) -> None:
        *parents, last = path
        for key in parents:
            r = r[key]
        r[last] = value
    return change


@dataclass(frozen=True)
class Broken:
    name: str
    change: Callable[[dict], None]


BROKEN = [
    Broken("no tests", _drop(("tests",))),
    Broken("no grade", _drop(("grade",))),
    Broken("grade without integrity", _drop(("grade", "integrity"))),
    Broken("earned as text", _set(("grade", "earned"), "41")),
    Broken("earned as a bool", _set(("grade", "earned"), True)),
    Broken("task row without possible", _drop(("grade", "tasks", "1.1", "possible"))),
    Broken("test row without outcome", _drop(("tests", 0, "outcome"))),
    Broken("problems as a list", _set(("grade", "submission", "problems"), [])),
    Broken("a list, not a result", lambda r: r.clear()),
]


@pytest.mark.parametrize("case", BROKEN, ids=lambda c: c.name)
def test_a_stored_result_without_the_shape_is_not_rendered(graded, tmp_path, case):
    """Such a file (edited, or stored by another grader) reads as missing: the entry's row says so, and a
    rerun grades it again; the other entries are written as usual."""
    out = tmp_path / "out"
    (out / "students").mkdir(parents=True)
    stored = results(graded)
    for student, one in stored.items():
        if student == "ada":
            one = copy.deepcopy(one)
            case.change(one)
            one = [] if one == {} else one
        (out / "students" / f"{student}.json").write_text(json.dumps(one), encoding="utf-8")
    entries = discover(graded.parent / "class", sorted({t.file for t in TASKS.values()}))
    write_outputs(out, entries, TASKS)
    rows = gradebook(out)
    assert rows["ada"]["status"] == "error" and "no readable result" in rows["ada"]["message"]
    assert rows["gia"]["status"] == "graded" and float(rows["gia"]["total"]) == stored["gia"]["grade"]["earned"]
