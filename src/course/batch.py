"""Grading a whole class: read each student's entry, keep each result on disk, write the gradebook.

``pytest grader --submissions DIR --out OUT`` grades every entry of DIR (a folder of exercise
files, a .zip of them; the entry's name is the student id) in one pytest session: the grader's
tests are collected once, torch is imported once, and each student gets a worker session of their
own (fresh runners, under a supervisor that starts afresh for each student: course.supervisor).
The grading plugin runs the tests; this module does the rest:

- intake (course.submission): entries are read into memory, never extracted (a class zip is unpacked
  into OUT/class); unsafe, oversized or unreadable input becomes a per-student status, and nothing is
  written outside OUT;
- failure stays with its entry: whatever raises while one entry is read, graded or written out
  (a notebook no parser can take, a bug in a renderer or an exporter) becomes that entry's status,
  `error` or `unreadable` with a one-line message, and every other entry is still graded and written;
  the gradebook is always written, with one row per entry;
- text from student code is made safe (course.untrusted) when a result is stored and again when it
  is loaded and at each sink: CSV cells, Markdown, HTML, JSON exports and the terminal;
- results: OUT/students/<id>.json (the grade, per-test feedback and the key it was graded under),
  written atomically the moment a student is done; a rerun skips students whose key is unchanged;
- OUT/feedback/<id>.md and <id>.html (course.html_report) for the student, OUT/gradebook.csv for the
  instructor, and platform exports under OUT/exports/ (Gradescope, PrairieLearn, GitHub Classroom), all
  rebuilt from the per-student files, so an interrupted run followed by a rerun writes exactly what one
  run would.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

from course import html_report, i18n, untrusted
from course.exports import EXPORTERS, STATUS_ERROR, feedback_markdown, gradebook_csv
from course.submission import STATUS_OK, Entry, discover, error_line, unpack_class



def write_atomic(path: Path, text: str, sync: bool = False) -> None:
    """Write text to path so that a reader (or a rerun after a killed run) sees the old file or the new
    one; sync also survives a power cut (for results, not for files rebuilt from them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_result(out: Path, entry: Entry) -> dict | None:
    """The entry's stored result with its text made safe (one stored by an older grader may hold anything),
    or None when there is none or it cannot be read."""
    path = out / "students" / f"{entry.slug}.json"
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError, MemoryError):
        return None
    return untrusted.tree(result) if isinstance(result, dict) else None


def key_of(entry: Entry, version: str, seed: int, curves: bool = False) -> dict:
    """What a stored result depends on; a result with loss curves is keyed apart from one without, and one
    whose feedback is in another language than English apart from an English one."""
    lang = i18n.language()
    return {"content": entry.content_hash(), "grader": version, "seed": seed, **({"curves": True} if curves else {}),
            **({"lang": lang} if lang != "en" else {})}


def ungraded_result(entry: Entry, key: dict, tasks: dict) -> dict:
    """The result of an entry that could not be graded at all: every task 0, the status says why."""
    task_rows = {tid: {"earned": 0.0, "possible": float(t.points), "title": t.title} for tid, t in tasks.items()}
    possible = sum(t["possible"] for t in task_rows.values())
    return {"student": entry.student, "entry": entry.name, "status": entry.status, "message": entry.message,
            "key": key, "grade": {"earned": 0.0, "possible": possible, "percent": 0.0, "tasks": task_rows,
                                  "seed": key.get("seed"), "submission": submission_info(entry)},
            "tests": []}


def failed_result(entry: Entry, key: dict, tasks: dict, stage: str, error: BaseException) -> dict:
    """The result of an entry the grader failed on: every task 0, status `error`, and a message saying
    at which stage and with what exception, in one line. A rerun grades it again."""
    result = ungraded_result(entry, key, tasks)
    result["status"] = STATUS_ERROR
    result["message"] = f"the grader failed on this entry while {stage} ({error_line(error)}); other entries are not affected"
    return result


def guarded(entry: Entry, key: dict, tasks: dict, grade: Callable[[], dict]) -> dict:
    """grade()'s result for the entry, or, when grading it raised, its failed_result: the last line of
    defence of the per-student loop (KeyboardInterrupt and SystemExit still end the batch)."""
    try:
        return grade()
    except Exception as e:
        return failed_result(entry, key, tasks, "grading it", e)


def submission_info(entry: Entry) -> dict:
    return {"entry": entry.name, "kind": entry.kind,
            "files": {n: hashlib.sha256(d).hexdigest() for n, d in sorted(entry.sources.items())},
            "problems": dict(entry.problems), "ignored": entry.ignored[:50]}


def write_outputs(out: Path, entries: list[Entry], tasks: dict) -> list[dict]:
    """Rebuild the gradebook, the feedback files and the exports from the per-student results on disk.
    Every entry gets a gradebook row: one whose result is missing or cannot be read gets status `error`,
    and one whose feedback or export could not be written gets status `error` with a message naming
    the file (that file is removed rather than left stale); every other entry is written as usual."""
    results = []
    for entry in entries:
        result = load_result(out, entry)
        if result is None:
            result = ungraded_result(entry, {"grader": "?", "seed": None}, tasks)
            result["status"], result["message"] = STATUS_ERROR, "no readable result was stored for this entry"
        results.append(result)
        failed = [why for path, render in _sinks(out, entry, result, tasks) if (why := _write_sink(path, render))]
        if failed:
            result["status"] = STATUS_ERROR
            result["message"] = "; ".join([m for m in (result.get("message"), *failed) if m])
    write_atomic(out / "gradebook.csv", gradebook_csv(results, tasks))
    return results


def _sinks(out: Path, entry: Entry, result: dict, tasks: dict) -> list[tuple[Path, Callable[[], str]]]:
    """Each file written from one entry's result, with the function that renders it."""
    sinks = [(out / "feedback" / f"{entry.slug}.md", lambda: feedback_markdown(result, tasks)),
             (out / "feedback" / f"{entry.slug}.html", lambda: html_report.render(result, tasks))]
    for platform, export in EXPORTERS.items():
        sinks.append((out / "exports" / platform / f"{entry.slug}.json",
                      lambda export=export: json.dumps(export(result), ensure_ascii=False) + "\n"))
    return sinks


def _write_sink(path: Path, render: Callable[[], str]) -> str | None:
    """Write one rendered file; if rendering or writing raises, remove any stale copy and say why."""
    try:
        write_atomic(path, render())
        return None
    except Exception as e:
        with contextlib.suppress(OSError):
            path.unlink()
        return f"{path.parent.name}/{path.name} could not be written ({error_line(e)})"


class Batch:
    """A class being graded: its entries, where results go, the seed and grader version they are keyed by."""

    def __init__(self, grading, folder: Path, out: Path) -> None:
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
        self.grading = grading
        self.folder, self.out = folder.resolve(), out.resolve()
        if self.archive is None and (self.out == self.folder or self.out.is_relative_to(self.folder)):
            raise pytest.UsageError(f"--out {out} is inside the submissions folder; put the results elsewhere")
        if self.out.exists() and not self.out.is_dir():
            raise pytest.UsageError(f"--out {out} exists and is not a folder")
        self.entries: list[Entry] = []
        self.version = ""

    def stored_seed(self) -> int | None:
        """The seed of an earlier run into the same OUT: a rerun keeps it, so results stay comparable."""
        try:
            seed = json.loads((self.out / "batch.json").read_text(encoding="utf-8"))["seed"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return seed if type(seed) is int else None

    def prepare(self, version: str) -> None:
        """Read every entry, fix the grader version, record the run's seed in OUT/batch.json."""
        self.clear_claims()  # left by a run that was killed
        self.entries = discover(self.folder, self.grading.files)
        self.version = version
        self.out.mkdir(parents=True, exist_ok=True)
        write_atomic(self.out / "batch.json", json.dumps(
            {"seed": self.grading.seed, "grader": self.version, "submissions": str(self.archive or self.folder)}, indent=1) + "\n")

    def pending(self) -> list[tuple[Entry, dict]]:
        """Entries whose stored result is missing or was graded under another key, with the key to grade under."""
        todo = []
        for entry in self.entries:
            key = key_of(entry, self.version, self.grading.seed, bool(self.grading.config.getoption("grader_curves")))
            stored = load_result(self.out, entry)
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

    def save(self, result: dict, entry: Entry) -> None:
        """Store one entry's result, its text made safe (course.untrusted.tree): every file written from
        it, now or by a rerun, starts from safe text. If it cannot be stored, its failure is stored instead
        (a rerun retries it); if even that fails, the gradebook says so."""
        path = self.out / "students" / f"{entry.slug}.json"
        try:
            write_atomic(path, json.dumps(untrusted.tree(result), ensure_ascii=False) + "\n", sync=True)
        except Exception as e:
            with contextlib.suppress(Exception):
                failed = failed_result(entry, result.get("key", {}), self.grading.tasks, "storing its result", e)
                write_atomic(path, json.dumps(failed) + "\n", sync=True)

    def finish(self) -> list[dict]:
        self.clear_claims()
        return write_outputs(self.out, self.entries, self.grading.tasks)


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


def summary_lines(results: list[dict], batch: Batch) -> list[str]:
    """The gradebook in short, for the terminal: one line per student, then the totals and where files went."""
    lines = [f"{'student':<24}{'points':>12}{'percent':>9}  status"]
    for r in results:
        try:
            lines.append(_summary_line(r))
        except Exception as e:
            lines.append(f"{untrusted.line(r.get('student', '?'), 23):<24}  its result cannot be shown ({error_line(e)})"[:160])
    graded = [r["grade"]["percent"] for r in results if r.get("status") == STATUS_OK
              and isinstance(r.get("grade"), dict) and isinstance(r["grade"].get("percent"), (int, float))]
    if graded:
        mean = sum(graded) / len(graded)
        lines.append(f"{len(results)} entries, {len(graded)} graded, mean {mean:.1f}%")
    else:
        lines.append(f"{len(results)} entries, none graded")
    lines.append(f"gradebook: {batch.out / 'gradebook.csv'}; per student: {batch.out / 'students'}, "
                 f"{batch.out / 'feedback'}, {batch.out / 'exports'}")
    return [untrusted.line(line, None) for line in lines]


def _summary_line(r: dict, width: int = 160) -> str:
    """One student's line: id, points, percent, status and as much of the message as fits in width (a cut
    message ends with a marker saying how much was left out)."""
    g = r["grade"]
    head = (f"{untrusted.line(r['student'], 23)[:23]:<24}{g['earned']:>6g} / {g['possible']:<3g}{g['percent']:>8.1f}%  "
            f"{untrusted.line(r['status'], 40)}")
    message = untrusted.line(r.get("message", ""), max(20, width - len(head) - 2))
    return f"{head}: {message}" if message else head


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
