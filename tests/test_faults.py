"""Broken submissions: each gets a clear one-line reason and loses only what it breaks."""
import pytest
from conftest import EXERCISES, SOLUTIONS, mutate, submission_from_solutions

from course.content.curriculum import TASKS

NOTEBOOK = '{\n "cells": [{"cell_type": "code", "source": ["def linear_forward(x, w, b=None):\\n", "    return x @ w.T"]}],\n "nbformat": 4, "nbformat_minor": 5\n}\n'

FAULTS = [
    # name, file, new text (None: delete the file), broken tasks, words the feedback must contain
    ("syntax_error", "sec1_linear.py", mutate("sec1_linear.py", "    if bias is not None:\n", "    if bias is not None\n"),
     ("1.1", "1.2", "1.3"), "could not run: sec1_linear.py does not load"),
    ("missing_file", "sec3_data.py", None, ("3.1", "3.2", "3.3"), "sec3_data.py is missing from the submission folder"),
    ("missing_function", "sec4_training.py", mutate("sec4_training.py", "def train_one_epoch(", "def train_epoch("),
     ("4.2",), "sec4_training.py defines no train_one_epoch"),
    ("wrong_signature", "sec1_linear.py",
     mutate("sec1_linear.py", "bias: torch.Tensor | None = None) -> torch.Tensor:", ") -> torch.Tensor:\n    bias = None"),
     ("1.1",), "TypeError: linear_forward() takes 2 positional arguments but 3 were given"),
    ("not_utf8", "sec2_forward.py", None, ("2.1", "2.2", "2.3"), "could not run: sec2_forward.py does not load"),
    ("empty_file", "sec4_training.py", "", ("4.1", "4.2", "4.3", "4.4", "4.5"), "sec4_training.py defines no"),
    ("notebook_as_py", "sec1_linear.py", NOTEBOOK, ("1.1", "1.2", "1.3"), "holds a Jupyter notebook (JSON), not Python code"),
]


@pytest.mark.parametrize("name, file, text, broken, says", FAULTS, ids=[f[0] for f in FAULTS])
def test_a_fault_costs_only_what_it_breaks(grade, tmp_path, name, file, text, broken, says):
    folder = submission_from_solutions(tmp_path / name)
    if name == "not_utf8":
        (folder / file).write_bytes((SOLUTIONS / file).read_bytes().replace(b"11 features", b"11 caract\xe9ristiques"))
    elif text is None:
        (folder / file).unlink()
    else:
        (folder / file).write_text(text)
    graded = grade(folder)
    assert graded.result.ret in (0, 1), graded.result.stdout.str()  # graded, not an internal error
    for task in TASKS:
        if task in broken:
            assert graded.earned(task) == 0, task
            feedback = graded.feedback(task)
            assert feedback and all(says in f for f in feedback), feedback
            assert all("Traceback" not in f and "internal grader error" not in f for f in feedback)
        else:
            assert graded.full(task), (task, graded.feedback(task))
    if "does not load" in says:  # why is said once, for the file: the compiler's words, line and caret
        problem = graded.grade["submission"]["problems"][file]
        assert problem.startswith(f"{file} does not compile (SyntaxError at line "), problem
        assert problem.splitlines()[-1].strip() == "^", problem


def test_the_stubs_fail_with_one_line_per_test(grade):
    graded = grade(EXERCISES)
    for test in graded.report["tests"]:
        lines = test["metadata"]["feedback"].splitlines()
        assert len(lines) == 2 and lines[1].strip().startswith("not implemented yet (Task"), lines
