"""A class's files, rebuilt from the stored results: the gradebook, each student's feedback (Markdown and
HTML) and the exports for the learning systems.

Everything here is a function of OUT/students/*.json (course.engine.result), so an interrupted run followed by a
rerun writes exactly what one run would, and the files can be rebuilt without grading again. One entry
whose result is missing, or whose file cannot be rendered or written, gets status `error` and a message
naming the file; every other entry is written as usual, and the gradebook always has one row per entry.
The course's policies are applied to what is shown in one place (shown_results). After these files, the class
page (OUT/class.html, course.render.class_report) from the same results, with the class's code similarity
(OUT/similarity.json, course.engine.similarity) computed from the entries' sources in memory: write_class_page
never raises, and says in one line where the page is or why it could not be written.
"""
from __future__ import annotations

import contextlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from course import policy, untrusted
from course.engine import result, similarity
from course.render import class_report, html_report
from course.render.exports import EXPORTERS, canvas_gradebook, feedback_markdown, gradebook_csv, moodle_gradebook
from course.engine.submission import STATUS_ERROR, Entry, error_line


def write_outputs(out: Path, entries: list[Entry], tasks: dict, settings: policy.Settings | None = None,
                  accounts: dict[str, dict] | None = None, now: datetime | None = None) -> list[dict]:
    """Rebuild the gradebook, the feedback files and the exports from the per-student results on disk, with
    the course's policies applied (shown_results); the results as shown. Every entry gets a gradebook row: one
    whose result is missing or cannot be read gets status `error`, and one whose feedback or export could not be
    written gets status `error` with a message naming the file (that file is removed rather than left stale);
    every other entry is written as usual. accounts: the learning system's ids of the students, from a bulk
    download. The class page is written after (write_class_page), so nothing of it can cost these files."""
    settings, accounts = settings or policy.Settings(), accounts or {}
    now = now or datetime.now(timezone.utc)
    results, problems = shown_results(out, [(entry.student, stored_result(out, entry, tasks)) for entry in entries],
                                      tasks, settings, accounts, now)
    for entry, stored in zip(entries, results):
        failed = [why for path, render in _sinks(out, entry, stored, tasks) if (why := _write_sink(path, render))]
        if failed:
            stored["status"] = STATUS_ERROR
            stored["message"] = "; ".join([m for m in (stored.get("message"), *failed) if m])
    result.write_atomic(out / "gradebook.csv", gradebook_csv(results, tasks, late=settings.given))
    systems = {a.get("system") for a in accounts.values()}
    if "canvas" in systems:
        result.write_atomic(out / "exports" / "canvas-gradebook.csv", canvas_gradebook(results, accounts, settings.canvas_assignment))
    if "moodle" in systems:
        result.write_atomic(out / "exports" / "moodle-grading-worksheet.csv",
                            moodle_gradebook(results, accounts, now.strftime("%Y-%m-%d %H:%M:%S %z")))
    if problems:
        result.write_atomic(out / "policy-problems.txt", "\n".join(problems) + "\n")
    else:
        with contextlib.suppress(OSError):
            (out / "policy-problems.txt").unlink()
    return results


def shown_results(out: Path, stored: list[tuple[str, dict]], tasks: dict, settings: policy.Settings,
                  accounts: dict[str, dict], now: datetime | None = None) -> tuple[list[dict], list[str]]:
    """Each stored result (student id, result) as the class's files show it: the course's policies applied
    (course.policy: visibility at now, OUT/overrides.csv, late penalties from OUT/submitted.csv or the learning
    system's late mark) to a copy, never to the stored result; and a line for each override or submission time
    that could not be used. The batch's files and the class page rebuilt alone (course.front.class_page) both
    come through here, so their numbers agree."""
    now = now or datetime.now(timezone.utc)
    overrides, problems = policy.read_overrides(out / "overrides.csv", tasks)
    submitted, more = policy.read_submitted(out / "submitted.csv")
    problems += more
    results = []
    for student, one in stored:
        try:
            one = policy.apply(one, settings, overrides.get(student, []), now, submitted.get(student),
                               bool(accounts.get(student, {}).get("late")))
        except Exception as e:  # the stored result is shown as graded; the message says why no policy applied
            one["message"] = "; ".join(m for m in (one.get("message"), f"course policies not applied ({error_line(e)})") if m)
        results.append(one)
    unused = sorted(set(overrides) - {student for student, _ in stored})
    problems += [f"overrides.csv: no entry for student {untrusted.line(s, 60)!r}; its rows are not applied" for s in unused]
    return results, problems


def stored_result(out: Path, entry: Entry, tasks: dict) -> dict:
    """The entry's stored result, or, when none can be read, an `error` result saying so."""
    stored = result.load(out, entry)
    if stored is None:
        stored = result.ungraded(entry, {"grader": "?", "seed": None}, tasks)
        stored["status"], stored["message"] = STATUS_ERROR, "no readable result was stored for this entry"
    return stored


def class_similarity(entries: list[Entry], tasks: dict, stubs: Path | None) -> dict:
    """The class's code similarity from the entries' sources (stubs: the folder of the exercise stubs, whose own
    lines are not compared); a failure is said in the report ({"error": why}), never the batch's end."""
    try:
        stub_files = {t.file: (stubs / t.file).read_bytes() for t in tasks.values()
                      if stubs is not None and (stubs / t.file).is_file()}
        return similarity.report(entries, tasks, stub_files)
    except Exception as e:
        return {"error": f"it could not be computed ({error_line(e)})"}


def write_class_page(out: Path, rows: list[tuple[str, dict]], tasks: dict, found: dict | None) -> str:
    """Write OUT/similarity.json (when found is a report) and OUT/class.html from rows (slug, result as shown); the
    one line to say: where the page is, or why it could not be written, and what of the similarity is missing. It
    never raises: the class's other files are written before it and stand whatever happens here."""
    similar = None
    try:
        if isinstance(found, dict) and "error" in found:
            similar = f"no similarity: {found['error']}"
        elif found is not None:
            similar = _write_sink(out / "similarity.json", lambda: json.dumps(found, ensure_ascii=False) + "\n")
        try:
            batch = json.loads((out / "batch.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            batch = {}
        page = _write_sink(out / "class.html", lambda: class_report.render(
            rows, tasks, found, batch if isinstance(batch, dict) else {}))
    except Exception as e:
        page = f"class.html could not be written ({error_line(e)})"
    said = f"class page: not written: {page}" if page else f"class page: {out / 'class.html'}"
    return untrusted.line(said + (f" ({similar})" if similar else ""), None)


def _sinks(out: Path, entry: Entry, stored: dict, tasks: dict) -> list[tuple[Path, Callable[[], str]]]:
    """Each file written from one entry's result, with the function that renders it."""
    sinks = [(out / "feedback" / f"{entry.slug}.md", lambda: feedback_markdown(stored, tasks)),
             (out / "feedback" / f"{entry.slug}.html", lambda: html_report.render(stored, tasks))]
    for platform, export in EXPORTERS.items():
        sinks.append((out / "exports" / platform / f"{entry.slug}.json",
                      lambda export=export: json.dumps(export(stored), ensure_ascii=False) + "\n"))
    return sinks


def _write_sink(path: Path, render: Callable[[], str]) -> str | None:
    """Write one rendered file; if rendering or writing raises, remove any stale copy and say why."""
    try:
        result.write_atomic(path, render())
        return None
    except Exception as e:
        with contextlib.suppress(OSError):
            path.unlink()
        return f"{path.parent.name}/{path.name} could not be written ({error_line(e)})"
