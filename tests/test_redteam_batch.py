"""Red team in a batch: every attack of tests/test_redteam.py graded as one student of a whole class (issue 3).

One class folder holds every attacker (student id atk-<attack>), the honest code some attacks are bounded by
(base-<attack>) and three honest students (honest-full: the references; honest-partial: sec2 left a stub;
honest-buggy: train_one_epoch forgets optimizer.zero_grad()). It is graded once, as an instructor would:
`pytest grader --submissions CLASS --out OUT` in a subprocess, with --grader-seed 20240611 and
--grader-timeout 3. A second class of the three honest students alone is graded with the same seed. Then:

- the batch ran: exit code 0 or 1, no INTERNALERROR, one gradebook row and one stored result per entry;
- the honest students earn, task by task, exactly what they earn in the batch without the attackers;
- each attacker earns no more than its honest baseline in the tasks it attacks (0 for a stub or a wrong
  answer; for an attack on honest but buggy code, what base-<attack> earns in the same batch) and no more than
  full marks elsewhere;
- no process tagged with the attack's marker is alive 3 s after the batch; nothing planted ran (the attack's
  side folder stays empty); what the attack printed shows it learnt nothing; its stored result is not changed
  after the batch ended; and the checks particular to some attacks (network, shared folders, a thread that
  keeps writing, the report's size) as in tests/test_redteam.py.

Each attack is built by the ATTACKS table of tests/attacks.py, as in tests/test_redteam.py: both files grade
the same hostile code.
Not expressible in a batch: planted_conftest_and_ini_in_the_working_directory (the single-run test grades
from inside the submission folder; a batch runs from the course checkout, and its entries are never a working
directory). The controls of tests/test_redteam.py are played here by the honest students.

The batch runs at this machine's containment level (L3 where tests run as root). One more case holds the
zygote at L1, where a worker can see and kill the zygote, to check that the other judge copes.

Cases marked xfail(strict=True) are attacks that work in a batch today; each reason says how.
"""
from __future__ import annotations

import csv
import io
import socket
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from attacks import AFTER_WRITING, ATTACKS, HONEST_BASELINES, IN_FEEDBACK, NOT_IN_FEEDBACK, on_3d_call, shared_places
from conftest import (EXERCISES, contained_batch, S1, S2, S4, SURVIVOR_WAIT, describe, kill_marked, marked_processes, mutate, results,
                      submission_from_solutions)

from course.content.curriculum import TASKS, total_points

SEED = "20240611"
UNSCORED = {"patched_grad_mode_fakes_no_grad"}  # evaluate without no_grad: the same values, so full marks
ARGS = ("--grader-seed", SEED, "--grader-timeout", "3")
BATCH_TIMEOUT = 240  # seconds for the whole attacked class; it takes about 15 s on 2 cores

HONEST = {
    "honest-full": {},
    "honest-partial": {S2: (EXERCISES / S2).read_text(encoding="utf-8")},
    "honest-buggy": {S4: mutate(S4, "        optimizer.zero_grad()\n", "")},
}
# Attacks that work in a batch today: name -> reason (issue 3).
GAPS: dict[str, str] = {}  # attack name -> why it works in a batch today (none now)


class Attacker:
    """One attack as a student of the class: its id, its unique process marker, its side and scratch folders."""

    def __init__(self, name: str, base: Path, port: int, prefix: str = "atk") -> None:
        self.name = name
        self.id = f"{prefix}-{name}"
        self.mark = "rt" + uuid.uuid4().hex[:10]  # in /proc/<pid>/comm of every process the attack starts
        self.tag = self.id  # the daemon finds its own result by the student id in it
        self.side = base / "side" / self.id  # must stay empty: planted code that ran would write here
        self.scratch = base / "scratch" / self.id  # where an attack may write (if the worker can)
        self.side.mkdir(parents=True)
        self.scratch.mkdir(parents=True)
        self.port = port

    def fill(self, text: str) -> str:
        return (text.replace("__MARK__", self.mark).replace("__TAG__", self.tag).replace("__SIDE__", str(self.side))
                .replace("__SCRATCH__", str(self.scratch)))

    def write(self, folder: Path, files: dict[str, str], planted: dict[str, str | bytes]) -> Path:
        entry = submission_from_solutions(folder / self.id, {n: self.fill(t) for n, t in files.items()})
        for name, content in planted.items():
            path = entry / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.fill(content).encode() if isinstance(content, str) else content)
        return entry

    def planted_pth(self) -> list[Path]:
        """The .pth files plants_files_where_others_would_find_them leaves where others read, if any."""
        name = f"rt-{self.mark}.pth"
        return [p for p in [*(d / name for d in shared_places()), *Path("/tmp").glob(f"*/{name}"),
                            Path.home() / name] if p.exists()]


def run_batch(cls: Path, out: Path, *args: str, path: tuple[Path, ...] = ()) -> SimpleNamespace:
    """The attacked class graded with this module's seed and time limit (conftest.contained_batch)."""
    return contained_batch(cls, out, *ARGS, *args, timeout=BATCH_TIMEOUT, path=path)


def gradebook_ids(out: Path) -> list[str]:
    path = out / "gradebook.csv"
    if not path.exists():
        return []
    return [row["student"] for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))]


def stored_bytes(out: Path) -> dict[str, bytes]:
    folder = out / "students"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix == ".json"} if folder.is_dir() else {}


def earned(result: dict) -> dict[str, float]:
    return {task: entry["earned"] for task, entry in result["grade"]["tasks"].items()}


def feedback(result: dict, tasks: set[str]) -> list[str]:
    return [t.get("feedback", "") for t in result.get("tests", []) if t["task"] in tasks and t.get("feedback")]


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Both classes built and graded once; what the attacks left behind, observed right after the batch."""
    base = tmp_path_factory.mktemp("redteam-batch")
    cls, honest_cls = base / "class", base / "honest"
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    port = server.getsockname()[1]
    attackers = {name: Attacker(name, base, port) for name in ATTACKS}
    baselines = {name: Attacker(name, base, port, prefix="base") for name in HONEST_BASELINES}
    everyone = [*attackers.values(), *baselines.values()]
    try:
        for name, attacker in attackers.items():
            files, planted, attacker.attacked = ATTACKS[name](attacker)
            entry = attacker.write(cls, files, planted)
            if name in AFTER_WRITING:
                AFTER_WRITING[name](entry)
        for name, baseline in baselines.items():
            baseline.write(cls, HONEST_BASELINES[name], {})
        for folder in (cls, honest_cls):
            for sid, files in HONEST.items():
                submission_from_solutions(folder / sid, files)

        alone = run_batch(honest_cls, base / "out-honest")
        ran = run_batch(cls, base / "out")
        ended = time.monotonic()
        after_batch = stored_bytes(ran.out)
        logs = {a.name: a.scratch / "thread.log" for a in attackers.values()}
        time.sleep(0.3)
        sizes = {name: log.stat().st_size if log.exists() else 0 for name, log in logs.items()}

        deadline = ended + SURVIVOR_WAIT
        while any(marked_processes(a.mark) for a in everyone) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = {}
        for a in everyone:
            survivors[a.id] = describe(marked_processes(a.mark))
            kill_marked(a.mark)
        time.sleep(max(0.0, 1.3 - (time.monotonic() - ended)))
        grew = {name for name, log in logs.items() if (log.stat().st_size if log.exists() else 0) != sizes[name]}
        changed_after = {name for name, data in stored_bytes(ran.out).items() if after_batch.get(name) != data}

        server.setblocking(False)
        connections = 0
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                break
            connection.close()
            connections += 1
        planted = {a.name: a.planted_pth() for a in attackers.values()}
        for paths in planted.values():
            for path in paths:
                path.unlink(missing_ok=True)
        return SimpleNamespace(
            base=base, cls=cls, ran=ran, alone=alone, attackers=attackers, baselines=baselines,
            results=results(ran.out), results_alone=results(alone.out), survivors=survivors, grew=grew,
            changed_after=changed_after, connections=connections, planted=planted)
    finally:
        server.close()
        for a in everyone:
            kill_marked(a.mark)


def _describe(run: SimpleNamespace) -> str:
    return f"exit {run.returncode} after {run.seconds:.0f} s; output ends:\n{run.output[-3000:]}"


def test_both_batches_ran_and_graded_every_entry(graded):
    """exit code 0 or 1, no INTERNALERROR, one gradebook row and one stored result per entry"""
    for run, folder in ((graded.ran, graded.cls), (graded.alone, graded.base / "honest")):
        entries = sorted(p.name for p in folder.iterdir())
        assert run.returncode in (0, 1), _describe(run)
        assert "INTERNALERROR" not in run.output, _describe(run)
        assert gradebook_ids(run.out) == entries, _describe(run)
        assert sorted(results(run.out)) == entries
        assert all(r["status"] == "graded" for r in results(run.out).values())
    assert len(graded.attackers) >= 25


def test_attacks_are_not_shown_raw_on_the_terminal(graded):
    """escape sequences the attackers printed never reach the batch's own output"""
    assert "\x1b" not in graded.ran.output and "\x07" not in graded.ran.output


def test_honest_students_earn_what_they_deserve(graded):
    """the three honest students: full marks, all but sec2's 8 points, and fewer points in Task 4.2"""
    alone = graded.results_alone
    assert alone["honest-full"]["grade"]["earned"] == total_points()
    assert alone["honest-partial"]["grade"]["earned"] == total_points() - sum(
        t.points for t in TASKS.values() if t.file == S2)
    assert earned(alone["honest-buggy"])["4.2"] < TASKS["4.2"].points
    for name, baseline in graded.baselines.items():  # each baseline is honest code that loses points,
        if name in UNSCORED:  # but for a mistake no value shows (the grader no longer scores it)
            continue
        attacked = graded.attackers[name].attacked
        result = graded.results[baseline.id]
        assert any(earned(result)[t] < TASKS[t].points for t in attacked), (baseline.id, earned(result))


@pytest.mark.parametrize("sid", list(HONEST))
def test_honest_student_unaffected_by_the_attackers(graded, sid):
    """each honest student's points, task by task, equal those of the batch without the attackers"""
    with_attackers, without = graded.results[sid], graded.results_alone[sid]
    assert earned(with_attackers) == earned(without)
    assert [(t["nodeid"], t["outcome"]) for t in with_attackers["tests"]] == \
        [(t["nodeid"], t["outcome"]) for t in without["tests"]]


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=GAPS[name]))
                                  if name in GAPS else name for name in ATTACKS])
def test_attack_in_a_batch(graded, name):
    """the attacker earns no more than its honest code, leaves nothing running, and nothing it planted ran"""
    attacker = graded.attackers[name]
    problems: list[str] = []
    result = graded.results.get(attacker.id)
    if result is None:
        pytest.fail(f"no stored result for {attacker.id}: {_describe(graded.ran)}", pytrace=False)
    grade = result["grade"]
    if result["status"] != "graded":
        problems.append(f"status {result['status']}: {result.get('message')}")
    if grade.get("possible") != total_points() or sorted(grade.get("tasks", {})) != sorted(TASKS):
        problems.append(f"the grade does not cover the curriculum: {grade.get('possible')} points possible")
    if grade.get("errors"):
        problems.append(f"grader errors: {grade['errors']}")
    if len(result.get("tests", [])) != len(graded.results["honest-full"]["tests"]):
        problems.append("the result does not list every collected test")
    baseline = graded.results[graded.baselines[name].id] if name in graded.baselines else None
    for task, got in earned(result).items():
        if task in attacker.attacked:
            allowed = earned(baseline)[task] if baseline is not None else 0.0
            if got > allowed:
                problems.append(f"task {task} (attacked): earned {got:g}, the honest code earns {allowed:g}")
        elif got > TASKS[task].points:
            problems.append(f"task {task} (not attacked): earned {got:g} of {TASKS[task].points}")
    if grade.get("forged") or attacker.tag + ".json" in graded.changed_after:
        problems.append("the stored result was changed after the batch ended")
    texts = feedback(result, attacker.attacked)
    for needle in NOT_IN_FEEDBACK.get(name, ()):
        for text in texts:
            if needle in text:
                problems.append(f"feedback shows the attack succeeded: {needle!r} in\n{text}")
    if name in IN_FEEDBACK and not any(IN_FEEDBACK[name] in text for text in texts):
        problems.append(f"{IN_FEEDBACK[name]!r} is in no feedback: the attack did not run as written\n{texts}")
    planted = sorted(p.name for p in attacker.side.iterdir())
    if planted:
        problems.append(f"planted code ran: it wrote {planted}")
    for sid in (attacker.id, *([graded.baselines[name].id] if name in graded.baselines else [])):
        if graded.survivors[sid]:
            problems.append(f"processes of {sid} still alive {SURVIVOR_WAIT:g} s after the batch: "
                            f"{graded.survivors[sid]}")
    size = (graded.ran.out / "students" / f"{attacker.id}.json").stat().st_size
    if size > 1 << 20:
        problems.append(f"the stored result is {size} bytes: the submission's output reached it uncapped")
    if name == "network_connection" and graded.connections:
        problems.append(f"the worker opened {graded.connections} TCP connection(s) to 127.0.0.1")
    if name == "thread_outlives_the_call" and name in graded.grew:
        problems.append("a thread of the submission still writes after the batch")
    if graded.planted[name]:
        problems.append(f"the worker left files where others read: {graded.planted[name]}")
    if name == "source_that_stalls_the_judges_static_scan" and S1 not in grade.get("integrity", {S1: []}):
        problems.append("the integrity scan did not report on the file")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- a machine that allows no namespaces (L1)
# At L2 and above the worker is PID 1 of its own PID namespace: it cannot see, let alone kill, the zygote.
# At L1 (no root, no user namespaces) kills_the_zygote does kill it. Alone that costs nothing (the next call
# gets a new zygote); in a batch, the other judge must cope with it as well. The batch cannot be asked for
# L1, so this plugin, loaded into the batch with -p, holds its zygote there.

L1_PLUGIN = '''\
"""Hold the grading run's zygote at L1 (no namespaces, uid drop or cgroups), as on a machine allowing none."""
import course.sandbox.worker

_init = course.sandbox.worker.Zygote.__init__


def _at_l1(self, secrets=(), cover=(), max_level=None):
    _init(self, secrets, cover, "L1")


course.sandbox.worker.Zygote.__init__ = _at_l1
'''


# Which judge kills the zygote matters (the main judge reaps it at its next call, the helper cannot), and which
# judge claims which student is a race: so both attackers look up who asked (the process holding the other end
# of their result pipe). Asked by the main judge, one sleeps out its timeout, keeping that judge busy; asked by
# the helper judge, the other kills the zygote a second later.
KILL_WHEN_THE_HELPER_ASKS = """\
import os, signal, time
zygote, asker = os.getppid(), None
try:
    pipe = os.readlink("/proc/self/fd/3")  # the result pipe: the judge that asked holds its other end
    with open(f"/proc/{zygote}/status") as f:
        main = int(next(line for line in f if line.startswith("PPid:")).split()[1])
    with open(f"/proc/{zygote}/cmdline", "rb") as f:
        is_zygote = b"course.sandbox.zygote" in f.read()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) in (os.getpid(), zygote):
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:  # one at a time: the judges open and close descriptors all the while
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == pipe:
                    asker = int(pid)
            except OSError:
                pass
except (OSError, StopIteration, ValueError):
    is_zygote = False
print("RT-ASKED-BY", "helper" if asker is not None and asker != main else "main", asker, main, is_zygote, flush=True)
if is_zygote and asker is not None and asker != main:
    time.sleep(1)  # by now the other attacker holds the main judge in its call
    os.kill(zygote, signal.SIGKILL)
else:
    time.sleep(10**6)
"""


def test_zygote_killed_at_l1_spares_the_other_students(graded, tmp_path):
    """at L1: two attackers (one kills the zygote, one keeps the other judge busy), then six honest students"""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "redteam_l1_zygote.py").write_text(L1_PLUGIN)
    cls = tmp_path / "class"
    attackers = [Attacker("kill_when_the_helper_asks", tmp_path, 0, prefix=prefix) for prefix in ("l1a", "l1b")]
    try:
        for attacker in attackers:
            attacker.write(cls, on_3d_call(KILL_WHEN_THE_HELPER_ASKS), {})
        honest = [f"l1c-honest-{i}" for i in range(6)]
        for sid in honest:
            submission_from_solutions(cls / sid)
        ran = run_batch(cls, tmp_path / "out", "-p", "redteam_l1_zygote", path=(plugins,))
    finally:
        for attacker in attackers:
            kill_marked(attacker.mark)
    assert ran.returncode in (0, 1) and "INTERNALERROR" not in ran.output, _describe(ran)
    found = results(ran.out)
    assert sorted(found) == sorted(p.name for p in cls.iterdir()), _describe(ran)
    assert {r["grade"]["isolation"]["level"] for r in found.values()} == {"L1"}
    expected = earned(graded.results_alone["honest-full"])
    hurt = {sid: sum(earned(found[sid]).values()) for sid in honest if earned(found[sid]) != expected}
    assert not hurt, f"honest students' totals (of {total_points()}) after a zygote killer, at L1: {hurt}"
