"""The corpus (tests/corpus.py) graded: every bug costs points in its task only, every variant gets full marks.

Every grading run uses the same --grader-seed, so the corpus is deterministic. Cases marked
xfail(strict=True) are known grader gaps: each one's reason names the probe or test at fault.
"""
from __future__ import annotations

import pytest
from conftest import submission_from_solutions
from corpus import BUGS, VARIANTS, Case

from course.content.curriculum import TASKS, total_points

SEED = "20240611"  # one fixed grader seed: no unseeded randomness in the corpus


def _params(cases):
    """Plain cases become params named after the case; gap() cases already are params."""
    return [pytest.param(c, id=c.name) if isinstance(c, Case) else c for c in cases]


@pytest.mark.parametrize("case", _params(BUGS))
def test_bug_loses_points_in_its_task_only(case, grade, tmp_path):
    folder = submission_from_solutions(tmp_path / case.name, {case.file: case.text()})
    graded = grade(folder, "--grader-seed", SEED, *case.args)
    assert graded.grade["errors"] == []
    broken = case.task.split()
    for task in broken:
        assert not graded.full(task), f"{case.name}: task {task} kept full marks ({case.note})"
        feedback = graded.feedback(task)
        assert feedback, f"{case.name}: task {task} lost points without feedback"
        text = "\n".join(feedback)
        assert "Traceback" not in text and "internal grader error" not in text, text
        if case.says:
            assert case.says in text, f"{case.name}: feedback lacks {case.says!r}:\n{text}"
    lost = [t for t in TASKS if t not in broken and not graded.full(t)]
    assert lost == [], f"{case.name}: other tasks lost points: {[(t, graded.feedback(t)) for t in lost]}"
    if case.charged:
        failed = sorted(t["nodeid"].rsplit("::", 1)[1] for t in graded.report["tests"] if t["outcome"] != "passed")
        assert failed == sorted(case.charged), f"{case.name}: one mistake, charged by {failed}"


@pytest.mark.parametrize("case", _params(VARIANTS))
def test_variant_gets_full_marks(case, grade, tmp_path):
    folder = submission_from_solutions(tmp_path / case.name, {case.file: case.text()})
    graded = grade(folder, "--grader-seed", SEED)
    assert graded.grade["errors"] == []
    lost = {t: graded.feedback(t) for t in TASKS if not graded.full(t)}
    assert lost == {}, f"{case.name} ({case.note}) lost points"
    assert graded.grade["earned"] == total_points()
