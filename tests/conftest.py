"""Helpers for proving the grader right: grade a folder in-process and read back its grade."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch  # noqa: F401  in-process grading runs drop modules they imported; torch must outlive them

import course.checks  # noqa: F401
import course.grading  # noqa: F401
import course.probes  # noqa: F401
import course.worker  # noqa: F401  one module object, so every in-process run shares one zygote

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
GRADER = ROOT / "grader"
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"


def submission_from_solutions(folder: Path, changes: dict[str, str] | None = None) -> Path:
    """A submission folder holding the reference files, with some files' text replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in SOLUTIONS.glob("sec*.py"):
        shutil.copy(path, folder / path.name)
    for name, text in (changes or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def mutate(file: str, old: str, new: str) -> str:
    """The reference file's text with old replaced by new; old must occur exactly once."""
    text = (SOLUTIONS / file).read_text(encoding="utf-8")
    count = text.count(old)
    assert count == 1, f"{file}: the text to replace occurs {count} times, expected once:\n{old}"
    return text.replace(old, new)


class Graded:
    """The outcome of grading one folder: the pytest result and the JSON report."""

    def __init__(self, result: pytest.RunResult, report: dict) -> None:
        self.result = result
        self.report = report
        self.grade = report["grade"]

    def earned(self, task: str) -> float:
        return self.grade["tasks"][task]["earned"]

    def full(self, task: str) -> bool:
        entry = self.grade["tasks"][task]
        return entry["earned"] == entry["possible"]

    def feedback(self, task: str) -> list[str]:
        return [t["metadata"].get("feedback", "") for t in self.report["tests"]
                if t["metadata"]["task"] == task and t["metadata"].get("feedback")]


@pytest.fixture
def grade(pytester: pytest.Pytester):
    """grade(folder, *args) runs `pytest grader --submission folder` in this process and returns a Graded."""
    def run(folder: Path, *args: str) -> Graded:
        report = pytester.path / f"report-{folder.name}.json"
        result = pytester.runpytest_inprocess(
            str(GRADER), "--submission", str(folder), "-p", "no:cacheprovider",
            "-W", "ignore::pytest.PytestAssertRewriteWarning",
            "--json-report", f"--json-report-file={report}", *args)
        return Graded(result, json.loads(report.read_text()))
    return run
