"""The check cells of the released notebooks, run in real Jupyter kernels (nbclient) on the real nbgrader release.

`python -m course.front.notebooks` writes the source notebooks and public/ beside them, `nbgrader generate_assignment`
makes the release (once a session). Each row of CASES copies the release, fills its answer cells (left as
stubs, with the reference code, or with one planted mistake), runs the notebook top to bottom in a kernel and reads
what each course cell printed. Kernels come in two kinds: "installed" has this checkout's course package on its
import path, as on the instructor's machine; "plain" runs its Python with -S and only the packages' folder on the path
(torch, pytest, ipykernel, and no course package), as on a student's machine that holds the release folder only.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from conftest import NB_ASSIGNMENT as ASSIGNMENT
from conftest import ROOT, SOLUTIONS

from course.content.curriculum import TASKS
from course.front import checking

nbclient = pytest.importorskip("nbclient")
SIGMOID = ("return self.output(h)", "return torch.sigmoid(self.output(h))")


@pytest.fixture(scope="module")
def released(nbgrader_release: SimpleNamespace) -> SimpleNamespace:
    """The nbgrader release of the course's notebooks, and its source notebooks (their answer cells hold the
    references), with a kernel "plain" beside them."""
    kernels = nbgrader_release.tmp / "kernels"
    plain = kernels / "kernels" / "plain"
    plain.mkdir(parents=True)
    (plain / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-S", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python without the course package", "language": "python"}))
    return SimpleNamespace(release=nbgrader_release.release, source=nbgrader_release.source, env=nbgrader_release.env,
                           kernels=kernels, tmp=nbgrader_release.tmp)


@dataclass(frozen=True)
class Case:
    """One notebook run: which notebook, how its answers are filled, the kernel and language, and what the course's
    cells must print (cell id -> texts each must hold) and must not."""

    name: str
    notebook: str
    fill: str  # stub, reference or planted
    kernel: str = "installed"
    lang: str = "en"
    saved_as: str = ""  # the name the notebook is saved under, if not its own
    says: dict = field(default_factory=dict)
    zipped: bool = True  # whether pack() writes submission.zip


def every_check(notebook: str, text: str) -> dict:
    return {f"check-{t.id.replace('.', '-')}": [f"Task {t.id} ({t.function}): {text}"] for t in TASKS.values()
            if t.file == f"{notebook}.py"}


CASES = [
    Case("stubs", "sec2_forward", "stub", says={
        **every_check("sec2_forward", "not implemented yet"),
        "check-2-2": ["Task 2.2 (SimpleNN.forward): not implemented yet",
                      "replace raise NotImplementedError(...) in SimpleNN.__init__ with your code"]}),
    *(Case(f"reference {stem}", stem, "reference", says=every_check(stem, "passed, all"))
      for stem in ("sec1_linear", "sec2_forward", "sec3_data", "sec4_training")),
    Case("reference without the course package", "sec2_forward", "reference", kernel="plain",
         says=every_check("sec2_forward", "passed, all")),
    Case("sigmoid after the output layer", "sec2_forward", "planted", says={
        "check-2-1": ["Task 2.1 (SimpleNN.__init__): passed, all 2 checks"],
        "check-2-2": ["Task 2.2 (SimpleNN.forward): no activation after the output layer, so a raw score can be negative",
                      "forward(x (4, 11)) with output.bias set to -10: expected every score below 0, got [",
                      "hint: a raw score can be negative: no ReLU, sigmoid or softmax after the output layer",
                      "Task 2.2 (SimpleNN.forward): failed, 2 of 3 checks passed"]}),
    Case("sigmoid after the output layer, in Korean", "sec2_forward", "planted", kernel="plain", lang="ko", says={
        "check-2-1": ["Task 2.1 (SimpleNN.__init__): 통과, 검사 2개 모두"],
        "check-2-2": ["힌트:", "Task 2.2 (SimpleNN.forward): 실패, 검사 3개 중 2개 통과"]}),
    Case("stubs in Korean", "sec2_forward", "stub", lang="ko",
         says={"check-2-3": ["Task 2.3 (gradients): 아직 구현되지 않음", "raise NotImplementedError(...)를"]}),
    Case("saved under a copy's name", "sec2_forward", "reference", saved_as="sec2_forward (1).ipynb", zipped=False,
         says={"pack": ["this notebook is saved as sec2_forward (1).ipynb: rename it to sec2_forward.ipynb exactly",
                        "not packed:"]}),
]


def filled(case: Case, released: SimpleNamespace, work: Path) -> Path:
    """A copy of the release in work with case's notebook filled as case says; the notebook's path."""
    shutil.copytree(released.release, work)
    path = work / f"{case.notebook}.ipynb"
    notebook = nbformat.read(str(path), as_version=4)
    if case.fill != "stub":
        reference = {c.id: c.source for c in nbformat.read(str(released.source / path.name), as_version=4).cells}
        for cell in notebook.cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = reference[cell.id]
                if case.fill == "planted":
                    cell.source = cell.source.replace(*SIGMOID)
    if case.kernel == "plain":  # say where the course package came from
        setup = next(c for c in notebook.cells if c.metadata.get("course") == "checks")
        setup.source += "\nimport course\nprint(course.__file__)"
    nbformat.write(notebook, str(path))
    if case.saved_as:
        path = path.rename(work / case.saved_as)
    return path


def printed_by_course_cells(path: Path, env: dict, kernel: str) -> dict[str, tuple[str, str]]:
    """Run the notebook at path in a kernel; (stdout, stderr and tracebacks) of each course cell by its id."""
    notebook = nbformat.read(str(path), as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3" if kernel == "installed" else kernel,
                                     resources={"metadata": {"path": str(path.parent)}}, allow_errors=True)
    client.execute(env=env)
    out = {}
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.metadata.get("course"):
            stdout = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
            errors = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stderr")
            errors += "".join("\n".join(o.traceback) for o in cell.outputs if o.output_type == "error")
            out[cell.id] = (stdout, errors)
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_check_cells_print_the_public_checks_feedback(case, released, tmp_path, monkeypatch):
    path = filled(case, released, tmp_path / ASSIGNMENT)
    env = {**released.env, "COURSE_LANG": case.lang}
    if case.kernel == "plain":
        monkeypatch.setenv("JUPYTER_PATH", str(released.kernels))
        env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
        env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]
    if case.saved_as:
        env["JPY_SESSION_NAME"] = str(path)  # what Jupyter tells the kernel of the notebook it runs
    printed = printed_by_course_cells(path, env, case.kernel)
    notebook_tasks = {t.id for t in TASKS.values() if t.file == f"{case.notebook}.py"}
    assert {cell for cell in printed if cell.startswith("check-")} == {f"check-{t.replace('.', '-')}" for t in notebook_tasks}
    for cell, (stdout, errors) in printed.items():
        assert errors == "", f"{cell} raised or wrote to stderr:\n{errors}"
        assert "Traceback" not in stdout and "File \"" not in stdout, stdout
    for cell, texts in case.says.items():
        for text in texts:
            assert text in printed[cell][0], f"{cell} should say {text!r}:\n{printed[cell][0]}"
    if case.kernel == "plain":
        assert str(path.parent / "public" / "course" / "__init__.py") in printed["checks"][0]
    if case.lang == "en":
        assert not re.search("[\uac00-\ud7a3]", "".join(stdout for stdout, _ in printed.values()))
    archive = path.parent / "submission.zip"
    assert archive.is_file() == case.zipped
    if case.zipped:
        with zipfile.ZipFile(archive) as zf:
            manifest = json.loads(zf.read("MANIFEST.json"))
            notebooks = sorted({f"{Path(t.file).stem}.ipynb" for t in TASKS.values()})
            assert sorted(zf.namelist()) == sorted([*notebooks, "MANIFEST.json"])
        assert sorted(manifest["files"]) == notebooks
        assert re.fullmatch(r"\d+\.\d+\.\d+\+[0-9a-f]{12}", manifest["grader"]), manifest


@pytest.mark.parametrize("fill", ["stub", "reference"])
def test_nbgrader_validate_passes(fill, released, tmp_path):
    path = filled(Case(fill, "sec2_forward", fill), released, tmp_path / ASSIGNMENT)
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(path)], cwd=path.parent, env=released.env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "Success! Your notebook passes all the tests." in proc.stdout, proc.stdout + proc.stderr


def test_the_grader_reads_no_course_cell(released):
    from course.engine import ipynb

    for path in sorted(released.release.glob("*.ipynb")):
        code = ipynb.code_of(path.read_bytes(), path.name).decode()
        assert "check(" not in code and "pack(" not in code and "sys.path" not in code, path.name


def test_a_check_changes_nothing_in_the_kernel():
    """fit's check puts stand-ins for train_one_epoch and evaluate into the module it checks: never into the kernel."""
    namespace = {"__name__": "__main__"}
    exec(compile((SOLUTIONS / "sec4_training.py").read_text(), "cell", "exec"), namespace)
    before = dict(namespace)
    result = checking.run("4.4", namespace, ROOT / "public")
    assert result.status == checking.PASSED, result.text()
    assert {k: v for k, v in namespace.items() if k in before} == before and namespace.keys() == before.keys()


def test_what_torch_loads_on_first_use_is_loaded_before_a_checks_clock_starts():
    """An optimizer's first step imports torch._dynamo (1.5 s, over 10 s on a busy machine): paid inside a training
    check's time limit, a right answer was told it "did not finish"."""
    code = "import sys\nfrom course.front import checking\nwith checking.time_limit():\n    print('torch._dynamo' in sys.modules)\n"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert ran.stdout.strip() == "True", ran.stderr[-2000:]
