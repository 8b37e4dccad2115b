"""The grading engine: a grader suite's state in one pytest session, and one way to grade a submission.

The pytest plugin (course.front.grading) builds an Engine from the suite's declaration and the command line,
and feeds it the collected tests; front ends then ask it to grade:

    engine.grade(submission, path, items, who, key) -> Result     every collected test on one submission

A single run lets pytest's own loop run the tests and reads the same Result at the end (engine.result).
Tests ask through a Judge (course.engine.judge) made on this engine: the submission's answers come from its
worker session (course.sandbox.worker, a supervisor of its own per submission), the reference's from here.
Nothing here imports a front end or a renderer.
"""
from __future__ import annotations

import functools
import hashlib
import os
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from course import feedback, untrusted
from course.engine import result
from course.feedback import Mismatch
from course.i18n import _
from course.engine.judge import Judge, loss_curves
from course.engine.plan import Plan
from course.engine.submission import Submission
from course.sandbox.worker import WorkerFailure

STEERING = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")


class Engine:
    """One grader suite in one session: seed, time limit, the manifest of tests and points, the references,
    the worker; and the submission being graded now, with its outcomes and feedback."""

    def __init__(self, config: pytest.Config, suite: Any) -> None:
        self.config = config
        self.started = time.monotonic()
        seed = config.getoption("grader_seed")
        self.seed = seed if seed is not None else secrets.randbelow(2**31)
        self.timeout = config.getoption("grader_timeout")
        self.suite, self.tasks, self.solutions = suite, suite.tasks, suite.solutions
        self.files = sorted({t.file for t in self.tasks.values()}) if self.tasks else []
        self.submission, self.path = Submission({}, {}, []), Path(".")
        self.hidden: tuple[Path, ...] = ()  # folders student code must see empty (the submissions, the results)
        self.session: Any = None  # the current submission's worker session
        # what in the judge's own environment changes its pytest session (the worker never sees any of it)
        self.steering = {name: os.environ[name] for name in STEERING if os.environ.get(name)}
        self.titles: dict[str, str] = {}
        self.manifest: dict[str, tuple[str, float]] = {}
        self.outcomes: dict[str, str] = {}
        self.feedback: dict[str, str] = {}
        self.brief: dict[str, str] = {}  # feedback without expected values, where it differs (course.policy)
        self.errors: list[str] = []
        self.faults: set[str] = set()  # tests the grading machine could not run (see Judge._submit)
        self.not_collected: list[str] = []
        self._references: dict[str, tuple[str, bytes]] = {}
        self.reference_cache: dict[tuple, bytes] = {}
        self.plan: Plan | None = None  # in a class: the calls learnt from one student, asked ahead of the next
        self.curves: dict | None = None  # the current submission's loss curves, when asked for

    def start_worker(self) -> Any:
        """The zygote for this session, hiding the references, the suite's secrets and the submissions."""
        from course.sandbox import worker

        zygote = getattr(self, "_zygote", None)
        if zygote is None or not zygote.alive():
            hidden = tuple(str(p) for p in (self.solutions, *self.suite.secrets) if p)
            self._zygote = worker.shared_zygote(hidden, tuple(str(p) for p in (*self.suite.cover, self.path, *self.hidden)))
        return self._zygote

    def take_over(self, zygote: Any) -> None:
        """In a forked judge: grade through zygote, a handle of this process's own (course.sandbox.worker.take_over)."""
        from course.sandbox import worker

        worker.take_over(zygote)
        self._zygote = zygote

    def worker(self) -> Any:
        """The current submission's worker session: one supervisor from the clean zygote answers its calls,
        each call on fresh pipes and from a pristine torch state; a call that fails ends its runner."""
        if self.session is None or not self.session.zygote.alive():
            self.session = self.start_worker().session()
        return self.session

    def close_session(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    @functools.cache
    def version(self) -> str:
        """The grader version grading here: the package version plus a hash of the references, the engine
        and the hidden tests (course.version); reports, results and releases carry it."""
        from course.version import grader_version

        return grader_version(self.solutions, Path(str(self.config.rootpath)) / "grader")

    def isolation(self) -> dict:
        """What containment the worker reached (the zygote's start-up self-test)."""
        return self.start_worker().wait_ready().get("isolation", {"level": "L1", "mechanisms": [], "problems": []})

    def integrity(self) -> dict[str, list[dict]]:
        """Constructs a correct solution never needs, per submitted file (informs; never scores)."""
        if not hasattr(self, "_integrity"):
            self._integrity = {name: _scan(source, name) for name, source in sorted(self.submission.sources.items())}
        return self._integrity

    def reference_source(self, file: str) -> tuple[str, bytes]:
        """(path, bytes) of a reference file, read once per session."""
        if file not in self._references:
            path = self.solutions / file
            self._references[file] = (str(path), path.read_bytes())
        return self._references[file]

    def test_seed(self, nodeid: str) -> int:
        """The seed of one test's inputs, derived from the run seed and the test's id."""
        digest = hashlib.sha256(f"{self.seed}:{nodeid}".encode()).digest()
        return int.from_bytes(digest[:8], "little") & (2**63 - 1)

    def learn_manifest(self, items: list[pytest.Item]) -> None:
        """Fix the manifest before anything is deselected: every collected test and its points."""
        for item in items:
            task, points = item.get_closest_marker("task"), item.get_closest_marker("points")
            if task is None or points is None or not task.args or not points.args:
                self.errors.append(f"{item.nodeid} has no task or points marker")
                continue
            value = points.args[0]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                self.errors.append(f"{item.nodeid} has points {value!r}, not a positive number")
                continue
            self.manifest[item.nodeid] = (str(task.args[0]), float(value))
            doc = (getattr(item, "obj", None).__doc__ or "").strip()
            self.titles[item.nodeid] = _(doc.splitlines()[0]) if doc else item.name  # the catalog holds each title
        if self.tasks:
            collected: dict[str, float] = {}
            for task, points in self.manifest.values():
                collected[task] = collected.get(task, 0) + points
            for task_id, task in self.tasks.items():
                if task_id not in collected:
                    self.not_collected.append(task_id)  # not selected in this run (say, one file): earns 0
                elif collected[task_id] != task.points:
                    self.errors.append(f"task {task_id}: the suite holds {collected[task_id]:g} points, "
                                       f"the curriculum {task.points}")
            for task_id in collected.keys() - self.tasks.keys():
                self.errors.append(f"task {task_id} is not in the curriculum")

    def begin(self, submission: Submission, path: Path) -> None:
        """Start grading a submission: nothing of the previous one is kept."""
        self.submission, self.path = submission, path
        self.outcomes, self.feedback, self.brief, self.faults, self.curves = {}, {}, {}, set(), None
        self.__dict__.pop("_integrity", None)
        self.started = time.monotonic()

    def grade(self, submission: Submission, path: Path, items: list[pytest.Item], who: dict, key: dict) -> result.Result:
        """Run every collected test on one submission, in a worker session of its own, and return its
        Result. who: student, entry, kind, status and message of the entry (course.engine.submission.Entry)."""
        from _pytest.runner import runtestprotocol

        self.begin(submission, path)
        try:
            if self.plan is not None:
                self.plan.ask_ahead(self.worker, [item.nodeid for item in items], submission.sources, self.timeout)
            for i, item in enumerate(items):
                if not self.run_direct(item):
                    nextitem = items[i + 1] if i + 1 < len(items) else None
                    for report in runtestprotocol(item, nextitem=nextitem, log=False):
                        self.record(report)
            if self.plan is not None:
                self.plan.learn(self.outcomes)
            if self.config.getoption("grader_curves"):
                self.curves = loss_curves(self)
        finally:
            self.close_session()
            if items:  # a protocol cut short leaves fixtures set up: the next submission must start clean
                items[0].session._setupstate.teardown_exact(None)
        return self.result(who, key)

    def run_direct(self, item: pytest.Item) -> bool:
        """Run a grader test that asks only for judge and gen (and its parameters) and carries no marker but
        task, points and parametrize, straight: no setup, teardown or report hooks, which would cost more
        than the test's own checks, once per test and student. The outcome and feedback are recorded as the
        full protocol records them. False: the test needs the full protocol."""
        params = getattr(getattr(item, "callspec", None), "params", {})
        info = getattr(item, "_fixtureinfo", None)
        if info is None or not set(info.argnames) <= {"judge", "gen", *params} or item.nodeid not in self.manifest \
                or not set(info.names_closure) <= {"judge", "gen", "request", *params} \
                or self.config.getoption("grader_debug") \
                or any(m.name not in ("task", "points", "parametrize") for m in item.iter_markers()):
            return False
        import torch

        judge = Judge(self, self.manifest[item.nodeid][0], item.nodeid)
        values = {"judge": judge, "gen": torch.Generator().manual_seed(self.test_seed(item.nodeid)), **params}
        item.funcargs = {name: values[name] for name in item._fixtureinfo.argnames}
        try:
            item.runtest()
            self.outcomes[item.nodeid] = "passed"
        except (KeyboardInterrupt, SystemExit):
            raise
        except pytest.skip.Exception:
            self.outcomes[item.nodeid] = "skipped"
        except BaseException as error:  # whatever the test raised fails that test only
            self.outcomes[item.nodeid] = "failed"
            if isinstance(error, Exception):
                self.record_failure(item, error, judge)
        finally:
            item.funcargs = None
        return True

    def record(self, report: pytest.TestReport) -> None:
        """Record a test's outcome: passed only when setup, call and teardown all passed."""
        if report.nodeid not in self.manifest:
            return
        if report.failed or report.skipped or hasattr(report, "wasxfail"):
            self.outcomes[report.nodeid] = "failed" if report.failed else "skipped"
        elif report.when == "call" and self.outcomes.get(report.nodeid) is None:
            self.outcomes[report.nodeid] = "passed"

    def record_failure(self, item: pytest.Item, error: Exception, judge: Any) -> str:
        """Record what a student reads about a failed test (explain), and its brief form where it differs."""
        self.feedback[item.nodeid] = self.explain(item, error, judge)
        if isinstance(error, Mismatch) and error.brief != error.message:
            self.brief[item.nodeid] = self.explain(item, error, judge, brief=True)
        return self.feedback[item.nodeid]

    def explain(self, item: pytest.Item, error: Exception, judge: Any, brief: bool = False) -> str:
        """What a student reads about a failed test: the task, what was checked, the mismatch, what their
        code printed, and the hint; for the grader's own fault only the error's type (its message
        could quote the hidden tests). brief: the mismatch without the expected values (course.policy)."""
        task, points = self.manifest[item.nodeid]
        function = self.tasks[task].function if task in self.tasks else ""
        title = self.titles.get(item.nodeid, item.name)
        if isinstance(error, Mismatch):
            printed = judge.printed if isinstance(judge, Judge) else ""
            return feedback.block(task, function, title, error.brief if brief else error.message, error.hint, printed, points)
        if isinstance(error, WorkerFailure):
            self.faults.add(item.nodeid)
            message = _("the grading machine failed while running this check, not your code ({why}); "
                        "it is graded again on the next run").format(why=untrusted.text(str(error), None)[:200])
        else:
            message = _("internal grader error ({error}); rerun with --grader-debug").format(error=type(error).__name__)
        return feedback.block(task, function, title, message, points=points)

    def totals(self) -> dict:
        """The grade: earned and possible points per task, from the manifest and the recorded outcomes only."""
        tasks: dict[str, dict] = {}
        for task_id, task in self.tasks.items():
            tasks[task_id] = {"earned": 0.0, "possible": float(task.points), "title": task.title}
        for nodeid, (task_id, points) in self.manifest.items():
            entry = tasks.setdefault(task_id, {"earned": 0.0, "possible": 0.0, "title": ""})
            if task_id not in self.tasks:
                entry["possible"] += points
            if self.outcomes.get(nodeid) == "passed":
                entry["earned"] += points
        for entry in tasks.values():  # a suite that disagrees with its curriculum never awards more
            entry["earned"] = min(entry["earned"], entry["possible"])
        tasks = dict(sorted(tasks.items(), key=lambda kv: [int(p) for p in kv[0].split(".") if p.isdigit()]))
        submission = {"path": str(self.path), "files": self.submission.hashes(),
                      "problems": {**self.submission.problems, **self.submission.broken}, "ignored": self.submission.ignored}
        return result.grade_of(tasks, seed=self.seed, grader=self.version(), submission=submission,
                               isolation=self.isolation(), integrity=self.integrity(), errors=list(self.errors),
                               faults=sorted(self.faults), not_collected=list(self.not_collected),
                               environment=self.steering, seconds=round(time.monotonic() - self.started, 3))

    def result(self, who: dict, key: dict) -> result.Result:
        """The submission's Result: the grade and every test with its feedback. who: student, entry, kind,
        status and message of the entry graded."""
        grade = self.totals()
        grade["submission"].update(path=who["entry"], kind=who["kind"])
        tests = []
        for nodeid, (task, points) in self.manifest.items():
            outcome = self.outcomes.get(nodeid, "not run")
            tests.append({"nodeid": nodeid, "name": f"Task {task}: {self.titles.get(nodeid, nodeid)}", "task": task,
                          "points": points, "earned": points if outcome == "passed" else 0.0, "outcome": outcome,
                          **({"feedback": self.feedback[nodeid]} if nodeid in self.feedback else {}),
                          **({"brief": self.brief[nodeid]} if nodeid in self.brief else {})})
        status, message = who["status"], who["message"]
        if grade["faults"]:  # incomplete, not a score: stored as an error, so the next run grades it again
            status = "error"
            message = _("the grading machine failed on {count} check(s), not the submission; rerun to grade them").format(
                count=len(grade["faults"]))
        return result.make(who["student"], who["entry"], status, message, key, grade, tests, self.curves)


@functools.lru_cache(maxsize=256)
def _scan(source: bytes, name: str) -> list[dict]:
    """The integrity scan of one file (a class hands in many identical files: untouched stubs, for one)."""
    from course.engine import integrity

    return integrity.as_dicts(integrity.scan(source, name))
