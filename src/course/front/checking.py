"""The public checks as a student runs them: in the bundle under pytest (public/conftest.py) and in a released
notebook, where ``check("2.2")`` runs a task's checks on the objects the notebook's kernel holds.

Both say a failed check the grader's way (course.feedback: the task, what was checked, expected against got, the
hint), run each check under the grader's time limit, and end with one status per task: passed, failed or not
implemented yet. Nothing here holds a reference answer or a hidden test: the release ships this module beside the
public checks (public/course/front/checking.py).

In a notebook, the checks get a module of their own made of the kernel's globals at the moment of the call (the
functions and classes the student's cells defined, as they are now); the notebook's own functions see that module's
names, so a check that puts a stand-in into it (fit's check replaces train_one_epoch) never changes the kernel.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import inspect
import io
import os
import re
import signal
import sys
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path

from course import feedback, i18n, untrusted
from course.content.curriculum import TASKS
from course.i18n import N_, _
from course.limits import LIMITS

PASSED, FAILED, TODO, UNLOADED = "passed", "failed", "todo", "unloaded"


class TookTooLong(BaseException):
    """A check ran past the grader's time limit (a BaseException, so that no except Exception in the code
    under check swallows it)."""


class Exited(BaseException):
    """The code under check called os._exit, which would end this whole run (or the notebook's kernel) without a word."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@functools.cache
def warm_up() -> None:
    """Pay once, before any check's clock runs, what torch loads on first use: an optimizer's first step imports
    torch._dynamo (1.5 s, more on a busy machine), which would otherwise count against the first training check."""
    import torch

    weight = torch.nn.Parameter(torch.zeros(1))
    weight.grad = torch.ones(1)
    torch.optim.SGD([weight], lr=0.1).step()


@contextlib.contextmanager
def time_limit():
    """Raise TookTooLong in this thread once LIMITS.call_seconds have passed (where the system has SIGALRM and this
    is the main thread), and Exited where the code under check calls os._exit (a line left from debugging)."""
    warm_up()

    def exit_(code: int = 0) -> None:
        raise Exited(code)

    def ring(signum, frame):
        raise TookTooLong()

    real_exit, os._exit = os._exit, exit_
    timed = hasattr(signal, "SIGALRM")
    if timed:
        try:
            before = signal.signal(signal.SIGALRM, ring)
        except ValueError:  # not the main thread: no alarm to ring
            timed = False
        else:
            signal.setitimer(signal.ITIMER_REAL, LIMITS.call_seconds)
    try:
        yield
    finally:
        os._exit = real_exit
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, before)


def order(task: str) -> list[int]:
    """A task id as numbers, to sort 1.10 after 1.9."""
    return [int(part) for part in task.split(".") if part.isdigit()]


def raised_in(error: BaseException, files: set[str]) -> bool:
    """Whether error passed through one of files (the code under check raised it, or let it through)."""
    return any(f.filename in files for f in traceback.extract_tb(error.__traceback__))


def raised_at_import(error: BaseException, path: Path) -> bool:
    """Whether error came out of executing the file itself (its top level), not out of a function in it."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == str(path)]
    return isinstance(error, SyntaxError) or (bool(frames) and frames[-1].name == "<module>")


def describe(error: BaseException, stage: str, files: set[str]) -> dict:
    """feedback.describe_error, at the last line of the code under check (any of files) that error passed."""
    frames = [f.filename for f in traceback.extract_tb(error.__traceback__) if f.filename in files]
    if frames:
        return feedback.describe_error(error, stage, frames[-1])
    syntax = isinstance(error, SyntaxError) and error.filename in files
    return feedback.describe_error(error, stage, error.filename if syntax else "")


def title_of(function, fallback: str) -> str:
    """A check's title: the first line of its docstring, in the current language (the catalog holds each)."""
    doc = (getattr(function, "__doc__", None) or "").strip()
    return _(doc.splitlines()[0]) if doc else fallback


@dataclass
class Verdict:
    """A failed check: its status (failed, todo or unloaded), what the student reads, and a note said once for
    the whole file (why it does not load), if any."""

    status: str
    text: str = ""
    note: str = ""


def explain(task: str, error: BaseException | None, title: str, files: set[str], label: str,
            path: Path | None = None) -> Verdict:
    """What a student reads about a check of task that raised error. files: where the code under check lives;
    label: how to name it (sec2_forward.py, or a notebook cell); path: the exercise file the bundle loads, whose
    absence or failure to load is said once (path None: a notebook, nothing to load)."""
    info = TASKS.get(task)
    file = info.file if info else ""
    if isinstance(error, feedback.Mismatch):
        message, hint = error.message, error.hint
    elif isinstance(error, AssertionError) and not raised_in(error, files):  # a check's own assert
        message, hint = str(error).split("\nassert ")[0].strip() or _("the check failed"), None
    elif isinstance(error, Exited):
        message, hint = _("the process running your code died (exit code {code}) before it returned").format(
            code=error.code), _("remove the os._exit(...) call: it ends the whole process, the grader's too")
    elif isinstance(error, TookTooLong):
        message, hint = _("did not finish within {limit} (an endless loop, or waiting for input?)").format(
            limit=f"{LIMITS.call_seconds:g} s"), None
    elif path is not None and isinstance(error, FileNotFoundError) and error.filename == str(path):
        return Verdict(UNLOADED, _("could not run: {file} does not load (the note about {file} above says why)").format(
            file=file), _("{file} is missing from {folder}").format(file=file, folder=path.parent))
    elif isinstance(error, BaseException):
        described = describe(error, "call", files)
        if described["not_implemented"]:
            return Verdict(TODO)
        if path is not None and raised_at_import(error, path):  # said once for the file, above the checks
            return Verdict(UNLOADED, _("could not run: {file} does not load (the note about {file} above says why)").format(
                file=file), feedback.raised({**described, "stage": "import"}, file, task))
        message, hint = feedback.raised(described, label, task), feedback.hint_for(described, task)
    else:
        message, hint = _("the check failed"), None
    return Verdict(FAILED, feedback.block(task, info.function if info else "", title, message, hint))


def task_status(statuses: list[str]) -> str:
    """A task's status from its checks': passed when all passed, todo when none ran for want of code, else failed."""
    passed = statuses.count(PASSED)
    if passed == len(statuses):
        return PASSED
    if TODO in statuses and passed == 0 and FAILED not in statuses:
        return TODO
    return FAILED


STATUS_WORDS = {PASSED: N_("passed"), FAILED: N_("failed"), TODO: N_("not implemented yet")}  # the table's


# In a notebook ----------------------------------------------------------------------------------------------------

@dataclass
class TaskResult:
    """One check() call: the task, each check's status, the feedback of each failed one, and notes."""

    task: str
    statuses: list[str] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    todo: set[str] = field(default_factory=set)  # the tasks whose NotImplementedError stopped a check

    @property
    def status(self) -> str:
        return task_status(self.statuses) if self.statuses else FAILED

    def line(self) -> str:
        """The task's status in one line (the note that says why no check ran, if none did)."""
        if not self.statuses:
            return untrusted.line(self.notes[0] if self.notes else self.task, 400)
        named, total = f"Task {self.task} ({TASKS[self.task].function})", len(self.statuses)
        if self.status == PASSED:
            return _("{task}: passed, all {total} checks").format(task=named, total=total)
        if self.status == TODO:
            return _("{task}: not implemented yet").format(task=named)
        return _("{task}: failed, {passed} of {total} checks passed").format(
            task=named, passed=self.statuses.count(PASSED), total=total)

    def text(self) -> str:
        """What check() prints: the notes, each failed check's block, then the task's line."""
        lines = [*self.notes, *self.blocks]
        if self.statuses:
            lines.append(self.line())
        if self.status == TODO:
            functions = ", ".join(TASKS[t].function for t in sorted(self.todo or {self.task}, key=order) if t in TASKS)
            lines.append("  " + _("replace raise NotImplementedError(...) in {function} with your code, run its cell, "
                                  "then this one again").format(function=functions))
        return untrusted.text("\n".join(lines), None)


_loaded: dict[tuple, types.ModuleType] = {}  # (path, mtime, size, language) -> the public check module


def public_folder() -> Path:
    """Where the public checks are: the folder this package was shipped in (public/course/front/checking.py), else
    public/ in the working directory (a notebook's kernel runs in the notebook's folder)."""
    shipped = Path(__file__).resolve().parents[2]
    return shipped if any(shipped.glob("test_sec*.py")) else Path.cwd() / "public"


def load_checks(path: Path) -> types.ModuleType:
    """The public check module at path, executed once (again when the file or the language changes: the checks
    word their hints when they load)."""
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size, i18n.language())
    if key not in _loaded:
        spec = importlib.util.spec_from_file_location(f"public_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _loaded[key] = module
    return _loaded[key]


def checks_of(module: types.ModuleType, task: str) -> list:
    """The module's checks of task, in their order in the file (a check marked with pytest.mark.task(task))."""
    found = []
    for name, function in vars(module).items():
        if name.startswith("test_") and inspect.isfunction(function):
            marks = getattr(function, "pytestmark", [])
            if any(mark.name == "task" and task in map(str, mark.args) for mark in marks):
                found.append(function)
    return found


def notebook_module(stem: str, namespace: dict) -> types.ModuleType:
    """A module named stem holding what namespace (a kernel's globals) holds now; each function defined in that
    namespace is rebound to the module's names, so a check may replace one of them without touching the kernel."""
    module = types.ModuleType(stem)
    names = {k: v for k, v in namespace.items() if not (k.startswith("__") and k.endswith("__"))}
    module.__dict__.update(names)
    for name, value in names.items():
        if inspect.isfunction(value) and value.__globals__ is namespace:
            copy = types.FunctionType(value.__code__, module.__dict__, value.__name__, value.__defaults__,
                                      value.__closure__)
            copy.__kwdefaults__, copy.__dict__ = value.__kwdefaults__, dict(value.__dict__)
            copy.__qualname__, copy.__doc__ = value.__qualname__, value.__doc__
            module.__dict__[name] = copy
    return module


def code_files(namespace: dict) -> set[str]:
    """The files (notebook cells) that the namespace's own functions and classes were defined in."""
    files = set()
    for value in namespace.values():
        functions = [value] if inspect.isfunction(value) else []
        if inspect.isclass(value) and value.__module__ == namespace.get("__name__"):
            functions = [f for f in vars(value).values() if inspect.isfunction(f)]
        files.update(f.__code__.co_filename for f in functions if f.__globals__ is namespace)
    return files


def cell_label(filename: str) -> str:
    """How IPython names the cell a file holds ("Cell In[7]"), else "your cell"."""
    try:
        number = sys.modules["IPython"].get_ipython().compile._filename_map[filename]
    except (KeyError, AttributeError, TypeError):
        return _("your cell")
    return f"Cell In[{number}]"


def wanted_names(task: str) -> list[str]:
    """The names a task's code defines: its function or class names (SimpleNN for SimpleNN.forward)."""
    return [part.strip().split(".")[0] for part in TASKS[task].function.split(",")]


def stopped_at(error: BaseException, files: set[str], file: str) -> str | None:
    """The task whose NotImplementedError error is: the one its message names (the bundle's stubs say "Task 2.1"),
    else the one whose function raised it (nbgrader's stubs raise it bare), else None."""
    named = re.search(r"Task (\d+\.\d+)", str(error))
    if named:
        return named[1]
    tb, qualname = error.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in files:
            qualname = tb.tb_frame.f_code.co_qualname
        tb = tb.tb_next
    for task in (t for t in TASKS.values() if t.file == file and qualname):
        if any(qualname in (name, name.split(".")[0]) or qualname.startswith(name + ".")
               for name in (part.strip() for part in task.function.split(","))):
            return task.id
    return None


def run(task: str, namespace: dict, folder: Path | None = None) -> TaskResult:
    """Run task's public checks on what namespace holds now; never raises for anything the code under check does."""
    result = TaskResult(task)
    info = TASKS.get(task)
    if info is None:
        result.task = next(iter(TASKS))  # to name something in text(); the note says what went wrong
        result.notes.append(_("there is no task {task}: the tasks are {tasks}").format(
            task=untrusted.line(task, 20), tasks=", ".join(TASKS)))
        return result
    i18n.set_language(i18n.choose(None))
    missing = [name for name in wanted_names(task) if name not in namespace]
    if missing:
        result.notes.append(_("Task {task} ({function}): {names} not defined yet: run the cell that defines it (or "
                              "every cell above this one), then this one again").format(
            task=task, function=info.function, names=", ".join(missing)))
        return result
    stem = Path(info.file).stem
    path = (folder or public_folder()) / f"test_{stem}.py"
    if not path.is_file():
        result.notes.append(_("Task {task}: no public checks beside this notebook ({path}); keep the public/ folder of "
                              "the release next to it").format(task=task, path=path))
        return result
    checks = checks_of(load_checks(path), task)
    files = code_files(namespace)
    import torch  # the checks' own import: loaded by now

    for function in checks:
        module = notebook_module(stem, namespace)
        output = io.StringIO()
        grad = torch.is_grad_enabled()
        error = None
        try:
            with torch.random.fork_rng(devices=[]), contextlib.redirect_stdout(output), \
                    contextlib.redirect_stderr(output), time_limit():
                function(*[module for name in inspect.signature(function).parameters])
        except KeyboardInterrupt:  # the student stopped the kernel
            raise
        except BaseException as e:  # noqa: BLE001  whatever the code under check raised is feedback
            error = e
        finally:
            torch.set_grad_enabled(grad)
        if error is None:
            result.statuses.append(PASSED)
            continue
        frames = [f.filename for f in traceback.extract_tb(error.__traceback__) if f.filename in files]
        verdict = explain(task, error, title_of(function, function.__name__), files,
                          cell_label(frames[-1]) if frames else _("your cell"))
        result.statuses.append(verdict.status)
        if verdict.status == TODO:
            result.todo.add(stopped_at(error, files, info.file) or task)
        if verdict.text:
            said = feedback.printed(output.getvalue())
            result.blocks.append(verdict.text + (f"\n{said}" if said else ""))
    return result


def check(task: str) -> None:
    """Run the public checks of task (e.g. "2.2") on the code this notebook has run, and print what they found."""
    namespace = sys._getframe(1).f_globals  # the notebook's globals: check() is called from one of its cells
    try:
        result = run(str(task), namespace)
    except Exception as error:  # noqa: BLE001  the checks themselves could not run: say so in one line
        print(_("the checks of Task {task} could not run: {error}").format(
            task=untrusted.line(task, 20), error=untrusted.line(f"{type(error).__name__}: {error}", 300)))
        return
    print(result.text())
