"""Rebuild a graded class's page, OUT/class.html, and its code similarity without grading again.

    python -m course.front.class_page OUT [--lang ko] [--submissions DIR] [--stubs DIR]

A batch writes both at its end (course.render.outputs); this command writes them again from what the batch left:
the stored results (OUT/students/*.json) and the submissions folder OUT/batch.json names (or --submissions), read
again with the batch's reader (course.engine.submission.discover; nothing is run) for the similarity, since a result
stores only its files' hashes. Where that folder is gone, the page is built from the stored results alone and the
similarity stored by the last run (OUT/similarity.json), and the command says so.

Language: --lang, else COURSE_LANG, else the language the results were graded in (their key), else English.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from course import i18n, untrusted
from course.content.curriculum import TASKS
from course.engine import result
from course.engine.submission import discover, unpack_class
from course.render import class_report
from course.render.outputs import class_similarity, stored_result, write_class_page


def submissions_folder(out: Path, given: Path | None) -> Path | None:
    """The class folder to read: given, else the one OUT/batch.json names (a class zip: its unpacked copy)."""
    if given is None:
        try:
            named = json.loads((out / "batch.json").read_text(encoding="utf-8")).get("submissions")
        except (OSError, ValueError, AttributeError):
            return None
        if not isinstance(named, str) or not named:
            return None
        given = Path(named)
    if given.is_file() and given.name.lower().endswith(".zip"):
        try:
            return unpack_class(given, out.resolve() / "class")
        except (OSError, ValueError):
            return None
    return given if given.is_dir() else None


def stored_rows(out: Path) -> list[tuple[str, dict]]:
    """(slug, result) of every readable stored result, by student id: the page without the submissions."""
    rows = []
    for path in sorted((out / "students").glob("*.json")) if (out / "students").is_dir() else []:
        if path.name.startswith("."):
            continue
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            continue
        if result.conforms(stored):
            rows.append((path.stem, untrusted.tree(stored)))
    return sorted(rows, key=lambda row: (row[1]["student"], row[0]))


def rebuild(out: Path, submissions: Path | None = None, stubs: Path | None = None) -> list[str]:
    """Write OUT/class.html and OUT/similarity.json again; what to tell the instructor, one line each."""
    files = sorted({t.file for t in TASKS.values()})
    folder = submissions_folder(out, submissions)
    said = []
    if folder is not None:
        entries = discover(folder, files)
        rows = [(entry.slug, stored_result(out, entry, TASKS)) for entry in entries]
        found = class_similarity(entries, TASKS, stubs)
    else:
        rows = stored_rows(out)
        try:
            found = json.loads((out / "similarity.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            found = {"error": "the submissions folder is not at hand and no similarity was stored"}
        said.append("the submissions folder is not at hand: the page is built from the stored results and the "
                    "similarity the last run stored")
    failed = write_class_page(out, rows, TASKS, found)
    if failed:
        said.append(failed)
    said.append(f"class page: {out / 'class.html'} ({len(rows)} entries)")
    return [untrusted.line(line, None) for line in said]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the --out folder of a graded batch")
    parser.add_argument("--lang", choices=i18n.LANGUAGES, default=None)
    parser.add_argument("--submissions", type=Path, default=None, help="the class folder (default: batch.json's)")
    parser.add_argument("--stubs", type=Path, default=i18n.ROOT / "exercises",
                        help="the exercise stubs, whose own lines are not compared (default: the checkout's exercises/)")
    args = parser.parse_args(argv)
    if not (args.out / "students").is_dir():
        parser.error(f"{args.out} holds no graded class (no students/ folder)")
    try:
        lang = i18n.choose(args.lang)
    except ValueError as e:
        parser.error(str(e))
    if not args.lang and not os.environ.get(i18n.ENVIRONMENT):  # no choice made: the language the class was graded in
        lang = class_report.choose_language([r for _, r in stored_rows(args.out)]) or "en"
    i18n.set_language(lang)
    for line in rebuild(args.out.resolve(), args.submissions, args.stubs if args.stubs.is_dir() else None):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
