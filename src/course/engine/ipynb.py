"""The Python code of a submitted Jupyter notebook, read without Jupyter (the json module only).

A notebook's code cells, in order, become one module's source. Three kinds of lines are not
Python and are commented out: line magics (``%matplotlib inline``), shell escapes (``!pip install``)
and cell magics (``%%time``: its first line; the whole cell when the rest is not Python either).
A cell that already parses as Python is never touched, so a ``%`` inside a string stays as written.
``from __future__`` imports, allowed in any cell of a kernel, move to the top of the module. The
course's own test cells (nbgrader grade cells that are not answers) are left out: they hold the
grader's calls, not the student's code; so are its check cells (cell metadata ``course``: the released
notebook's ``check("2.2")`` cells, the cell that imports check, the pack cell).

The bytes come from a student and are parsed here, in the judge: every way they can fail to parse
(not JSON, a number too long for Python's int, nesting too deep for json or for Python's parser, a cell
too large for it) is a NotebookError naming the file and the reason, never an exception that could stop
the grading of anyone else.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from course import untrusted
from course.limits import LIMITS

MAX_NOTEBOOK_BYTES = LIMITS.notebook_bytes
MAGIC = re.compile(r"^(?P<indent>\s*)(?P<line>[%!].*)$")


class NotebookError(ValueError):
    """A file that is not a notebook this grader can read; the message says why, naming the file."""


class _TooComplex(Exception):
    """A cell that Python's parser cannot take (nested too deeply, or too large): why, in words."""


def _unreadable(name: str, why: str) -> NotebookError:
    return NotebookError(f"{name} is not a notebook the grader can read ({why})")


def _text(source: object) -> str | None:
    """A cell's source (a string, or a list of strings as Jupyter saves it), or None if it is neither."""
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    return None


def _parse(code: str) -> ast.Module | None:
    """The cell's syntax tree, or None when it is not Python (magics, shell lines, a syntax error).
    Raises _TooComplex when the parser itself gives up on it."""
    try:
        return ast.parse(code)
    except RecursionError:
        raise _TooComplex("nested too deeply for Python's parser") from None
    except (MemoryError, OverflowError):
        raise _TooComplex("too large for Python's parser") from None
    except (SyntaxError, ValueError):  # ValueError: a null byte
        return None


def _parses(code: str) -> bool:
    return _parse(code) is not None


def python_of_cell(code: str) -> str:
    """One code cell as plain Python: magics and shell lines commented out, everything else kept."""
    if _parses(code):
        return code
    lines = code.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        body = "\n".join(lines[1:])
        rest = body if _parses(body) else "\n".join(f"# {line}" if line.strip() else line for line in lines[1:])
        return f"# {lines[0].strip()}\n{rest}"
    out = []
    for line in lines:
        magic = MAGIC.match(line)
        if magic is None:
            out.append(line)
        elif magic["indent"]:  # inside a block: keep the block non-empty
            out.append(f"{magic['indent']}pass  # {magic['line']}")
        else:
            out.append(f"# {magic['line']}")
    return "\n".join(out)


def _hoist_future(code: str, features: list[str]) -> str:
    """The cell with its ``from __future__ import`` statements commented out, their names added to features
    (a module allows them only at its top; a kernel allows them in any cell)."""
    tree = _parse(code)
    if tree is None:
        return code
    lines = code.splitlines()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            features += [alias.name for alias in node.names if alias.name not in features]
            for i in range(node.lineno - 1, node.end_lineno):
                lines[i] = f"# {lines[i]}"
    return "\n".join(lines)


COURSE_CELLS = ("checks", "check", "pack")  # metadata "course" of the cells course.front.notebooks adds for checking


def _is_test_cell(cell: dict) -> bool:
    meta = cell.get("metadata")
    nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
    if isinstance(meta, dict) and meta.get("course") in COURSE_CELLS:
        return True
    return isinstance(nbgrader, dict) and nbgrader.get("grade") is True and not nbgrader.get("solution")


def code_of(data: bytes, name: str) -> bytes:
    """The Python source (UTF-8) made of a notebook's code cells, in order, each headed by its cell number.

    Raises NotebookError, naming the file, when data is not a version 4 notebook with code cells, or
    when json or Python's parser cannot take it.
    """
    name = untrusted.line(name)
    notebook = _json_of(data, name)
    if not isinstance(notebook, dict) or "cells" not in notebook and "worksheets" not in notebook:
        raise NotebookError(f"{name} is not a valid notebook: no cells")
    version = notebook.get("nbformat")
    if version != 4:
        shown = untrusted.line(repr(version), 40) if isinstance(version, (int, float, str)) else type(version).__name__
        raise NotebookError(f"{name} is not a valid notebook: nbformat {shown}, this grader reads version 4 "
                            "(open it in Jupyter and save it again)")
    cells = notebook.get("cells")
    if not isinstance(cells, list) or not cells:
        raise NotebookError(f"{name} is not a valid notebook: no cells")
    parts: list[str] = []
    features: list[str] = []
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            raise NotebookError(f"{name} is not a valid notebook: cell {number} has no cell_type")
        if cell["cell_type"] != "code" or _is_test_cell(cell):
            continue
        source = _text(cell.get("source"))
        if source is None:
            raise NotebookError(f"{name} is not a valid notebook: cell {number} has no source text")
        try:
            parts.append(f"# notebook cell {number}\n{_hoist_future(python_of_cell(source), features).rstrip()}\n")
        except _TooComplex as e:
            raise _unreadable(name, f"the code of cell {number} is {e}") from None
    if not parts:
        raise NotebookError(f"{name} holds no code cells")
    if features:
        parts.insert(0, f"from __future__ import {', '.join(features)}\n")
    try:
        return "\n".join(parts).encode("utf-8")
    except UnicodeEncodeError:
        raise _unreadable(name, "its code holds a lone surrogate, which is not valid Unicode") from None


def _json_of(data: bytes, name: str) -> object:
    """The notebook's JSON, or a NotebookError saying why it cannot be read."""
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise NotebookError(f"{name} is not a valid notebook: it is not JSON ({type(e).__name__}: "
                            f"{untrusted.line(e, 80)})") from None
    except RecursionError:
        raise _unreadable(name, "its JSON is nested too deeply") from None
    except ValueError:  # Python refuses to convert an integer of more than 4300 digits
        raise _unreadable(name, "it holds a number too long to read") from None
    except MemoryError:
        raise _unreadable(name, "it needs too much memory to read") from None


def read_notebook(path: Path, max_code_bytes: int) -> tuple[bytes | None, str | None]:
    """(code, None) for a readable notebook file, else (None, why not); symbolic links are never followed."""
    name = untrusted.line(path.name)
    try:
        if path.is_symlink():
            return None, f"{name} is a symbolic link; links are not followed"
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return None, f"{name} is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB"
        data = path.read_bytes()
    except OSError as e:
        return None, f"{name} cannot be read ({untrusted.line(e.strerror or type(e).__name__, 80)})"
    return notebook_code(data, path.name, max_code_bytes)


def notebook_code(data: bytes, name: str, max_code_bytes: int) -> tuple[bytes | None, str | None]:
    """(code, None) for the bytes of a readable notebook, else (None, why not). Never raises: a failure
    nobody foresaw is reported as this file's problem too."""
    name = untrusted.line(name)
    if len(data) > MAX_NOTEBOOK_BYTES:
        return None, f"{name} is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB"
    try:
        code = code_of(data, name)
    except NotebookError as e:
        return None, str(e)
    except Exception as e:  # a bug here must cost this file only
        return None, str(_unreadable(name, f"{type(e).__name__} while reading it"))
    if len(code) > max_code_bytes:
        return None, f"the code cells of {name} are larger than {max_code_bytes // 1024} KiB"
    return code, None
