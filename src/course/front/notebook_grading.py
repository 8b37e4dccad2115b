"""Scores for nbgrader's grade cells: the hidden grader suite run on the notebook's own code.

Each grade cell of a source notebook (course.front.notebooks) ends, in its hidden region, with
``task_score("2.2")``. The first such call in a kernel reads the code cells of the notebook file being
graded (secN_x.ipynb in the working directory, the same extraction as ``pytest grader`` uses for a
notebook submission) and has a grading service (course.front.serve: the engine in a process of its own)
grade that section's tasks; the notebook's other grade cells reuse the Result. Student code thus runs
only in the grader's sandboxed worker for the score; the grade cell prints the task's feedback and
returns its earned points as a plain float, which nbgrader records as partial credit.

The hidden suite is found in the course checkout the package is installed from (editable install),
or in the folder named by the COURSE_GRADER environment variable of the ``nbgrader autograde`` run.
It never needs to be in the course folder or the release.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import course
from course.content.curriculum import TASKS
from course.engine import ipynb
from course.engine.result import Result
from course.engine.submission import MAX_FILE_BYTES, Entry
from course.front.serve import Service, ServiceError

GRADER_ENV = "COURSE_GRADER"


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


def grade_notebook(notebook: Path, grader: Path | None = None) -> Result:
    """The Result of the hidden suite on notebook's code cells, for the tasks of notebook's section."""
    grader = grader or grader_dir()
    code, problem = ipynb.read_notebook(notebook, MAX_FILE_BYTES)
    if problem:
        raise GradingError(problem)
    file = f"{notebook.stem}.py"
    entry = Entry(notebook.stem, notebook.name, "notebook", notebook.resolve(), sources={file: code})
    try:
        with Service(grader) as service:
            graded = service.grade(entry, [task_id for task_id, task in TASKS.items() if task.file == file])
    except ServiceError as error:
        raise GradingError(str(error)) from None
    if graded["grade"]["errors"]:
        raise GradingError(f"the grader suite is misconfigured: {graded['grade']['errors']}")
    return graded


_results: dict[tuple[str, str], Result] = {}  # (notebook path, sha256 of its bytes) -> its Result


def _result_for(notebook: Path) -> Result:
    key = (str(notebook.resolve()), hashlib.sha256(notebook.read_bytes()).hexdigest())
    if key not in _results:
        _results[key] = grade_notebook(notebook)
    return _results[key]


def task_score(task_id: str, notebook: str | Path | None = None) -> float:
    """Points earned by one task of the notebook being graded (default: its section's notebook in the
    working directory), between 0 and the task's points; prints the task's feedback."""
    task = TASKS[task_id]
    path = Path(notebook) if notebook is not None else Path.cwd() / f"{Path(task.file).stem}.ipynb"
    if not path.is_file():
        raise GradingError(f"no notebook {path.name} in {path.parent}")
    graded = _result_for(path)
    entry = graded["grade"]["tasks"].get(task_id)
    if entry is None:
        raise GradingError(f"the grader's result has no task {task_id}")
    earned = min(max(float(entry["earned"]), 0.0), float(task.points))
    print(f"Task {task_id} ({task.function}): {earned:g} of {task.points} points "
          f"(grader {graded['key']['grader']}, seed {graded['key']['seed']})")
    for test in graded["tests"]:
        if test["task"] == task_id and test.get("feedback"):
            print(test["feedback"])
    return earned
