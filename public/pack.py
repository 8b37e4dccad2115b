"""Pack what you hand in: python public/pack.py [--out submission.zip] [--no-checks]

Finds the exercise files in the bundle folder, names any file that looks like one of them under another name
(`sec1_linear (1).py`, `Sec1_Linear.py`, `sec1_linear.py.txt`, a notebook saved as .py), runs the public
checks, and writes the zip the grader reads (a batch of the class, or Gradescope): the exercise files at its
top, and MANIFEST.json with each file's SHA-256 and the grader version of this release. A missing or
misnamed file stops it (exit 1) with what to rename; failed checks do not: the zip is written, and the table
says what still fails. A released notebook's last cell, pack("sec2_forward.ipynb"), does the same for notebooks
(course.front.handin).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from course.front import handin

BUNDLE = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python public/pack.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BUNDLE / "submission.zip")
    parser.add_argument("--no-checks", action="store_true", help="pack without running the public checks")
    args = parser.parse_args(argv)
    files, problems = handin.find(BUNDLE)
    if problems:
        print("\n".join(["not packed:", *(f"  {p}" for p in problems)]), file=sys.stderr)
        return 1
    if not args.no_checks:
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(BUNDLE / "public")],
                       cwd=BUNDLE)
    handin.write_zip(args.out, files, handin.grader_version(BUNDLE))
    print(f"wrote {args.out}: {', '.join(files)} and MANIFEST.json; hand in this zip")
    return 0


if __name__ == "__main__":
    sys.exit(main())
