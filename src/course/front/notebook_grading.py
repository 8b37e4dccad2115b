"""Scores for nbgrader's grade cells: the hidden grader suite run on the notebook's own code.

Each grade cell of a source notebook (course.front.notebooks) ends, in its hidden region, with
``task_score("2.2")``. The first such call in a kernel takes the code cells of the notebook file
being graded (secN_x.ipynb in the working directory, the same extraction as ``pytest grader`` uses
for a notebook submission), runs ``python -m pytest grader/test_secN_x.py --submission <copy>`` once
in a subprocess, and keeps the report: the notebook's other grade cells reuse it. Student code thus
runs only in the grader's sandboxed worker for the score; the grade cell prints the task's feedback
and returns its earned points as a plain float, which nbgrader records as partial credit.

The hidden suite is found in the course checkout the package is installed from (editable install),
or in the folder named by the COURSE_GRADER environment variable of the ``nbgrader autograde`` run.
It never needs to be in the course folder or the release.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import course
from course.engine import ipynb
from course.content.curriculum import TASKS
from course.engine.submission import MAX_FILE_BYTES
from course.limits import LIMITS

GRADER_ENV = "COURSE_GRADER"
RUN_TIMEOUT = LIMITS.notebook_run_seconds


class GradingError(RuntimeError):
    """Grading itself broke (no grader, no report, a suite error): the grade cell fails, never guesses."""


def grader_dir() -> Path:
    """The hidden grader suite: $COURSE_GRADER, else grader/ of the checkout holding this package."""
    named = os.environ.get(GRADER_ENV)
    folder = Path(named) if named else Path(course.__file__).resolve().parents[2] / "grader"
    if not (folder / "conftest.py").is_file():
        raise GradingError(f"no grader suite at {folder}: install the course package editable from its checkout "
                           f"(pip install -e .) or set {GRADER_ENV} to the grader folder")
    return folder


def grade_notebook(notebook: Path, grader: Path | None = None) -> dict:
    """The JSON report of the hidden suite of notebook's section, run on the notebook's code cells."""
    grader = grader or grader_dir()
    code, problem = ipynb.read_notebook(notebook, MAX_FILE_BYTES)
    if problem:
        raise GradingError(problem)
    tests = grader / f"test_{notebook.stem}.py"
    with tempfile.TemporaryDirectory(prefix="notebook-grading-") as tmp:
        submission = Path(tmp) / "submission"
        submission.mkdir()
        (submission / f"{notebook.stem}.py").write_bytes(code)
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pytest", str(tests if tests.is_file() else grader),
                   "--submission", str(submission), "-p", "no:cacheprovider", "-q",
                   "--json-report", f"--json-report-file={report}"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        proc = subprocess.run(command, cwd=grader.parent, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=RUN_TIMEOUT)
        if not report.is_file():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
            raise GradingError(f"the grader wrote no report (exit code {proc.returncode}):\n{tail}")
        result = json.loads(report.read_text(encoding="utf-8"))
    grade = result.get("grade")
    if not isinstance(grade, dict) or grade.get("errors"):
        raise GradingError(f"the grader suite is misconfigured: {grade.get('errors') if grade else 'no grade'}")
    return result


_reports: dict[tuple[str, str], dict] = {}  # (notebook path, sha256 of its bytes) -> report


def _report_for(notebook: Path) -> dict:
    key = (str(notebook.resolve()), hashlib.sha256(notebook.read_bytes()).hexdigest())
    if key not in _reports:
        _reports[key] = grade_notebook(notebook)
    return _reports[key]


def task_score(task_id: str, notebook: str | Path | None = None) -> float:
    """Points earned by one task of the notebook being graded (default: its section's notebook in the
    working directory), between 0 and the task's points; prints the task's feedback."""
    task = TASKS[task_id]
    path = Path(notebook) if notebook is not None else Path.cwd() / f"{Path(task.file).stem}.ipynb"
    if not path.is_file():
        raise GradingError(f"no notebook {path.name} in {path.parent}")
    report = _report_for(path)
    entry = report["grade"]["tasks"].get(task_id)
    if entry is None:
        raise GradingError(f"the grader report has no task {task_id}")
    earned = min(max(float(entry["earned"]), 0.0), float(task.points))
    grade = report["grade"]
    print(f"Task {task_id} ({task.function}): {earned:g} of {task.points} points "
          f"(grader {grade['grader']}, seed {grade['seed']})")
    for test in report.get("tests", []):
        meta = test.get("metadata", {})
        if meta.get("task") == task_id and meta.get("feedback"):
            print(meta["feedback"])
    return earned
