"""The notebook release through real nbgrader, offline, in a temporary course folder.

One module-scoped round trip (each nbgrader command takes about 5 s, each graded notebook about 5 s):
`python -m course.front.notebooks` writes the source notebooks, `nbgrader generate_assignment` makes the
release (both once a session: conftest's nbgrader_release), three students hand in notebooks (sol: the four
source notebooks as they are; stub: one release notebook untouched, plus a torch.py; buggy: two source
notebooks, each with one function broken), and `nbgrader autograde` grades them with the documented flags.
The gradebook must then hold what `pytest grader` gives the same code as .py files, task by task, for every
task of the course.
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from conftest import NB_ASSIGNMENT as ASSIGNMENT
from conftest import GRADER, ROOT, SOLUTIONS, jupyter_environment

from course.engine import ipynb
from course.content.curriculum import TASKS
from course.front.notebooks import public_files
from course.front.release import Course
from course.front.stubgen import solution_lines

IGNORE = '[".ipynb_checkpoints","*.pyc","__pycache__","feedback","*.py"]'
AUTOGRADE = ["autograde", ASSIGNMENT, f"--CourseDirectory.ignore={IGNORE}", "--Execute.timeout=300"]
BUGS = {  # notebook -> (text in its answer cell, replacement): one function broken in each
    "sec1_linear": ("return sum(p.numel() for p in module.parameters() if p.requires_grad)",
                    "return sum(p.numel() for p in module.parameters())"),  # counts frozen ones: Task 1.2 partly
    "sec2_forward": ("h = torch.relu(self.fc1(x))", "h = self.fc1(x)"),  # ReLU missing: Task 2.2
}
STUDENTS = {"sol": ["sec1_linear", "sec2_forward", "sec3_data", "sec4_training"],
            "stub": ["sec2_forward"], "buggy": list(BUGS)}


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{command} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def broken(notebook: nbformat.NotebookNode, old: str, new: str) -> nbformat.NotebookNode:
    """The notebook with old replaced by new in exactly one answer cell."""
    cells = [c for c in notebook.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution") and old in c.source]
    assert len(cells) == 1, old
    cells[0].source = cells[0].source.replace(old, new)
    return notebook


def pytest_grader(notebooks: list[Path], folder: Path, env: dict[str, str]) -> dict:
    """The grade `pytest grader` gives the notebooks' code saved as .py files."""
    folder.mkdir(parents=True)
    for path in notebooks:
        (folder / f"{path.stem}.py").write_bytes(ipynb.code_of(path.read_bytes(), path.name))
    report = folder.parent / f"{folder.name}.json"
    subprocess.run([sys.executable, "-m", "pytest", str(GRADER), "--submission", str(folder), "-p", "no:cacheprovider",
                    "--json-report", f"--json-report-file={report}"], cwd=ROOT, env=env, capture_output=True, timeout=300)
    return json.loads(report.read_text())["grade"]


@pytest.fixture(scope="module")
def course(nbgrader_release) -> SimpleNamespace:
    """The round trip, run once: source notebooks, release (conftest), three students autograded, their gradebook."""
    tmp, root, env = nbgrader_release.tmp, nbgrader_release.root, nbgrader_release.env
    nbgrader = [sys.executable, "-m", "nbgrader"]
    source, release = nbgrader_release.source, nbgrader_release.release
    submitted = {}
    for student, names in STUDENTS.items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        for name in names:
            notebook = nbformat.read(str((release if student == "stub" else source) / f"{name}.ipynb"), as_version=4)
            if student == "buggy":
                notebook = broken(notebook, *BUGS[name])
            nbformat.write(notebook, str(folder / f"{name}.ipynb"))
        submitted[student] = sorted(folder.glob("*.ipynb"))
    (root / "submitted" / "stub" / ASSIGNMENT / "torch.py").write_text("raise SystemExit('a submitted torch.py ran')\n")
    run([*nbgrader, *AUTOGRADE], root, env)
    from nbgrader.api import Gradebook

    scores: dict[str, dict[str, float]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's warnings about nbgrader's models
        with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
            for submission in gb.assignment_submissions(ASSIGNMENT):
                scores[submission.student.id] = {grade.cell.name: grade.auto_score
                                                 for notebook in submission.notebooks for grade in notebook.grades}
    graded = {student: pytest_grader(paths, tmp / "as-python" / student, env) for student, paths in submitted.items()}
    return SimpleNamespace(root=root, source=source, release=release, scores=scores, graded=graded)


def cell_texts(path: Path) -> list[str]:
    return [cell.source for cell in nbformat.read(str(path), as_version=4).cells]


def test_source_notebooks_carry_nbgrader_metadata(course):
    grade_cells = {}
    for path in sorted(course.source.glob("*.ipynb")):
        notebook = nbformat.read(str(path), as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            meta = cell.metadata["nbgrader"] if "nbgrader" in cell.metadata else None
            if meta and meta["grade"]:
                grade_cells[meta["grade_id"]] = meta
                assert meta["schema_version"] == 3 and meta["locked"] and not meta["solution"]
                assert "### BEGIN HIDDEN TESTS" in cell.source
            elif meta and meta["solution"]:
                assert "### BEGIN SOLUTION" in cell.source and not meta["locked"]
    assert {gid: meta["points"] for gid, meta in grade_cells.items()} == \
        {f"task_{t.id.replace('.', '_')}": t.points for t in TASKS.values()}


def test_release_holds_no_solution_line_and_no_hidden_test(course):
    secret = set().union(*(solution_lines(p.read_text(), p.name) for p in SOLUTIONS.glob("sec*.py")))
    notebooks = sorted(course.release.glob("*.ipynb"))
    assert [p.stem for p in notebooks] == STUDENTS["sol"]
    for path in notebooks:
        text = "\n".join(cell_texts(path))
        assert not {line.strip() for line in text.splitlines()} & secret, path.name
        for word in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "task_score", "notebook_grading"):
            assert word not in text, (path.name, word)
        assert "raise NotImplementedError()" in text
        stamp = nbformat.read(str(path), as_version=4).metadata["course"]
        assert re.fullmatch(r"\d+\.\d+\.\d+\+[0-9a-f]{12}", stamp["grader"]) and len(stamp["source_sha256"]) == 64


def test_release_holds_notebooks_and_the_public_checks_only(course):
    folder = course.release
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in (course.root / "release").rglob("*") if p.is_file()
             and "__pycache__" not in p.parts}
    notebooks = {name for name in files if name.endswith(".ipynb")}
    assert notebooks == {f"{stem}.ipynb" for stem in STUDENTS["sol"]}
    assert set(files) - notebooks == set(public_files(Course.at(ROOT))), "beside the notebooks: the bundle's public/"
    assert {n: files[n] for n in files if n.startswith("public/test_")} == \
        {f"public/{p.name}": p.read_bytes() for p in (ROOT / "public").glob("test_*.py")}
    private = {hashlib.sha256(p.read_bytes()).digest() for folder in (GRADER, SOLUTIONS) for p in folder.rglob("*")
               if p.is_file() and p.stat().st_size}
    assert not [p for p in course.root.rglob("*") if p.is_file() and hashlib.sha256(p.read_bytes()).digest() in private]
    assert not [p for p in course.root.rglob("grader")]


def test_solution_earns_full_points_stub_none_buggy_part(course):
    total = sum(t.points for t in TASKS.values())
    assert sum(course.scores["sol"].values()) == total
    assert sum(course.scores["stub"].values()) == 0
    assert 0 < sum(course.scores["buggy"].values()) < total
    assert 0 < course.scores["buggy"]["task_1_2"] < TASKS["1.2"].points  # a cell's partial credit
    assert course.scores["buggy"]["task_2_2"] == 0


def test_gradebook_equals_pytest_grader_on_the_same_code(course):
    assert sorted(course.scores) == sorted(STUDENTS)
    for student, scores in course.scores.items():
        tasks = course.graded[student]["tasks"]
        assert not course.graded[student]["errors"]
        assert {gid: score for gid, score in scores.items()} == \
            {f"task_{tid.replace('.', '_')}": entry["earned"] for tid, entry in tasks.items()}, student


def test_grade_cells_print_the_task_feedback(course):
    path = course.root / "autograded" / "buggy" / ASSIGNMENT / "sec2_forward.ipynb"
    cell = next(c for c in nbformat.read(str(path), as_version=4).cells if c.metadata.get("nbgrader", {}).get("grade_id") == "task_2_2")
    printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    assert re.match(r"Task 2\.2 \(SimpleNN\.forward\): 0 of 3 points \(grader \d+\.\d+\.\d+\+[0-9a-f]{12}, seed \d+\)\n",
                    printed), printed
    assert "hint:" in printed
    assert [o.data["text/plain"] for o in cell.outputs if o.output_type == "execute_result"] == ["0.0"]


def test_submitted_python_files_are_not_copied_for_grading(course):
    graded = course.root / "autograded" / "stub" / ASSIGNMENT
    assert sorted(p.name for p in graded.iterdir()) == ["public", "sec2_forward.ipynb"]  # public/: its catalog only
    assert not list(graded.rglob("*.py"))


def test_notebook_code_is_the_solution_code_in_order(tmp_path):
    from course.front.notebooks import write_notebooks

    for path in write_notebooks(tmp_path):
        code = [line for cell in nbformat.read(str(path), as_version=4).cells if cell.cell_type == "code"
                and not cell.metadata["nbgrader"]["grade"] and "course" not in cell.metadata
                for line in cell.source.splitlines() if line.strip()]
        solution = (SOLUTIONS / f"{path.stem}.py").read_text().split('"""', 2)[2]  # after the module docstring
        assert code == [line for line in solution.splitlines() if line.strip() and "__future__" not in line], path.name


def test_source_folder_with_other_files_is_refused(tmp_path):
    folder = tmp_path / "source" / ASSIGNMENT / "grader"
    folder.mkdir(parents=True)
    (folder / "conftest.py").write_text("")
    proc = subprocess.run([sys.executable, "-m", "course.front.notebooks", "--course-dir", str(tmp_path)],
                          capture_output=True, text=True, env=jupyter_environment(tmp_path))
    assert proc.returncode == 1 and "grader/conftest.py" in proc.stderr and "nbgrader copies" in proc.stderr
    assert not list((tmp_path / "source" / ASSIGNMENT).glob("*.ipynb"))
