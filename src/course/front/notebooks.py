"""nbgrader source notebooks, one per lesson section, built from the one source.

    python -m course.front.notebooks --course-dir DIR [--assignment pytorch-basics]

writes DIR/source/<assignment>/secN_x.ipynb for every solution file solutions/secN_x.py:

- the lesson, lessons/secN_x.md (with the section's figure from docs/figures/ attached, if present);
- the solution file's code, one cell per top-level definition: the imports as a read-only cell, each
  function or class holding a solution region as an answer cell (nbgrader's ``### BEGIN SOLUTION`` /
  ``### END SOLUTION`` are the solution file's own markers), any other definition read-only;
- one read-only grade cell per task (grade_id ``task_2_2``, the curriculum's points) whose hidden
  region scores the task with the hidden grader suite (course.front.notebook_grading.task_score);
- the checks a student runs before handing in (read-only cells, cell metadata ``course``, which the grader's
  notebook reader leaves out): a first cell that imports ``check`` and ``pack`` (course.front.checking,
  course.front.handin), after the last answer cell of each task a cell ``check("2.2")`` that runs that task's
  public checks on what the kernel holds and prints the grader's kind of feedback, and a last cell
  ``pack("sec2_forward.ipynb")``.

Beside the notebooks, source/<assignment>/public/ gets the bundle's public/ (course.front.release: the public
checks and the course modules they use, leak-checked like the bundle), which nbgrader copies into the release: the
check cells import from there when no course package is installed. Nothing else is written under source/.
``nbgrader generate_assignment`` then strips the solutions and hidden tests.
"""
from __future__ import annotations

import argparse
import ast
import base64
import hashlib
import shutil
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course import i18n
from course.front import release
from course.version import grader_version
from course.content.curriculum import SECTIONS, TASKS, Task
from course.i18n import _

ROOT = Path(__file__).resolve().parents[3]  # the course checkout (the package is installed editable)
DEFAULT_ASSIGNMENT = "pytorch-basics"
FIGURES = {1: "sec1_linear", 2: "sec2_forward", 3: "sec3_dataloader", 4: "sec4_training"}
SCHEMA_VERSION = 3
DROPPED = {"from __future__ import annotations"}  # a notebook cell's annotations need no future import


def nbgrader_meta(grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool = False,
                  points: float | None = None) -> dict:
    """A cell's nbgrader metadata (schema 3): answer cells are solution cells, tests are locked grade cells."""
    meta = {"schema_version": SCHEMA_VERSION, "grade": grade, "solution": solution, "locked": locked,
            "grade_id": grade_id}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def split_code(source: str) -> list[tuple[str, str]]:
    """The solution file as (name, code) chunks: one per top-level class or function (with the comments and
    decorators above it), the other statements between them gathered into "setup" chunks.
    The module docstring is left out: the lesson text replaces it."""
    tree = ast.parse(source)
    lines = source.splitlines()
    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        pos = body.pop(0).end_lineno
    else:
        pos = 0
    chunks: list[tuple[str, list[str]]] = []
    for node in body:
        end = node.end_lineno
        while end < len(lines) and (not lines[end].strip() or lines[end][:1] in " \t"):
            end += 1  # indented comments after the last statement (an END SOLUTION marker) belong to it
        while end > node.end_lineno and not lines[end - 1].strip():
            end -= 1
        code = [line for line in lines[pos:end] if line.strip() not in DROPPED]
        pos = end
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            chunks.append((node.name, code))
        elif chunks and chunks[-1][0].startswith("setup"):
            chunks[-1][1].extend(code)
        else:  # names are cell ids: the statements between two definitions get a name of their own
            count = sum(name.startswith("setup") for name, _ in chunks)
            chunks.append((f"setup_{count + 1}" if count else "setup", code))
    return [(name, "\n".join(code).strip("\n")) for name, code in chunks if "\n".join(code).strip()]


def tasks_in(code: str) -> list[Task]:
    """The tasks whose solution regions a chunk holds, in order of first appearance."""
    found = []
    for line in code.splitlines():
        if "### BEGIN SOLUTION (Task " in line:
            task = TASKS[line.split("(Task ", 1)[1].split(")", 1)[0]]
            if task not in found:
                found.append(task)
    return found


def lesson_cell(section: int, stem: str, lessons: Path, figures: Path) -> nbformat.NotebookNode:
    """The lesson as a read-only markdown cell, the section's figure attached when there is one."""
    text = (lessons / f"{stem}.md").read_text(encoding="utf-8").strip()
    figure = figures / f"{FIGURES.get(section, stem)}.png"
    attachments = {}
    if figure.is_file():
        attachments[figure.name] = {"image/png": base64.b64encode(figure.read_bytes()).decode("ascii")}
        text += f"\n\n![{_(SECTIONS[section])}](attachment:{figure.name})"
    cell = new_markdown_cell(text, metadata=nbgrader_meta(f"lesson_{stem}", locked=True), id=f"lesson-{stem}")
    if attachments:
        cell["attachments"] = attachments
    return cell


def grade_cell(task: Task) -> nbformat.NotebookNode:
    """The task's test cell: a comment for students; the hidden region prints feedback and returns the score."""
    source = "\n".join([
        "# " + _("Task {id} ({points} points): {function}, {title}.").format(
            id=task.id, points=task.points, function=task.function, title=_(task.title)),
        "# " + _("The hidden tests of this task run when your notebook is graded."),
        "### BEGIN HIDDEN TESTS",
        "from course.front.notebook_grading import task_score",
        "",
        f'task_score("{task.id}")',
        "### END HIDDEN TESTS",
    ])
    grade_id = f"task_{task.id.replace('.', '_')}"
    return new_code_cell(source, id=grade_id.replace("_", "-"),
                         metadata=nbgrader_meta(grade_id, grade=True, locked=True, points=task.points))


def course_cell(kind: str, name: str, lines: list[str]) -> nbformat.NotebookNode:
    """A read-only cell of the course's own (kind: checks, check or pack), left out of the code the grader reads."""
    cell = new_code_cell("\n".join(lines), id=name.replace("_", "-"), metadata=nbgrader_meta(name, locked=True))
    cell.metadata["course"] = kind
    return cell


def checks_cell(lang: str) -> nbformat.NotebookNode:
    """The first code cell: check and pack, from the course package installed here, else from public/ beside the
    notebook (appended to sys.path, so an installed course package, the grader's, always comes first)."""
    lines = ["# " + _('Checks as you go: check("2.2") runs the public checks of Task 2.2 on the code you have run, '
                      'and pack() at the end packs what you hand in.'),
             "# " + _("They come from public/ beside this notebook, the same checks as pytest in the bundle; passing "
                      "them is a good sign, not full marks."),
             "import os, sys",
             'sys.path.append(os.path.abspath("public"))']
    if lang != "en":
        lines.append(f'os.environ.setdefault("COURSE_LANG", "{lang}")')
    lines.append("from course.front.checking import check")
    lines.append("from course.front.handin import pack")
    return course_cell("checks", "checks", lines)


def check_cell(task: Task) -> nbformat.NotebookNode:
    return course_cell("check", f"check_{task.id.replace('.', '_')}", [f'check("{task.id}")'])


def pack_cell(stem: str) -> nbformat.NotebookNode:
    return course_cell("pack", "pack", [
        "# " + _("When every task passes: save this notebook, then run this cell. It checks the notebooks' names and "
                 "writes submission.zip."),
        f'pack("{stem}.ipynb")'])


def build_notebook(solution: Path, lessons: Path, figures: Path, version: str = "") -> nbformat.NotebookNode:
    """The source notebook of one section, from its solution file and lesson; its metadata records the
    grader version and a hash of what it was built from (nbgrader keeps both in the release)."""
    stem = solution.stem
    section = int(stem[3:].split("_", 1)[0])  # secN_x
    cells = [lesson_cell(section, stem, lessons, figures), checks_cell(i18n.language())]
    chunks = split_code(solution.read_text(encoding="utf-8"))
    last = {t.id: i for i, (_name, code) in enumerate(chunks) for t in tasks_in(code)}  # a task's last answer cell
    for i, (name, code) in enumerate(chunks):
        tasks = tasks_in(code)
        if not tasks:
            cells.append(new_code_cell(code, id=f"code-{name}", metadata=nbgrader_meta(f"code_{name}", locked=True)))
            continue
        heading = _(" and ").join(_("**Task {id}** ({points} points)").format(id=t.id, points=t.points) for t in tasks)
        what = "; ".join(f"`{t.function}`: {_(t.title)}" for t in tasks)
        cells.append(new_markdown_cell(f"{heading}. {what}.", id=f"about-{name}"))
        cells.append(new_code_cell(code, id=f"answer-{name}", metadata=nbgrader_meta(f"answer_{name}", solution=True)))
        cells += [check_cell(t) for t in tasks if last[t.id] == i]
    graded = [t for t in TASKS.values() if t.file == solution.name]
    cells.append(new_markdown_cell(_("The cells below grade each task when the notebook is collected."),
                                   id="about-grading"))
    cells += [grade_cell(task) for task in graded]
    cells.append(pack_cell(stem))
    inputs = [solution, lessons / f"{stem}.md", figures / f"{FIGURES.get(section, stem)}.png"]
    digest = hashlib.sha256(b"".join(hashlib.sha256(p.read_bytes()).digest() for p in inputs if p.is_file()))
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "course": {"grader": version, "source_sha256": digest.hexdigest()},
    })
    nbformat.validate(notebook)
    return notebook


def public_files(course: release.Course) -> dict[str, bytes]:
    """The student bundle's public/ (path inside the assignment folder -> bytes), refused as the bundle is when any
    file would leak a solution line or a file of solutions/ or grader/."""
    files, origins = release.bundle_files(course)
    public = {name: data for name, data in files.items() if name.startswith("public/")}
    problems = release.leaks(course, public, origins)
    if problems:
        raise ValueError("the public checks would leak: " + "; ".join(problems[:5]))
    return public


def write_notebooks(course_dir: Path, assignment: str = DEFAULT_ASSIGNMENT, solutions: Path = ROOT / "solutions",
                    lessons: Path = ROOT / "lessons", figures: Path = ROOT / "docs" / "figures",
                    lang: str = "en") -> list[Path]:
    """Write every section's source notebook into course_dir/source/<assignment>/; return their paths.
    lang "ko" takes the lesson from lessons/ko/ and writes the notebooks' own words in Korean.

    Refuses (ValueError) when that folder holds anything but notebooks and the public/ this writes: nbgrader would
    release it; and when the public checks would leak (course.front.release's checks of the bundle)."""
    lessons = lessons if lang == "en" else lessons / lang
    folder = course_dir / "source" / assignment
    others = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix != ".ipynb" and not p.is_dir()
                    and p.relative_to(folder).parts[0] != "public") if folder.is_dir() else []
    if others:
        raise ValueError(f"{folder} holds files other than notebooks, which nbgrader copies into the "
                         f"release: {', '.join(others[:5])}; remove them first")
    public = public_files(release.Course.at(ROOT))
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "public").is_dir():
        shutil.rmtree(folder / "public")  # this module's own output: rewritten whole
    for name, data in public.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    version = grader_version(solutions, ROOT / "grader")  # as course.front.release stamps it
    written = []
    for solution in sorted(solutions.glob("sec*.py")):
        path = folder / f"{solution.stem}.ipynb"
        with i18n.using(lang):
            nbformat.write(build_notebook(solution, lessons, figures, version), str(path))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: write the source notebooks of one assignment into an nbgrader course folder."""
    parser = argparse.ArgumentParser(prog="python -m course.front.notebooks", description=__doc__.splitlines()[0])
    parser.add_argument("--course-dir", type=Path, required=True, help="the nbgrader course folder")
    parser.add_argument("--assignment", default=DEFAULT_ASSIGNMENT, help=f"assignment name (default {DEFAULT_ASSIGNMENT})")
    parser.add_argument("--lang", choices=i18n.LANGUAGES, default="en", help="language of the lesson text (default en)")
    args = parser.parse_args(argv)
    try:
        written = write_notebooks(args.course_dir, args.assignment, lang=args.lang)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
