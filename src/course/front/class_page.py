"""Rebuild a graded class's page, OUT/class.html, and its code similarity without grading again.

    python -m course.front.class_page OUT [--lang ko] [--submissions DIR] [--stubs DIR] [--course-settings TOML]

A batch writes both at its end (course.render.outputs); this command writes them again from what the batch left:
the stored results (OUT/students/*.json) and the submissions folder OUT/batch.json names (or --submissions), read
again with the batch's reader (course.engine.submission.discover; nothing is run) for the similarity, since a result
stores only its files' hashes. Where that folder is gone, the page is built from the stored results alone and the
similarity stored by the last run (OUT/similarity.json), and the command says so.

The course's policies are applied as the batch applies them, by the same function (course.render.outputs.
shown_results): OUT/overrides.csv, OUT/submitted.csv, the learning system's late marks (from the submissions
folder) and the course settings file the batch was given (OUT/batch.json records it; --course-settings gives
another), so the page's numbers are the gradebook's.

Language: --lang, else COURSE_LANG, else the language the results were graded in (their key), else English.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from course import i18n, policy, untrusted
from course.content.curriculum import TASKS
from course.engine import result
from course.engine.submission import accounts_of, discover, unpack_class
from course.render import class_report
from course.render.outputs import class_similarity, shown_results, stored_result, write_class_page


def recorded(out: Path, key: str) -> Path | None:
    """A path the batch into OUT recorded in OUT/batch.json: "submissions" (the class), "course_settings" (the
    settings file it was given); None when it recorded none."""
    try:
        named = json.loads((out / "batch.json").read_text(encoding="utf-8")).get(key)
    except (OSError, ValueError, AttributeError):
        return None
    return Path(named) if isinstance(named, str) and named else None


def submissions_folder(out: Path, given: Path | None) -> Path | None:
    """The class folder to read: given, else the one OUT/batch.json names (a class zip: its unpacked copy)."""
    given = given or recorded(out, "submissions")
    if given is None:
        return None
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


def rebuild(out: Path, submissions: Path | None = None, stubs: Path | None = None,
            settings_file: Path | None = None) -> list[str]:
    """Write OUT/class.html and OUT/similarity.json again, the course's policies applied as the batch applies them
    (settings_file, else the batch's, as recorded; policy.SettingsError when it cannot be read); what to tell
    the instructor, one line each."""
    settings = policy.load(settings_file or recorded(out, "course_settings"))
    files = sorted({t.file for t in TASKS.values()})
    folder = submissions_folder(out, submissions)
    said = []
    if folder is not None:
        entries = discover(folder, files)
        stored = [(entry.slug, entry.student, stored_result(out, entry, TASKS)) for entry in entries]
        accounts = accounts_of(folder)
        found = class_similarity(entries, TASKS, stubs)
    else:
        stored = [(slug, one["student"], one) for slug, one in stored_rows(out)]
        accounts = {}
        try:
            found = json.loads((out / "similarity.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            found = {"error": "the submissions folder is not at hand and no similarity was stored"}
        said.append("the submissions folder is not at hand: the page is built from the stored results (without the "
                    "learning system's late marks) and the similarity the last run stored")
    shown, _ = shown_results(out, [(student, one) for _, student, one in stored], TASKS, settings, accounts)
    said.append(f"{write_class_page(out, [(slug, one) for (slug, _, _), one in zip(stored, shown)], TASKS, found)} "
                f"({len(shown)} entries)")
    return [untrusted.line(line, None) for line in said]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the --out folder of a graded batch")
    parser.add_argument("--lang", choices=i18n.LANGUAGES, default=None)
    parser.add_argument("--submissions", type=Path, default=None, help="the class folder (default: batch.json's)")
    parser.add_argument("--stubs", type=Path, default=i18n.ROOT / "exercises",
                        help="the exercise stubs, whose own lines are not compared (default: the checkout's exercises/)")
    parser.add_argument("--course-settings", type=Path, default=None, metavar="TOML",
                        help="the course's settings file (default: the one the batch was given, as OUT/batch.json says)")
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
    try:
        said = rebuild(args.out.resolve(), args.submissions, args.stubs if args.stubs.is_dir() else None,
                       args.course_settings)
    except policy.SettingsError as e:
        parser.error(f"the course settings: {untrusted.line(e, 400)} (give the file with --course-settings)")
    for line in said:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
