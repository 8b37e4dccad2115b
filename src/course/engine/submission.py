"""Reading what students hand in: one reader for a folder, a zip and a notebook, with every limit and guard.

A submission is read into memory, never extracted or executed: each expected exercise file's bytes
(Submission), or why it cannot be graded. A class folder holds one entry per student (discover): a
folder of exercise files (or a folder around one), a .zip of them, or one notebook; whatever reading an
entry raises becomes that entry's status, never the batch's end. Names and messages from the entry are
made safe here (course.untrusted), once, for every place they are shown.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from course import untrusted
from course.limits import LIMITS

MAX_FILE_BYTES = LIMITS.file_bytes
MAX_ENTRY_BYTES = LIMITS.zip_bytes
STATUS_OK = "graded"
STATUS_ERROR = "error"  # the grader failed on this entry (reading, grading or writing it out); a rerun retries it


WRAPPER_DEPTH = 8  # folders around the files (a zip of a folder of a folder...): looked through up to this deep


def too_large(name: str) -> str:
    return f"{name} is larger than {MAX_FILE_BYTES // 1024} KiB"


def compile_problem(name: str, source: bytes) -> str | None:
    """Why source does not compile, with the line, the code and a caret under the column; None if it does
    (or if it is too odd to compile here: the runner's report stands then)."""
    try:
        compile(source, name, "exec", dont_inherit=True)
    except SyntaxError as e:
        line = untrusted.line((e.text or "").rstrip("\n"), 160)
        caret = " " * max(0, min(len(line), (e.offset or 1) - 1 - (len(e.text or "") - len((e.text or "").lstrip())))) + "^"
        where = f"{type(e).__name__} at line {e.lineno}" + (f", column {e.offset}" if e.offset else "")
        shown_code = f"\n    {line.strip()}\n    {caret}" if line.strip() else ""
        return f"{name} does not compile ({where}): {untrusted.line(e.msg, 160)}{shown_code}"
    except (ValueError, MemoryError, RecursionError):  # null bytes; a parser that gives up
        return None
    return None


def _plain(name: str) -> str:
    """A file name as people mangle it, undone: case, a copy's number or word ("x (1).py", "x - Copy.py",
    "x_copy.py", "x-2.py"), spaces or dashes for underscores, an extension added after the real one."""
    name = name.lower().strip()
    name = re.sub(r"(\.py|\.ipynb)\.(txt|bak|orig|save|copy|download)$", r"\1", name)
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    stem = re.sub(r"(\s*\(\d+\)|[\s_-]*-?\s*copy(\s*\(?\d+\)?)?|-\d+)$", "", stem)
    stem = re.sub(r"[\s-]+", "_", stem)
    return f"{stem}.{ext}" if ext else stem


def near_misses(name: str, present: list[str]) -> list[str]:
    """The names among present that are probably name (or its notebook) misnamed."""
    wanted = {_plain(name), _plain(name[:-3] + ".ipynb")} if name.endswith(".py") else {_plain(name)}
    return sorted(p for p in present if p != name and _plain(p) in wanted)


def missing(name: str, where: str, present: list[str]) -> str:
    """Why an expected file is not graded when it is not there, naming any file that looks like it."""
    message = f"{name} is missing from {where}"
    found = near_misses(name, present)
    if found:
        shown_names = ", ".join(untrusted.line(f, 80) for f in found[:3])
        message += f"; it holds {shown_names}: rename it to {name} exactly"
    return message


def not_python(name: str, data: bytes) -> str | None:
    """Why a submitted file's bytes are not what its name promises, or None (a notebook saved as .py)."""
    if data.lstrip()[:1] == b"{" and b'"nbformat"' in data:
        return f"{name} holds a Jupyter notebook (JSON), not Python code; submit it as {Path(name).stem}.ipynb"
    return None


class Submission:
    """The submitted files, read once: bytes and SHA-256 of each expected file name."""

    def __init__(self, sources: dict[str, bytes], problems: dict[str, str], ignored: list[str]) -> None:
        self.sources = sources
        self.problems = problems  # expected file name -> why it cannot be graded
        self.ignored = ignored  # anything else in the folder (a conftest.py, a torch.py, caches): never read or run
        self.broken: dict[str, str] = {}  # read, but does not compile or import: why, said once for the file

    def does_not_import(self, name: str, reported: str) -> str:
        """Record, once, that a file does not compile or import, and say why: compiled here (compiling runs
        nothing) for a syntax error's line and caret, else what the runner reported (already made safe)."""
        if name not in self.broken:
            self.broken[name] = compile_problem(name, self.sources.get(name, b"")) or reported
        return self.broken[name]
    @classmethod
    def read(cls, folder: Path, names: list[str]) -> Submission:
        """Each expected file's bytes, or why it cannot be graded. A missing secN_x.py whose notebook
        secN_x.ipynb is there is read from the notebook's code cells (course.engine.ipynb)."""
        from course.engine import ipynb

        sources, problems, notebooks = {}, {}, []
        for name in names:
            path = folder / name
            notebook = path.with_suffix(".ipynb")
            if name.endswith(".py") and not path.is_symlink() and not path.exists() \
                    and (notebook.is_symlink() or notebook.is_file()):
                notebooks.append(notebook.name)
                code, problem = ipynb.read_notebook(notebook, MAX_FILE_BYTES)
                if problem:
                    problems[name] = problem
                else:
                    sources[name] = code
            elif path.is_symlink():
                problems[name] = f"{name} is a symbolic link; links are not followed"
            elif not path.is_file():
                present = sorted(os.listdir(folder)) if folder.is_dir() else []
                problems[name] = missing(name, "the submission folder", present)
            elif path.stat().st_size > MAX_FILE_BYTES:
                problems[name] = too_large(name)
            else:
                data = path.read_bytes()
                if problem := not_python(name, data):
                    problems[name] = problem
                else:
                    sources[name] = data
        read = {*names, *notebooks}
        ignored = sorted(p.name for p in folder.iterdir() if p.name not in read) if folder.is_dir() else []
        return cls(sources, problems, ignored)

    def hashes(self) -> dict[str, str]:
        return {name: hashlib.sha256(data).hexdigest() for name, data in sorted(self.sources.items())}


def find_submitted(folder: Path, names: list[str]) -> tuple[dict[str, Path], list[str]]:
    """A Gradescope upload's files: each expected file found by exact name anywhere under folder (the shallowest; two at one depth is
    ambiguous and neither is taken), and notes for the student. Links are never followed."""
    found: dict[str, list[Path]] = {n: [] for n in names}
    notes, seen = [], []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__MACOSX")
        seen += sorted(filenames)
        for name in filenames:
            if name in found:
                path = Path(dirpath) / name
                if path.is_symlink():
                    notes.append(f"{path.relative_to(folder)} is a symbolic link: not followed")
                else:
                    found[name].append(path)
    chosen = {}
    for name, paths in found.items():
        if not paths:
            continue
        depth = min(len(p.relative_to(folder).parts) for p in paths)
        top = [p for p in paths if len(p.relative_to(folder).parts) == depth]
        if len(top) > 1:
            notes.append(f"{name} is in {len(top)} folders ({', '.join(str(p.relative_to(folder)) for p in top)}): "
                         "not graded; hand in one copy")
        else:
            chosen[name] = top[0]
            if len(paths) > 1 or depth > 1:
                notes.append(f"graded {top[0].relative_to(folder)}")
    for name in names:  # a file handed in under another name is named, never guessed at
        notebook = str(Path(name).with_suffix(".ipynb"))
        if name.endswith(".py") and name not in chosen and notebook not in chosen:
            if near_misses(name, seen):
                notes.append(missing(name, "the submission", seen))
    return chosen, notes


@dataclass
class Entry:
    """One student's entry in the submissions folder, as read (never executed) by the batch."""

    student: str  # the id: the entry's name without .zip
    name: str  # the entry's name as shown (undecodable bytes made visible)
    kind: str  # folder, zip or other
    path: Path
    status: str = STATUS_OK  # graded, or why the entry could not be graded
    message: str = ""
    sources: dict[str, bytes] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # per expected file: why it is not graded
    ignored: list[str] = field(default_factory=list)  # other names in the entry, never read

    @property
    def slug(self) -> str:
        """A file name for this entry's outputs: the id where it is safe and short, else a sanitized id
        plus a hash of the entry's name (which also keeps two entries for one id apart)."""
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", self.student).strip(".") or "student"
        if safe == self.student and len(safe) <= 100 and self.status != "duplicate":
            return safe
        digest = hashlib.sha256(os.fsencode(self.path.name)).hexdigest()[:8]
        return f"{safe[:60]}-{digest}"

    def who(self) -> dict:
        """What a Result says of its entry (course.engine.result): student, entry, kind, status and message."""
        return {"student": self.student, "entry": self.name, "kind": self.kind, "status": self.status,
                "message": self.message}

    def content_hash(self) -> str:
        """SHA-256 over everything a result depends on: status, message, kind, each expected file's bytes,
        each file-level problem and the ignored names."""
        h = hashlib.sha256(_utf8("\0".join([self.status, self.message, self.kind, *self.ignored])))
        for name in sorted(self.sources):
            h.update(b"\0file\0" + _utf8(name) + b"\0" + hashlib.sha256(self.sources[name]).digest())
        for name in sorted(self.problems):
            h.update(b"\0problem\0" + _utf8(name) + b"\0" + _utf8(self.problems[name]))
        return h.hexdigest()


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate that slipped through still hashes


def shown(name: str) -> str:
    """A name for messages and ids, as one line (course.untrusted.line, uncut, so ids stay apart): bytes
    that are not UTF-8 appear as \\xNN, control and invisible format characters as escapes too."""
    return untrusted.line(name, None)


def discover(folder: Path, expected: list[str]) -> list[Entry]:
    """Every student entry of folder, sorted by id, each read or given a status saying why not."""
    entries: list[Entry] = []
    for item in sorted(os.scandir(folder), key=lambda e: os.fsencode(e.name)):
        if item.name.startswith("."):
            continue  # .DS_Store, .git and the like are not students
        entries.append(_intake(item, expected))
    by_id: dict[str, list[Entry]] = {}
    for entry in entries:
        by_id.setdefault(entry.student, []).append(entry)
    for same in by_id.values():
        if len(same) > 1:  # which one is the student's work cannot be known: grade neither
            names = ", ".join(e.name for e in same)
            for entry in same:
                entry.status, entry.message = "duplicate", f"{len(same)} entries map to student {entry.student}: {names}"
                entry.sources.clear()
                entry.problems.clear()
    for entry in entries:
        if entry.status == STATUS_OK and not entry.sources:
            entry.status = "empty"
            refused = [p for p in entry.problems.values() if "is missing" not in p]
            reason = ("no exercise file could be graded: " + "; ".join(refused) if refused
                      else f"none of the exercise files ({', '.join(expected)}) is in the entry")
            entry.message = f"{entry.message} {reason}" if entry.message else reason
    return sorted(entries, key=lambda e: (e.student, e.name))


def _intake(item: os.DirEntry, expected: list[str]) -> Entry:
    """One entry, read; whatever reading it raises becomes its status, never the batch's end."""
    name = shown(item.name)
    path = Path(item.path)
    try:
        entry = _read_entry(item, name, path, expected)
    except Exception as e:
        entry = Entry(_stem(name), name, "other", path, "unreadable", f"the entry cannot be read ({error_line(e)})")
    if name != item.name:
        why = "is not valid UTF-8" if any(0xDC80 <= ord(c) <= 0xDCFF for c in item.name) else \
            "holds control or invisible characters"
        entry.message = (entry.message + " " if entry.message else "") + f"the entry's name {why} (shown as {name})"
    entry.message = untrusted.line(entry.message, 2 * untrusted.LINE_LIMIT)
    entry.problems = {file: untrusted.line(problem) for file, problem in entry.problems.items()}
    return entry


def _read_entry(item: os.DirEntry, name: str, path: Path, expected: list[str]) -> Entry:
    """Read a folder, a zip or a notebook entry; anything else gets its status."""
    if item.is_symlink():
        return Entry(_stem(name), name, "other", path, "unreadable", "the entry is a symbolic link; links are not followed")
    mode = item.stat(follow_symlinks=False).st_mode
    if stat.S_ISDIR(mode):
        entry = Entry(name, name, "folder", path)
        _read_folder(entry, expected)
    elif stat.S_ISREG(mode) and item.name.lower().endswith(".zip"):
        entry = Entry(_stem(name), name, "zip", path)
        _read_zip(entry, expected)
    elif stat.S_ISREG(mode) and item.name.lower().endswith(".ipynb"):
        entry = Entry(_stem(name), name, "notebook", path)
        _read_notebook(entry, expected)
    else:
        entry = Entry(_stem(name), name, "other", path, "unsupported",
                      "not a folder, a .zip or a .ipynb of the exercise files")
    return entry


def error_line(error: BaseException) -> str:
    """An exception in one short line: its type and the start of its message, made safe to show."""
    kind, message = untrusted.line(type(error).__name__, 60), untrusted.line(error, 160)
    return f"{kind}: {message}" if message else kind


def _stem(name: str) -> str:
    for suffix in (".zip", ".ipynb"):
        if name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return name


def _read_notebook(entry: Entry, expected: list[str]) -> None:
    """One notebook is the whole submission: its code cells are the source of every expected file (the
    probes look each function up by name, so one module holding all sections serves them all)."""
    from course.engine import ipynb

    code, problem = ipynb.read_notebook(entry.path, MAX_FILE_BYTES)
    if problem:
        entry.status, entry.message = "unreadable", problem
    else:
        entry.sources = dict.fromkeys(expected, code)


def _read_folder(entry: Entry, expected: list[str]) -> None:
    """Take the expected files from the folder, or from its one subfolder when the folder holds none of
    them (nbgrader's submitted/<student>/<assignment>/, a zip unpacked with its top folder)."""
    folder, inside = entry.path, []
    wanted = {*expected, *(f"{name[:-3]}.ipynb" for name in expected if name.endswith(".py"))}
    while len(inside) < WRAPPER_DEPTH and not any(name in wanted for name in os.listdir(folder)):
        subfolders = [e for e in os.scandir(folder) if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)]
        if len(subfolders) != 1:
            break
        folder = Path(subfolders[0].path)
        inside.append(shown(subfolders[0].name))
    if inside:
        entry.message = f"read from its folder {'/'.join(inside)}/"
    submission = Submission.read(folder, expected)
    entry.sources, entry.problems = submission.sources, submission.problems
    entry.ignored = [shown(name) for name in submission.ignored]


def _read_zip(entry: Entry, expected: list[str]) -> None:
    """Take the expected files from the zip's root, or from its one top folder (secN_x.ipynb where
    secN_x.py is not there); extract nothing."""
    from course.engine import ipynb

    if entry.path.stat().st_size > MAX_ENTRY_BYTES:
        entry.status, entry.message = "unreadable", f"the zip is larger than {MAX_ENTRY_BYTES >> 20} MiB"
        return
    try:
        with zipfile.ZipFile(entry.path) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            unsafe = [m.filename for m in members if _unsafe(m.filename)]
            safe = [m for m in members if not _unsafe(m.filename) and "__MACOSX" not in m.filename]
            notebooks = {f"{name[:-3]}.ipynb": name for name in expected if name.endswith(".py")}
            prefix = _wrapper(safe, {*expected, *notebooks})
            wanted = {prefix + name: name for name in expected}
            wanted_notebooks = {prefix + notebook: name for notebook, name in notebooks.items()}
            found, found_notebooks = {}, {}
            for member in safe:
                name = wanted.get(member.filename)
                if name is None and member.filename in wanted_notebooks:  # used where its .py is missing
                    with zf.open(member) as f:
                        data = f.read(ipynb.MAX_NOTEBOOK_BYTES + 1)
                    found_notebooks[wanted_notebooks[member.filename]] = (member.filename, data)
                elif name is None:
                    entry.ignored.append(shown(member.filename))
                elif member.file_size > MAX_FILE_BYTES:
                    entry.problems[name] = too_large(name)
                else:
                    with zf.open(member) as f:
                        data = f.read(MAX_FILE_BYTES + 1)
                    if len(data) > MAX_FILE_BYTES:
                        entry.problems[name] = too_large(name)
                    else:
                        found[name] = data
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, ValueError,
            RuntimeError) as e:  # RuntimeError: an encrypted member
        entry.status, entry.message = "unreadable", f"the zip cannot be read ({type(e).__name__}: {untrusted.line(e, 120)})"
        entry.sources.clear()
        entry.problems.clear()
        return
    for name in expected:
        notebook, data = found_notebooks.get(name, (None, b""))
        if name in found or name in entry.problems:
            if name in found:
                _accept(entry, name, found[name])
            if notebook:
                entry.ignored.append(shown(notebook))
        elif notebook:
            code, problem = ipynb.notebook_code(data, notebook, MAX_FILE_BYTES)
            if problem:
                entry.problems[name] = problem
            else:
                entry.sources[name] = code
        else:
            present = [m.filename[len(prefix):] for m in safe if m.filename.startswith(prefix) and "/" not in m.filename[len(prefix):]]
            entry.problems[name] = missing(name, "the zip", present)
    if unsafe:
        entry.message = f"ignored {len(unsafe)} zip member(s) with absolute or '..' paths: " + \
            ", ".join(shown(n) for n in unsafe[:3])
    entry.ignored.sort()


def unpack_class(archive: Path, target: Path) -> Path:
    """A class as a learning system hands it over (one zip, one entry per student inside: a folder, a zip or a
    notebook), unpacked into target so the class can be read like a folder; the folders it is wrapped in are
    looked through. Members with absolute or '..' paths, links and anything past the limits are left out
    (ValueError if the zip is not a class's at all). Unpacked again only when the zip changed."""
    import shutil

    stamp = hashlib.sha256(f"{archive.resolve()}:{archive.stat().st_size}:{archive.stat().st_mtime_ns}".encode()).hexdigest()
    marker = target / ".unpacked"
    if not (marker.is_file() and marker.read_text() == stamp):
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        total = 0
        try:
            with zipfile.ZipFile(archive) as zf:
                members = [m for m in zf.infolist() if not m.is_dir() and not _unsafe(m.filename)
                           and "__MACOSX" not in m.filename and not stat.S_ISLNK(m.external_attr >> 16)]
                if len(members) > LIMITS.class_zip_members:
                    raise ValueError(f"it holds more than {LIMITS.class_zip_members} files")
                for member in members:
                    total += member.file_size
                    if total > LIMITS.class_zip_bytes:
                        raise ValueError(f"it unpacks to more than {LIMITS.class_zip_bytes >> 30} GiB")
                    path = target.joinpath(*PurePosixPath(member.filename.replace("\\", "/")).parts)
                    try:
                        path.parent.mkdir(parents=True, exist_ok=True)
                        with zf.open(member) as src, open(path, "wb") as dst:
                            shutil.copyfileobj(src, dst)
                    except (IsADirectoryError, FileExistsError, NotADirectoryError):
                        continue  # a file and a folder of one name ("x" and "x/y", or "x/."): the first one stays
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError) as e:
            raise ValueError(f"it cannot be read as a zip ({error_line(e)})") from None
    folder = target
    for _ in range(WRAPPER_DEPTH):  # a class zipped with its folder around it (not a learning system's download)
        inner = [e for e in os.scandir(folder) if not e.name.startswith(".")]
        if (folder / ACCOUNTS).is_file() or _layout(inner) or len(inner) != 1 or not inner[0].is_dir(follow_symlinks=False):
            break
        folder = Path(inner[0].path)
    if not marker.is_file() or marker.read_text() != stamp:
        _regroup(folder)
        marker.write_text(stamp)
    return folder


# How learning systems name what their bulk download holds (see README, "Learning systems"):
# Canvas (app/models/content_zipper.rb): every file at the top, "<sortable name>[_late]_<user id>_<file id>_<its name>",
# lowercased, the name without non-word characters (none when grading is anonymous).
CANVAS = re.compile(r"^(?:(?P<name>[a-z0-9]*)_)??(?P<late>late_)?(?P<id>\d+)_(?P<order>\d+)_(?P<file>.+)$")
# A file handed in under a name already in the student's submissions folder is renamed "<stem>-<n><extension>", n from
# 1 (after 7 tries "<stem>-<uuid><extension>"), the extension being the run of ".word" parts at the end
# (app/models/attachment.rb, make_unique_filename); its file id (the order above) is newer than the first one's.
CANVAS_AGAIN = re.compile(r"^(?P<stem>.+?)-(?:\d+|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})"
                          r"(?P<ext>(?:\.[A-Za-z][A-Za-z0-9]*)*\.[A-Za-z0-9]*)$")
# Moodle (mod/assign/locallib.php, download_submissions): one folder per student and plugin,
# "<full name>_<participant id>_assignsubmission_<plugin>_", or before Moodle 3.1 files named so with the file's name after.
MOODLE = re.compile(r"^(?P<name>.*)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<file>.*)$")
# The same names, read from the left: a file's name is the student's to choose, and one named
# "x_78_assignsubmission_file_sec1_linear.py" must not make its file another student's (MOODLE, read from the
# right, is for folders, whose names end with the pattern).
MOODLE_FILE = re.compile(r"^(?P<name>.*?)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<file>.*)$")
# A file uploaded where one of its name is already attached: Moodle's file manager asks, and "Rename to" names it
# "<stem> (<n>)<extension>", n one past the highest in use (lib/filestorage/file_storage.php, get_unused_filename);
# the older file stays unless the student deletes it.
MOODLE_AGAIN = re.compile(r"^(?P<stem>.+) \((?P<order>\d+)\)(?P<ext>\.[^.]*)?$")
ACCOUNTS = ".learning-system.json"  # student id -> system, the system's id, name, late mark


def _regroup(folder: Path) -> None:
    """A Canvas or Moodle bulk download, regrouped as one entry per student named by the learning system's id
    (a folder of their files, or their one zip or notebook as <id>.zip or <id>.ipynb), with what the names say
    of each student in ACCOUNTS. A folder that is neither is left as it is. Only names already unpacked
    into folder are moved, within it."""
    items = [e for e in os.scandir(folder) if not e.name.startswith(".")]
    layout = _layout(items)
    if layout is None:
        return
    system, pattern = layout
    accounts: dict[str, dict] = {}
    moves: dict[str, list[tuple[Path, str, int]]] = {}
    for item in items:
        found = (MOODLE_FILE if system == "moodle" and not item.is_dir(follow_symlinks=False) else pattern).match(item.name)
        student = found["id"]
        account = accounts.setdefault(student, {"system": system, "id": student, "name": shown(found["name"] or ""),
                                                "late": False})
        account["late"] = account["late"] or bool(found.groupdict().get("late"))
        order = int(found.groupdict().get("order") or 0)
        if item.is_dir(follow_symlinks=False):
            for inner in os.scandir(item.path):
                moves.setdefault(student, []).append((Path(inner.path), inner.name, order))
        elif found["file"]:
            moves.setdefault(student, []).append((Path(item.path), found["file"], order))
    for student, handed in moves.items():
        files, renamed, older = _latest(system, handed)
        for path, name in [f for f in files if f[1] in (".", "..")]:  # no file can be graded, or moved, so named
            files.remove((path, name))
            path.unlink()
            older.append(shown(name))
        if renamed:
            accounts[student]["renamed"] = renamed
        if older:
            accounts[student]["older"] = sorted(older)
        if len(files) == 1 and files[0][1].lower().endswith((".zip", ".ipynb")):
            path, name = files[0]
            os.replace(path, folder / (student + Path(name).suffix.lower()))
            continue
        home = folder / student
        home.mkdir(exist_ok=True)
        for path, name in files:
            if not (home / name).exists():
                os.replace(path, home / name)
    for item in items:  # Moodle's per-student folders, now empty
        if item.is_dir(follow_symlinks=False):
            with contextlib.suppress(OSError):
                os.rmdir(item.path)
    (folder / ACCOUNTS).write_text(json.dumps(accounts, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _latest(system: str, handed: list[tuple[Path, str, int]]) -> tuple[list[tuple[Path, str]], dict[str, str], list[str]]:
    """A student's files (path, name the system gave, the system's order), one per name once the name the system
    gives a file handed in again is undone: the latest such file, the others removed. Canvas: "x-1.py" is x.py,
    the highest file id the latest. Moodle: "x (1).py" is x.py only beside an x.py (it is also how a browser names
    a second download), the highest n the latest. Also {name given: name graded} for each file renamed, and the
    names of those left out (shown escaped)."""
    names = {name for _, name, _ in handed}
    groups: dict[str, list[tuple[int, Path, str]]] = {}
    for path, name, order in handed:
        base, rank = name, order
        if path.is_file() and (again := (CANVAS_AGAIN if system == "canvas" else MOODLE_AGAIN).match(name)):
            plain = again["stem"] + (again["ext"] or "")
            if system == "canvas":
                base = plain
            elif plain in names:
                base, rank = plain, int(again["order"])
        groups.setdefault(base, []).append((rank, path, name))
    kept, renamed, older = [], {}, []
    for base, group in groups.items():
        *before, (_, path, name) = sorted(group, key=lambda g: g[0])
        kept.append((path, base))
        if name != base:
            renamed[shown(name)] = shown(base)
        for _, old, old_name in before:
            with contextlib.suppress(OSError):
                old.unlink()
            older.append(shown(old_name))
    return kept, renamed, sorted(older)


def _layout(items: list[os.DirEntry]) -> tuple[str, re.Pattern] | None:
    """Which learning system's download these names are (every one named by its convention), or None."""
    if items and all(e.is_file(follow_symlinks=False) and CANVAS.match(e.name) for e in items):
        return "canvas", CANVAS
    if items and all(MOODLE.match(e.name) for e in items):
        return "moodle", MOODLE
    return None


def accounts_of(folder: Path) -> dict[str, dict]:
    """What a bulk download's names said of each student (_regroup), {} for a class that is not one."""
    try:
        data = json.loads((folder / ACCOUNTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def _wrapper(members: list[zipfile.ZipInfo], wanted: set[str]) -> str:
    """The folders the zip wraps its files in ("" if none): while no wanted file is at the current level and
    every member is under one folder, look inside it (up to WRAPPER_DEPTH)."""
    prefix = ""
    for _ in range(WRAPPER_DEPTH):
        below = [m.filename[len(prefix):] for m in members if m.filename.startswith(prefix)]
        tops = {PurePosixPath(n).parts[0] for n in below if len(PurePosixPath(n).parts) > 1}
        roots = {n for n in below if len(PurePosixPath(n).parts) == 1}
        if len(tops) != 1 or roots & wanted:
            break
        prefix += f"{tops.pop()}/"
    return prefix


def _unsafe(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name) is not None


def _accept(entry: Entry, name: str, data: bytes) -> None:
    if problem := not_python(name, data):
        entry.problems[name] = problem
    else:
        entry.sources[name] = data
