"""exercises/ is generated from solutions/: never stale, never leaking a solution line, always importable."""
import importlib.util
import subprocess
import sys

import pytest
from conftest import EXERCISES, ROOT, SOLUTIONS

from course.front import stubgen
from course.content.curriculum import TASKS


def test_exercises_are_up_to_date():
    assert stubgen.stale_files(SOLUTIONS, EXERCISES) == [], "run: python -m course.front.stubgen"


def test_check_command_fails_on_a_stale_stub(tmp_path):
    exercises = tmp_path / "exercises"
    assert stubgen.main(["--solutions", str(SOLUTIONS), "--exercises", str(exercises)]) == 0
    assert stubgen.main(["--solutions", str(SOLUTIONS), "--exercises", str(exercises), "--check"]) == 0
    stub = exercises / "sec1_linear.py"
    stub.write_text(stub.read_text() + "\n# edited\n")
    (exercises / "extra.py").write_text("")
    assert stubgen.stale_files(SOLUTIONS, exercises) == ["extra.py", "sec1_linear.py"]
    assert stubgen.main(["--solutions", str(SOLUTIONS), "--exercises", str(exercises), "--check"]) == 1


@pytest.mark.parametrize("path", sorted(SOLUTIONS.glob("sec*.py")), ids=lambda p: p.name)
def test_no_solution_line_in_the_stub(path):
    secret = stubgen.solution_lines(path.read_text())
    assert secret, f"{path.name} has no solution region"
    stub_lines = {line.strip() for line in (EXERCISES / path.name).read_text().splitlines()}
    assert secret.isdisjoint(stub_lines), sorted(secret & stub_lines)


def test_every_task_has_a_stub_with_its_id():
    text = "\n".join(p.read_text() for p in EXERCISES.glob("sec*.py"))
    for task_id in TASKS:
        assert f'raise NotImplementedError("not implemented yet (Task {task_id})")' in text
        assert f"Task {task_id}:" in text, f"no docstring names Task {task_id}"


def test_stubs_import_without_error():
    code = "; ".join(f"import exercises.{p.stem}" for p in sorted(EXERCISES.glob("sec*.py")))
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_stub_keeps_signature_and_docstring():
    spec = importlib.util.spec_from_file_location("stub_sec4", EXERCISES / "sec4_training.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert "per sample" in module.train_one_epoch.__doc__
    assert list(module.fit.__annotations__) == ["model", "train_loader", "val_loader", "loss_fn", "optimizer", "epochs", "return"]
    with pytest.raises(NotImplementedError, match=r"Task 4\.2"):
        module.train_one_epoch(None, [], None, None)


@pytest.mark.parametrize("source, problem", [
    ("def f():\n    ### BEGIN SOLUTION (Task 1.1)\n    return 1\n", "never closed"),
    ("def f():\n    ### END SOLUTION\n", "without BEGIN"),
    ("def f():\n    ### BEGIN SOLUTION (Task 9.9)\n    return 1\n    ### END SOLUTION\n", "unknown task"),
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n", "Task X.Y"),
    ("def f():\n    ### BEGIN SOLUTION (Task 1.1)\n    ### BEGIN SOLUTION (Task 1.1)\n", "inside another"),
])
def test_bad_markers_are_refused(source, problem):
    with pytest.raises(stubgen.MarkerError, match=problem):
        stubgen.make_stub(source)


def test_region_becomes_a_raise_at_its_indentation():
    source = "def f(x):\n    \"\"\"Doc.\"\"\"\n    ### BEGIN SOLUTION (Task 1.1)\n    y = x + 1\n    return y\n    ### END SOLUTION\n"
    assert stubgen.make_stub(source) == 'def f(x):\n    """Doc."""\n    raise NotImplementedError("not implemented yet (Task 1.1)")\n'
