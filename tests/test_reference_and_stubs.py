"""The references score 100%, the stubs 0, and the suite agrees with the curriculum and the README."""
import re

from conftest import EXERCISES, ROOT, SOLUTIONS

from course.content.curriculum import TASKS, total_points


def test_solutions_score_full_marks(grade):
    graded = grade(SOLUTIONS)
    assert graded.grade["errors"] == []
    assert graded.grade["possible"] == total_points()
    assert graded.grade["earned"] == total_points(), graded.result.stdout.str()
    assert all(t["metadata"]["earned"] == t["metadata"]["points"] for t in graded.report["tests"])
    assert re.fullmatch(r"\d+\.\d+\.\d+\+[0-9a-f]{12}", graded.grade["grader"])  # a regrade says which grader graded


def test_stubs_score_zero_and_say_not_implemented(grade):
    graded = grade(EXERCISES)
    assert graded.grade["earned"] == 0
    assert graded.grade["possible"] == total_points()
    for task in TASKS:
        messages = graded.feedback(task)
        assert messages, f"task {task} gave no feedback"
        assert all(f"not implemented yet (Task {task})" in m for m in messages), messages


def test_every_test_reports_task_and_points(grade):
    graded = grade(EXERCISES)
    tests = graded.report["tests"]
    assert len(tests) >= 3 * len(TASKS) - 5
    for test in tests:
        assert test["metadata"]["task"] in TASKS
        assert test["metadata"]["points"] > 0
    per_task = {}
    for test in tests:
        per_task[test["metadata"]["task"]] = per_task.get(test["metadata"]["task"], 0) + test["metadata"]["points"]
    assert per_task == {task_id: task.points for task_id, task in TASKS.items()}


def test_readme_table_matches_curriculum():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\|\s*(\d+\.\d+)\s*\|\s*`([^`]+)`\s*\|\s*(.+?)\s*\|\s*(\d+)\s*\|", readme, re.MULTILINE)
    table = {task: (file, int(points)) for task, file, _function, points in rows}
    assert table == {task_id: (f"exercises/{t.file}", t.points) for task_id, t in TASKS.items()}


RANDOM_DRAWS = {"rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like", "normal",
                "bernoulli", "multinomial", "poisson"}


def test_every_random_input_of_the_grader_comes_from_the_tests_generator():
    """A draw from torch's global random state would differ between runs and between the students of a
    batch (a batch queues each student's calls by their inputs): every draw names a generator."""
    import ast

    unseeded = []
    for path in sorted((ROOT / "grader").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in RANDOM_DRAWS \
                    and not any(k.arg == "generator" for k in node.keywords):
                unseeded.append(f"{path.name}:{node.lineno}")
    assert unseeded == []
