"""What a student hands in, found and packed the way the grader will read it: by public/pack.py in the bundle, and by
``pack("sec2_forward.ipynb")`` at the end of a released notebook.

For each exercise file the grader reads secN_x.py, else its notebook secN_x.ipynb (course.engine.submission). A file
it would not find is named with whatever looks like it (``sec1_linear (1).py``, ``Sec1_Linear.ipynb``,
``sec1_linear.py.txt``: the grader's own message, course.engine.submission.missing), as is a file it could not read
(a notebook saved as .py, a notebook that is not one). When nothing is wrong, the zip holds the files at its top and
MANIFEST.json with each one's SHA-256 and the grader version of the release (VERSION.json beside public/).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path

from course import untrusted
from course.content.curriculum import TASKS
from course.engine import ipynb
from course.engine.submission import MAX_FILE_BYTES, near_misses, not_python
from course.front import checking
from course.i18n import _

ZIP_TIME = (2026, 1, 1, 0, 0, 0)


def exercise_files() -> list[str]:
    """The exercise file names, as the curriculum lists them."""
    return sorted({t.file for t in TASKS.values()})


def notebook_of(name: str) -> str:
    return str(Path(name).with_suffix(".ipynb"))


def missing(name: str, folder: Path, present: list[str]) -> str:
    """Why name cannot be handed in, in the student's language, naming any file that looks like it (the grader's
    own near-miss rule, course.engine.submission.near_misses)."""
    found = near_misses(name, present)
    if not found:
        return _("{file} is missing from {folder}").format(file=name, folder=folder)
    return _("{file} is missing from {folder}; it holds {names}: rename it to {file} exactly").format(
        file=name, folder=folder, names=", ".join(untrusted.line(f, 80) for f in found[:3]))


def find(folder: Path, notebooks: bool = False) -> tuple[dict[str, Path], list[str]]:
    """(hand-in name -> path, problems): each exercise file in folder, or with notebooks its notebook where the .py is
    absent (the one the grader reads), and why any of them would not be graded."""
    present = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    chosen: dict[str, Path] = {}
    problems = []
    for name in exercise_files():
        options = [name, notebook_of(name)] if notebooks else [name]
        found = next((option for option in options if (folder / option).is_file()), None)
        if found is None:
            problems.append(missing(options[-1], folder, present))
            continue
        data = (folder / found).read_bytes()
        if found.endswith(".py"):
            why = not_python(found, data) and _("{file} holds a Jupyter notebook (JSON), not Python code: save your "
                                                 "code as Python in {file}").format(file=found)
        else:
            why = ipynb.notebook_code(data, found, MAX_FILE_BYTES)[1]
        if why:
            problems.append(why)
        else:
            chosen[found] = folder / found
    return chosen, problems


def grader_version(folder: Path, notebook: Path | None = None) -> str:
    """The grader version the release in folder was made for: its VERSION.json (the bundle), else the stamp in the
    notebook's metadata (an nbgrader release); "" if unknown."""
    for path, keys in ((folder / "VERSION.json", ("grader",)), (notebook, ("metadata", "course", "grader"))):
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
            for key in keys:
                value = value[key]
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            continue
        if isinstance(value, str):
            return value
    return ""


def write_zip(out: Path, files: dict[str, Path], grader: str) -> None:
    """The zip the grader reads: files at its top and MANIFEST.json (grader version, each file's SHA-256)."""
    data = {name: path.read_bytes() for name, path in sorted(files.items())}
    manifest = {"grader": grader, "files": {n: hashlib.sha256(d).hexdigest() for n, d in data.items()}}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in data.items():
            zf.writestr(zipfile.ZipInfo(name, ZIP_TIME), content)
        zf.writestr(zipfile.ZipInfo("MANIFEST.json", ZIP_TIME), json.dumps(manifest, indent=1) + "\n")


def own_path(namespace: dict) -> Path | None:
    """The notebook the kernel runs, where the front end says (Jupyter's session name, VS Code's variable)."""
    for value in (namespace.get("__session__"), namespace.get("__vsc_ipynb_file__"), os.environ.get("JPY_SESSION_NAME")):
        if isinstance(value, str) and value.endswith(".ipynb"):
            path = Path(value)
            return path if path.is_absolute() else Path.cwd() / path.name
    return None


def pack(name: str) -> None:
    """In the notebook name (sec2_forward.ipynb): say whether it is saved under that exact name, check this notebook's
    tasks, and write submission.zip beside it with every section's notebook (or exercise file), or say what to
    rename instead."""
    pack_notebook(name, sys._getframe(1).f_globals)  # the notebook's globals: pack() is called from one of its cells


def pack_notebook(name: str, namespace: dict, folder: Path | None = None) -> Path | None:
    """pack() on the globals namespace; returns the zip written, or None when a file is missing or misnamed."""
    own = own_path(namespace)
    folder = folder or (own.parent if own is not None else Path.cwd())
    problems = []
    if own is not None and own.name != name:
        problems.append(_("this notebook is saved as {own}: rename it to {name} exactly (File > Rename), the grader "
                          "reads files by their exact names").format(own=untrusted.line(own.name, 80), name=name))
    chosen, missed = find(folder, notebooks=True)
    problems += missed
    present = sorted(p.name for p in folder.iterdir() if p.is_file())
    stem = Path(name).stem
    for task in (t.id for t in TASKS.values() if Path(t.file).stem == stem):
        print(checking.run(task, namespace).line())
    for chosen_name in chosen:
        others = [n for n in near_misses(chosen_name, present) if n != notebook_of(chosen_name)]
        if others:
            print(_("note: {name} is the one graded, not {others} (the grader reads exact names only)").format(
                name=chosen_name, others=", ".join(untrusted.line(n, 80) for n in others[:3])))
    if problems:
        print(_("not packed:"))
        print("\n".join(f"  {untrusted.line(p, 400)}" for p in problems))
        return None
    out = folder / "submission.zip"
    write_zip(out, chosen, grader_version(folder, chosen.get(name)))
    print(_("wrote {zip}: {files} and MANIFEST.json; each notebook as it was last saved (save this one first). "
            "Hand in this zip, or on nbgrader submit the assignment as it is").format(
        zip=out.name, files=", ".join(chosen)))
    return out
