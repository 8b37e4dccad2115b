"""Releases: the student bundle is leak-free and its public checks work; the Gradescope autograder grades.

Each refusal is proved on a copy of the course with one fault planted; the autograder zip is unpacked into
a tree laid out like Gradescope's /autograder and its run_autograder is run there, as Gradescope would.
"""
from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import EXERCISES, ROOT, SOLUTIONS, check_table, mutate, submission_from_solutions
from corpus import VARIANTS

from course import feedback, i18n
from course.front import release
from course.content.curriculum import TASKS, total_points
from course.engine.core import STEERING

PUBLIC = ROOT / "public"
HANGUL = re.compile("[\uac00-\ud7a3]")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child run: no pytest-steering variables, this venv's python first on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in STEERING}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def unpack(archive: Path, dest: Path) -> None:
    """Extract a zip keeping each member's Unix mode, as unzip does."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(dest / info.filename, mode)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> SimpleNamespace:
    """The bundle and the autograder zip, built once from this checkout, and the grader version of its files."""
    out = tmp_path_factory.mktemp("release")
    version = release.Course.at(ROOT).grader_version()
    assert release.main(["bundle", "--out", str(out), "--course", str(ROOT)]) == 0
    assert release.main(["gradescope", "--out", str(out), "--course", str(ROOT)]) == 0
    return SimpleNamespace(out=out, version=version)


def test_bundle_holds_stubs_checks_readme_and_stamp(built):
    folder = built.out / release.BUNDLE
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    for name in release.exercise_files():
        assert files[name] == (EXERCISES / name).read_bytes()
    assert {f"public/{p.name}" for p in PUBLIC.glob("test_*.py")} <= set(files)
    assert {"README.md", "pytest.ini", "VERSION.json"} <= set(files)
    assert f"--extra-index-url {release.CPU_INDEX}" in files["requirements.txt"].decode().splitlines()  # not CUDA's
    readme = files["README.md"].decode()
    for task in TASKS.values():
        assert f"| {task.id} | `{task.function}` |" in readme
    with zipfile.ZipFile(built.out / f"{release.BUNDLE}.zip") as zf:
        assert {i.filename: zf.read(i) for i in zf.infolist()} == {f"{release.BUNDLE}/{n}": d for n, d in files.items()}
    stamp = json.loads(files.pop("VERSION.json"))
    assert stamp["grader"] == built.version
    assert stamp["content_sha256"] == release.content_hash(files)
    assert stamp["files"] == {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}


def test_bundle_build_is_reproducible(built, tmp_path):
    assert release.main(["bundle", "--out", str(tmp_path), "--course", str(ROOT)]) == 0
    name = f"{release.BUNDLE}.zip"
    assert (tmp_path / name).read_bytes() == (built.out / name).read_bytes()


def run_student_pytest(bundle: Path, work: Path, solutions: bool) -> tuple[int, dict]:
    """Plain `pytest` in a fresh copy of the bundle (with the references copied over the stubs if asked)."""
    shutil.copytree(bundle, work)
    if solutions:
        for path in SOLUTIONS.glob("sec*.py"):
            shutil.copy(path, work / path.name)
    report = work.parent / f"{work.name}.json"
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--json-report",
                          f"--json-report-file={report}"], cwd=work, env=clean_env(), capture_output=True, text=True)
    return run.returncode, json.loads(report.read_text())


def test_public_checks_fail_on_stubs_and_pass_on_solutions(built, tmp_path):
    code, report = run_student_pytest(built.out / release.BUNDLE, tmp_path / "stubs", solutions=False)
    assert code == 1 and report["tests"], report["summary"]
    assert {t["outcome"] for t in report["tests"]} == {"failed"}, report["summary"]
    for test in report["tests"]:  # each check fails through a NotImplementedError: no feedback block, only this
        assert test["call"]["longrepr"] == f"not implemented yet (Task {task_of(test)})", test["nodeid"]
    code, report = run_student_pytest(built.out / release.BUNDLE, tmp_path / "solved", solutions=True)
    assert code == 0, [t["nodeid"] for t in report["tests"] if t["outcome"] != "passed"]
    assert report["summary"]["passed"] == report["summary"]["total"] == len(report["tests"]) > 0


def student_screen(bundle: Path, work: Path, *args: str, files: dict[str, Path] | None = None, above: bool = False,
                   **env: str) -> tuple[int, list[str]]:
    """What a student sees: plain `pytest` (and args) in a fresh copy of the bundle, or in the folder above it
    (above), with some exercise files replaced (files: name -> the file to copy in). (exit code, lines)."""
    shutil.copytree(bundle, work)
    for name, source in (files or {}).items():
        shutil.copy(source, work / name)
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                         cwd=work.parent if above else work, env=clean_env(**env), capture_output=True, text=True,
                         timeout=120)  # a check that never ends fails this test instead of hanging it
    return run.returncode, (run.stdout + run.stderr).splitlines()


@pytest.mark.parametrize("above", [False, True], ids=["in the bundle", "in the folder above"])
def test_the_stubs_give_a_short_screen_with_one_line_per_task(built, tmp_path, above):
    code, lines = student_screen(built.out / release.BUNDLE, tmp_path / release.BUNDLE, above=above)
    assert code == 1
    assert len(lines) <= 40, "\n".join(lines)
    text = "\n".join(lines)
    assert "Traceback" not in text and "warnings summary" not in text and "Error:" not in text, text
    assert check_table(lines) == {task: "not implemented yet" for task in TASKS}, text


def test_a_filled_task_turns_green_and_a_wrong_one_says_why(built, tmp_path):
    wrong = tmp_path / "sec2_forward.py"
    wrong.write_text(mutate("sec2_forward.py", "        return self.output(h)  # (N, hidden[1]) -> (N, out)\n",
                            "        return torch.sigmoid(self.output(h))\n"), encoding="utf-8")
    code, lines = student_screen(built.out / release.BUNDLE, tmp_path / release.BUNDLE,
                                 files={"sec1_linear.py": SOLUTIONS / "sec1_linear.py", "sec2_forward.py": wrong})
    status = check_table(lines)
    assert code == 1
    assert [t for t in TASKS if status[t] == "passed"] == ["1.1", "1.2", "1.3", "2.1", "2.3"], status
    assert status["2.2"] == "failed" and status["3.1"] == "not implemented yet", status
    text = "\n".join(lines)
    assert "Task 2.2 (SimpleNN.forward)" in text and "hint:" in text and "Traceback" not in text, text


@pytest.mark.parametrize("body, says", [
    ("    while True:\n        pass\n", "did not finish within 10 s"),
    ("    import os\n    os._exit(0)\n", "remove the os._exit(...) call"),
], ids=["endless loop", "os._exit"])
def test_code_that_never_returns_fails_its_check_and_the_run_goes_on(built, tmp_path, body, says):
    """Task 4.5's function loops forever or ends the process: its check fails with the grader's words, and the
    run goes on to the table (4.4, in the same file, still passes)."""
    broken = tmp_path / "sec4_training.py"
    broken.write_text(mutate("sec4_training.py", '    return "C"\n', body), encoding="utf-8")
    code, lines = student_screen(built.out / release.BUNDLE, tmp_path / release.BUNDLE, files={"sec4_training.py": broken})
    status = check_table(lines)
    assert code == 1 and status["4.5"] == "failed" and status["4.4"] == "passed", "\n".join(lines)
    assert any(says in line for line in lines), "\n".join(lines)


def test_what_a_file_raises_as_it_loads_reaches_the_screen_escaped(built, tmp_path):
    hostile = tmp_path / "sec1_linear.py"
    hostile.write_text('raise RuntimeError("\\x1b[2J\\x1b]52;c;aGk=\\x07 cleared")\n', encoding="utf-8")
    code, lines = student_screen(built.out / release.BUNDLE, tmp_path / release.BUNDLE, files={"sec1_linear.py": hostile})
    text = "\n".join(lines)
    assert code == 1 and "cleared" in text and "\\x1b[2J" in text, text  # said once, as an escape
    assert "\x1b" not in text and "\x07" not in text, text


def test_the_screen_speaks_korean(built, tmp_path):
    """Every row of the table in Korean, and each separator line exactly as wide as the terminal (a Hangul
    character takes two columns)."""
    code, lines = student_screen(built.out / release.BUNDLE, tmp_path / release.BUNDLE, COURSE_LANG="ko", COLUMNS="80")
    assert code == 1
    rows = [line for line in lines if re.match(r"\d\.\d\s", line)]
    assert len(rows) == len(TASKS) and all(release.HANGUL.search(row) for row in rows), "\n".join(lines)
    assert [i18n.width(line) for line in lines if line.startswith("===")] == [80] * 3, "\n".join(lines)


def test_the_bundle_ships_the_graders_own_wording_and_nothing_hidden(built):
    """public/course/ holds byte-for-byte copies of the package's modules the public checks import (and what
    those import), and a catalog without a single text of the hidden tests."""
    folder = built.out / release.BUNDLE / "public" / "course"
    shipped = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.py")}
    package = ROOT / "src" / "course"
    assert shipped and all(data == (package / name).read_bytes() for name, data in shipped.items())
    assert "engine/checks.py" in shipped and "feedback.py" in shipped
    student_side = {"front/__init__.py", "front/checking.py", "front/handin.py"}  # check() and pack(), for the notebooks
    assert not {n for n in shipped if n.startswith(("front/", "render/")) and n not in student_side
                or n in ("sandbox/probes.py", "engine/judge.py")}
    mo = (folder / "locale" / "ko" / "LC_MESSAGES" / "course.mo").read_bytes()
    hidden = set()
    for path in (ROOT / "grader").glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_") and ast.get_docstring(node):
                hidden.add(ast.get_docstring(node).splitlines()[0])
    public = set()
    for path in PUBLIC.glob("test_*.py"):
        public |= {ast.get_docstring(n).splitlines()[0] for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                   if isinstance(n, ast.FunctionDef) and ast.get_docstring(n)}
    assert hidden and [t for t in hidden - public if t.encode() in mo] == []


@dataclasses.dataclass(frozen=True)
class Misfiled:
    """A bundle with one exercise file handed in wrong, and what pack.py says about it (an English message of
    public/pack.py, with its placeholders; the Korean is the catalog's)."""

    name: str
    lang: str
    plant: object  # (work folder) -> None
    says: str
    fields: dict


def renamed(to: str):
    return lambda work: (work / "sec1_linear.py").rename(work / to)


NEAR = "{file} is missing from {folder}; it holds {names}: rename it to {file} exactly"
NOTEBOOK = "{file} holds a Jupyter notebook (JSON), not Python code: save your code as Python in {file}"
MISFILED = [
    Misfiled("copy number", "en", renamed("sec1_linear (1).py"), NEAR, {"names": "sec1_linear (1).py"}),
    Misfiled("copy number", "ko", renamed("sec1_linear (1).py"), NEAR, {"names": "sec1_linear (1).py"}),
    Misfiled("wrong case", "ko", renamed("Sec1_Linear.py"), NEAR, {"names": "Sec1_Linear.py"}),
    Misfiled("extension added", "en", renamed("sec1_linear.py.txt"), NEAR, {"names": "sec1_linear.py.txt"}),
    Misfiled("deleted", "ko", lambda work: (work / "sec1_linear.py").unlink(), "{file} is missing from {folder}", {}),
    Misfiled("notebook saved as .py", "ko",
             lambda work: (work / "sec1_linear.py").write_text('{"cells": [], "nbformat": 4}\n', encoding="utf-8"),
             NOTEBOOK, {}),
]


@pytest.mark.parametrize("case", MISFILED, ids=lambda c: f"{c.name} ({c.lang})")
def test_pack_names_a_misfiled_file_in_the_students_language_and_writes_nothing(built, tmp_path, case):
    work = tmp_path / release.BUNDLE
    shutil.copytree(built.out / release.BUNDLE, work)
    case.plant(work)
    run = subprocess.run([sys.executable, "public/pack.py", "--no-checks"], cwd=work, env=clean_env(COURSE_LANG=case.lang),
                         capture_output=True, text=True)
    with i18n.using(case.lang):
        said = i18n._(case.says).format(file="sec1_linear.py", folder=work.resolve(), **case.fields)
        want = [i18n._("not packed:"), f"  {said}"]
    assert run.returncode == 1 and not (work / "submission.zip").exists()
    assert run.stderr.splitlines() == want and run.stdout == "", run.stderr


def test_pack_of_unfinished_work_writes_the_zip_and_says_checks_still_fail(built, tmp_path):
    """pack.py on the stubs, in Korean: the checks' table, the zip written, and a last line saying checks still fail."""
    work = tmp_path / release.BUNDLE
    shutil.copytree(built.out / release.BUNDLE, work)
    run = subprocess.run([sys.executable, "public/pack.py"], cwd=work, env=clean_env(COURSE_LANG="ko"),
                         capture_output=True, text=True)
    with i18n.using("ko"):
        note = i18n._("some checks still fail (the table above): hand it in as it is, or fix them and pack again")
        undone = i18n._("not implemented yet")
    assert run.returncode == 0 and (work / "submission.zip").is_file(), run.stdout + run.stderr
    assert run.stdout.splitlines()[-1] == note and set(check_table(run.stdout.splitlines()).values()) == {undone}, run.stdout


@pytest.fixture(scope="module")
def torch_warm():
    """Import what torch loads lazily on a first optimizer step and loader pass, before any in-process run:
    pytester drops the modules a run imported, and torch cannot register its operators twice."""
    import torch

    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    data = torch.utils.data.TensorDataset(torch.ones(4, 2))
    list(torch.utils.data.DataLoader(data, batch_size=2, shuffle=True, generator=torch.Generator().manual_seed(0)))
    torch.utils.data.random_split(data, [0.5, 0.5])


@pytest.mark.parametrize("case", VARIANTS, ids=lambda c: c.name)
def test_public_checks_pass_every_correct_variant(built, torch_warm, pytester, case):
    """A public check is never stricter than the grader: each correct variant of the corpus passes them."""
    work = pytester.path / "bundle"
    shutil.copytree(built.out / release.BUNDLE, work)
    submission_from_solutions(work, {case.file: case.text()})
    result = pytester.runpytest_inprocess("-c", str(work / "pytest.ini"), "--rootdir", str(work), "-p", "no:cacheprovider",
                                          "--import-mode=importlib", str(work / "public" / f"test_{case.file}"))
    assert result.ret == 0, "\n".join(result.outlines[-15:])


def task_of(test: dict) -> str:
    """The task of a check in a pytest-json-report report (from its marker, as public/conftest.py reads it)."""
    file, name = test["nodeid"].split("::")
    for path, func in check_functions():
        if path == Path(file).name and func.name == name:
            return task_marker(func)
    raise AssertionError(f"no check {test['nodeid']}")


WRONG = [  # a mistake, the public check that catches it and the hint it gives
    pytest.param("sec2_forward.py", "return self.output(h)  #", "return torch.sigmoid(self.output(h))  #", "2.2",
                 "test_forward_can_give_negative_scores", "a raw score can be negative: no ReLU, sigmoid or softmax after "
                 "the output layer; forward returns what self.output gives, unchanged, and the loss function applies "
                 "what it needs",
                 id="sigmoid-after-output"),
    pytest.param("sec4_training.py", "return -picked.mean()", "return -picked.sum()", "4.1",
                 "test_cross_entropy_lesson_example", "average over the samples (mean), not the sum", id="loss-summed"),
    pytest.param("sec4_training.py", "return total / count, correct / count", "return total / count, 100 * correct / count",
                 "4.3", "test_evaluate_leaves_the_weights_unchanged", "accuracy is a fraction in [0, 1], not a percentage: "
                 "divide the number correct by the number of samples, without * 100", id="accuracy-in-percent"),
]


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("file, old, new, task, check, hint", WRONG)
def test_a_failed_public_check_reads_like_the_grader(built, torch_warm, pytester, monkeypatch, lang, file, old, new, task,
                                                      check, hint):
    """The feedback block of a failed check: the task and its function, the check's title, what was checked
    with what was expected and what came back, and the hint for the mistake; in Korean with COURSE_LANG=ko."""
    result = public_checks_on(built, pytester, monkeypatch, lang, file, mutate(file, old, new))
    assert result.ret == 1
    lines = result.outlines
    doc = next(ast.get_docstring(f) for name, f in check_functions() if name == f"test_{file}" and f.name == check)
    with i18n.using(lang):
        head = f"Task {task} ({TASKS[task].function}): {i18n._(doc.splitlines()[0])}"
        said = f"  {i18n._('hint: {hint}').format(hint=i18n._(hint))}"
    assert head in lines, "\n".join(lines)
    block = lines[lines.index(head):]
    assert block[1].startswith("  ") and said in block[:6], "\n".join(block[:6])
    if lang == "ko":
        assert HANGUL.search(head) and HANGUL.search(block[1]) and "힌트: " in said
    else:
        assert not HANGUL.search("\n".join(lines))
    assert "Traceback" not in result.stdout.str()


def public_checks_on(built, pytester, monkeypatch, lang, file, text):
    """The bundle's public checks of file run in lang on the reference with file's text replaced."""
    work = pytester.path / "bundle"
    shutil.copytree(built.out / release.BUNDLE, work)
    submission_from_solutions(work, {file: text})
    monkeypatch.setenv(i18n.ENVIRONMENT, lang)
    with i18n.using("en"):  # the run sets the language of this process: put English back after it
        return pytester.runpytest_inprocess("-c", str(work / "pytest.ini"), "--rootdir", str(work), "-p", "no:cacheprovider",
                                            "--import-mode=importlib", str(work / "public" / f"test_{file}"))


RAISES = [  # a mistake that raises inside a public check, and the grader's hint for what it raised
    pytest.param("sec2_forward.py", "h = torch.relu(self.fc1(x))  #", "h = x  #", "2.2", "matmul-forward", id="fc1-skipped"),
    pytest.param("sec4_training.py", "loss = loss_fn(model(inputs), targets)",
                 "loss = loss_fn(model(inputs), targets.float())", "4.2", "target-dtype", id="float-targets"),
]


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("file, old, new, task, key", RAISES)
def test_a_public_check_that_raises_gives_the_graders_hint(built, torch_warm, pytester, monkeypatch, lang, file, old, new,
                                                            task, key):
    """What the code raised inside a public check chooses the hint, as in the grader (course.feedback.hint_for)."""
    result = public_checks_on(built, pytester, monkeypatch, lang, file, mutate(file, old, new))
    assert result.ret == 1
    with i18n.using(lang):
        said = "  " + i18n._("hint: {hint}").format(hint=i18n._(feedback.HINTS[key]).split("{")[0])
        head = f"Task {task} ({TASKS[task].function}): "
    at = next(i for i, line in enumerate(result.outlines) if line.startswith(head))
    assert any(line.startswith(said) for line in result.outlines[at:at + 6]), "\n".join(result.outlines[at:at + 6])
    assert "Traceback" not in result.stdout.str()


def check_functions():
    for path in sorted(PUBLIC.glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                yield path.name, node


def task_marker(func: ast.FunctionDef) -> str:
    """The task a check's one @pytest.mark.task names."""
    marks = [d for d in func.decorator_list if isinstance(d, ast.Call) and ast.unparse(d.func) == "pytest.mark.task"]
    assert len(marks) == 1 and len(marks[0].args) == 1, f"{func.name} needs one @pytest.mark.task(id)"
    return marks[0].args[0].value


def test_every_public_check_names_its_task():
    """One task marker per check, for a task of its file; a docstring whose first line is the check's title,
    which public/conftest.py prints after "Task 2.2 (SimpleNN.forward): ", so it does not name the task
    again; no bare assert in a check file (a failure raises through course.engine.checks, with a message and a
    hint); every task has a check."""
    covered = set()
    for file, func in check_functions():
        task = task_marker(func)
        assert task in TASKS and TASKS[task].file == file.removeprefix("test_"), f"{file}::{func.name}: task {task}"
        title = (ast.get_docstring(func) or "").strip().split("\n")[0]
        assert title and not title.startswith("Task"), f"{file}::{func.name}: docstring title {title!r}"
        covered.add(task)
    assert covered == set(TASKS)
    for path in sorted(PUBLIC.glob("test_*.py")):
        asserts = [n.lineno for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Assert)]
        assert asserts == [], f"{path.name}: a bare assert on lines {asserts}; raise through checks.that(...) instead"


ALLOWED_IMPORTS = {"course.engine.checks", "course.i18n", "course.feedback"}


def imported_names(tree: ast.AST) -> set[str]:
    """Every module a file imports, anywhere in it, each name taken from a package as package.name."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {f"{node.module}.{alias.name}" if node.module == "course.engine" else node.module
                      for alias in node.names}
    return names


def test_public_checks_hold_no_reference_or_grader_code():
    """No line of a solution and no file of solutions/ or grader/ in public/; a check imports only torch, pytest
    and the grader's comparisons, messages and translations (course.engine.checks, course.feedback,
    course.i18n), and names no path into solutions/ or grader/."""
    course = release.Course.at(ROOT)
    files = {f"public/{p.name}": p.read_bytes() for p in PUBLIC.glob("*.py")}
    assert release.leaks(course, files, {n: PUBLIC / n.split("/")[1] for n in files}) == []
    for path in sorted(PUBLIC.glob("test_*.py")):
        tree = ast.parse(path.read_text())
        imported = imported_names(tree)
        assert {"torch", "pytest", "course.engine.checks", "course.i18n"} <= imported, path.name
        other = {m for m in imported if m not in ALLOWED_IMPORTS | {"pytest", "torch"} and not m.startswith("torch.")}
        assert other == set(), f"{path.name} imports {sorted(other)}"
        strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        assert not [s for s in strings if re.search(r"\b(solutions|grader)[/\\]", s)], path.name


@pytest.fixture
def course_copy(tmp_path) -> release.Course:
    """A copy of the course's release sources, laid out as a checkout."""
    root = tmp_path / "course"
    for name in ("solutions", "exercises", "grader", "public", "lessons", "src/course"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "constraints.txt", root / "constraints.txt")  # the bundle's requirements.txt pins from it
    return release.Course.at(root)


def test_a_clean_copy_builds(course_copy, tmp_path):
    assert release.build_bundle(course_copy, tmp_path / "out").is_dir()


def plant_solution_line(course):
    check = course.public / "test_sec1_linear.py"
    check.write_text(check.read_text() + "\n# return sum(p.numel() for p in module.parameters() if p.requires_grad)\n")


def plant_grader_file(course):
    shutil.copy(course.grader / "conftest.py", course.public / "conftest.py")


def plant_solutions_file(course):
    course.lessons.mkdir(exist_ok=True)
    shutil.copy(course.solutions / "__init__.py", course.lessons / "notes.md")


def plant_stale_stub(course):
    stub = course.exercises / "sec2_forward.py"
    stub.write_text(stub.read_text() + "\n# an edit made by hand\n")


@pytest.mark.parametrize("plant, reason", [
    (plant_solution_line, "public/test_sec1_linear.py:"),  # the line number, then "holds a solution line"
    (plant_grader_file, "public/conftest.py has the same bytes as grader/conftest.py"),
    (plant_solutions_file, "lessons/notes.md has the same bytes as solutions/__init__.py"),
    (plant_stale_stub, "stale stub exercises/sec2_forward.py"),
], ids=["solution-line", "grader-file", "solutions-file", "stale-stub"])
def test_bundle_refuses(course_copy, tmp_path, capsys, plant, reason):
    plant(course_copy)
    out = tmp_path / "out"
    assert release.main(["bundle", "--out", str(out), "--course", str(course_copy.root)]) == 1
    err = capsys.readouterr().err
    assert "refusing to write the bundle" in err and reason in err, err
    if plant is plant_solution_line:
        assert "holds a solution line of sec1_linear.py" in err
    assert not out.exists()


def test_bundle_refuses_files_taken_from_grader(course_copy, tmp_path):
    course = dataclasses.replace(course_copy, public=course_copy.grader)
    with pytest.raises(release.Refused) as refused:
        release.build_bundle(course, tmp_path / "out")
    assert any("comes from grader/" in reason for reason in refused.value.args), refused.value.args
    assert not (tmp_path / "out").exists()


def test_autograder_zip_root(built):
    path = built.out / release.AUTOGRADER_ZIP
    with zipfile.ZipFile(path) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        files = {name: zf.read(name) for name in infos}
    assert "setup.sh" in infos and "run_autograder" in infos
    for script in ("setup.sh", "run_autograder"):
        assert files[script].startswith(b"#!"), script
        assert (infos[script].external_attr >> 16) & 0o111 == 0o111, f"{script} is not executable"
        subprocess.run(["bash", "-n"], input=files[script], check=True)
    assert b"--index-url https://download.pytorch.org/whl/cpu" in files["setup.sh"]
    assert b"torch==2.13.0" in files["constraints.txt"]
    assert {"grader/conftest.py", "solutions/sec1_linear.py", "src/course/front/grading.py", "pyproject.toml"} <= set(files)
    assert not any(n.startswith(("tests/", "exercises/", "samples/", "public/", ".git")) for n in files)
    stamp = json.loads(files.pop("VERSION.json"))
    assert stamp["content_sha256"] == release.content_hash(files)
    assert stamp["grader"] == built.version


def test_autograder_source_builds_the_package(built, tmp_path):
    """setup.sh pip-installs source/: the zip must hold a buildable project (pyproject's readme among it)."""
    unpack(built.out / release.AUTOGRADER_ZIP, tmp_path / "source")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "wheel"), str(tmp_path / "source")], check=True, capture_output=True, env=clean_env())
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        entry_points = next(zf.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert {"course/front/grading.py", "course/front/release.py", "course/front/batch.py"} <= set(names)
    assert "course.front.grading = course.front.grading" in entry_points.replace('"', "")


def autograder_tree(built: SimpleNamespace, root: Path, submission: dict[str, Path]) -> Path:
    """/autograder as Gradescope lays it out: source/ (the zip), submission/, results/."""
    unpack(built.out / release.AUTOGRADER_ZIP, root / "source")
    (root / "results").mkdir()
    (root / "submission").mkdir()
    for name, path in submission.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, root / "submission" / name)
    return root


def run_autograder(root: Path, **env: str) -> dict:
    subprocess.run([str(root / "source" / "run_autograder")], env=clean_env(AUTOGRADER_ROOT=str(root), **env),
                   check=True, capture_output=True, timeout=300)
    return json.loads((root / "results" / "results.json").read_text())


def valid_results(results: dict) -> None:
    """The fields Gradescope reads, with the types it expects; the tests' scores add up to the score."""
    assert isinstance(results["score"], (int, float)) and isinstance(results["output"], str)
    for test in results["tests"]:
        assert {"name", "number", "score", "max_score", "status", "output", "visibility"} <= set(test)
        assert test["status"] in ("passed", "failed") and test["visibility"] == "visible"
        assert isinstance(test["number"], str) and 0 <= test["score"] <= test["max_score"]
    assert sum(t["score"] for t in results["tests"]) == pytest.approx(results["score"])
    assert len({t["number"] for t in results["tests"]}) == len(results["tests"])


def test_autograder_gives_full_marks_to_the_solutions_in_a_folder(built, tmp_path):
    root = autograder_tree(built, tmp_path / "autograder",
                           {f"homework/{p.name}": p for p in SOLUTIONS.glob("sec*.py")})
    results = run_autograder(root)
    valid_results(results)
    assert results["score"] == total_points() == sum(t["max_score"] for t in results["tests"])
    assert {t["status"] for t in results["tests"]} == {"passed"}
    stamp = json.loads((root / "source" / "VERSION.json").read_text())
    assert results["extra_data"]["grader_version"] == stamp["grader"] == built.version
    assert results["extra_data"]["autograder"]["content_sha256"] == stamp["content_sha256"]
    assert stamp["grader"] in results["output"] and "graded homework/sec1_linear.py" in results["output"]
    bundle = json.loads((built.out / release.BUNDLE / "VERSION.json").read_text())
    assert bundle["grader"] == stamp["grader"]


def test_autograder_names_a_misnamed_file_instead_of_a_silent_zero(built, tmp_path):
    files = {p.name: p for p in SOLUTIONS.glob("sec*.py")}
    files["sec1_linear (1).py"] = files.pop("sec1_linear.py")
    results = run_autograder(autograder_tree(built, tmp_path / "autograder", files))
    valid_results(results)
    assert "it holds sec1_linear (1).py: rename it to sec1_linear.py exactly" in results["output"]
    assert results["score"] == total_points() - sum(t.points for t in TASKS.values() if t.file == "sec1_linear.py")


def test_autograder_gives_zero_to_the_stubs(built, tmp_path):
    root = autograder_tree(built, tmp_path / "autograder", {p.name: p for p in EXERCISES.glob("sec*.py")})
    results = run_autograder(root)
    valid_results(results)
    assert results["score"] == 0 and results["tests"]
    assert {t["status"] for t in results["tests"]} == {"failed"}
    assert all("not implemented yet (Task" in t["output"] for t in results["tests"])


WRONG_11 = ("y = x @ weight.T  # (..., in) @ (in, out) -> (..., out)",
            "y = torch.zeros(*x.shape[:-1], weight.shape[0])  # right shape, wrong values")
GS_DUE = "2025-03-14T23:59:00.000000+09:00"  # Gradescope writes its dates so (submission_metadata.json)
POLICY = '[late]\nper_day = 10\n[visibility]\ndefault = "visible"\n"1.1" = "after_published"\n"2.2" = "hidden"\n'


@dataclasses.dataclass(frozen=True)
class GradescopePolicyCase:
    name: str
    settings: str | None  # the settings file given to the release, if any
    metadata: dict  # what Gradescope writes to /autograder/submission_metadata.json
    shown: dict  # task -> the visibilities of its entries: (its checks', its expected values')
    late: float  # the late entry's points (0: no late entry)


DEFAULTS = {"1.1": ({"visible"}, {"after_due_date"}), "2.2": ({"visible"}, set()), "3.1": ({"visible"}, set())}
GIVEN = {"1.1": ({"visible"}, {"after_published"}), "2.2": ({"hidden"}, set()), "3.1": ({"visible"}, set())}
GRADESCOPE_POLICY = [
    GradescopePolicyCase("no settings file: today's defaults, no late policy", None,
                         {"created_at": "2025-03-16T00:30:00+09:00", "assignment": {"due_date": GS_DUE}}, DEFAULTS, 0),
    GradescopePolicyCase("settings: visibility per task; two started days past Gradescope's due date", POLICY,
                         {"created_at": "2025-03-16T00:30:00+09:00", "assignment": {"due_date": GS_DUE}}, GIVEN, -8.2),
    GradescopePolicyCase("settings with a due date of their own: the submitter's own Gradescope due date wins",
                         "due = 2025-03-01T00:00:00+09:00\n" + POLICY,
                         {"created_at": "2025-03-16T00:30:00+09:00", "assignment": {"due_date": GS_DUE},
                          "users": [{"id": 1, "assignment": {"due_date": "2025-03-17T23:59:00+09:00"}}]}, GIVEN, 0),
]


@pytest.mark.parametrize("case", GRADESCOPE_POLICY, ids=lambda c: c.name)
def test_autograder_applies_the_course_settings_it_was_released_with(case, tmp_path):
    """release gradescope --course-settings puts the file in the zip; each results.json then gives each check the
    visibility the file gives its task, and takes the late penalty by Gradescope's due date for the submission."""
    args = ["gradescope", "--out", str(tmp_path / "dist"), "--course", str(ROOT)]
    if case.settings is not None:
        (tmp_path / "course.toml").write_text(case.settings)
        args += ["--course-settings", str(tmp_path / "course.toml")]
    assert release.main(args) == 0
    with zipfile.ZipFile(tmp_path / "dist" / release.AUTOGRADER_ZIP) as zf:
        assert (release.SETTINGS_FILE in zf.namelist()) == (case.settings is not None)
    submission = submission_from_solutions(tmp_path / "files", {"sec1_linear.py": mutate("sec1_linear.py", *WRONG_11)})
    root = autograder_tree(SimpleNamespace(out=tmp_path / "dist"), tmp_path / "autograder",
                           {p.name: p for p in submission.glob("sec*.py")})
    (root / "submission_metadata.json").write_text(json.dumps(case.metadata))
    results = run_autograder(root)
    checks = [t for t in results["tests"] if t["max_score"]]
    expected = [t for t in results["tests"] if "number" in t and not t["max_score"]]
    for task, (shown, later) in case.shown.items():
        assert {t["visibility"] for t in checks if t["number"].startswith(task + ".")} == shown, task
        assert {t["visibility"] for t in expected if t["number"].startswith(task + ".")} == later, task
    failed = [t for t in checks if t["status"] == "failed"]
    assert failed and all("expected [" not in t["output"] for t in failed)  # the values wait for their entry
    assert len(expected) == len(failed) and all("expected [" in t["output"] for t in expected)
    earned = sum(t["score"] for t in checks)
    assert earned < total_points()  # task 1.1 failed
    late = [t for t in results["tests"] if "number" not in t]
    assert [t["score"] for t in late] == ([pytest.approx(case.late)] if case.late else [])
    assert results["score"] == pytest.approx(earned + case.late)


def test_gradescope_release_refuses_a_settings_file_it_cannot_use(tmp_path, capsys):
    (tmp_path / "course.toml").write_text('[visibility]\n"1.1" = "later"\n')
    args = ["gradescope", "--out", str(tmp_path / "dist"), "--course", str(ROOT), "--course-settings"]
    assert release.main([*args, str(tmp_path / "course.toml")]) == 1
    assert "visibility.1.1 is 'later'" in capsys.readouterr().err
    assert release.main([*args, str(tmp_path / "none.toml")]) == 1
    assert "cannot be read" in capsys.readouterr().err and not (tmp_path / "dist").exists()


def test_autograder_writes_results_when_grading_crashes(built, tmp_path):
    root = autograder_tree(built, tmp_path / "autograder", {p.name: p for p in SOLUTIONS.glob("sec*.py")})
    shutil.rmtree(root / "source" / "grader")
    results = run_autograder(root)
    valid_results(results)
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"].startswith("The autograder could not grade this submission")
    assert results["extra_data"]["autograder"]["grader"] == built.version


def test_autograder_writes_results_without_the_course_package(built, tmp_path):
    """A python3 without the packages setup.sh installs: a result is still written (by the shell script when
    the course cannot even be imported, else by the course saying the grader could not run)."""
    system = subprocess.run(["/usr/bin/python3", "-c", "import pytest"], capture_output=True) \
        if Path("/usr/bin/python3").exists() else None
    if system is None or system.returncode == 0:
        pytest.skip("needs a /usr/bin/python3 without pytest")
    root = autograder_tree(built, tmp_path / "autograder", {})
    subprocess.run([str(root / "source" / "run_autograder")], env={"PATH": "/usr/bin:/bin", "AUTOGRADER_ROOT": str(root)},
                   check=True, capture_output=True, timeout=60)
    results = json.loads((root / "results" / "results.json").read_text())
    valid_results(results)
    assert results["score"] == 0
    assert "could not start" in results["output"] or "No module named 'pytest'" in results["output"]
