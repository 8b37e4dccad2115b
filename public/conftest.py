"""How the public checks report: each failed check reads like the grader's feedback, and a table per task
ends the run.

pytest loads this file from the bundle's public/ folder, whether it runs in the bundle or in a folder above
it. The fixtures sec1 ... sec4 load your exercise files from beside public/ by their path, afresh for each
check, so a mistake in one file fails only its own checks. The wording is the grader's own (course/ holds
the grader's checks and messages, and no reference answer), in English or in Korean (COURSE_LANG=ko).
pytest -v shows each check and the tracebacks as well.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import sys
import traceback
from pathlib import Path

import pytest

from course import feedback, i18n, untrusted
from course.content.curriculum import TASKS
from course.i18n import C_, _
from course.limits import LIMITS

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
        with _time_limit():
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        """The check itself, under the grader's time limit: an endless loop fails its check, not the whole run."""
        with _time_limit():
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
        file does not load, a block otherwise)."""
        info = TASKS.get(task)
        file = info.file if info else ""
        if isinstance(error, feedback.Mismatch):
            message, hint = error.message, error.hint
        elif isinstance(error, AssertionError) and not _raised_in(error, BUNDLE / file):  # a check's own assert
            message, hint = str(error).split("\nassert ")[0].strip() or _("the check failed"), None
        elif isinstance(error, Exited):
            message, hint = _("the process running your code died (exit code {code}) before it returned").format(
                code=error.code), _("remove the os._exit(...) call: it ends the whole process, the grader's too")
        elif isinstance(error, TookTooLong):
            message, hint = _("did not finish within {limit} (an endless loop, or waiting for input?)").format(
                limit=f"{LIMITS.call_seconds:g} s"), None
        elif isinstance(error, FileNotFoundError) and file and error.filename == str(BUNDLE / file):
            self.broken.setdefault(file, _("{file} is missing from {folder}").format(file=file, folder=BUNDLE))
            return "unloaded", _("could not run: {file} does not load (the note about {file} above says why)").format(file=file)
        elif isinstance(error, BaseException):
            described = feedback.describe_error(error, "call", str(BUNDLE / file) if file else "")
            if described["not_implemented"]:
                return "todo", ""
            if file and _raised_at_import(error, BUNDLE / file):  # said once for the file, above the checks
                self.broken.setdefault(file, feedback.raised({**described, "stage": "import"}, file, task))
                return "unloaded", _("could not run: {file} does not load (the note about {file} above says why)").format(
                    file=file)
            message, hint = feedback.raised(described, file, task), feedback.hint_for(described, task)
        else:
            message, hint = _("the check failed"), None
        doc = (getattr(getattr(item, "obj", None), "__doc__", None) or "").strip()
        title = _(doc.splitlines()[0]) if doc else item.name  # the catalog holds each check's title
        return "failed", feedback.block(task, info.function if info else "", title, message, hint)

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
        for task in sorted(self.failures, key=_order):
            for text in self.failures[task]:
                write(text)
        if self.broken or self.failures:
            write("")
        write(i18n.pad(C_("score table", "task"), 6) + i18n.pad(C_("score table", "what"), 38)
              + i18n.pad(_("checks"), 8) + _("status"))
        todo = []
        for task in sorted(self.outcomes, key=_order):
            results = [status for _, status in self.outcomes[task]]
            passed = results.count("passed")
            if passed == len(results):
                status, markup = _("passed"), {"green": True}
            elif "todo" in results and passed == 0 and "failed" not in results:
                status, markup = _("not implemented yet"), {"yellow": True}
                todo.append(task)
            else:
                status, markup = _("failed"), {"red": True}
            what = TASKS[task].function if task in TASKS else ""
            write(f"{task:<6}{what[:37]:<38}{f'{passed}/{len(results)}':<8}{status}", **markup)
        if todo:
            write(_("replace raise NotImplementedError(...) in the functions of tasks {tasks} with your code")
                  .format(tasks=", ".join(todo)))


class TookTooLong(BaseException):
    """A check ran past the grader's time limit (a BaseException, so that no except Exception in the code
    under check swallows it)."""


class Exited(BaseException):
    """The code under check called os._exit, which would end this whole run without a word."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@contextlib.contextmanager
def _time_limit():
    """Raise TookTooLong in this thread once LIMITS.call_seconds have passed (where the system has SIGALRM), and
    Exited where the code under check calls os._exit (a line left from debugging)."""
    def exit_(code: int = 0) -> None:
        raise Exited(code)

    def ring(signum, frame):
        raise TookTooLong()

    real_exit, os._exit = os._exit, exit_
    timed = hasattr(signal, "SIGALRM")
    if timed:
        before = signal.signal(signal.SIGALRM, ring)
        signal.setitimer(signal.ITIMER_REAL, LIMITS.call_seconds)
    try:
        yield
    finally:
        os._exit = real_exit
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, before)


def _order(task: str) -> list[int]:
    return [int(part) for part in task.split(".") if part.isdigit()]


def _raised_in(error: BaseException, path: Path) -> bool:
    """Whether error passed through the file at path (your code raised it, or let it through)."""
    return any(f.filename == str(path) for f in traceback.extract_tb(error.__traceback__))


def _raised_at_import(error: BaseException, path: Path) -> bool:
    """Whether error came out of executing the file itself (its top level), not out of a function in it."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == str(path)]
    return isinstance(error, SyntaxError) or (bool(frames) and frames[-1].name == "<module>")
