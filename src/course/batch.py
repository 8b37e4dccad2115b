"""Grading a whole class: read each student's entry, keep each result on disk, write the gradebook.

``pytest grader --submissions DIR --out OUT`` grades every entry of DIR (a folder of exercise
files, a .zip of them; the entry's name is the student id) in one pytest session: the grader's
tests are collected once, torch is imported once, and each student gets a fresh worker forked
from the clean zygote. The grading plugin runs the tests; this module does the rest:

- intake: entries are read into memory, never extracted; unsafe, oversized or unreadable input
  becomes a per-student status, and nothing is written outside OUT;
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
import csv
import hashlib
import io
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

import course
from course import html_report, i18n, untrusted
from course.grading import MAX_FILE_BYTES, Submission, not_python
from course.i18n import _

MAX_ENTRY_BYTES = 64 << 20  # a zip as a whole
STATUS_OK = "graded"
STATUS_ERROR = "error"  # the grader failed on this entry (reading, grading or writing it out); a rerun retries it


@dataclass
class Entry:
    """One student's entry in the submissions folder, as read (never executed) by the batch."""

    student: str  # the id: the entry's name without .zip
    name: str  # the entry's name as shown (undecodable bytes made visible)
    kind: str  # folder, zip or other
    path: Path
    status: str = STATUS_OK  # graded, or why the entry could not be graded
    message: str = ""
    sources: dict[str, bytes] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # per expected file: why it is not graded
    ignored: list[str] = field(default_factory=list)  # other names in the entry, never read

    @property
    def slug(self) -> str:
        """A file name for this entry's outputs: the id where it is safe and short, else a sanitized id
        plus a hash of the entry's name (which also keeps two entries for one id apart)."""
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", self.student).strip(".") or "student"
        if safe == self.student and len(safe) <= 100 and self.status != "duplicate":
            return safe
        digest = hashlib.sha256(os.fsencode(self.path.name)).hexdigest()[:8]
        return f"{safe[:60]}-{digest}"

    def content_hash(self) -> str:
        """SHA-256 over everything a result depends on: status, message, kind, each expected file's bytes,
        each file-level problem and the ignored names."""
        h = hashlib.sha256(_utf8("\0".join([self.status, self.message, self.kind, *self.ignored])))
        for name in sorted(self.sources):
            h.update(b"\0file\0" + _utf8(name) + b"\0" + hashlib.sha256(self.sources[name]).digest())
        for name in sorted(self.problems):
            h.update(b"\0problem\0" + _utf8(name) + b"\0" + _utf8(self.problems[name]))
        return h.hexdigest()


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate that slipped through still hashes


def shown(name: str) -> str:
    """A name for messages and ids, as one line (course.untrusted.line, uncut, so ids stay apart): bytes
    that are not UTF-8 appear as \\xNN, control and invisible format characters as escapes too."""
    return untrusted.line(name, None)


def discover(folder: Path, expected: list[str]) -> list[Entry]:
    """Every student entry of folder, sorted by id, each read or given a status saying why not."""
    entries: list[Entry] = []
    for item in sorted(os.scandir(folder), key=lambda e: os.fsencode(e.name)):
        if item.name.startswith("."):
            continue  # .DS_Store, .git and the like are not students
        entries.append(_intake(item, expected))
    by_id: dict[str, list[Entry]] = {}
    for entry in entries:
        by_id.setdefault(entry.student, []).append(entry)
    for same in by_id.values():
        if len(same) > 1:  # which one is the student's work cannot be known: grade neither
            names = ", ".join(e.name for e in same)
            for entry in same:
                entry.status, entry.message = "duplicate", f"{len(same)} entries map to student {entry.student}: {names}"
                entry.sources.clear()
                entry.problems.clear()
    for entry in entries:
        if entry.status == STATUS_OK and not entry.sources:
            entry.status = "empty"
            refused = [p for p in entry.problems.values() if "is missing" not in p]
            reason = ("no exercise file could be graded: " + "; ".join(refused) if refused
                      else f"none of the exercise files ({', '.join(expected)}) is in the entry")
            entry.message = f"{entry.message} {reason}" if entry.message else reason
    return sorted(entries, key=lambda e: (e.student, e.name))


def _intake(item: os.DirEntry, expected: list[str]) -> Entry:
    """One entry, read; whatever reading it raises becomes its status, never the batch's end."""
    name = shown(item.name)
    path = Path(item.path)
    try:
        entry = _read_entry(item, name, path, expected)
    except Exception as e:
        entry = Entry(_stem(name), name, "other", path, "unreadable", f"the entry cannot be read ({_why(e)})")
    if name != item.name:
        why = "is not valid UTF-8" if any(0xDC80 <= ord(c) <= 0xDCFF for c in item.name) else \
            "holds control or invisible characters"
        entry.message = (entry.message + " " if entry.message else "") + f"the entry's name {why} (shown as {name})"
    entry.message = untrusted.line(entry.message, 2 * untrusted.LINE_LIMIT)
    entry.problems = {file: untrusted.line(problem) for file, problem in entry.problems.items()}
    return entry


def _read_entry(item: os.DirEntry, name: str, path: Path, expected: list[str]) -> Entry:
    """Read a folder, a zip or a notebook entry; anything else gets its status."""
    if item.is_symlink():
        return Entry(_stem(name), name, "other", path, "unreadable", "the entry is a symbolic link; links are not followed")
    mode = item.stat(follow_symlinks=False).st_mode
    if stat.S_ISDIR(mode):
        entry = Entry(name, name, "folder", path)
        _read_folder(entry, expected)
    elif stat.S_ISREG(mode) and item.name.lower().endswith(".zip"):
        entry = Entry(_stem(name), name, "zip", path)
        _read_zip(entry, expected)
    elif stat.S_ISREG(mode) and item.name.lower().endswith(".ipynb"):
        entry = Entry(_stem(name), name, "notebook", path)
        _read_notebook(entry, expected)
    else:
        entry = Entry(_stem(name), name, "other", path, "unsupported",
                      "not a folder, a .zip or a .ipynb of the exercise files")
    return entry


def _why(error: BaseException) -> str:
    """An exception in one short line: its type and the start of its message, made safe to show."""
    kind, message = untrusted.line(type(error).__name__, 60), untrusted.line(error, 160)
    return f"{kind}: {message}" if message else kind


def _stem(name: str) -> str:
    for suffix in (".zip", ".ipynb"):
        if name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return name


def _read_notebook(entry: Entry, expected: list[str]) -> None:
    """One notebook is the whole submission: its code cells are the source of every expected file (the
    probes look each function up by name, so one module holding all sections serves them all)."""
    from course import ipynb

    code, problem = ipynb.read_notebook(entry.path, MAX_FILE_BYTES)
    if problem:
        entry.status, entry.message = "unreadable", problem
    else:
        entry.sources = dict.fromkeys(expected, code)


def _read_folder(entry: Entry, expected: list[str]) -> None:
    """Take the expected files from the folder, or from its one subfolder when the folder holds none of
    them (nbgrader's submitted/<student>/<assignment>/, a zip unpacked with its top folder)."""
    folder = entry.path
    wanted = {*expected, *(f"{name[:-3]}.ipynb" for name in expected if name.endswith(".py"))}
    if not any(name in wanted for name in os.listdir(folder)):
        subfolders = [e for e in os.scandir(folder) if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)]
        if len(subfolders) == 1:
            folder = Path(subfolders[0].path)
            entry.message = f"read from its folder {shown(subfolders[0].name)}/"
    submission = Submission.read(folder, expected)
    entry.sources, entry.problems = submission.sources, submission.problems
    entry.ignored = [shown(name) for name in submission.ignored]


def _read_zip(entry: Entry, expected: list[str]) -> None:
    """Take the expected files from the zip's root, or from its one top folder (secN_x.ipynb where
    secN_x.py is not there); extract nothing."""
    from course import ipynb

    if entry.path.stat().st_size > MAX_ENTRY_BYTES:
        entry.status, entry.message = "unreadable", f"the zip is larger than {MAX_ENTRY_BYTES >> 20} MiB"
        return
    try:
        with zipfile.ZipFile(entry.path) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            unsafe = [m.filename for m in members if _unsafe(m.filename)]
            safe = [m for m in members if not _unsafe(m.filename) and "__MACOSX" not in m.filename]
            tops = {PurePosixPath(m.filename).parts[0] for m in safe if len(PurePosixPath(m.filename).parts) > 1}
            roots = {m.filename for m in safe if len(PurePosixPath(m.filename).parts) == 1}
            notebooks = {f"{name[:-3]}.ipynb": name for name in expected if name.endswith(".py")}
            prefix = f"{tops.pop()}/" if len(tops) == 1 and not roots & {*expected, *notebooks} else ""
            wanted = {prefix + name: name for name in expected}
            wanted_notebooks = {prefix + notebook: name for notebook, name in notebooks.items()}
            found, found_notebooks = {}, {}
            for member in safe:
                name = wanted.get(member.filename)
                if name is None and member.filename in wanted_notebooks:  # used where its .py is missing
                    with zf.open(member) as f:
                        data = f.read(ipynb.MAX_NOTEBOOK_BYTES + 1)
                    found_notebooks[wanted_notebooks[member.filename]] = (member.filename, data)
                elif name is None:
                    entry.ignored.append(shown(member.filename))
                elif member.file_size > MAX_FILE_BYTES:
                    entry.problems[name] = f"{name} is larger than {MAX_FILE_BYTES // 1024} KiB"
                else:
                    with zf.open(member) as f:
                        data = f.read(MAX_FILE_BYTES + 1)
                    if len(data) > MAX_FILE_BYTES:
                        entry.problems[name] = f"{name} is larger than {MAX_FILE_BYTES // 1024} KiB"
                    else:
                        found[name] = data
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, ValueError,
            RuntimeError) as e:  # RuntimeError: an encrypted member
        entry.status, entry.message = "unreadable", f"the zip cannot be read ({type(e).__name__}: {untrusted.line(e, 120)})"
        entry.sources.clear()
        entry.problems.clear()
        return
    for name in expected:
        notebook, data = found_notebooks.get(name, (None, b""))
        if name in found or name in entry.problems:
            if name in found:
                _accept(entry, name, found[name])
            if notebook:
                entry.ignored.append(shown(notebook))
        elif notebook:
            code, problem = ipynb.notebook_code(data, notebook, MAX_FILE_BYTES)
            if problem:
                entry.problems[name] = problem
            else:
                entry.sources[name] = code
        else:
            entry.problems[name] = f"{name} is missing from the zip"
    if unsafe:
        entry.message = f"ignored {len(unsafe)} zip member(s) with absolute or '..' paths: " + \
            ", ".join(shown(n) for n in unsafe[:3])
    entry.ignored.sort()


def _unsafe(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name) is not None


def _accept(entry: Entry, name: str, data: bytes) -> None:
    if problem := not_python(name, data):
        entry.problems[name] = problem
    else:
        entry.sources[name] = data


def grader_version(roots: list[Path]) -> str:
    """The package version plus a hash of every file that decides a score (grader, references, engine) or
    the feedback's words (the compiled translations)."""
    h = hashlib.sha256()
    for root in roots:
        for path in sorted([*root.rglob("*.py"), *root.rglob("*.mo")]):
            if "__pycache__" not in path.parts:
                h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{course.__version__}+{h.hexdigest()[:12]}"


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
    result["message"] = f"the grader failed on this entry while {stage} ({_why(error)}); other entries are not affected"
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


def gradebook_csv(results: list[dict], tasks: dict) -> str:
    """One row per student: points per task, total, percent, status, how many integrity flags, and a message
    (for a graded entry, followed by each of its files that could not be graded, and why). Every text cell
    is made safe (course.untrusted.cell: no control character, no formula); a result too broken for its
    row gets a row saying so."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["student", *tasks, "total", "possible", "percent", "status", "integrity_flags", "message"])
    for r in results:
        try:
            row = _gradebook_row(r, tasks)
        except Exception as e:
            row = [untrusted.cell(r.get("student", "?") if isinstance(r, dict) else "?"), *([""] * (len(tasks) + 3)),
                   STATUS_ERROR, "", untrusted.cell(f"its stored result cannot be shown ({_why(e)})")]
        writer.writerow(row)
    return buf.getvalue()


def _gradebook_row(r: dict, tasks: dict) -> list:
    grade = r["grade"]
    flags = sum(len(v) for v in grade.get("integrity", {}).values())
    message = r.get("message", "")
    if r["status"] == STATUS_OK:
        refused = [p for p in grade.get("submission", {}).get("problems", {}).values() if "is missing" not in p]
        message = "; ".join([m for m in (message, *refused) if m])
    return [untrusted.cell(r["student"]), *(f"{grade['tasks'].get(t, {}).get('earned', 0.0):g}" for t in tasks),
            f"{grade['earned']:g}", f"{grade['possible']:g}", f"{grade['percent']:.2f}",
            untrusted.cell(r["status"]), flags, untrusted.cell(message, 2 * untrusted.LINE_LIMIT)]


def feedback_markdown(result: dict, tasks: dict) -> str:
    """What a student reads: the total, a table per task, and the feedback of every test that failed."""
    result = untrusted.tree(result)
    grade = result["grade"]
    lines = ["# " + _("Feedback for {student}").format(student=untrusted.line(result["student"])), "",
             "**" + _("{earned} / {possible} points ({percent}%)").format(
                 earned=f"{grade['earned']:g}", possible=f"{grade['possible']:g}", percent=f"{grade['percent']:.1f}") + "**", ""]
    message = untrusted.line(result.get("message", ""), 2 * untrusted.LINE_LIMIT)
    if result["status"] != STATUS_OK:
        lines += [_("Your entry was not graded: {message}").format(message=message), ""]
    elif message:
        lines += [_("Note: {message}").format(message=message), ""]
    for problem in grade.get("submission", {}).get("problems", {}).values():
        lines.append(f"- {untrusted.line(problem)}")
    if grade.get("submission", {}).get("problems"):
        lines.append("")
    lines += [f"| {_('Task')} | {_('What')} | {_('Points')} |", "|---|---|---|"]
    for tid, row in grade["tasks"].items():
        what = tasks[tid].function if tid in tasks else row.get("title", "")
        mark = "" if row["earned"] == row["possible"] else " ✗"
        lines.append(f"| {tid} | `{what}` | {row['earned']:g} / {row['possible']:g}{mark} |")
    failed = [t for t in result.get("tests", []) if t["outcome"] != "passed"]
    if failed:
        lines += ["", "## " + _("What to fix"), ""]
        for test in failed:
            text = test.get("feedback") or f"Task {test['task']}: {test['outcome']}"
            lines += ["```text", text.replace("```", "'''"), "```", ""]
    lines += ["", _("Graded with seed {seed} by grader {grader}.").format(seed=grade["seed"], grader=result["key"]["grader"])]
    return "\n".join(lines).rstrip() + "\n"


def gradescope_results(result: dict) -> dict:
    """Gradescope's results.json: a score and one entry per test (name, number, score, max_score, status,
    output, visibility)."""
    result = untrusted.tree(result)
    tests = []
    for i, test in enumerate(result.get("tests", []), 1):
        tests.append({"name": test["name"], "number": f"{test['task']}.{i}", "score": test["earned"],
                      "max_score": test["points"], "status": "passed" if test["outcome"] == "passed" else "failed",
                      "output": test.get("feedback", ""), "visibility": "visible"})
    out = {"score": result["grade"]["earned"], "output": result.get("message", "") or f"status: {result['status']}",
           "visibility": "visible", "tests": tests}
    return out


def prairielearn_results(result: dict) -> dict:
    """PrairieLearn's external grading results.json: score as a fraction, gradable, tests with points."""
    result = untrusted.tree(result)
    grade = result["grade"]
    out = {"gradable": result["status"] in (STATUS_OK, "empty"),
           "score": round(grade["earned"] / grade["possible"], 6) if grade["possible"] else 0.0,
           "message": result.get("message", ""),
           "tests": [{"name": t["name"], "points": t["earned"], "max_points": t["points"],
                      "message": t.get("feedback", "")} for t in result.get("tests", [])]}
    if not out["gradable"]:
        out["format_errors"] = [result.get("message") or result["status"]]
    return out


def classroom_results(result: dict) -> dict:
    """The result a GitHub Classroom grading step reports (version, status, max_score, tests)."""
    result = untrusted.tree(result)
    tests = [{"name": t["name"], "status": "pass" if t["outcome"] == "passed" else "fail",
              "score": t["earned"], "message": t.get("feedback", ""), "test_code": "", "filename": "",
              "line_no": 0, "duration": 0} for t in result.get("tests", [])]
    grade = result["grade"]
    status = "pass" if grade["earned"] == grade["possible"] else ("error" if result["status"] != STATUS_OK else "fail")
    return {"version": 1, "status": status, "max_score": grade["possible"], "tests": tests}


EXPORTERS = {"gradescope": gradescope_results, "prairielearn": prairielearn_results, "classroom": classroom_results}


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
        return f"{path.parent.name}/{path.name} could not be written ({_why(e)})"


class Batch:
    """A class being graded: its entries, where results go, the seed and grader version they are keyed by."""

    def __init__(self, grading, folder: Path, out: Path) -> None:
        import pytest

        if not folder.is_dir():
            raise pytest.UsageError(f"--submissions {folder}: no such folder")
        self.grading = grading
        self.folder, self.out = folder.resolve(), out.resolve()
        if self.out == self.folder or self.out.is_relative_to(self.folder):
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
            {"seed": self.grading.seed, "grader": self.version, "submissions": str(self.folder)}, indent=1) + "\n")

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
            lines.append(f"{untrusted.line(r.get('student', '?'), 23):<24}  its result cannot be shown ({_why(e)})"[:160])
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
