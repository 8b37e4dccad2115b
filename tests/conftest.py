"""Helpers for proving the grader right: grade a folder in-process and read back its grade; run a batch
in a subprocess and read back its gradebook and stored results; find characters no output may hold."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch  # noqa: F401  in-process grading runs drop modules they imported; torch must outlive them

import course.engine.checks  # noqa: F401
import course.front.grading  # noqa: F401
import course.sandbox.probes  # noqa: F401
import course.sandbox.worker  # noqa: F401  one module object, so every in-process run shares one zygote
from course.content.curriculum import TASKS, total_points

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
GRADER = ROOT / "grader"
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
CLASS = ROOT / "samples" / "class"
PROGRESS = re.compile(r"^grading (\d+) of (\d+) entries \((\d+) unchanged since the last run\)$", re.MULTILINE)


def submission_from_solutions(folder: Path, changes: dict[str, str] | None = None) -> Path:
    """A submission folder holding the reference files, with some files' text replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in SOLUTIONS.glob("sec*.py"):
        shutil.copy(path, folder / path.name)
    for name, text in (changes or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def mutate(file: str, old: str, new: str) -> str:
    """The reference file's text with old replaced by new; old must occur exactly once."""
    text = (SOLUTIONS / file).read_text(encoding="utf-8")
    count = text.count(old)
    assert count == 1, f"{file}: the text to replace occurs {count} times, expected once:\n{old}"
    return text.replace(old, new)


def replace_definition(file: str, name: str, code: str, text: str | None = None) -> str:
    """The reference file's text (or text) with its top-level function or class name (from its def or class line
    to the next top-level statement) replaced by code."""
    text = (SOLUTIONS / file).read_text(encoding="utf-8") if text is None else text
    found = re.search(rf"^(def|class) {re.escape(name)}\b", text, re.MULTILINE)
    assert found, f"{file} defines no top-level {name}"
    after = re.compile(r"^\S", re.MULTILINE)
    end = next((m.start() for m in after.finditer(text, found.end()) if not text.startswith(")", m.start())), len(text))
    return text[:found.start()] + code.strip("\n") + "\n\n\n" + text[end:]


class Graded:
    """The outcome of grading one folder: the pytest result and the JSON report."""

    def __init__(self, result: pytest.RunResult, report: dict) -> None:
        self.result = result
        self.report = report
        self.grade = report["grade"]

    def earned(self, task: str) -> float:
        return self.grade["tasks"][task]["earned"]

    def full(self, task: str) -> bool:
        entry = self.grade["tasks"][task]
        return entry["earned"] == entry["possible"]

    def feedback(self, task: str) -> list[str]:
        return [t["metadata"].get("feedback", "") for t in self.report["tests"]
                if t["metadata"]["task"] == task and t["metadata"].get("feedback")]


@pytest.fixture
def grade(pytester: pytest.Pytester):
    """grade(folder, *args) runs `pytest grader --submission folder` in this process and returns a Graded."""
    def run(folder: Path, *args: str) -> Graded:
        report = pytester.path / f"report-{folder.name}.json"
        result = pytester.runpytest_inprocess(
            str(GRADER), "--submission", str(folder), "-p", "no:cacheprovider",
            "-W", "ignore::pytest.PytestAssertRewriteWarning",
            "--json-report", f"--json-report-file={report}", *args)
        return Graded(result, json.loads(report.read_text()))
    return run


def command(subs: Path, out: Path, *args: str) -> list[str]:
    """The command line of `pytest grader --submissions subs --out out`, with args."""
    return [sys.executable, "-m", "pytest", "grader", "--submissions", str(subs), "--out", str(out),
            "-p", "no:cacheprovider", *args]


def environment(*paths: Path, **extra: str) -> dict[str, str]:
    """This process's environment, with this checkout's course package (and paths) first on the import path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), *map(str, paths), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


class Ran:
    """A finished batch run: exit code, output, and what it said about progress."""

    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        self.returncode, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr
        found = PROGRESS.search(self.stderr)
        self.todo, self.total, self.unchanged = (int(g) for g in found.groups()) if found else (None, None, None)

    def __repr__(self) -> str:  # what a failed assertion shows
        return f"exit {self.returncode}\n--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-4000:]}"

    @property
    def clean(self) -> bool:
        """Exit code 0 and no INTERNALERROR: the batch did not crash."""
        return self.returncode == 0 and "INTERNALERROR" not in self.stdout + self.stderr


def batch(subs: Path, out: Path, *args: str, env: dict | None = None) -> Ran:
    """Grade the class subs into out in a subprocess (as an instructor would) and return how it ran."""
    proc = subprocess.run(command(subs, out, *args), cwd=ROOT, env=env or environment(), capture_output=True,
                          text=True, errors="surrogateescape", timeout=300)
    return Ran(proc)


def batches(runs: list[tuple[Path, Path, tuple[str, ...]]], at_once: int = 2) -> list[Ran]:
    """batch(subs, out, *args) for each (subs, out, args) of runs, at_once of them side by side (the outs apart): much
    of a batch is one busy process (importing torch, collecting the grader, starting the zygote), so two batches
    keep a 2-core machine busier than one."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(at_once) as pool:
        return list(pool.map(lambda run: batch(run[0], run[1], *run[2]), runs))


def contained_batch(cls: Path, out: Path, *args: str, timeout: float, path: tuple[Path, ...] = ()) -> SimpleNamespace:
    """`pytest grader --submissions cls --out out` with args, in a session of its own, its output in out.log;
    the whole session killed if it overruns, and anything of it still around killed after (red-team runs)."""
    log = out.with_name(out.name + ".log")
    started = time.monotonic()
    with open(log, "w+b") as output:
        proc = subprocess.Popen(command(cls, out, *args), cwd=ROOT, env=environment(*path), stdin=subprocess.DEVNULL,
                                stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # anything of the judge's session still around
            except (ProcessLookupError, PermissionError):
                pass
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    return SimpleNamespace(returncode=proc.returncode, output=text, seconds=time.monotonic() - started, out=out)


# Ways to run the grader without root, as `unshare` arguments: a user without root on a plain machine, root of a
# user namespace that maps only itself, and a rootless container (its own user and PID namespaces).
WITHOUT_ROOT = {
    "user_without_root": ["unshare", "--user", "--map-user=1000", "--map-group=1000"],
    "root_of_a_user_namespace": ["unshare", "--user", "--map-root-user"],
    "rootless_container": ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc"],
}


# A user without root as the kernel sees one (uid 1000 of the machine, not root mapped to another number): only
# there do per-uid rules apply as they do to an instructor's account (RLIMIT_NPROC, for one, never binds the real
# root). Made by root: the interpreter's folders are made traversable in a private mount namespace if they sit in a
# folder only root may enter (/root/.pyenv), then setpriv drops to uid 1000 with no capabilities.
REAL_USER_SCRIPT = """
python=$(realpath "$1"); shift
folder=$(dirname "$python")
while [ "$folder" != / ]; do  # the outermost folder others may not enter, and its child on the way
  [ "$(( 0$(stat -c %a "$folder") & 1 ))" = 0 ] && closed=$folder && inside=$child
  child=$folder; folder=$(dirname "$folder")
done
if [ -n "$closed" ]; then
  kept=$(mktemp -d) && mount --bind "$inside" "$kept" && mount -t tmpfs -o mode=0755 tmpfs "$closed" &&
    mkdir -p "$inside" && mount --bind "$kept" "$inside" || exit 97
fi
exec setpriv --reuid=1000 --regid=1000 --clear-groups --inh-caps=-all --bounding-set=-all -- "$@"
"""


def as_a_real_user() -> list[str]:
    """A command prefix that runs as uid 1000 of the machine, or a skip where this process cannot make one."""
    if os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("unshare"):
        pytest.skip("only root can run a command as another user of the machine")
    args = ["unshare", "--mount", "--propagation", "private", "sh", "-c", REAL_USER_SCRIPT, "sh", sys.executable]
    if subprocess.run([*args, sys.executable, "-c", "import torch, course"], capture_output=True,
                      env=environment()).returncode != 0:
        pytest.skip("uid 1000 cannot run this interpreter, or make user namespaces")
    return args


def without_root(name: str) -> list[str]:
    """WITHOUT_ROOT[name], or a skip where this machine cannot make user namespaces."""
    args = WITHOUT_ROOT[name]
    if not shutil.which("unshare") or subprocess.run([*args, "true"], capture_output=True).returncode != 0:
        pytest.skip("this machine cannot make user namespaces with unshare")
    return args


def make_class(folder: Path, entries: list[str]) -> Path:
    """A submissions folder holding copies of some entries of samples/class."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in entries:
        if (CLASS / name).is_dir():
            shutil.copytree(CLASS / name, folder / name)
        else:
            shutil.copy2(CLASS / name, folder / name)
    return folder


def gradebook(out: Path) -> dict[str, dict]:
    """The gradebook's rows by student (the last row of an id that appears twice)."""
    return {r["student"]: r for r in gradebook_rows(out)}


def gradebook_rows(out: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO((out / "gradebook.csv").read_text(encoding="utf-8"))))


def results(out: Path) -> dict[str, dict]:
    """The stored per-student results (never a leftover temporary file), by student id."""
    found = {}
    folder = out / "students"
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.suffix == ".json" and not path.name.startswith("."):
            data = json.loads(path.read_text(encoding="utf-8"))
            found[data["student"]] = data
    return found


def unsafe_characters(text: str, lines: bool = True) -> list[str]:
    """The characters of text no output may show raw, by Unicode category: controls (Cc; newline and tab
    allowed when lines), format characters such as bidi overrides and zero-width spaces (Cf), surrogates
    (Cs) and line or paragraph separators (Zl, Zp)."""
    allowed = "\n\t" if lines else ""
    return [c for c in set(text)
            if c not in allowed and unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")]



CHECK_ROW = re.compile(r"(\d\.\d)\s.*\s(\d+/\d+)\s+(.+)$")  # a row of the table a public check run ends with


def check_table(lines: list[str]) -> dict[str, str]:
    """The status column of the per-task table a public check run ends with, by task."""
    rows = [CHECK_ROW.match(line) for line in lines]
    return {row[1]: row[3].strip() for row in rows if row}


# The red team's tools: hostile exercise files, the processes an attack leaves, and the verdict every
# attack must pass (tests/test_redteam*.py).
SURVIVOR_WAIT = 3.0
RT_SEED = ("--grader-seed", "20240611")
S1, S2, S3, S4 = "sec1_linear.py", "sec2_forward.py", "sec3_data.py", "sec4_training.py"

COMM_MARK = '''\
try:  # red team: tag this process (and every fork of it) so a survivor can be found in /proc (PR_SET_NAME: the
    import ctypes as _rt_ctypes  # comm /proc/self/comm shows; a runner's /proc is read-only)
    _rt_ctypes.CDLL(None).prctl(15, b"__MARK__", 0, 0, 0)
except (OSError, AttributeError):
    pass
'''

FUTURE = "from __future__ import annotations\n"


def with_prelude(text: str, prelude: str = "") -> str:
    """text with the process tag and prelude (module-level hostile code) right after the __future__ import."""
    assert text.count(FUTURE) == 1
    return text.replace(FUTURE, FUTURE + COMM_MARK + textwrap.dedent(prelude), 1)


def stub(file: str, bodies: dict[str, str] | None = None, prelude: str = "") -> str:
    """The stub of file with the body of some functions (by name) replaced, plus a module-level prelude."""
    text = (EXERCISES / file).read_text(encoding="utf-8")
    for function, body in (bodies or {}).items():
        start = text.index(f"def {function}(")
        at = text.index("raise NotImplementedError(", start)
        line_start = text.rindex("\n", 0, at) + 1
        indent = text[line_start:at]
        text = (text[:line_start] + textwrap.indent(textwrap.dedent(body).strip("\n") + "\n", indent)
                + text[text.index("\n", at) + 1:])
    return with_prelude(text, prelude)


WRONG_LINEAR = "return torch.zeros(*x.shape[:-1], weight.shape[0])  # right shape, wrong values\n"


def then_wrong(body: str) -> str:
    """body (hostile lines), then the wrong answer linear_forward really returns."""
    return textwrap.dedent(body) + WRONG_LINEAR


def sec1(linear_forward: str = WRONG_LINEAR, prelude: str = "", **bodies: str) -> dict[str, str]:
    """A hostile sec1_linear.py: linear_forward holds the attack (else a wrong answer), the rest are stubs."""
    return {S1: stub(S1, {"linear_forward": linear_forward, **bodies}, prelude)}


def tasks_of(file: str) -> set[str]:
    return {t.id for t in TASKS.values() if t.file == file}


def marked_processes(mark: str) -> list[int]:
    """Live (not zombie) processes whose argv or name holds mark."""
    found, needle = [], mark.encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{entry.name}/comm", "rb") as f:
                comm = f.read()
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X") and (needle in cmdline or needle in comm):
            found.append(int(entry.name))
    return found


def describe(pids: list[int]) -> list[str]:
    """Each pid with the start of its command line, for a failure message."""
    described = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().replace(b"\0", b" ").decode(errors="replace")
            described.append(f"{pid}: {argv[:60]}")
        except OSError:
            described.append(str(pid))
    return described


def kill_marked(mark: str) -> None:
    for pid in marked_processes(mark):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class RedTeam:
    """One attack: its unique marker, its folders, and the checks every attack must pass."""

    def __init__(self, tmp_path: Path, pytester: pytest.Pytester, shared: Path) -> None:
        self.mark = "rt" + uuid.uuid4().hex[:10]  # fits in /proc/<pid>/comm (15 characters)
        # names the folders: never the mark, since the zygote's argv lists the submission folder
        self.tag = "sub" + uuid.uuid4().hex[:10]
        self.tmp = tmp_path
        self.pytester = pytester
        self.shared = shared
        self.side = tmp_path / "side"  # must stay empty: planted code that ran would write here
        self.side.mkdir()
        self.scratch = tmp_path / "scratch"  # where an attack may write (if the worker can)
        self.scratch.mkdir()

    def fill(self, text: str) -> str:
        return (text.replace("__MARK__", self.mark).replace("__TAG__", self.tag).replace("__SIDE__", str(self.side))
                .replace("__SCRATCH__", str(self.scratch)))

    def folder(self, files: dict[str, str], planted: dict[str, str | bytes] | None = None,
               where: Path | None = None) -> Path:
        """A submission: the reference files, some replaced by files, plus files planted beside them.

        By default every test reuses one folder path: the worker hides the submission folder, so a
        new path means a new zygote (about 1.5 s); one path keeps one zygote for the whole file, as
        a batch of students would. An attack that must recognise its own report passes a folder
        named after its tag.
        """
        if where is None:
            where = self.shared
            shutil.rmtree(where, ignore_errors=True)
        folder = submission_from_solutions(where, {name: self.fill(text) for name, text in files.items()})
        for name, content in (planted or {}).items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.fill(content).encode() if isinstance(content, str) else content)
        return folder

    def grade(self, folder: Path, *args: str) -> Graded:
        """Grade folder in this process, as conftest's grade fixture does; a run without a report fails here."""
        report = self.report_path(folder)
        result = self.pytester.runpytest_inprocess(
            str(GRADER), "--submission", str(folder), "-p", "no:cacheprovider",
            "-W", "ignore::pytest.PytestAssertRewriteWarning",
            "--json-report", f"--json-report-file={report}", *(args or RT_SEED))
        if not report.exists():
            tail = "\n".join((result.outlines + result.errlines)[-8:])
            survivors = self.survivors()
            pytest.fail(f"the grading run wrote no report (exit code {result.ret}); survivors {survivors}:\n{tail}",
                        pytrace=False)
        return Graded(result, json.loads(report.read_text()))

    def report_path(self, folder: Path) -> Path:
        return self.pytester.path / f"report-{folder.name}.json"

    def verdict(self, graded: Graded, attacked: set[str], honest: Graded | None = None,
                not_in_feedback: tuple[str, ...] = ()) -> None:
        """Every check an attack must pass; all problems are reported together."""
        problems: list[str] = []
        out = "\n".join(graded.result.outlines + graded.result.errlines)
        if "INTERNALERROR" in out:
            problems.append("the grading run hit an INTERNALERROR")
        if graded.result.ret not in (0, 1):
            problems.append(f"the grading run exited with {graded.result.ret}")
        grade, report = graded.grade, graded.report
        if grade.get("possible") != total_points() or sorted(grade.get("tasks", {})) != sorted(TASKS):
            problems.append(f"the grade does not cover the curriculum: {grade.get('possible')} points possible")
        if grade.get("errors"):
            problems.append(f"grader errors: {grade['errors']}")
        if not report.get("tests") or len(report["tests"]) != report.get("summary", {}).get("collected"):
            problems.append("the report does not list every collected test")
        for task in TASKS:
            earned = graded.earned(task)
            allowed = honest.earned(task) if honest is not None else (0.0 if task in attacked else
                                                                       float(TASKS[task].points))
            if task in attacked and earned > allowed:
                problems.append(f"task {task} (attacked): earned {earned:g}, the honest code earns {allowed:g}")
            elif task not in attacked and earned != allowed:
                problems.append(f"task {task} (not attacked): earned {earned:g}, expected {allowed:g}")
        for task in attacked:
            for text in graded.feedback(task):
                for needle in not_in_feedback:
                    if needle in text:
                        problems.append(f"task {task} feedback shows the attack succeeded: {needle!r} in\n{text}")
        planted = sorted(p.name for p in self.side.iterdir())
        if planted:
            problems.append(f"planted code ran: it wrote {planted}")
        survivors = self.survivors()
        if survivors:
            problems.append(f"processes of the attack still alive {SURVIVOR_WAIT:g} s after grading: {survivors}")
        assert not problems, "\n".join(problems)

    def survivors(self) -> list[str]:
        """Marked processes still alive after up to SURVIVOR_WAIT seconds (then killed), with their argv."""
        deadline = time.monotonic() + SURVIVOR_WAIT
        while True:
            pids = marked_processes(self.mark)
            if not pids or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        described = describe(pids)
        kill_marked(self.mark)
        return described


@pytest.fixture(scope="module")
def shared_submission(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("redteam") / "submission"


@pytest.fixture
def rt(tmp_path: Path, pytester: pytest.Pytester, request: pytest.FixtureRequest, shared_submission: Path) -> RedTeam:
    team = RedTeam(tmp_path, pytester, shared_submission)
    request.addfinalizer(lambda: kill_marked(team.mark))  # whatever the outcome, nothing of it outlives the test
    return team


# Pages in a real browser: parsed for their text and tags, and screenshotted by Debian's headless Chromium
# (tests/test_html_report.py, tests/test_class_report.py).
CHROMIUM = Path("/usr/bin/chromium")


class Page(HTMLParser):
    """A parsed report: every start tag with its attributes, and the text of the document."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def count(self, tag: str) -> int:
        return sum(t == tag for t, _ in self.tags)

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Debian's chromium, headless, with a fresh profile and nothing fetched from the network."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (Debian: apt-get install -y chromium)")
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--window-size=390,1200", *args]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def screenshot(tmp_path: Path, page: Path, *args: str) -> np.ndarray:
    """The page as Chromium draws it in a 390 x 1200 window: (1200, 390, 3) RGB bytes."""
    png = tmp_path / f"{page.stem}.png"
    chromium(tmp_path, f"--screenshot={png}", *args, page.as_uri())
    from matplotlib import image

    pixels = (image.imread(png)[..., :3] * 255).round().astype(np.uint8)
    return pixels


def share_of(pixels: np.ndarray, rgb: tuple) -> float:
    return float(np.all(np.abs(pixels.astype(int) - rgb) <= 2, axis=-1).mean())


OVERFLOW_PROBE = """<script>
function probe() {
  var root = document.documentElement, ok = root.scrollWidth <= root.clientWidth && innerWidth <= 400;
  var mark = document.getElementById("probe") || document.body.appendChild(document.createElement("div"));
  mark.id = "probe";
  mark.style.cssText = "position:fixed;left:0;top:0;width:40px;height:40px;z-index:9;background:" +
    (ok ? "#00ff00" : "#ff00ff");
}
probe(); addEventListener("resize", probe); setTimeout(probe, 200);
</script></body>"""


def fits_390(tmp_path: Path, page_text: str, name: str) -> bool:
    """Whether Chromium at 390 px lays the page out without scrolling sideways: a copy of the page (the report
    itself has no script) paints a corner green when it fits, magenta when not."""
    copy = tmp_path / f"{name}.html"
    copy.write_text(page_text.replace("</body>", OVERFLOW_PROBE), encoding="utf-8")
    corner = screenshot(tmp_path, copy, "--virtual-time-budget=2000")[5:35, 5:35]
    assert share_of(corner, (0, 255, 0)) + share_of(corner, (255, 0, 255)) > 0.99, "the probe did not run"
    return share_of(corner, (0, 255, 0)) > 0.99


# Hostile entries of a class (tests/test_batch_survives.py, tests/test_redteam_serve.py)

def notebook(*sources: str) -> bytes:
    """A version 4 notebook with one code cell per source."""
    cells = [{"cell_type": "code", "metadata": {}, "source": s, "outputs": [], "execution_count": None} for s in sources]
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}).encode()


def with_sec1(code: str) -> dict[str, str]:
    """The reference files, sec1_linear.py followed by code (which may redefine its functions)."""
    return {"sec1_linear.py": (SOLUTIONS / "sec1_linear.py").read_text(encoding="utf-8") + code}


@dataclass(frozen=True)
class Hostile:
    """One hostile entry: its name in the class folder and its content (bytes: a file entry; a dict: a folder
    of the references with these files added or replaced), the id the gradebook shows, the status it must
    get, and what its gradebook message (where="message") or its feedback (where="feedback") must say."""

    name: str
    content: bytes | dict
    id: str
    status: str
    says: str
    where: str = "message"
    lost: list[str] = field(default_factory=list)  # tasks it must earn 0 in


ENTRIES = [
    Hostile("nb-bigint.ipynb", b'{"nbformat": 4, "cells": [], "n": ' + b"7" * 5000 + b"}", "nb-bigint", "unreadable",
            "nb-bigint.ipynb is not a notebook the grader can read (it holds a number too long to read)"),
    Hostile("nb-deep.ipynb", b'{"nbformat": 4, "cells": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nb-deep",
            "unreadable", "nb-deep.ipynb is not a notebook the grader can read (its JSON is nested too deeply)"),
    Hostile("nb-parser-memory.ipynb", notebook("x = " + "-" * 150_000 + "1\n"), "nb-parser-memory", "unreadable",
            "the code of cell 1 is too large for Python's parser"),
    Hostile("nb-parser-recursion", {"sec1_linear.ipynb": notebook("x = " + "x + " * 200_000 + "1\n")},
            "nb-parser-recursion", "graded",
            "sec1_linear.ipynb is not a notebook the grader can read (the code of cell 1 is nested too deeply",
            lost=sorted(tasks_of("sec1_linear.py"))),
    Hostile("nb-brackets", {"sec1_linear.ipynb": notebook("x = " + "[" * 100_000 + "]" * 100_000 + "\n")},
            "nb-brackets", "graded", "SyntaxError", where="feedback", lost=sorted(tasks_of("sec1_linear.py"))),
    Hostile("raises-surrogate", with_sec1('\n\ndef linear_forward(x, weight, bias=None):\n'
                                          '    raise ValueError("\\ud800 and \\udfff")\n'),
            "raises-surrogate", "graded", "ValueError: \\ud800 and \\udfff", where="feedback", lost=["1.1"]),
    Hostile("raises-osc52", with_sec1('\n\ndef linear_forward(x, weight, bias=None):\n'
                                      '    raise type("\\x1b[2J\\x1b]52;c;aGk=\\x07Evil", (Exception,), {})'
                                      '("\\x1b]52;c;aGk=\\x07\\u202e")\n'),
            "raises-osc52", "graded", "\\x1b[2J\\x1b]52;c;aGk=\\x07Evil: \\x1b]52;c;aGk=\\x07\\u202e",
            where="feedback", lost=["1.1"]),
    Hostile("raises-class-newline", with_sec1('\n\ndef linear_forward(x, weight, bias=None):\n'
                                              '    raise type("Evil\\n41 / 41", (Exception,), {})("boom")\n'),
            "raises-class-newline", "graded", "raised Evil\\n41 / 41: boom", where="feedback", lost=["1.1"]),
    Hostile("returns-qualname", with_sec1('\n\ndef linear_forward(x, weight, bias=None):\n'
                                          '    return type("\\x1b[1A\\x1b[2K41 / 41\\u202e", (), {})()\n'),
            "returns-qualname", "graded", "\\x1b[1A\\x1b[2K41 / 41\\u202e", where="feedback", lost=["1.1"]),
    Hostile("prints-escapes", with_sec1('\n\ndef linear_forward(x, weight, bias=None):\n'
                                        '    print("\\x1b]52;c;aGk=\\x07\\x1b[2J\\u202e total 41 / 41\\r")\n'
                                        '    return x\n'),
            "prints-escapes", "graded", "\\x1b]52;c;aGk=\\x07\\x1b[2J\\u202e total 41 / 41\\r", where="feedback",
            lost=["1.1"]),
    Hostile("\x1b]52;c;aGk=\x07\u202eeman", {}, "\\x1b]52;c;aGk=\\x07\\u202eeman", "graded",
            "the entry's name holds control or invisible characters"),
    Hostile("=HYPERLINK(1)", {}, "'=HYPERLINK(1)", "graded", ""),
    Hostile("zz-render-fault", {}, "zz-render-fault", "error",
            "feedback/zz-render-fault.html could not be written (RuntimeError: injected \\x1b[2J fault)"),
    Hostile("zz-export-fault", {}, "zz-export-fault", "error",
            "classroom/zz-export-fault.json could not be written (RuntimeError: injected \\x1b[2J fault)"),
]

def add_entry(folder: Path, entry: Hostile) -> None:
    if isinstance(entry.content, bytes):
        (folder / entry.name).write_bytes(entry.content)
    else:
        submission_from_solutions(folder / entry.name, {k: v for k, v in entry.content.items() if isinstance(v, str)})
        for name, data in entry.content.items():
            if isinstance(data, bytes):
                (folder / entry.name / name).write_bytes(data)
                (folder / entry.name / name.replace(".ipynb", ".py")).unlink(missing_ok=True)


# One grading service at the seed of the service's tests, started once a session (tests/test_serve.py,
# tests/test_redteam_serve.py): each start imports torch, collects the grader and starts a zygote.
SERVICE_SEED = ("--grader-seed", "7")


@pytest.fixture(scope="session")
def seed7_service():
    """A course.front.serve.Service of GRADER at SERVICE_SEED; a test that breaks it on purpose starts its own."""
    from course.front.serve import Service

    with Service(GRADER, list(SERVICE_SEED)) as running:
        yield running


# An entry whose runner names itself, so a test can end the Dask worker grading it (tests/test_cluster.py,
# tests/test_redteam_serve.py)

KILLER_MARK = "kills-workers"
KILLER = f'''import ctypes, time
ctypes.CDLL(None).prctl(15, b"{KILLER_MARK}", 0, 0, 0)  # names its runner, so the test can find it
time.sleep(3)
'''


def ancestors(pid: int) -> list[int]:
    """pid's parent, its parent, ... up to (not including) pid 1."""
    chain = []
    while pid > 1:
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        if pid > 1:
            chain.append(pid)
    return chain


# The notebooks' nbgrader release, made once a session (tests/test_nbgrader.py, tests/test_notebook_checks.py)
NB_ASSIGNMENT = "pytorch-basics"


def jupyter_environment(tmp: Path) -> dict[str, str]:
    """environment(), with no user Jupyter config, data or kernels: their folders in tmp."""
    return environment(**{f"JUPYTER_{kind}_DIR": str(tmp / f"jupyter-{kind.lower()}")
                          for kind in ("CONFIG", "DATA", "RUNTIME")})


@pytest.fixture(scope="session")
def nbgrader_release(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """`python -m course.front.notebooks` writes the source notebooks into a temporary course folder and `nbgrader
    generate_assignment` makes the release, once a session: the course folder (root), the assignment's source and
    release folders, the environment they ran in and its folder (tmp). No test changes the release or the source
    (tests/test_nbgrader.py autogrades in the course folder, beside them)."""
    tmp = tmp_path_factory.mktemp("nbgrader")
    root = tmp / "course"
    env = jupyter_environment(tmp)
    for command in ([sys.executable, "-m", "course.front.notebooks", "--course-dir", str(root)],
                    [sys.executable, "-m", "nbgrader", "generate_assignment", NB_ASSIGNMENT]):
        proc = subprocess.run(command, cwd=root if root.is_dir() else ROOT, env=env, capture_output=True, text=True,
                              timeout=900)
        assert proc.returncode == 0, f"{command} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return SimpleNamespace(root=root, source=root / "source" / NB_ASSIGNMENT, release=root / "release" / NB_ASSIGNMENT,
                           env=env, tmp=tmp)
