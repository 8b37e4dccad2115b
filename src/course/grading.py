"""pytest plugin that grades a submission against the reference solutions.

Load it from a grader suite's root conftest (``pytest_plugins = ["course.grading"]``). Every
test carries ``@pytest.mark.task("X.Y")`` and ``@pytest.mark.points(n)``; it asks the ``judge``
fixture to run a probe on the submission (in a forked worker, never in this process) and on the
reference (here), and compares the two with course.checks. The plugin keeps the list of tests
and points it collected before anything ran, scores from that list alone (a test that errored,
was deselected or never ran earns 0), prints a score table, and puts a ``grade`` object into
pytest-json-report's report.
"""
from __future__ import annotations

import collections
import functools
import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from course import i18n, untrusted
from course.judge import Judge
from course.submission import STATUS_OK, Submission
from course.feedback import Mismatch
from course.worker import WorkerFailure
from course.i18n import C_, _
from course.limits import LIMITS

STEERING = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")


def pytest_addoption(parser: pytest.Parser) -> None:
    """One option group for grading, plus the ini keys a grader suite sets in its pytest.ini."""
    group = parser.getgroup("grading", "grading a submission")
    group.addoption("--submission", metavar="DIR", default=None,
                    help="folder holding the submitted exercise files (default: the suite's grading_submission_default)")
    group.addoption("--grader-seed", metavar="N", type=int, default=None,
                    help="seed of the random test inputs; the header prints it, pass it again to replay a run")
    group.addoption("--grader-timeout", metavar="SECONDS", type=float, default=LIMITS.call_seconds,
                    help="wall-clock limit for each call into the submission (default 10)")
    group.addoption("--grader-debug", action="store_true",
                    help="show full tracebacks for faults of the grader itself (never for the submission's)")
    group.addoption("--submissions", metavar="DIR", default=None,
                    help="grade a whole class: every entry of DIR (a folder or .zip of exercise files) is a student")
    group.addoption("--out", metavar="OUT", default="grades",
                    help="with --submissions: where results, feedback, the gradebook and exports go (default grades/)")
    group.addoption("--grader-jobs", metavar="N", type=int, default=None,
                    help="with --submissions: judge processes sharing the class (default: one per core)")
    group.addoption("--require-isolation", metavar="LEVEL", choices=("L1", "L2", "L3"), default=None,
                    help="refuse to grade unless student code is contained at least this well (L1, L2 or L3)")
    group.addoption("--grader-html", metavar="PATH", default=None,
                    help="write the feedback as one self-contained HTML page, with the submission's loss curves")
    group.addoption("--grader-curves", action="store_true",
                    help="with --submissions: draw each student's loss curves in feedback/<id>.html (costs time)")
    group.addoption("--lang", choices=i18n.LANGUAGES, default=None,
                    help=f"language of the feedback, hints and score table: en or ko (default: ${i18n.ENVIRONMENT}, else en)")


@dataclass(frozen=True)
class Suite:
    """What a grader suite declares in its conftest through the pytest_grading_suite hook."""

    tasks: dict = field(default_factory=dict)  # task id -> course.curriculum.Task; empty: points come from markers
    solutions: Path | None = None  # folder of the reference files
    default_submission: Path | None = None  # graded when --submission is not given
    secrets: tuple = ()  # folders student code must never see (the references are always among them)
    cover: tuple = ()  # folders shown to student code as empty (say, the whole course checkout)


class GradingHooks:
    """Hooks a grader suite implements."""

    @pytest.hookspec(firstresult=True)
    def pytest_grading_suite(self, config: pytest.Config) -> Suite:
        """Return the Suite to grade with: its curriculum, reference folder and default submission."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Add pytest_grading_suite, through which a grader suite's conftest describes itself."""
    pluginmanager.add_hookspecs(GradingHooks)


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers; in a grader suite's session, start the zygote now, so its torch import
    overlaps collection. Elsewhere (the plugin is installed as an entry point) it stays dormant."""
    config.addinivalue_line("markers", "task(id): the task a grader test belongs to, e.g. task('2.2')")
    config.addinivalue_line("markers", "points(n): points a grader test is worth")
    suite = config.hook.pytest_grading_suite(config=config)
    if suite is None and config.getoption("submission") is None and config.getoption("submissions") is None:
        return
    try:  # before collection: the grader's tests read their messages when imported
        i18n.set_language(i18n.choose(config.getoption("lang")))
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None
    if config.option.collectonly or getattr(config.option, "help", False):
        return
    grading = Grading(config, suite or Suite())
    grading.refuse_submitted_plugins()
    grading.start_worker()
    config.pluginmanager.register(grading, "course-grading")


def _grading(config: pytest.Config) -> Grading:
    grading = config.pluginmanager.get_plugin("course-grading")
    if grading is None:
        raise pytest.UsageError("grading is not active in this session")
    return grading


class Grading:
    """The state of one grading session: seed, submission, the manifest of tests and their results."""

    def __init__(self, config: pytest.Config, suite: Suite) -> None:
        self.config = config
        self.started = time.monotonic()
        seed = config.getoption("grader_seed")
        self.seed = seed if seed is not None else secrets.randbelow(2**31)
        self.timeout = config.getoption("grader_timeout")
        self.suite = suite
        self.tasks = suite.tasks
        self.solutions = suite.solutions
        self.files = sorted({t.file for t in self.tasks.values()}) if self.tasks else []
        self.batch = None
        self.session: Any = None  # the current submission's worker session
        if config.getoption("submissions"):
            from course.batch import Batch

            self.batch = Batch(self, Path(config.getoption("submissions")), Path(config.getoption("out")))
            self.path = self.batch.folder
            self.submission = Submission({}, {}, [])
        else:
            folder = config.getoption("submission") or suite.default_submission
            if not folder:
                raise pytest.UsageError("no submission: pass --submission DIR")
            path = Path(folder)
            if not path.is_dir():
                raise pytest.UsageError(f"--submission {folder}: no such folder")
            self.path = path.resolve()
            self.submission = Submission.read(self.path, self.files or sorted(p.name for p in self.path.glob("*.py")))
        if self.batch and seed is None and self.batch.stored_seed() is not None:
            self.seed = self.batch.stored_seed()
        # what in the judge's own environment changes its pytest session (the worker never sees any of it)
        self.steering = {name: os.environ[name] for name in STEERING if os.environ.get(name)}
        self.titles: dict[str, str] = {}
        self.manifest: dict[str, tuple[str, float]] = {}
        self.outcomes: dict[str, str] = {}
        self.feedback: dict[str, str] = {}
        self.errors: list[str] = []
        self.faults: set[str] = set()  # tests the grading machine could not run (see Judge._submit)
        self.not_collected: list[str] = []
        self._references: dict[str, tuple[str, bytes]] = {}
        self.reference_cache: dict[tuple, bytes] = {}
        self.report_to: int | None = None  # in a batch's helper judge: the pipe to the main one
        # in a batch: the calls each test made of an earlier student, by key; this student's calls so far;
        # and the replies queued for this student
        self.plan: dict[str, dict[tuple, tuple]] = {}
        self.made: dict[str, dict[tuple, tuple]] = {}
        self.prefetched: dict[tuple, collections.deque] = {}
        self.curves: dict | None = None  # the current submission's loss curves (loss_curves), when asked for

    def refuse_submitted_plugins(self) -> None:
        """Stop if pytest loaded a plugin or conftest.py from the submission folder: that code would have
        run in the judging process."""
        for plugin in self.config.pluginmanager.get_plugins():
            path = getattr(plugin, "__file__", None)  # some are relative (torch.ops: "_ops.py"): not loaded from here
            if isinstance(path, str) and os.path.isabs(path) and Path(path).resolve().is_relative_to(self.path):
                raise pytest.UsageError(f"refusing to grade: pytest loaded {path} from the submission folder "
                                        "into the grading process; pass the folder as --submission only")

    def start_worker(self) -> Any:
        """The zygote for this session, hiding the references, the suite's secrets and the submission."""
        from course import worker

        zygote = getattr(self, "_zygote", None)
        if zygote is None or not zygote.alive():
            secrets = tuple(str(p) for p in (self.solutions, *self.suite.secrets) if p)
            hidden = (self.path, self.batch.out) if self.batch else (self.path,)
            self._zygote = worker.shared_zygote(secrets, tuple(str(p) for p in (*self.suite.cover, *hidden)))
        return self._zygote

    def worker(self) -> Any:
        """The current submission's worker session: one child from the clean zygote answers its calls,
        each call on fresh pipes and from a pristine torch state; a call that fails ends the child."""
        if self.session is None or not self.session.zygote.alive():
            self.session = self.start_worker().session()
        return self.session

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
        from course import integrity

        if not hasattr(self, "_integrity"):
            self._integrity = {name: _scan(integrity, source, name) for name, source in sorted(self.submission.sources.items())}
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

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        """Show the submission, the seed and how to replay it."""
        return [f"grading: {self.path}",
                f"grader seed: {self.seed} (replay with --grader-seed {self.seed})"]

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Fix the manifest before -k/-m deselect anything: every collected test and its points."""
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

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Before the first test: one torch thread here (the worker has the other core) and a frozen heap."""
        import gc

        import torch

        torch.set_num_threads(1)
        gc.freeze()  # the end-of-session collections then skip everything torch loaded
        required = self.config.getoption("require_isolation")
        if required:
            reached = self.isolation()
            if reached["level"] < required:
                raise pytest.UsageError(f"refusing to grade: student code would run at isolation {reached['level']}, "
                                        f"below the required {required} ({'; '.join(reached['problems']) or 'no reason given'})")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        """In a batch, run every collected test once per student, each student in a fresh worker,
        and save each student's result the moment it is done."""
        if self.batch is None:
            return None
        from course import batch

        if session.testsfailed and not self.config.option.continue_on_collection_errors:
            raise session.Interrupted(f"{session.testsfailed} error(s) while collecting the grader's tests")
        logging_plugin = self.config.pluginmanager.get_plugin("logging-plugin")
        if logging_plugin is not None:  # the judge logs nothing, and log capture costs ms per test and student
            self.config.pluginmanager.unregister(logging_plugin)
        self.batch.prepare(self.version())
        todo = self.batch.pending()
        with batch.Progress(self.config, total=len(self.batch.entries), done=len(self.batch.entries) - len(todo)) as bar:
            jobs = self.config.getoption("grader_jobs") or len(os.sched_getaffinity(0))
            helpers: list = []
            first = next((i for i, (entry, _) in enumerate(todo) if entry.status == STATUS_OK), None)
            if jobs > 1 and first is not None:  # helper judges then start with its calls and references known
                self._grade_entries([todo.pop(first)], session.items, bar, [])
            if jobs > 1 and len(todo) >= 2 * jobs:
                self.batch.reset_claims()
                helpers = [self._fork_helper(todo, session.items) for _ in range(jobs - 1)]
            self._grade_entries(todo, session.items, bar, helpers, claim=bool(helpers))
            if helpers:
                for helper in helpers:
                    helper.finish(bar)
                self.batch.clear_claims()
                self._grade_entries(self.batch.pending(), session.items, bar, [])  # anything a helper left undone
        self.batch_results = self.batch.finish()
        return True

    def _grade_entries(self, todo: list, items: list[pytest.Item], bar: Any, helpers: list,
                       claim: bool = False) -> None:
        """Grade each entry of todo, or with claim, each entry this process claims first (judge processes
        share a batch that way); meanwhile count what the helpers report done. Whatever raises while one
        entry is graded becomes that entry's `error` (batch.guarded); the others are graded as usual."""
        from course import batch

        for entry, key in todo:
            for helper in helpers:
                helper.poll(bar)
            if claim and not self.batch.claim(entry):
                continue
            if entry.status != STATUS_OK:
                result = batch.ungraded_result(entry, key, self.tasks)
            else:
                result = batch.guarded(entry, key, self.tasks, lambda: self._grade_one(entry, key, items))
            self.batch.save(result, entry)
            if bar is not None:
                bar.update(entry.student, result)
            if self.report_to is not None:
                os.write(self.report_to, (json.dumps([entry.student, result["grade"]["earned"],
                                                      result["grade"]["possible"], result["status"]]) + "\n").encode())

    def _grade_one(self, entry: Any, key: dict, items: list[pytest.Item]) -> dict:
        """Run every collected test on one entry, in a fresh worker session, and return its result."""
        from _pytest.runner import runtestprotocol

        self.begin(Submission(dict(entry.sources), dict(entry.problems), list(entry.ignored)), entry.path)
        try:
            self.prefetch(items)
            for i, item in enumerate(items):
                if not self.run_direct(item):
                    nextitem = items[i + 1] if i + 1 < len(items) else None
                    for report in runtestprotocol(item, nextitem=nextitem, log=False):
                        self.pytest_runtest_logreport(report)
            self.learn_plan()
            self.curves = self.loss_curves()
        finally:
            if self.session is not None:
                self.session.close()
                self.session = None
            if items:  # a protocol cut short leaves fixtures set up: the next entry must start clean
                items[0].session._setupstate.teardown_exact(None)
        return self.student_result(entry, key)

    def _fork_helper(self, todo: list, items: list[pytest.Item]) -> Any:
        """Fork a helper judge process (torch is already imported: nothing is paid twice) that claims
        students from the same list through its own handle on the zygote; it reports each one done."""
        from course.batch import Helper

        twin = self.start_worker().split()
        read_end, write_end = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the helper judge
            code = 0
            try:
                from course.sandbox import die_with_parent

                die_with_parent()  # the main judge killed: this one dies too, it must not write on alone
                if os.getppid() != parent:
                    os._exit(70)
                os.close(read_end)
                self._zygote.forget()
                self._zygote, self.report_to = twin, write_end
                worker_module = __import__("course.worker", fromlist=["_shared"])
                worker_module._shared = twin
                self._grade_entries(todo, items, None, [], claim=True)
            except BaseException:
                code = 70
            finally:
                os._exit(code)
        os.close(write_end)
        twin.forget()
        return Helper(pid, read_end)

    def prefetch(self, items: list[pytest.Item]) -> None:
        """Queue in the student's worker session, ahead of the tests, every call the tests made of earlier
        students: in a batch every student gets the same inputs, so the worker computes the next replies
        while the judge checks the last. A test takes its reply from here when it makes one of these
        calls, and makes any other call itself; a reply nobody takes is dropped with the session."""
        from course import worker

        self.prefetched, self.made = {}, {}
        for item in items:
            for key, (probe, module, file, args) in self.plan.get(item.nodeid, {}).items():
                if file not in self.submission.sources:
                    continue
                try:
                    wait = self.worker().submit(probe, module, file, self.submission.sources[file], args, self.timeout)
                except worker.WorkerFailure:  # the tests' own calls will find out and start a fresh zygote
                    return
                self.prefetched.setdefault(key, collections.deque()).append(wait)

    def run_direct(self, item: pytest.Item) -> bool:
        """In a batch, run a grader test that asks only for judge and gen (and its parameters) and carries
        no marker but task, points and parametrize, straight: no setup, teardown or report hooks, which
        would cost more than the test's own checks, once per test and student. The outcome and feedback
        are recorded as the full protocol records them (pytest_runtest_makereport, _logreport). False:
        the test needs the full protocol."""
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
                self.feedback[item.nodeid] = self.explain(item, error, judge)
        finally:
            item.funcargs = None
        return True

    def learn_plan(self) -> None:
        """Keep, per test, the calls it made of this student when it passed (a passing test made all of
        them) or when nothing is known yet: one student's worth, so the plan never grows."""
        for nodeid, calls in self.made.items():
            if self.outcomes.get(nodeid) == "passed" or nodeid not in self.plan:
                self.plan[nodeid] = calls

    def begin(self, submission: Submission, path: Path) -> None:
        """Start grading the next student of a batch: nothing of the previous one is kept."""
        self.submission, self.path = submission, path
        self.outcomes, self.feedback, self.faults = {}, {}, set()
        self.__dict__.pop("_integrity", None)
        self.started = time.monotonic()

    def student_result(self, entry: Any, key: dict) -> dict:
        """One student's result as the batch stores it: the grade and every test with its feedback."""
        grade = self.grade()
        grade["submission"].update(path=entry.name, kind=entry.kind)
        tests = []
        for nodeid, (task, points) in self.manifest.items():
            outcome = self.outcomes.get(nodeid, "not run")
            tests.append({"nodeid": nodeid, "name": f"Task {task}: {self.titles.get(nodeid, nodeid)}", "task": task,
                          "points": points, "earned": points if outcome == "passed" else 0.0, "outcome": outcome,
                          **({"feedback": self.feedback[nodeid]} if nodeid in self.feedback else {})})
        status, message = entry.status, entry.message
        if grade["faults"]:  # incomplete, not a score: stored as an error, so the next run grades it again
            status = "error"
            message = _("the grading machine failed on {count} check(s), not the submission; rerun to grade them").format(
                count=len(grade["faults"]))
        return {"student": entry.student, "entry": entry.name, "status": status, "message": message,
                "key": key, "grade": grade, "tests": tests, **({"curves": self.curves} if self.curves else {})}

    def loss_curves(self) -> dict | None:
        """The submission's fit and the reference's training the same network on the same data, per epoch
        (the fit_curves probe, in the worker for the submission): {"reference": {"train", "val"}, and
        "submission" or "error"}. None unless asked for (--grader-curves; a single run with --grader-html).
        Never scores."""
        asked = self.config.getoption("grader_curves") or (self.batch is None and self.config.getoption("grader_html"))
        if not asked or "4.4" not in self.tasks:
            return None
        from course import probes

        judge = Judge(self, "4.4")
        args = probes.curves_case(self.test_seed("loss curves"))
        try:
            got, want = judge.run("fit_curves", *args)
        except Mismatch as e:
            why = (e.message.strip().splitlines() or ["fit failed"])[0]
            return {"reference": judge.reference("fit_curves", *args), "error": why}
        except Exception as e:  # the worker itself failed: no curves, and no score changes
            why = f"the grader could not run fit ({type(e).__name__})"
            return {"reference": judge.reference("fit_curves", *args), "error": why}
        plain = isinstance(got, dict) and all(
            isinstance(got.get(k), list) and len(got[k]) == len(want[k]) and all(type(v) is float for v in got[k])
            for k in ("train", "val"))
        return {"reference": want, **({"submission": {k: got[k] for k in ("train", "val")}} if plain
                                      else {"error": "fit_curves returned something other than two lists of floats"})}

    def write_html(self, path: Path) -> None:
        """A single run's feedback page (course.html_report), with the submission's loss curves."""
        from types import SimpleNamespace

        from course import batch, html_report

        self.curves = self.loss_curves()
        entry = SimpleNamespace(student=self.path.name, name=self.path.name, kind="folder", status=STATUS_OK,
                                message="")
        result = self.student_result(entry, {"grader": self.version(), "seed": self.seed})
        batch.write_atomic(path, html_report.render(result, self.tasks))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport | None:
        """A failed check's report carries its feedback instead of a traceback: the grader's internals
        stay hidden, and no time goes into rendering tracebacks nobody is shown."""
        error = call.excinfo.value if call.excinfo is not None else None
        if error is None or item.nodeid not in self.manifest or not isinstance(error, Exception) \
                or isinstance(error, pytest.skip.Exception):
            return None
        if not isinstance(error, Mismatch) and self.config.getoption("grader_debug"):
            return None
        self.feedback[item.nodeid] = self.explain(item, error, getattr(item, "funcargs", {}).get("judge"))
        sections = [(f"Captured {key} {when}", content) for when, key, content in getattr(item, "_report_sections", [])]
        return pytest.TestReport(item.nodeid, item.location, {k: 1 for k in item.keywords}, "failed",
                                 self.feedback[item.nodeid], call.when, sections, call.duration, call.start, call.stop,
                                 user_properties=item.user_properties)

    def explain(self, item: pytest.Item, error: Exception, judge: Any) -> str:
        """What a student reads about a failed test: the task, what was checked, the mismatch, what their
        code printed, and the hint; for the grader's own fault only the error's type (its message
        could quote the hidden tests)."""
        task, points = self.manifest[item.nodeid]
        title = self.tasks[task].function if task in self.tasks else ""
        head = _("{task}, {points} pt: {title}").format(task=f"Task {task}{f' ({title})' if title else ''}",
                                                         points=f"{points:g}", title=self.titles.get(item.nodeid, item.name))
        if isinstance(error, Mismatch):
            body = f"  {error.message}"
            printed = judge.printed if isinstance(judge, Judge) else ""
            if printed and printed not in error.message:
                body += "\n" + printed
            body += "\n  " + _("hint: {hint}").format(hint=error.hint) if error.hint else ""
        elif isinstance(error, WorkerFailure):
            self.faults.add(item.nodeid)
            body = "  " + _("the grading machine failed while running this check, not your code ({why}); "
                            "it is graded again on the next run").format(why=untrusted.text(str(error), None)[:200])
        else:
            body = "  " + _("internal grader error ({error}); rerun with --grader-debug").format(error=type(error).__name__)
        from course import untrusted

        return untrusted.text(f"{head}\n{body}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Record each test's outcome: passed only when setup, call and teardown all passed."""
        if report.nodeid not in self.manifest:
            return
        if report.failed or report.skipped or hasattr(report, "wasxfail"):
            self.outcomes[report.nodeid] = "failed" if report.failed else "skipped"
        elif report.when == "call" and self.outcomes.get(report.nodeid) is None:
            self.outcomes[report.nodeid] = "passed"

    def grade(self) -> dict:
        """Earned and possible points per task, from the manifest and the recorded outcomes only."""
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
        earned = sum(t["earned"] for t in tasks.values())
        possible = sum(t["possible"] for t in tasks.values())
        return {
            "earned": earned,
            "possible": possible,
            "percent": round(100 * earned / possible, 2) if possible else 0.0,
            "tasks": dict(sorted(tasks.items(), key=lambda kv: [int(p) for p in kv[0].split(".") if p.isdigit()])),
            "seed": self.seed,
            "grader": self.version(),
            "submission": {"path": str(self.path), "files": self.submission.hashes(),
                           "problems": {**self.submission.problems, **self.submission.broken},
                           "ignored": self.submission.ignored},
            "isolation": self.isolation(),
            "integrity": self.integrity(),
            "errors": list(self.errors),
            "faults": sorted(self.faults),  # checks the machine could not run: the grade is incomplete, not a 0 earned
            "not_collected": list(self.not_collected),
            "environment": self.steering,
            "seconds": round(time.monotonic() - self.started, 3),
        }

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_runtest_metadata(self, item: pytest.Item, call: pytest.CallInfo) -> dict:
        """Task, points and the test's own seed in every stage's metadata (setup too, so skips keep them)."""
        if item.nodeid not in self.manifest:
            return {}
        task, points = self.manifest[item.nodeid]
        return {"task": task, "points": points, "seed": self.test_seed(item.nodeid)}

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_modifyreport(self, json_report: dict) -> None:
        """Add the grade, and each test's earned points and feedback."""
        for test in json_report.get("tests", []):
            if test["nodeid"] in self.manifest:
                task, points = self.manifest[test["nodeid"]]
                meta = test.setdefault("metadata", {})
                meta.update(task=task, points=points,
                            earned=points if self.outcomes.get(test["nodeid"]) == "passed" else 0.0)
                if test["nodeid"] in self.feedback:
                    meta["feedback"] = self.feedback[test["nodeid"]]
        from course import untrusted

        json_report["grade"] = untrusted.tree(self.grade())

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """End the worker session; a suite that disagrees with its curriculum fails the run, whatever the tests did.
        Before that, a single run with --grader-html writes its feedback page."""
        if self.batch is None and self.config.getoption("grader_html"):
            self.write_html(Path(self.config.invocation_params.dir) / self.config.getoption("grader_html"))
        if self.session is not None:
            self.session.close()
            self.session = None
        if self.errors:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Print the score table: per task earned/possible, then the total (in a batch: the gradebook).
        Every line goes through course.untrusted.line: names, problems and integrity details quote the
        submission, and nothing from it reaches the terminal as a control character."""
        from course import untrusted

        def write(line: str, **markup: bool) -> None:
            terminalreporter.write_line(untrusted.line(line, 400), **markup)

        if self.batch is not None:
            from course.batch import summary_lines

            terminalreporter.write_sep("=", untrusted.line(f"gradebook: {self.batch.folder.name} (seed {self.seed})"))
            for line in summary_lines(getattr(self, "batch_results", []), self.batch):
                write(line)
            return
        grade = self.grade()
        terminalreporter.write_sep("=", untrusted.line(f"grade: {self.path.name} (seed {self.seed})"))
        for problem in grade["submission"]["problems"].values():
            first, *more = str(problem).splitlines() or [""]  # a syntax error's code line and caret follow
            write(_("note: {problem}").format(problem=first))
            for line in more:
                write(line)
        for error in grade["errors"]:
            write(f"GRADER CONFIGURATION ERROR: {error}", red=True)
        for nodeid in grade["faults"]:
            write(_("not graded (the grading machine failed, not the submission; rerun): {test}").format(test=nodeid), red=True)
        if grade["not_collected"]:
            write(_("not in this run (earn 0): tasks {tasks}").format(tasks=", ".join(grade["not_collected"])))
        write(i18n.pad(C_("score table", "task"), 6) + i18n.pad(C_("score table", "what"), 44)
              + i18n.pad(C_("score table", "points"), 10, ">"))
        for task_id, entry in grade["tasks"].items():
            what = self.tasks[task_id].function if task_id in self.tasks else ""
            mark = "" if entry["earned"] == entry["possible"] else "  <"
            write(f"{task_id:<6}{what[:43]:<44}{entry['earned']:>5g} / {entry['possible']:<3g}{mark}")
        write(f"{i18n.pad(C_('score table', 'total'), 50)}{grade['earned']:>5g} / {grade['possible']:<3g} ({grade['percent']:.1f}%)", bold=True)
        flags = [(name, flag) for name, found in grade["integrity"].items() for flag in found]
        if flags:
            write(f"integrity scan: {len(flags)} construct(s) a correct solution never needs (scores unchanged)")
            for name, flag in flags[:20]:
                write(f"  {name}:{flag['line']} [{flag['rule']}] {flag['detail']}")
        isolation = grade["isolation"]
        write(f"isolation {isolation['level']}: {', '.join(isolation['mechanisms'])}")
        for problem in isolation["problems"]:
            write(f"  not available: {problem}")
        for name, value in self.steering.items():
            write(f"warning: {name}={untrusted.line(value, 80)} was set: it changes how pytest runs the grader; "
                  "grade with a clean environment", yellow=True)


@functools.lru_cache(maxsize=256)
def _scan(integrity: Any, source: bytes, name: str) -> list[dict]:
    """The integrity scan of one file (a class hands in many identical files: untouched stubs, for one)."""
    return integrity.as_dicts(integrity.scan(source, name))


@pytest.fixture
def judge(request: pytest.FixtureRequest) -> Judge:
    """A Judge for the task of the requesting test."""
    marker = request.node.get_closest_marker("task")
    if marker is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses judge but has no task marker")
    return Judge(_grading(request.config), str(marker.args[0]), request.node.nodeid)


@pytest.fixture
def gen(request: pytest.FixtureRequest):
    """A torch.Generator seeded for this test from the run seed: the source of every random input."""
    import torch

    return torch.Generator().manual_seed(_grading(request.config).test_seed(request.node.nodeid))
