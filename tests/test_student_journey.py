"""A new student's journey, with nothing but the bundle and its README: unzip it, make a fresh venv and
install with the README's command, check the untouched stubs (a short screen, in English and in Korean),
fill each file's tasks one by one from the references, the four files side by side (each turns green, none
gets worse; one mistake on the way says why), pack with the README's command and grade the zip with the real
grader: full marks. A misnamed file stops the pack with its name.

Every command comes from the README in the unzipped bundle, run in bash in the bundle's folder with its venv
activated, as the student types it. One venv serves the module (built once, 30 to 60 s); each test starts
from the unzipped files. The timings are printed at the end of the run.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ROOT, SOLUTIONS, batch, check_table, gradebook

from course import i18n
from course.content.curriculum import TASKS, total_points
from course.front import release, stubgen

COLUMNS = 80
TRACEBACK = re.compile(r"Traceback|^E\s|\.py:\d+: \w+Error", re.MULTILINE)
WRONG_FORWARD = ("        return self.output(h)  # (N, hidden[1]) -> (N, out)\n",
                 "        return torch.sigmoid(self.output(h))\n")  # task 2.2, wrong: squashes the raw scores


@dataclass(frozen=True)
class Lang:
    """A language the student reads the bundle in: its README and what its screens say."""

    code: str
    readme: str

    def words(self, message: str) -> str:
        with i18n.using(self.code):
            return i18n._(message)


LANGS = [Lang("en", "README.md"), Lang("ko", "README.ko.md")]


def readme_commands(readme: str) -> dict[str, str]:
    """What the README's numbered steps tell the student to type: make and activate a venv and install (step 1),
    check (step 3), pack (step 4); each the first command of its kind in its step."""
    steps = dict(re.findall(r"^(\d)\. (.*?)(?=^\d\. |\n\n)", readme, re.MULTILINE | re.DOTALL))
    spans = {number: re.findall(r"`([^`]+)`", text) for number, text in steps.items()}
    return {"venv": next(c for c in spans["1"] if " -m venv " in c),
            "activate": next(c for c in spans["1"] if c.startswith(". ")),
            "install": next(c for c in spans["1"] if "pip install" in c),
            "check": spans["3"][0], "pack": spans["4"][0]}


def student_env() -> dict[str, str]:
    """A student's shell: this machine's environment without the course's import path, a venv or pytest's
    steering; `python` is this interpreter; pip gives up on an index it cannot reach after one retry (CI
    reaches only package registries: without it pip would wait on PyTorch's index five times a package)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", i18n.ENVIRONMENT) and not k.startswith("PYTEST_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, "COLUMNS": str(COLUMNS), "PIP_RETRIES": "1"}


class Journey:
    """The unzipped bundle with its venv, the README's commands, and how long each step took."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.commands = {lang.code: readme_commands((folder / lang.readme).read_text(encoding="utf-8")) for lang in LANGS}
        self.env = student_env()
        self.timings: list[tuple[str, float]] = []
        self.unzipped = self.top_files()
        self.installed: SimpleNamespace | None = None  # the install command's run

    def top_files(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in self.folder.iterdir() if p.is_file()}

    def restore(self) -> None:
        """The bundle's files as unzipped: the untouched stubs, nothing renamed, no submission.zip."""
        for path in self.folder.iterdir():
            if path.is_file() and path.name not in self.unzipped:
                path.unlink()
        for name, data in self.unzipped.items():
            (self.folder / name).write_bytes(data)

    def run(self, step: str, command: str, timeout: float = 120, active: bool = True) -> SimpleNamespace:
        """command as the student types it, in the bundle's folder with its venv active (unless not active);
        its screen, and its time under step."""
        script = f"{self.commands['en']['activate']} && {command}" if active else command
        started = time.monotonic()
        proc = subprocess.run(["bash", "-c", script], cwd=self.folder, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        self.timings.append((step, time.monotonic() - started))
        text = proc.stdout + proc.stderr
        return SimpleNamespace(code=proc.returncode, text=text, lines=text.splitlines(), table=check_table(text.splitlines()))

    def fill(self, answered: set[str], wrong: tuple[str, str] | None = None) -> None:
        """Each exercise file with the tasks in answered done as the references do them (the rest still stubs),
        and in sec2_forward.py one line replaced by wrong (old, new)."""
        for path in sorted(SOLUTIONS.glob("sec*.py")):
            text = stubgen.make_stub(path.read_text(encoding="utf-8"), str(path), frozenset(answered))
            if wrong and path.name == "sec2_forward.py":
                assert text.count(wrong[0]) == 1, f"{path.name} does not hold {wrong[0]!r} once"
                text = text.replace(*wrong)
            (self.folder / path.name).write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def journey(tmp_path_factory, request) -> Journey:
    """The bundle built from this checkout, unzipped as a student gets it, with a fresh venv made and installed
    by the README's commands."""
    out = tmp_path_factory.mktemp("release")
    assert release.main(["bundle", "--out", str(out), "--course", str(ROOT)]) == 0
    home = tmp_path_factory.mktemp("student")
    with zipfile.ZipFile(out / f"{release.BUNDLE}.zip") as zf:
        zf.extractall(home)
    trip = Journey(home / release.BUNDLE)
    made = trip.run("venv", trip.commands["en"]["venv"], active=False)
    assert made.code == 0, made.text
    trip.installed = trip.run("install", trip.commands["en"]["install"], timeout=900)
    request.addfinalizer(lambda: say(request.config, "student journey: " + ", ".join(
        f"{step} {seconds:.1f} s" for step, seconds in trip.timings)))
    return trip


def say(config: pytest.Config, line: str) -> None:
    """line on the terminal, past pytest's capture (the journey's timings, at its end)."""
    reporter, capture = (config.pluginmanager.get_plugin(name) for name in ("terminalreporter", "capturemanager"))
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)


@pytest.fixture
def student(journey: Journey) -> Journey:
    """The journey, with the bundle's files as unzipped before and after the test."""
    journey.restore()
    yield journey
    journey.restore()


def test_the_bundle_installs_in_a_fresh_venv_with_its_own_command(student):
    """The README's one install line gives the grader's torch (the CPU build) and numpy, on the Python the
    README names: every installed distribution accepts it."""
    assert student.installed.code == 0, student.installed.text[-3000:]
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
                if line.startswith(("torch==", "numpy==")))
    minimum = re.search(r"Python (\d+\.\d+)", (student.folder / "README.md").read_text(encoding="utf-8"))[1]
    probe = ("import importlib.metadata as m, json, torch, numpy\n"
             "from packaging.specifiers import SpecifierSet\n"
             f"refuse = sorted(d.metadata['Name'] for d in m.distributions() if not SpecifierSet("
             f"d.metadata.get('Requires-Python') or '').contains('{minimum}'))\n"
             "print(json.dumps({'torch': torch.__version__, 'numpy': numpy.__version__, 'cuda': torch.version.cuda,"
             " 'refuse': refuse}))")
    ran = student.run("probe", f"python -c \"{probe}\"")
    assert ran.code == 0, ran.text
    got = json.loads(ran.lines[-1])
    assert got["torch"].split("+")[0] == pins["torch"] and got["numpy"] == pins["numpy"], got
    assert got["cuda"] is None and got["refuse"] == [], got
    course = student.run("probe", "python -c 'import course'")
    assert course.code != 0, "the grader's package is importable in the student's venv"


@pytest.mark.parametrize("lang", LANGS, ids=lambda lang: lang.code)
def test_the_untouched_stubs_give_a_short_screen(student, lang):
    """The README's check command on the stubs: a nonzero exit, at most 40 lines, no traceback, no warning, every
    task 'not implemented yet', separator lines as wide as the terminal."""
    ran = student.run(f"check stubs ({lang.code})", student.commands[lang.code]["check"])
    assert ran.code != 0 and len(ran.lines) <= 40, ran.text
    assert not TRACEBACK.search(ran.text) and "warning" not in ran.text.lower(), ran.text
    assert ran.table == {task: lang.words("not implemented yet") for task in TASKS}, ran.text
    assert [i18n.width(line) for line in ran.lines if line.startswith("===")] == [COLUMNS] * 3, ran.text


def rounds() -> list[set[str]]:
    """The tasks of each round: the first task still to do of every exercise file (each file's tasks in order)."""
    files: dict[str, list[str]] = {}
    for task in TASKS.values():
        files.setdefault(task.file, []).append(task.id)
    return [{ids[i] for ids in files.values() if i < len(ids)} for i in range(max(map(len, files.values())))]


@pytest.mark.timeout(600)  # seven check runs: about 30 s on an idle machine, over 90 s on a busy one
def test_filling_the_tasks_one_by_one_turns_each_green(student):
    """Each exercise file's tasks filled in one by one from the references, the files side by side (the public
    checks load each file on its own, so a file's rows depend on that file alone: one check run per round serves
    every file); after each round, the README's check: the tasks filled in that round pass and every other row
    stays as it was; a wrong forward on the way fails only its row, with what was checked and a hint, in English
    and in Korean; at the end, exit 0."""
    done: set[str] = set()
    for tasks in rounds():
        if "2.2" in tasks:
            student.fill(done | tasks, wrong=WRONG_FORWARD)
            for lang in LANGS:
                ran = student.run(f"check 2.2 wrong ({lang.code})", student.commands[lang.code]["check"])
                want = {t: lang.words("passed" if t in done | tasks else "not implemented yet") for t in TASKS}
                assert ran.table == {**want, "2.2": lang.words("failed")}, ran.text
                assert "Task 2.2 (SimpleNN.forward)" in ran.text, ran.text
                assert lang.words("hint: {hint}").split("{hint}")[0] in ran.text and not TRACEBACK.search(ran.text), ran.text
        done |= tasks
        student.fill(done)
        ran = student.run(f"check {', '.join(sorted(tasks))}", student.commands["en"]["check"])
        assert ran.table == {t: "passed" if t in done else "not implemented yet" for t in TASKS}, ran.text
        assert not TRACEBACK.search(ran.text), ran.text
    assert done == set(TASKS) and ran.code == 0, ran.text


def test_the_packed_zip_gets_full_marks_from_the_grader(student, tmp_path):
    """The README's pack command on a complete bundle writes submission.zip (the four files and MANIFEST.json
    with their hashes and the grader version); `pytest grader --submissions` gives it full marks."""
    student.fill(set(TASKS))
    ran = student.run("pack", student.commands["en"]["pack"])
    assert ran.code == 0 and set(ran.table.values()) == {"passed"}, ran.text
    assert ran.lines[-1].endswith("and MANIFEST.json; hand in this zip"), ran.text  # and no check fails
    names = release.exercise_files()
    with zipfile.ZipFile(student.folder / "submission.zip") as zf:
        assert sorted(zf.namelist()) == sorted([*names, "MANIFEST.json"])
        manifest = json.loads(zf.read("MANIFEST.json"))
    assert manifest["files"] == {n: hashlib.sha256((student.folder / n).read_bytes()).hexdigest() for n in names}
    assert manifest["grader"] == json.loads((student.folder / "VERSION.json").read_text(encoding="utf-8"))["grader"]
    (tmp_path / "class").mkdir()
    (student.folder / "submission.zip").rename(tmp_path / "class" / "student.zip")
    started = time.monotonic()
    graded = batch(tmp_path / "class", tmp_path / "out")
    student.timings.append(("grade", time.monotonic() - started))
    assert graded.clean, graded
    row = gradebook(tmp_path / "out")["student"]
    assert row["status"] == "graded" and float(row["total"]) == total_points(), row


@pytest.mark.parametrize("lang", LANGS, ids=lambda lang: lang.code)
def test_pack_names_a_near_miss_and_writes_nothing(student, lang):
    """sec1_linear.py saved as `sec1_linear (1).py`: the README's pack command refuses, in the student's language,
    naming the file and the name to give it."""
    (student.folder / "sec1_linear.py").rename(student.folder / "sec1_linear (1).py")
    ran = student.run(f"pack near miss ({lang.code})", student.commands[lang.code]["pack"])
    said = lang.words("{file} is missing from {folder}; it holds {names}: rename it to {file} exactly").format(
        file="sec1_linear.py", folder=student.folder.resolve(), names="sec1_linear (1).py")
    assert ran.code == 1 and not (student.folder / "submission.zip").exists(), ran.text
    assert ran.lines == [lang.words("not packed:"), f"  {said}"], ran.text
