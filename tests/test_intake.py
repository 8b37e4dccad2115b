"""What students hand in, read the way learning systems and people really hand it in (course.engine.submission):
misnamed files named in the message, files wrapped in folders at any depth, a class as one zip, and the
command line telling a file from a missing folder. One Case row per shape; the entries are read, not graded
(the class zip and the command line run the real batch once each)."""
from __future__ import annotations

import csv
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT, SOLUTIONS, batch, gradebook
from course.engine import submission
from course.engine.result import grade_of, make
from course.render import exports

FILES = sorted(p.name for p in SOLUTIONS.glob("sec*.py"))


def reference_files() -> dict[str, bytes]:
    return {name: (SOLUTIONS / name).read_bytes() for name in FILES}


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # how the entry is handed in: folder or zip
    files: dict[str, str]  # path inside the entry -> the reference file it holds (or "" for a note)
    graded: tuple[str, ...]  # expected files read
    problem: dict[str, str]  # expected file -> what its problem must say
    message: str = ""  # what the entry's message must say


def renamed(new: str, old: str = "sec1_linear.py") -> dict[str, str]:
    """The reference files, with old handed in as new."""
    return {(new if name == old else name): name for name in FILES}


def wrapped(prefix: str) -> dict[str, str]:
    return {prefix + name: name for name in FILES}


OTHERS = tuple(n for n in FILES if n != "sec1_linear.py")
CASES = [
    *(Case(f"{kind}-{label}", kind, renamed(new), OTHERS, {"sec1_linear.py": f"it holds {new}: rename it to sec1_linear.py"})
      for kind in ("folder", "zip")
      for label, new in (("numbered-copy", "sec1_linear (1).py"), ("capitals", "Sec1_Linear.py"),
                         ("extra-extension", "sec1_linear.py.txt"), ("windows-copy", "sec1_linear - Copy.py"),
                         ("dashes", "sec1-linear.py"))),
    Case("folder-missing-nothing-alike", "folder", {**renamed("notes.py")}, OTHERS,
         {"sec1_linear.py": "sec1_linear.py is missing from the submission folder"}),
    Case("folder-three-wrappers", "folder", wrapped("hw/week3/code/"), tuple(FILES), {}, "read from its folder hw/week3/code/"),
    Case("zip-two-wrappers", "zip", wrapped("alice/hw3/"), tuple(FILES), {}),
    Case("zip-wrapper-beside-a-mac-folder", "zip", {**wrapped("hw/"), "__MACOSX/hw/._x": ""}, tuple(FILES), {}),
]


def build(case: Case, root: Path) -> os.DirEntry:
    data = {path: (SOLUTIONS / ref).read_bytes() if ref else b"x" for path, ref in case.files.items()}
    if case.kind == "folder":
        for path, content in data.items():
            (root / "sam" / path).parent.mkdir(parents=True, exist_ok=True)
            (root / "sam" / path).write_bytes(content)
    else:
        root.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(root / "sam.zip", "w") as zf:
            for path, content in data.items():
                zf.writestr(path, content)
    (entry,) = list(os.scandir(root))
    return entry


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_an_entry_is_read_as_handed_in(case, tmp_path):
    entry = build(case, tmp_path / "class")
    (read,) = submission.discover(tmp_path / "class", FILES)
    assert read.status == submission.STATUS_OK, read.message
    assert sorted(read.sources) == sorted(case.graded)
    for name in case.graded:
        assert read.sources[name] == reference_files()[name]
    for name, says in case.problem.items():
        assert says in read.problems[name]
    assert set(read.problems) == set(case.problem)
    assert case.message in read.message
    assert entry.name.startswith("sam")


def test_the_gradebook_names_every_file_that_was_not_graded():
    problems = {"sec2_forward.py": "sec2_forward.py is missing from the zip",
                "sec3_data.py": "sec3_data.py is larger than 1024 KiB"}
    result = make("sam", "sam", "graded", "", {}, grade_of({}, seed=1, grader="x", submission={"problems": problems}), [])
    (row,) = list(csv.DictReader(io.StringIO(exports.gradebook_csv([result], {}))))
    assert "sec2_forward.py is missing from the zip" in row["message"]
    assert "sec3_data.py is larger than 1024 KiB" in row["message"]


def test_a_class_zip_is_graded_like_its_folder(tmp_path):
    """A learning system's bulk download: one zip, a folder around the class, one entry per student inside (a
    folder and a zip here), plus a member that climbs out and a link, which are left out."""
    archive = tmp_path / "download.zip"
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        for name, content in reference_files().items():
            zf.writestr(name, content)
    with zipfile.ZipFile(archive, "w") as zf:
        for name, content in reference_files().items():
            zf.writestr(f"course-export/ada/{name}", content)
        zf.writestr("course-export/bo.zip", inner.getvalue())
        zf.writestr("../escaped.py", "x = 1\n")
        link = zipfile.ZipInfo("course-export/ada/link")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/passwd")
    ran = batch(archive, tmp_path / "out")
    assert ran.clean, ran
    rows = gradebook(tmp_path / "out")
    assert sorted(rows) == ["ada", "bo"]
    assert {r["percent"] for r in rows.values()} == {"100.00"}
    assert not (tmp_path / "escaped.py").exists() and not (tmp_path / "out" / "escaped.py").exists()
    assert not list((tmp_path / "out").rglob("link"))


@pytest.mark.parametrize("given, says", [("README.md", "is a file, not a class"), ("no-such-folder", "no such folder")])
def test_the_command_line_tells_a_file_from_a_missing_folder(given, says, tmp_path):
    ran = batch(ROOT / given if given == "README.md" else tmp_path / given, tmp_path / "out")
    assert ran.returncode != 0
    assert says in ran.stdout + ran.stderr
