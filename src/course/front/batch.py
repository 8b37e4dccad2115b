"""Grading a whole class: the batch runner, a pytest plugin registered only with --submissions.

``pytest grader --submissions DIR --out OUT`` grades every entry of DIR (a folder of exercise files, a
.zip of them or a notebook; the entry's name is the student id; or the class's .zip) in one pytest
session: the grader's tests are collected once, torch is imported once, and each student is graded by
the engine (course.engine.core.Engine.grade) in a worker session of their own (fresh runners, under a
supervisor that starts afresh for each student: course.sandbox.supervisor). One judge process per core shares
the class, each claiming students through a file in OUT/.claims.

- intake (course.engine.submission): entries are read into memory, never extracted (a class zip is unpacked
  into OUT/class); unsafe, oversized or unreadable input becomes a per-student status, and nothing is
  written outside OUT;
- failure stays with its entry: whatever raises while one entry is read, graded or written out becomes
  that entry's status, `error` or `unreadable` with a one-line message (course.engine.result.guarded,
  course.render.outputs), and every other entry is still graded and written; the gradebook is always written;
- results: OUT/students/<id>.json (course.engine.result), written atomically the moment a student is done; a
  rerun skips students whose key is unchanged;
- the files for readers are rebuilt from those results at the end (course.render.outputs): feedback, the
  gradebook and the learning systems' exports.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from course import policy, untrusted
from course.engine import result
from course.render import terminal
from course.render.outputs import class_similarity, write_class_page, write_outputs
from course.engine.plan import Plan
from course.engine.submission import STATUS_ERROR, STATUS_OK, Entry, Submission, accounts_of, discover, unpack_class


class BatchRunner:
    """The pytest plugin that grades a class: it takes over pytest's test loop (every collected test once
    per student) and prints the gradebook in short at the end."""

    def __init__(self, engine: Any, folder: Path, out: Path) -> None:
        self.engine = engine
        self.batch = Batch(engine, folder, out)
        self.results: list[dict] = []
        self.report_to: int | None = None  # in a helper judge: the pipe to the main one
        engine.path, engine.hidden = self.batch.folder, (self.batch.folder, self.batch.out)
        engine.plan = Plan()
        if engine.config.getoption("grader_seed") is None and self.batch.stored_seed() is not None:
            engine.seed = self.batch.stored_seed()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        """Run every collected test once per student, and save each student's result the moment it is done."""
        config = self.engine.config
        if session.testsfailed and not config.option.continue_on_collection_errors:
            raise session.Interrupted(f"{session.testsfailed} error(s) while collecting the grader's tests")
        logging_plugin = config.pluginmanager.get_plugin("logging-plugin")
        if logging_plugin is not None:  # the judge logs nothing, and log capture costs ms per test and student
            config.pluginmanager.unregister(logging_plugin)
        self.batch.prepare(self.engine.version())
        todo = self.batch.pending()
        with Progress(config, total=len(self.batch.entries), done=len(self.batch.entries) - len(todo)) as bar:
            if config.getoption("grader_cluster"):
                self.grade_on_cluster(todo, bar)
                self.results = self.batch.finish()
                return True
            jobs = config.getoption("grader_jobs") or len(os.sched_getaffinity(0))
            helpers: list = []
            first = next((i for i, (entry, _) in enumerate(todo) if entry.status == STATUS_OK), None)
            if jobs > 1 and first is not None:  # helper judges then start with its calls and references known
                self.grade_entries([todo.pop(first)], session.items, bar, [])
            if jobs > 1 and len(todo) >= 2 * jobs:
                self.batch.reset_claims()
                helpers = [self.fork_helper(todo, session.items) for _ in range(jobs - 1)]
            self.grade_entries(todo, session.items, bar, helpers, claim=bool(helpers))
            if helpers:
                for helper in helpers:
                    helper.finish(bar)
                self.batch.clear_claims()
                self.grade_entries(self.batch.pending(), session.items, bar, [])  # anything a helper left undone
        self.results = self.batch.finish()
        return True

    def grade_on_cluster(self, todo: list, bar: Progress) -> None:
        """Grade todo on the Dask cluster of --grader-cluster (course.front.cluster: imported only here)."""
        from course.front.cluster import ClusterGrading

        cluster = ClusterGrading(self, bar, bar.say)
        try:
            cluster.start()
            cluster.grade(todo)
        finally:
            cluster.close()

    def grade_entries(self, todo: list, items: list[pytest.Item], bar: Any, helpers: list, claim: bool = False) -> None:
        """Grade each entry of todo, or with claim, each entry this process claims first (judge processes
        share a class that way); meanwhile count what the helpers report done. Whatever raises while one
        entry is graded becomes that entry's `error` (result.guarded); the others are graded as usual."""
        tasks = self.engine.tasks
        for entry, key in todo:
            for helper in helpers:
                helper.poll(bar)
            if claim and not self.batch.claim(entry):
                continue
            if entry.status != STATUS_OK:
                graded = result.ungraded(entry, key, tasks)
            else:
                graded = result.guarded(entry, key, tasks, lambda: self.engine.grade(
                    Submission(dict(entry.sources), dict(entry.problems), list(entry.ignored)), entry.path, items,
                    entry.who(), key))
            result.store(self.batch.out, graded, entry, tasks)
            if bar is not None:
                bar.update(entry.student, graded)
            if self.report_to is not None:
                os.write(self.report_to, (json.dumps([entry.student, graded["grade"]["earned"],
                                                      graded["grade"]["possible"], graded["status"]]) + "\n").encode())

    def fork_helper(self, todo: list, items: list[pytest.Item]) -> Helper:
        """Fork a helper judge process (torch is already imported: nothing is paid twice) that claims
        students from the same list through its own handle on the zygote; it reports each one done."""
        twin = self.engine.start_worker().split()
        read_end, write_end = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the helper judge
            code = 0
            try:
                from course.sandbox.contain import die_with_parent

                die_with_parent()  # the main judge killed: this one dies too, it must not write on alone
                if os.getppid() != parent:
                    os._exit(70)
                os.close(read_end)
                self.engine.take_over(twin)
                self.report_to = write_end
                self.grade_entries(todo, items, None, [], claim=True)
            except BaseException:
                code = 70
            finally:
                os._exit(code)
        os.close(write_end)
        twin.forget()
        return Helper(pid, read_end)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The gradebook in short (course.render.terminal)."""
        terminalreporter.write_sep("=", untrusted.line(f"gradebook: {self.batch.folder.name} (seed {self.engine.seed})"))
        for line in terminal.class_summary(self.results, self.batch.out):
            terminalreporter.write_line(line)
        if self.batch.page_line:
            terminalreporter.write_line(self.batch.page_line)
        with contextlib.suppress(OSError):  # overrides or submission times that could not be used
            for line in (self.batch.out / "policy-problems.txt").read_text(encoding="utf-8").splitlines():
                terminalreporter.write_line(untrusted.line(f"policy: {line}"))


class Batch:
    """A class being graded: its entries, where results go, the seed and grader version they are keyed by."""

    def __init__(self, engine: Any, folder: Path, out: Path) -> None:
        import pytest

        self.archive = None  # a class handed in as one zip
        if folder.is_file() and folder.name.lower().endswith(".zip"):
            self.archive = folder.resolve()
            try:
                folder = unpack_class(folder, out.resolve() / "class")
            except (OSError, ValueError) as e:
                raise pytest.UsageError(f"--submissions {folder}: a class zip, but {untrusted.line(e, 200)}") from None
        elif folder.is_file():
            raise pytest.UsageError(f"--submissions {folder} is a file, not a class: give the folder that holds one "
                                    "entry per student (a folder, a .zip or a notebook each), or the class's .zip")
        elif not folder.is_dir():
            raise pytest.UsageError(f"--submissions {folder}: no such folder")
        self.engine = engine
        self.folder, self.out = folder.resolve(), out.resolve()
        if self.archive is None and (self.out == self.folder or self.out.is_relative_to(self.folder)):
            raise pytest.UsageError(f"--out {out} is inside the submissions folder; put the results elsewhere")
        if self.out.exists() and not self.out.is_dir():
            raise pytest.UsageError(f"--out {out} exists and is not a folder")
        self.entries: list[Entry] = []
        self.version = ""
        self.page_line = ""  # what became of the class page (finish)
        try:  # the course's policies, applied when the class's files are rebuilt (course.policy)
            settings = engine.config.getoption("course_settings")
            self.settings_file = Path(settings).resolve() if settings else None
            self.settings = policy.load(self.settings_file)
        except policy.SettingsError as e:
            raise pytest.UsageError(f"--course-settings: {untrusted.line(e, 400)}") from None
        self.accounts = accounts_of(self.folder)

    def stored_seed(self) -> int | None:
        """The seed of an earlier run into the same OUT: a rerun keeps it, so results stay comparable."""
        try:
            seed = json.loads((self.out / "batch.json").read_text(encoding="utf-8"))["seed"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return seed if type(seed) is int else None

    def prepare(self, version: str) -> None:
        """Read every entry, fix the grader version, record the run's seed in OUT/batch.json (with the class and the
        course settings file, which a rebuild of the class page reads again: course.front.class_page)."""
        self.clear_claims()  # left by a run that was killed
        self.entries = discover(self.folder, self.engine.files)
        self.version = version
        self.out.mkdir(parents=True, exist_ok=True)
        result.write_atomic(self.out / "batch.json", json.dumps(
            {"seed": self.engine.seed, "grader": self.version, "submissions": str(self.archive or self.folder),
             "course_settings": str(self.settings_file) if self.settings_file else None}, indent=1) + "\n")

    def pending(self) -> list[tuple[Entry, dict]]:
        """Entries whose stored result is missing or was graded under another key, with the key to grade under."""
        todo = []
        for entry in self.entries:
            key = result.key_of(entry, self.version, self.engine.seed, bool(self.engine.config.getoption("grader_curves")))
            stored = result.load(self.out, entry)
            if stored is None or stored.get("key") != key or stored.get("student") != entry.student \
                    or stored.get("status") == STATUS_ERROR:
                todo.append((entry, key))
        return todo

    def reset_claims(self) -> None:
        self.clear_claims()
        (self.out / ".claims").mkdir(parents=True)

    def clear_claims(self) -> None:
        shutil.rmtree(self.out / ".claims", ignore_errors=True)

    def claim(self, entry: Entry) -> bool:
        """Whether this judge process takes the entry: the first to create its claim file does."""
        try:
            os.close(os.open(self.out / ".claims" / entry.slug, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            return True
        except FileExistsError:
            return False

    def finish(self) -> list[dict]:
        """Write the class's files from the stored results, then its page (whatever happens to the page, the others
        stand; self.page_line says where it is or why it is not)."""
        self.clear_claims()
        results = write_outputs(self.out, self.entries, self.engine.tasks, self.settings, self.accounts)
        self.page_line = write_class_page(self.out, [(e.slug, r) for e, r in zip(self.entries, results)], self.engine.tasks,
                                          class_similarity(self.entries, self.engine.tasks, self.engine.suite.default_submission))
        return results


class Progress:
    """A progress bar with count and ETA on a terminal (tqdm), one plain line per student elsewhere.
    Writes around pytest's output capture, to the real stderr."""

    def __init__(self, config, total: int, done: int) -> None:
        self.capman = config.pluginmanager.getplugin("capturemanager")
        self.total, self.done, self.bar = total, done, None
        with self._terminal():
            self.tty = sys.__stderr__ is not None and sys.__stderr__.isatty()
            if self.tty:
                from tqdm import tqdm

                tqdm.monitor_interval = 0  # no refresh thread: it would write while output is captured
                self.bar = tqdm(total=total, initial=done, unit="student", file=sys.__stderr__, dynamic_ncols=True)
            elif sys.__stderr__ is not None:
                print(f"grading {total - done} of {total} entries ({done} unchanged since the last run)",
                      file=sys.__stderr__, flush=True)

    def _terminal(self):
        return self.capman.global_and_fixture_disabled() if self.capman else contextlib.nullcontext()

    def say(self, line: str) -> None:
        """One line for the instructor, above the bar."""
        with self._terminal(), contextlib.suppress(Exception):
            if self.bar is not None:
                self.bar.write(line, file=sys.__stderr__)
            elif sys.__stderr__ is not None:
                print(line, file=sys.__stderr__, flush=True)

    def update(self, student: str, result: dict) -> None:
        """Count one student done; what is shown of them is made safe, and a failure to show it is ignored."""
        self.done += 1
        with self._terminal(), contextlib.suppress(Exception):
            grade = result["grade"]
            name, status = untrusted.line(student, 30), untrusted.line(result["status"], 40)
            if self.bar is not None:
                self.bar.set_postfix_str(f"{name[:20]} {grade['earned']:g}/{grade['possible']:g}", refresh=False)
                self.bar.update(1)
            elif sys.__stderr__ is not None:
                print(f"[{self.done:>{len(str(self.total))}}/{self.total}] {name[:30]:<30} "
                      f"{grade['earned']:>5g} / {grade['possible']:g}  {status}", file=sys.__stderr__, flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            with self._terminal():
                self.bar.close()


class Helper:
    """The main judge's view of a helper judge: its pid and the pipe on which it reports each student it
    finished (one JSON line: id, earned, possible, status). All judges claim students through Batch.claim."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self.fd, self.buffer = pid, fd, b""

    def poll(self, bar: Progress | None, block: bool = False) -> None:
        """Count the students the helper reported as done (without waiting, unless block)."""
        os.set_blocking(self.fd, block)
        try:
            while chunk := os.read(self.fd, 1 << 16):
                self.buffer += chunk
                if not block:
                    break
        except BlockingIOError:
            pass
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            try:
                student, earned, possible, status = json.loads(line)
            except (ValueError, TypeError):
                continue
            if bar is not None:
                bar.update(student, {"grade": {"earned": earned, "possible": possible}, "status": status})

    def finish(self, bar: Progress | None) -> None:
        """Wait for the helper to finish its claims and exit."""
        self.poll(bar, block=True)
        os.close(self.fd)
        os.waitpid(self.pid, 0)
