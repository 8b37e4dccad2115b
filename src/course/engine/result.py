"""A student's Result: one shape for graded and ungraded alike, how it is keyed, and how it is stored.

Every producer builds it here (the engine for a graded submission, `ungraded` for an entry that could not
be graded, `failed` for one the grader failed on), so every reader finds the same keys:

    student, entry, status, message   who, which entry, graded or why not, one line
    key                               what it was graded under (content hash, grader version, seed, ...)
    grade                             earned, possible, percent, tasks {id: earned, possible, title}, seed,
                                      grader, submission, isolation, integrity, errors, faults,
                                      not_collected, environment, seconds
    tests                             one row per test: nodeid, name, task, points, earned, outcome,
                                      feedback (failed tests)
    curves                            the loss curves, when asked for (never scores)

A stored result is plain JSON (OUT/students/<id>.json), its text made safe (course.untrusted) when it is
stored and again when it is loaded: one stored by an older grader, or edited, may hold anything.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, NotRequired, TypedDict

from course import i18n, untrusted
from course.engine.submission import STATUS_ERROR, Entry, error_line


class Result(TypedDict):
    student: str
    entry: str
    status: str
    message: str
    key: dict
    grade: dict
    tests: list
    curves: NotRequired[dict]


NO_ISOLATION = {"level": "", "mechanisms": [], "problems": []}


def grade_of(tasks: dict[str, dict], *, seed: int | None, grader: str, submission: dict, isolation: dict | None = None,
             integrity: dict | None = None, errors: list | None = None, faults: list | None = None,
             not_collected: list | None = None, environment: dict | None = None, seconds: float = 0.0) -> dict:
    """A result's grade: the totals of tasks ({id: earned, possible, title}) and what they were graded with."""
    earned = sum(t["earned"] for t in tasks.values())
    possible = sum(t["possible"] for t in tasks.values())
    return {"earned": earned, "possible": possible, "percent": round(100 * earned / possible, 2) if possible else 0.0,
            "tasks": tasks, "seed": seed, "grader": grader, "submission": submission,
            "isolation": isolation or dict(NO_ISOLATION), "integrity": integrity or {}, "errors": errors or [],
            "faults": faults or [],  # checks the machine could not run: the grade is incomplete, not a 0 earned
            "not_collected": not_collected or [], "environment": environment or {}, "seconds": seconds}


def make(student: str, entry: str, status: str, message: str, key: dict, grade: dict, tests: list,
         curves: dict | None = None) -> Result:
    return Result(student=student, entry=entry, status=status, message=message, key=key, grade=grade, tests=tests,
                  **({"curves": curves} if curves else {}))


def submission_info(entry: Entry) -> dict:
    """What a result says of the entry it graded: its files' hashes, the problems met and what was ignored."""
    return {"path": entry.name, "entry": entry.name, "kind": entry.kind,
            "files": {n: hashlib.sha256(d).hexdigest() for n, d in sorted(entry.sources.items())},
            "problems": dict(entry.problems), "ignored": entry.ignored[:50]}


def ungraded(entry: Entry, key: dict, tasks: dict) -> Result:
    """The result of an entry that could not be graded at all: every task 0, the status says why."""
    rows = {tid: {"earned": 0.0, "possible": float(t.points), "title": t.title} for tid, t in tasks.items()}
    return make(entry.student, entry.name, entry.status, entry.message, key,
                grade_of(rows, seed=key.get("seed"), grader=str(key.get("grader", "")), submission=submission_info(entry)),
                [])


def failed(entry: Entry, key: dict, tasks: dict, stage: str, error: BaseException) -> Result:
    """The result of an entry the grader failed on: every task 0, status `error`, and a message saying
    at which stage and with what exception, in one line. A rerun grades it again."""
    result = ungraded(entry, key, tasks)
    result["status"] = STATUS_ERROR
    result["message"] = f"the grader failed on this entry while {stage} ({error_line(error)}); other entries are not affected"
    return result


def guarded(entry: Entry, key: dict, tasks: dict, grade: Callable[[], Result]) -> Result:
    """grade()'s result for the entry, or, when grading it raised, its failed result: the last line of
    defence of the per-student loop (KeyboardInterrupt and SystemExit still end the batch)."""
    try:
        return grade()
    except Exception as e:
        return failed(entry, key, tasks, "grading it", e)


def key_of(entry: Entry, version: str, seed: int, curves: bool = False) -> dict:
    """What a stored result depends on; a result with loss curves is keyed apart from one without, and one
    whose feedback is in another language than English apart from an English one."""
    lang = i18n.language()
    return {"content": entry.content_hash(), "grader": version, "seed": seed, **({"curves": True} if curves else {}),
            **({"lang": lang} if lang != "en" else {})}


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


def path_of(out: Path, entry: Entry) -> Path:
    return out / "students" / f"{entry.slug}.json"


def store(out: Path, result: Result, entry: Entry, tasks: dict) -> None:
    """Store one entry's result, its text made safe (course.untrusted.tree): every file written from
    it, now or by a rerun, starts from safe text. If it cannot be stored, its failure is stored instead
    (a rerun retries it); if even that fails, the gradebook says so."""
    try:
        write_atomic(path_of(out, entry), json.dumps(untrusted.tree(result), ensure_ascii=False) + "\n", sync=True)
    except Exception as e:
        try:
            stored = failed(entry, result.get("key", {}), tasks, "storing its result", e)
            write_atomic(path_of(out, entry), json.dumps(stored) + "\n", sync=True)
        except Exception:
            pass


def load(out: Path, entry: Entry) -> Result | None:
    """The entry's stored result with its text made safe, or None when there is none, it cannot be read,
    or it does not have a Result's shape (conforms)."""
    try:
        stored = json.loads(path_of(out, entry).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError, MemoryError):
        return None
    return untrusted.tree(stored) if conforms(stored) else None


_NUMBER = (int, float)
_TOP = {"student": str, "entry": str, "status": str, "message": str, "key": dict, "grade": dict, "tests": list}
_GRADE = {"earned": _NUMBER, "possible": _NUMBER, "percent": _NUMBER, "tasks": dict, "submission": dict,
          "isolation": dict, "integrity": dict, "errors": list, "faults": list, "not_collected": list,
          "environment": dict, "seconds": _NUMBER}
_TEST = {"nodeid": str, "name": str, "task": str, "points": _NUMBER, "earned": _NUMBER, "outcome": str}


def conforms(value: Any) -> bool:
    """Whether value has every key of a Result with the right type, down to each task row and test row:
    what every renderer may then index without guarding."""
    def has(d: Any, fields: dict) -> bool:
        return isinstance(d, dict) and all(isinstance(d.get(k), t) and type(d.get(k)) is not bool for k, t in fields.items())

    if not has(value, _TOP) or not has(value["grade"], _GRADE):
        return False
    grade = value["grade"]
    return (all(has(row, {"earned": _NUMBER, "possible": _NUMBER, "title": str}) for row in grade["tasks"].values())
            and isinstance(grade["submission"].get("problems"), dict)
            and all(isinstance(flags, list) for flags in grade["integrity"].values())
            and all(has(test, _TEST) for test in value["tests"]))
