"""pytest plugin that grades a submission against the reference solutions.

Load it from a grader suite's root conftest (``pytest_plugins = ["course.front.grading"]``). Every
test carries ``@pytest.mark.task("X.Y")`` and ``@pytest.mark.points(n)``; it asks the ``judge``
fixture to run a probe on the submission (in a worker, never in this process) and on the reference
(here), and compares the two with course.engine.checks. The plugin is the pytest front end of the engine
(course.engine.core): it fixes the list of tests and points before anything runs (a test that errored, was
deselected or never ran earns 0), turns a failed check into feedback instead of a traceback, prints the
score table (course.render.terminal) and puts a ``grade`` object into pytest-json-report's report. With
``--submissions`` it registers the batch runner (course.front.batch), which grades a class in one session.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from course import i18n, untrusted
from course.render import terminal
from course.engine.core import Engine
from course.engine.judge import Judge
from course.feedback import Mismatch
from course.limits import LIMITS
from course.engine.submission import STATUS_OK, Submission


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
    group.addoption("--grader-cluster", metavar="ADDRESS", default=None,
                    help="with --submissions: grade on a Dask cluster (a scheduler's address, or local:N for N "
                         "worker processes here); needs the cluster extra")
    group.addoption("--grader-serve", metavar="R,W", default=None,
                    help="serve the engine: grade entries arriving on descriptor R, reply on W (course.front.serve)")
    group.addoption("--course-settings", metavar="TOML", default=None,
                    help="with --submissions: the course's settings file (due date, late policy, extensions, "
                         "visibility of checks; see course.policy)")
    group.addoption("--lang", choices=i18n.LANGUAGES, default=None,
                    help=f"language of the feedback, hints and score table: en or ko (default: ${i18n.ENVIRONMENT}, else en)")


@dataclass(frozen=True)
class Suite:
    """What a grader suite declares in its conftest through the pytest_grading_suite hook."""

    tasks: dict = field(default_factory=dict)  # task id -> course.content.curriculum.Task; empty: points come from markers
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
    engine = Engine(config, suite or Suite())
    if config.getoption("submissions"):
        from course.front.batch import BatchRunner

        runner = BatchRunner(engine, Path(config.getoption("submissions")), Path(config.getoption("out")))
        config.pluginmanager.register(runner, "course-batch")
    elif config.getoption("grader_serve"):
        from course.front.serve import Server

        config.pluginmanager.register(Server(engine, config.getoption("grader_serve")), "course-serve")
    else:
        folder = config.getoption("submission") or engine.suite.default_submission
        if not folder:
            raise pytest.UsageError("no submission: pass --submission DIR")
        path = Path(folder)
        if not path.is_dir():
            raise pytest.UsageError(f"--submission {folder}: no such folder")
        path = path.resolve()
        engine.begin(Submission.read(path, engine.files or sorted(p.name for p in path.glob("*.py"))), path)
    plugin = Grading(engine)
    plugin.refuse_submitted_plugins()
    if not config.getoption("grader_cluster"):  # a cluster's client never runs student code: its workers do
        engine.start_worker()
    config.pluginmanager.register(plugin, "course-grading")


def _engine(config: pytest.Config) -> Engine:
    plugin = config.pluginmanager.get_plugin("course-grading")
    if plugin is None:
        raise pytest.UsageError("grading is not active in this session")
    return plugin.engine


class Grading:
    """The plugin's hooks, on one engine: the manifest at collection, feedback for failed checks, outcomes,
    the score table and the JSON report."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.config = engine, engine.config
        self.single = not any(self.config.pluginmanager.get_plugin(name) for name in ("course-batch", "course-serve"))

    def refuse_submitted_plugins(self) -> None:
        """Stop if pytest loaded a plugin or conftest.py from the submission folder: that code would have
        run in the judging process."""
        for plugin in self.config.pluginmanager.get_plugins():
            path = getattr(plugin, "__file__", None)  # some are relative (torch.ops: "_ops.py"): not loaded from here
            if isinstance(path, str) and os.path.isabs(path) and Path(path).resolve().is_relative_to(self.engine.path):
                raise pytest.UsageError(f"refusing to grade: pytest loaded {path} from the submission folder "
                                        "into the grading process; pass the folder as --submission only")

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        """Show the submission, the seed and how to replay it."""
        return [f"grading: {self.engine.path}",
                f"grader seed: {self.engine.seed} (replay with --grader-seed {self.engine.seed})"]

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Fix the manifest before -k/-m deselect anything: every collected test and its points."""
        self.engine.learn_manifest(items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Before the first test: one torch thread here (the worker has the other core) and a frozen heap."""
        import gc

        import torch

        torch.set_num_threads(1)
        gc.freeze()  # the end-of-session collections then skip everything torch loaded
        required = self.config.getoption("require_isolation")
        if required and not self.config.getoption("grader_cluster") and not self.config.getoption("grader_serve"):
            # (a cluster's workers and a service check their own, and say so to their front end)
            reached = self.engine.isolation()
            if reached["level"] < required:
                raise pytest.UsageError(f"refusing to grade: student code would run at isolation {reached['level']}, "
                                        f"below the required {required} ({'; '.join(reached['problems']) or 'no reason given'})")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport | None:
        """A failed check's report carries its feedback instead of a traceback: the grader's internals
        stay hidden, and no time goes into rendering tracebacks nobody is shown."""
        error = call.excinfo.value if call.excinfo is not None else None
        engine = self.engine
        if error is None or item.nodeid not in engine.manifest or not isinstance(error, Exception) \
                or isinstance(error, pytest.skip.Exception):
            return None
        if not isinstance(error, Mismatch) and self.config.getoption("grader_debug"):
            return None
        engine.record_failure(item, error, getattr(item, "funcargs", {}).get("judge"))
        sections = [(f"Captured {key} {when}", content) for when, key, content in getattr(item, "_report_sections", [])]
        return pytest.TestReport(item.nodeid, item.location, {k: 1 for k in item.keywords}, "failed",
                                 engine.feedback[item.nodeid], call.when, sections, call.duration, call.start, call.stop,
                                 user_properties=item.user_properties)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Record each test's outcome: passed only when setup, call and teardown all passed."""
        self.engine.record(report)

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_runtest_metadata(self, item: pytest.Item, call: pytest.CallInfo) -> dict:
        """Task, points and the test's own seed in every stage's metadata (setup too, so skips keep them)."""
        if item.nodeid not in self.engine.manifest:
            return {}
        task, points = self.engine.manifest[item.nodeid]
        return {"task": task, "points": points, "seed": self.engine.test_seed(item.nodeid)}

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_modifyreport(self, json_report: dict) -> None:
        """Add the grade, and each test's earned points and feedback."""
        engine = self.engine
        for test in json_report.get("tests", []):
            if test["nodeid"] in engine.manifest:
                task, points = engine.manifest[test["nodeid"]]
                meta = test.setdefault("metadata", {})
                meta.update(task=task, points=points,
                            earned=points if engine.outcomes.get(test["nodeid"]) == "passed" else 0.0)
                if test["nodeid"] in engine.feedback:
                    meta["feedback"] = engine.feedback[test["nodeid"]]
        json_report["grade"] = untrusted.tree(engine.totals())

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """End the worker session; a suite that disagrees with its curriculum fails the run, whatever the tests did.
        Before that, a single run with --grader-html writes its feedback page."""
        if self.single and self.config.getoption("grader_html"):
            self.write_html(Path(self.config.invocation_params.dir) / self.config.getoption("grader_html"))
        self.engine.close_session()
        if self.engine.errors:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR

    def write_html(self, path: Path) -> None:
        """A single run's feedback page (course.render.html_report), with the submission's loss curves."""
        from course.engine import result
        from course.render import html_report
        from course.engine.judge import loss_curves

        engine = self.engine
        engine.curves = loss_curves(engine)
        name = engine.path.name
        who = {"student": name, "entry": name, "kind": "folder", "status": STATUS_OK, "message": ""}
        graded = engine.result(who, {"grader": engine.version(), "seed": engine.seed})
        result.write_atomic(path, html_report.render(graded, engine.tasks))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Print the score table of a single run (a class prints its gradebook: course.front.batch)."""
        if not self.single:
            return
        engine = self.engine
        terminalreporter.write_sep("=", untrusted.line(f"grade: {engine.path.name} (seed {engine.seed})"))
        for line, markup in terminal.score_table(engine.totals(), engine.tasks, engine.steering):
            terminalreporter.write_line(line, **markup)


@pytest.fixture
def judge(request: pytest.FixtureRequest) -> Judge:
    """A Judge for the task of the requesting test."""
    marker = request.node.get_closest_marker("task")
    if marker is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses judge but has no task marker")
    return Judge(_engine(request.config), str(marker.args[0]), request.node.nodeid)


@pytest.fixture
def gen(request: pytest.FixtureRequest):
    """A torch.Generator seeded for this test from the run seed: the source of every random input."""
    import torch

    return torch.Generator().manual_seed(_engine(request.config).test_seed(request.node.nodeid))
