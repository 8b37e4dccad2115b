"""Pack what you hand in: python public/pack.py [--out submission.zip] [--no-checks]

Finds the exercise files in the bundle folder, names any file that looks like one of them under another name
(`sec1_linear (1).py`, `Sec1_Linear.py`, `sec1_linear.py.txt`, a notebook saved as .py), runs the public
checks, and writes the zip the grader reads (a batch of the class, or Gradescope): the exercise files at its
top, and MANIFEST.json with each file's SHA-256 and the grader version of this release. A missing or
misnamed file stops it (exit 1) with what to rename; failed checks do not: the zip is written, and the table
says what still fails.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from course import i18n, untrusted
from course.content.curriculum import TASKS
from course.engine.submission import near_misses, not_python
from course.i18n import _

BUNDLE = Path(__file__).resolve().parent.parent


def missing(name: str, present: list[str]) -> str:
    """Why name cannot be packed, in the student's language, naming any file that looks like it (the grader's
    own near-miss rule)."""
    found = near_misses(name, present)
    if not found:
        return _("{file} is missing from {folder}").format(file=name, folder=BUNDLE)
    return _("{file} is missing from {folder}; it holds {names}: rename it to {file} exactly").format(
        file=name, folder=BUNDLE, names=", ".join(untrusted.line(f, 80) for f in found[:3]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python public/pack.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BUNDLE / "submission.zip")
    parser.add_argument("--no-checks", action="store_true", help="pack without running the public checks")
    args = parser.parse_args(argv)
    try:
        i18n.set_language(i18n.choose(None))
    except ValueError as e:
        parser.error(str(e))
    names = sorted({t.file for t in TASKS.values()})
    present = sorted(p.name for p in BUNDLE.iterdir() if p.is_file())
    problems = [missing(name, present) for name in names if not (BUNDLE / name).is_file()]
    problems += [_("{file} holds a Jupyter notebook (JSON), not Python code: save your code as Python in {file}")
                 .format(file=name) for name in names
                 if (BUNDLE / name).is_file() and not_python(name, (BUNDLE / name).read_bytes())]
    if problems:
        print("\n".join([_("not packed:"), *(f"  {p}" for p in problems)]), file=sys.stderr)
        return 1
    checked = None if args.no_checks else subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(BUNDLE / "public")], cwd=BUNDLE)
    files = {name: (BUNDLE / name).read_bytes() for name in names}
    try:
        grader = json.loads((BUNDLE / "VERSION.json").read_text(encoding="utf-8")).get("grader", "")
    except (OSError, ValueError):
        grader = ""
    manifest = {"grader": grader, "files": {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}}
    with zipfile.ZipFile(args.out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data)
        zf.writestr(zipfile.ZipInfo("MANIFEST.json", (2026, 1, 1, 0, 0, 0)), json.dumps(manifest, indent=1) + "\n")
    print(_("wrote {zip}: {files} and MANIFEST.json; hand in this zip").format(zip=args.out, files=", ".join(names)))
    if checked is not None and checked.returncode != 0:
        print(_("some checks still fail (the table above): hand it in as it is, or fix them and pack again"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
