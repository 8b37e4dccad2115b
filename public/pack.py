"""Pack what you hand in: python public/pack.py [--out submission.zip] [--no-checks]

Finds the exercise files in the bundle folder, names any file that looks like one of them under another name
(`sec1_linear (1).py`, `Sec1_Linear.py`, `sec1_linear.py.txt`, a notebook saved as .py), runs the public
checks, and writes the zip the grader reads (a batch of the class, or Gradescope): the exercise files at its
top, and MANIFEST.json with each file's SHA-256 and the grader version of this release. A missing or
misnamed file stops it (exit 1) with what to rename; failed checks do not: the zip is written, and the table
says what still fails. A released notebook's last cell, pack("sec2_forward.ipynb"), does the same for notebooks
(course.front.handin). Everything it says follows COURSE_LANG.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from course import i18n
from course.front import handin
from course.i18n import _

BUNDLE = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python public/pack.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BUNDLE / "submission.zip")
    parser.add_argument("--no-checks", action="store_true", help="pack without running the public checks")
    args = parser.parse_args(argv)
    try:
        i18n.set_language(i18n.choose(None))
    except ValueError as e:
        parser.error(str(e))
    files, problems = handin.find(BUNDLE)
    if problems:
        print("\n".join([_("not packed:"), *(f"  {p}" for p in problems)]), file=sys.stderr)
        return 1
    checked = None if args.no_checks else subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(BUNDLE / "public")], cwd=BUNDLE)
    handin.write_zip(args.out, files, handin.grader_version(BUNDLE))
    print(_("wrote {zip}: {files} and MANIFEST.json; hand in this zip").format(zip=args.out, files=", ".join(files)))
    if checked is not None and checked.returncode != 0:
        print(_("some checks still fail (the table above): hand it in as it is, or fix them and pack again"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
