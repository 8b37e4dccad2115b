"""Notebook submissions without nbgrader: `pytest grader` takes a notebook's code cells in order.

- course.engine.ipynb: magics and shell lines are commented out, a `%` in a string is kept, the course's own
  grade cells are left out, and every kind of invalid notebook gets a message naming the file;
- a single run: a folder of secN_x.ipynb grades like the folder of secN_x.py, an invalid notebook
  costs only its own file's tasks;
- a batch: one alice.ipynb is the student alice, and a zip of secN_x.ipynb is one student too, and so is
  nbgrader's submitted/<student>/<assignment>/ folder: all graded the same as the folder of the same code as .py.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, SOLUTIONS, mutate
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course.engine import ipynb
from course.content.curriculum import TASKS

FILES = ["sec1_linear.py", "sec2_forward.py", "sec3_data.py", "sec4_training.py"]
NO_RELU = ("sec2_forward.py", "        h = torch.relu(self.fc1(x))  # (N, in) -> (N, hidden[0])\n",
           "        h = self.fc1(x)  # (N, in) -> (N, hidden[0])\n")


def notebook_bytes(*codes: str, markdown: str = "Some notes") -> bytes:
    """A version 4 notebook: a markdown cell, a cell of magics, then one code cell per text."""
    cells = [new_markdown_cell(markdown), new_code_cell("%matplotlib inline\n!pip install torch")]
    cells += [new_code_cell(code) for code in codes]
    return nbformat.writes(new_notebook(cells=cells)).encode("utf-8")


def test_code_cells_in_order_with_magics_commented_out():
    data = notebook_bytes("x = 1\n", "if x:\n    %time y = 2\n    !ls\n", "%%time\nz = x + 1", "%%bash\necho hi")
    code = ipynb.code_of(data, "sec1_linear.ipynb").decode()
    namespace: dict = {}
    exec(compile(code, "sec1_linear.ipynb", "exec"), namespace)
    assert namespace["x"] == 1 and namespace["z"] == 2
    assert "# %matplotlib inline" in code and "# !pip install torch" in code
    assert "    pass  # %time y = 2" in code and "# %%bash\n# echo hi" in code
    assert "Some notes" not in code
    assert code.index("x = 1") < code.index("z = x + 1")


def test_a_percent_sign_in_a_string_is_kept():
    text = 'NOTE = """\n% of samples\n!important\n"""\n'
    assert ipynb.code_of(notebook_bytes(text), "a.ipynb").decode().count(text.strip()) == 1


def test_the_course_grade_cells_are_left_out():
    cells = [new_code_cell("def f():\n    return 1"),
             new_code_cell("task_score('1.1')", metadata={"nbgrader": {"grade": True, "solution": False}}),
             new_code_cell("def g():\n    return 2", metadata={"nbgrader": {"grade": True, "solution": True}})]
    code = ipynb.code_of(nbformat.writes(new_notebook(cells=cells)).encode(), "a.ipynb").decode()
    assert "task_score" not in code and "def f" in code and "def g" in code


@pytest.mark.parametrize("data, says", [
    (b"def f(): pass\n", "a.ipynb is not a valid notebook: it is not JSON"),
    (b"\xff\xfe{", "a.ipynb is not a valid notebook: it is not JSON"),
    (b"[1, 2]", "a.ipynb is not a valid notebook: no cells"),
    (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}', "a.ipynb is not a valid notebook: no cells"),
    (b'{"nbformat": 3, "worksheets": [{"cells": []}]}', "a.ipynb is not a valid notebook: nbformat 3"),
    (b'{"nbformat": 4, "cells": [{"source": "x = 1"}]}', "cell 1 has no cell_type"),
    (b'{"nbformat": 4, "cells": [{"cell_type": "code", "source": 7}]}', "cell 1 has no source text"),
    (b'{"nbformat": 4, "cells": [{"cell_type": "markdown", "source": "hi"}]}', "a.ipynb holds no code cells"),
    (b'{"nbformat": 4, "cells": [], "n": ' + b"7" * 5000 + b"}",
     "a.ipynb is not a notebook the grader can read (it holds a number too long to read)"),
    (b'{"nbformat": 4, "cells": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     "a.ipynb is not a notebook the grader can read (its JSON is nested too deeply)"),
    (nbformat.writes(new_notebook(cells=[new_code_cell("x = " + "-" * 150_000 + "1")])).encode(),
     "a.ipynb is not a notebook the grader can read (the code of cell 1 is too large for Python's parser)"),
    (nbformat.writes(new_notebook(cells=[new_code_cell("x = " + "x + " * 200_000 + "1")])).encode(),
     "a.ipynb is not a notebook the grader can read (the code of cell 1 is nested too deeply for Python's parser)"),
    (b'{"nbformat": 4, "cells": [{"cell_type": "code", "source": "x = \'\\ud800\'"}]}',
     "a.ipynb is not a notebook the grader can read (its code holds a lone surrogate"),
], ids=["python", "not-utf8", "a-list", "no-cells", "nbformat-3", "no-cell-type", "bad-source", "no-code",
        "int-of-5000-digits", "json-nested-100000-deep", "cell-exhausts-parser-memory", "cell-exhausts-parser-recursion",
        "lone-surrogate-in-code"])
def test_an_invalid_notebook_is_named_with_the_reason(data, says):
    with pytest.raises(ipynb.NotebookError) as raised:
        ipynb.code_of(data, "a.ipynb")
    assert says in str(raised.value)


def test_a_folder_of_notebooks_grades_like_the_python_files(grade, tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in FILES:
        (folder / name.replace(".py", ".ipynb")).write_bytes(notebook_bytes((SOLUTIONS / name).read_text()))
    (folder / "sec1_linear.ipynb").write_bytes(b'{"nbformat": 4, "cells": [}')
    graded = grade(folder)
    assert graded.result.ret in (0, 1), graded.result.stdout.str()
    for task_id, task in TASKS.items():
        if task.file == "sec1_linear.py":
            assert graded.earned(task_id) == 0
            assert all("sec1_linear.ipynb is not a valid notebook: it is not JSON" in f for f in graded.feedback(task_id))
        else:
            assert graded.full(task_id), (task_id, graded.feedback(task_id))
    submission = graded.grade["submission"]
    assert "sec1_linear.ipynb is not a valid notebook" in submission["problems"]["sec1_linear.py"]
    assert sorted(submission["files"]) == FILES[1:] and submission["ignored"] == []


def test_a_python_file_wins_over_its_notebook(grade, tmp_path):
    folder = tmp_path / "both"
    folder.mkdir()
    for name in FILES:
        (folder / name).write_bytes((SOLUTIONS / name).read_bytes())
    (folder / "sec2_forward.ipynb").write_bytes(notebook_bytes(mutate(*NO_RELU)))
    graded = grade(folder)
    assert graded.grade["earned"] == graded.grade["possible"]
    assert graded.grade["submission"]["ignored"] == ["sec2_forward.ipynb"]


def run_batch(subs: Path, out: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "pytest", "grader", "--submissions", str(subs), "--out", str(out),
                           "-p", "no:cacheprovider", "--grader-jobs", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_a_notebook_entry_is_one_student_graded_like_the_python_folder(tmp_path):
    subs, out = tmp_path / "class", tmp_path / "out"
    (subs / "bob").mkdir(parents=True)
    buggy = {name: (SOLUTIONS / name).read_text() for name in FILES}
    buggy[NO_RELU[0]] = mutate(*NO_RELU)
    for name, text in buggy.items():
        (subs / "bob" / name).write_text(text)
    (subs / "alice.ipynb").write_bytes(notebook_bytes(*buggy.values()))
    with zipfile.ZipFile(subs / "dana.zip", "w") as zf:
        for name, text in buggy.items():
            zf.writestr(f"dana/{name.replace('.py', '.ipynb')}", notebook_bytes(text))
        zf.writestr("dana/sec1_linear.py", buggy["sec1_linear.py"])  # a .py wins over its notebook
    (subs / "carol.ipynb").write_text("my answers\n")
    erin = subs / "erin" / "pytorch-basics"  # nbgrader's submitted/<student>/<assignment>/ layout
    erin.mkdir(parents=True)
    for name, text in buggy.items():
        (erin / name.replace(".py", ".ipynb")).write_bytes(notebook_bytes(text))
    (erin / "timestamp.txt").write_text("2026-12-01 10:00:00\n")
    ran = run_batch(subs, out)
    assert ran.returncode == 0 and "INTERNALERROR" not in ran.stdout + ran.stderr, ran.stdout[-3000:] + ran.stderr[-3000:]
    rows = {r["student"]: r for r in csv.DictReader((out / "gradebook.csv").open(encoding="utf-8"))}
    assert sorted(rows) == ["alice", "bob", "carol", "dana", "erin"]
    assert rows["alice"]["status"] == rows["bob"]["status"] == rows["dana"]["status"] == rows["erin"]["status"] == "graded"
    assert rows["erin"]["message"] == "read from its folder pytorch-basics/"
    assert rows["carol"]["status"] == "unreadable"
    assert "carol.ipynb is not a valid notebook: it is not JSON" in rows["carol"]["message"]
    alice, bob, dana, erin = (json.loads((out / "students" / f"{s}.json").read_text())["grade"]
                              for s in ("alice", "bob", "dana", "erin"))
    assert alice["tasks"] == bob["tasks"] == dana["tasks"] == erin["tasks"]
    assert dana["submission"]["ignored"] == ["dana/sec1_linear.ipynb"]
    lost = {task for task, entry in alice["tasks"].items() if entry["earned"] < entry["possible"]}
    assert lost == {"2.2"} and 0 < alice["earned"] < alice["possible"]
