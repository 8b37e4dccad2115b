"""Generate exercises/ from solutions/: every solution region becomes a stub.

A region runs from a line containing ``### BEGIN SOLUTION (Task X.Y)`` to one containing
``### END SOLUTION`` (nbgrader's markers, with the task ID added). It is replaced by a
``raise NotImplementedError("not implemented yet (Task X.Y)")`` at the marker's indentation,
so the signature, type hints and docstring above it stay, and importing a stub never fails.

    python -m course.front.stubgen            # rewrite exercises/
    python -m course.front.stubgen --check    # exit 1 when exercises/ is stale
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from course.content.curriculum import TASKS

BEGIN = re.compile(r"^(?P<indent>\s*)### BEGIN SOLUTION \(Task (?P<task>\d+\.\d+)\)\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")
EXERCISES_INIT = '"""Exercises: fill in every function that raises NotImplementedError. See the README for the task table."""\n'


class MarkerError(ValueError):
    """A solution file whose markers do not pair up or name an unknown task."""


def _regions(source: str, filename: str):
    """Yield (start, end, indent, task) for each solution region; end is the END line's index."""
    lines = source.splitlines()
    start = None
    for i, line in enumerate(lines):
        begin = BEGIN.match(line)
        if begin:
            if start is not None:
                raise MarkerError(f"{filename}:{i + 1}: BEGIN SOLUTION inside another region")
            if begin["task"] not in TASKS:
                raise MarkerError(f"{filename}:{i + 1}: unknown task {begin['task']}")
            start, indent, task = i, begin["indent"], begin["task"]
        elif "BEGIN SOLUTION" in line:
            raise MarkerError(f"{filename}:{i + 1}: write the marker as '### BEGIN SOLUTION (Task X.Y)'")
        elif END.match(line):
            if start is None:
                raise MarkerError(f"{filename}:{i + 1}: END SOLUTION without BEGIN")
            yield start, i, indent, task
            start = None
    if start is not None:
        raise MarkerError(f"{filename}:{start + 1}: BEGIN SOLUTION is never closed")


def make_stub(source: str, filename: str = "<solution>", answered: frozenset[str] = frozenset()) -> str:
    """The student's version of a solution file: each region becomes a raise. The regions of the tasks in
    answered keep their code without the markers (a student who has done those tasks)."""
    lines = source.splitlines()
    out, pos = [], 0
    for start, end, indent, task in _regions(source, filename):
        out += lines[pos:start]
        if task in answered:
            out += lines[start + 1:end]
        else:
            out.append(f'{indent}raise NotImplementedError("not implemented yet (Task {task})")')
        pos = end + 1
    out += lines[pos:]
    return "\n".join(out) + "\n"


def solution_lines(source: str, filename: str = "<solution>") -> set[str]:
    """Stripped code lines that appear only inside solution regions (the ones a stub must not contain)."""
    lines = source.splitlines()
    inside: set[int] = set()
    for start, end, _, _ in _regions(source, filename):
        inside.update(range(start + 1, end))
    public = {lines[i].strip() for i in range(len(lines)) if i not in inside}
    secret = {lines[i].strip() for i in inside}
    return {s for s in secret - public if s and not s.startswith("#")}


def expected_exercises(solutions: Path) -> dict[str, str]:
    """File name -> content of every file exercises/ should hold."""
    files = {"__init__.py": EXERCISES_INIT}
    for path in sorted(solutions.glob("*.py")):
        if path.name != "__init__.py":
            files[path.name] = make_stub(path.read_text(encoding="utf-8"), str(path))
    return files


def stale_files(solutions: Path, exercises: Path) -> list[str]:
    """Names of exercise files that differ from what the solutions generate, or should not be there."""
    want = expected_exercises(solutions)
    have = {p.name for p in exercises.glob("*.py")}
    stale = [n for n, text in want.items() if not (exercises / n).is_file() or (exercises / n).read_text(encoding="utf-8") != text]
    return sorted(stale + sorted(have - set(want)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.front.stubgen", description=__doc__.splitlines()[0])
    parser.add_argument("--solutions", type=Path, default=Path("solutions"))
    parser.add_argument("--exercises", type=Path, default=Path("exercises"))
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    parser.add_argument("--prune", action="store_true", help="also delete .py files in exercises/ that no solution makes")
    args = parser.parse_args(argv)
    if not any(p.name != "__init__.py" for p in args.solutions.glob("*.py")):
        parser.error(f"{args.solutions}/ holds no solution files; run this in the course's own checkout")
    stale = stale_files(args.solutions, args.exercises)
    if args.check:
        for name in stale:
            print(f"stale: {args.exercises / name}")
        return 1 if stale else 0
    want = expected_exercises(args.solutions)
    args.exercises.mkdir(parents=True, exist_ok=True)
    for name in stale:
        if name in want:
            (args.exercises / name).write_text(want[name], encoding="utf-8")
        elif args.prune:
            (args.exercises / name).unlink()
        else:
            print(f"not generated (kept; --prune deletes it): {args.exercises / name}")
    print(f"wrote {args.exercises}/ from {args.solutions}/ ({len(stale)} file(s) changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
