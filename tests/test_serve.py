"""The engine as a service (course.front.serve): what front ends other than the batch grade through."""
from __future__ import annotations

import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import CLASS, GRADER, ROOT, SERVICE_SEED, batch, results
from course.content.curriculum import TASKS
from course.engine.submission import discover
from course.front.serve import Service, ServiceError

SEED = SERVICE_SEED
FILES = sorted({task.file for task in TASKS.values()})


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The sample class graded by the batch runner."""
    out = tmp_path_factory.mktemp("serve") / "out"
    ran = batch(CLASS, out, *SEED)
    assert ran.clean, ran
    return results(out)


@pytest.fixture(scope="module")
def service(seed7_service: Service) -> Service:
    return seed7_service


def without_timing(graded: dict) -> dict:
    return {**graded, "grade": {k: v for k, v in graded["grade"].items() if k != "seconds"}}


def test_a_service_grades_every_entry_as_the_batch_does(service: Service, stored: dict[str, dict]) -> None:
    """The same Result, key and feedback for each entry of the sample class (whatever its kind or status)."""
    entries = discover(CLASS, FILES)
    assert len(entries) == len(stored)
    for entry in entries:
        assert without_timing(service.grade(entry)) == without_timing(stored[entry.student]), entry.student


@dataclass(frozen=True)
class Case:
    name: str
    tasks: list[str]


@pytest.mark.parametrize("case", [Case("one task", ["2.2"]), Case("a section", ["4.1", "4.2", "4.3"]), Case("none", [])],
                         ids=lambda c: c.name)
def test_only_the_tests_of_the_tasks_asked_for_run(case: Case, service: Service) -> None:
    (entry,) = [e for e in discover(CLASS, FILES) if e.student == "ada"]
    graded = service.grade(entry, case.tasks)
    ran = {t["task"] for t in graded["tests"] if t["outcome"] != "not run"}
    assert ran == set(case.tasks)
    assert all(t["outcome"] == "passed" for t in graded["tests"] if t["task"] in case.tasks)


def test_a_suite_that_does_not_collect_is_refused_with_its_reason(tmp_path: Path) -> None:
    course = tmp_path / "course"
    for folder in ("grader", "solutions"):
        shutil.copytree(ROOT / folder, course / folder)
    (course / "grader" / "test_broken.py").write_text("def test_(:\n")
    with Service(course / "grader") as broken, pytest.raises(ServiceError, match="refuses to grade: 1 error"):
        broken.ready()


def test_a_service_that_dies_is_an_error_not_a_wait() -> None:
    with Service(GRADER, list(SEED)) as dying:
        dying.ready()
        os.kill(dying.proc.pid, signal.SIGKILL)
        (entry,) = [e for e in discover(CLASS, FILES) if e.student == "ada"]
        with pytest.raises(ServiceError, match="the grading service"):
            dying.grade(entry, seconds=60)


@pytest.mark.parametrize("call, entry", [(10.0, 600.0), (2.0, 600.0), (60.0, 3600.0)])
def test_a_cluster_entrys_limit_grows_with_the_calls(call: float, entry: float) -> None:
    """--grader-timeout 60 makes each call six times longer: a cluster worker waits six times longer for an entry."""
    from course.front.cluster import EnginePlugin

    assert EnginePlugin("grader", [], "version", 1, call).entry_seconds == entry
