"""How the public checks report: each failed check reads like the grader's feedback, and a table per task
ends the run.

pytest loads this file from the bundle's public/ folder, whether it runs in the bundle or in a folder above
it. The fixtures sec1 ... sec4 load your exercise files from beside public/ by their path, afresh for each
check, so a mistake in one file fails only its own checks. The wording is the grader's own (course/ holds
the grader's checks and messages, and no reference answer), in English or in Korean (COURSE_LANG=ko).
pytest -v shows each check and the tracebacks as well.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from course import i18n, untrusted
from course.content.curriculum import TASKS
from course.front import checking
from course.i18n import C_, _

BUNDLE = Path(__file__).resolve().parent.parent
STEMS = sorted({Path(t.file).stem for t in TASKS.values()})


def load(stem: str):
    """Your exercise file stem.py, executed afresh as the module stem."""
    path = BUNDLE / f"{stem}.py"
    spec = importlib.util.spec_from_file_location(stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[stem] = module  # what dataclasses and pickling look a module up by
    spec.loader.exec_module(module)
    return module


def _fixture(stem: str):
    @pytest.fixture(name=stem.split("_")[0])
    def module():
        return load(stem)

    module.__doc__ = f"Your {stem}.py, loaded afresh for the check."
    return module


for _stem in STEMS:
    globals()[f"fixture_{_stem}"] = _fixture(_stem)


def pytest_configure(config: pytest.Config) -> None:
    """Register the task marker, choose the language and start the report (course-checks)."""
    config.addinivalue_line("markers", "task(id): the task a check belongs to, e.g. task('2.2')")
    try:
        i18n.set_language(i18n.choose(None))
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None
    config.pluginmanager.register(Report(config), "course-checks")


class Report:
    """Each check's task and outcome, and what a student reads about each failure."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.verbose = config.option.verbose > 0
        self.outcomes: dict[str, list[tuple[str, str]]] = {}  # task -> [(nodeid, passed / failed / todo)]
        self.failures: dict[str, list[str]] = {}  # task -> feedback blocks
        self.broken: dict[str, str] = {}  # exercise file -> why it does not load, said once
        if not self.verbose:
            config.option.tbstyle = "no"  # the feedback below says what a traceback would
        self.quiet_reporter()

    def quiet_reporter(self) -> None:
        """Without -v, pytest's own one-line summary of each failure stays out: the table says it."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and not self.verbose:
            reporter.reportchars = ""

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """The terminal reporter, when it was made after this plugin (pytest run in the bundle itself)."""
        self.quiet_reporter()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item):
        """Loading the exercise file, under the grader's time limit."""
        with checking.time_limit():
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        """The check itself, under the grader's time limit: an endless loop fails its check, not the whole run."""
        with checking.time_limit():
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        """Record the check's outcome; a failure's report carries the feedback instead of a traceback."""
        report = yield
        marker = item.get_closest_marker("task")
        if marker is None or (report.when != "call" and report.passed):
            return report
        task = str(marker.args[0])
        if report.passed:
            self.outcomes.setdefault(task, []).append((item.nodeid, "passed"))
            return report
        if report.skipped:
            return report
        error = call.excinfo.value if call.excinfo is not None else None
        status, text = self.explain(item, task, error)
        self.outcomes.setdefault(task, []).append((item.nodeid, status))
        if text and status != "unloaded":  # a file that does not load is said once, above the table
            self.failures.setdefault(task, []).append(text)
        if not self.verbose:
            report.longrepr = text or _("not implemented yet (Task {task})").format(task=task)
        return report

    def explain(self, item: pytest.Item, task: str, error: BaseException | None) -> tuple[str, str]:
        """(todo, unloaded or failed; the feedback: none for a task not implemented yet, one line for a check whose
        file does not load, a block otherwise), worded as course.front.checking words it for the notebooks too."""
        info = TASKS.get(task)
        path = BUNDLE / info.file if info else None
        verdict = checking.explain(task, error, checking.title_of(getattr(item, "obj", None), item.name),
                                   {str(path)} if path else set(), info.file if info else "", path)
        if verdict.note:  # said once for the file, above the checks
            self.broken.setdefault(info.file, verdict.note)
        return verdict.status, verdict.text

    def pytest_terminal_summary(self, terminalreporter) -> None:
        """The feedback of every failed check, task by task, then one line per task; every line made safe
        (course.untrusted: what the exercise code raised or printed holds no control character here)."""
        def write(text: str, **markup: bool) -> None:
            terminalreporter.write_line(untrusted.text(text, None), **markup)

        if not self.outcomes:
            return
        title = _("public checks")  # pytest measures it with len(): a wide (Hangul) character takes two columns
        columns = getattr(getattr(terminalreporter, "_tw", None), "fullwidth", None)
        terminalreporter.write_sep("=", title, fullwidth=columns and columns - (i18n.width(title) - len(title)))
        for file, why in sorted(self.broken.items()):
            write(_("note: {problem}").format(problem=why))
        for task in sorted(self.failures, key=checking.order):
            for text in self.failures[task]:
                write(text)
        if self.broken or self.failures:
            write("")
        write(i18n.pad(C_("score table", "task"), 6) + i18n.pad(C_("score table", "what"), 38)
              + i18n.pad(_("checks"), 8) + _("status"))
        todo = []
        for task in sorted(self.outcomes, key=checking.order):
            results = [status for _, status in self.outcomes[task]]
            passed = results.count(checking.PASSED)
            status = checking.task_status(results)
            markup = {checking.PASSED: "green", checking.TODO: "yellow"}.get(status, "red")
            if status == checking.TODO:
                todo.append(task)
            status, markup = _(checking.STATUS_WORDS[status]), {markup: True}
            what = TASKS[task].function if task in TASKS else ""
            write(f"{task:<6}{what[:37]:<38}{f'{passed}/{len(results)}':<8}{status}", **markup)
        if todo:
            write(_("replace raise NotImplementedError(...) in the functions of tasks {tasks} with your code")
                  .format(tasks=", ".join(todo)))
