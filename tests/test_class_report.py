"""The class page (OUT/class.html, course.render.class_report): written at the end of every batch and again by
`python -m course.front.class_page OUT` without grading; its numbers are the gradebook's; hostile ids, feedback and
code stay text; it is one self-contained document that headless Chromium draws at a phone's width, in English or
Korean."""
from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import (CLASS, ROOT, S1, Page, batch, chromium, environment, fits_390, gradebook_rows, make_class,
                      screenshot, share_of, stub, unsafe_characters)

from course.content.curriculum import TASKS
from course.engine.result import grade_of, make
from course.engine.submission import Entry
from course.front.class_page import stored_rows
from course.render import class_report
from course.render.outputs import class_similarity, write_class_page

SEED = "23"
HEADER_RGB = (0x1E, 0x3A, 0x8A)
# An id and printed text that would run, move the cursor or reverse the line if anything showed them raw.
EVIL_ID = "zed<b>\x1b[31m\u202eevil"
EVIL_PRINT = "<script>alert(1)</script>\x1b]52;c;cHduZWQ=\x07\u202e\u200b done"


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> SimpleNamespace:
    """Part of the sample class, a copy of chloe under a hostile id, and a student whose code prints hostile text."""
    base = tmp_path_factory.mktemp("classpage")
    subs = make_class(base / "class", ["ada", "ben", "chloe", "emma", "gia.zip", "jon"])
    shutil.copytree(CLASS / "chloe", subs / EVIL_ID)
    loud = subs / "loud"
    shutil.copytree(CLASS / "ada", loud)
    (loud / S1).write_text(stub(S1, {"linear_forward": f"print({EVIL_PRINT!r})\nreturn x @ weight.T"}), encoding="utf-8")
    out = base / "out"
    ran = batch(subs, out, "--grader-seed", SEED)
    assert ran.clean and ran.todo == 8, ran
    return SimpleNamespace(subs=subs, out=out, page=(out / "class.html").read_text(encoding="utf-8"))


def graded_rows(out: Path) -> list[dict]:
    return [r for r in gradebook_rows(out) if r["status"] == "graded"]


def test_the_batch_writes_the_page_and_the_similarity(graded):
    assert (graded.out / "class.html").is_file()
    found = json.loads((graded.out / "similarity.json").read_text(encoding="utf-8"))
    assert set(found["tasks"]) == set(TASKS)
    chloe = [s for s, name in found["students"].items() if name == "chloe"][0]
    evil = [s for s, name in found["students"].items() if name.startswith("zed")][0]
    pairs = {(p["a"], p["b"]) for p in found["tasks"]["4.2"]["pairs"]}
    assert tuple(sorted((chloe, evil))) in pairs  # the copy of chloe is found


def test_numbers_on_the_page_are_the_gradebooks(graded):
    numbers_are_the_gradebooks(graded.out, graded.page)


def numbers_are_the_gradebooks(out: Path, page_text: str) -> None:
    """The page's summary, per-task table, histogram and ungraded entries say what OUT/gradebook.csv says."""
    rows = graded_rows(out)
    everyone = gradebook_rows(out)
    page = Page(page_text)
    percents = [float(r["percent"]) for r in rows]
    summary = (f"{len(rows)} of {len(everyone)} entries graded; mean {statistics.fmean(percents):.1f}%, "
               f"median {statistics.median(percents):.1f}%")
    assert summary in page.words
    for tid, task in TASKS.items():
        earned = [float(r[tid]) for r in rows]
        full = sum(e == task.points for e in earned)
        zero = sum(e == 0 for e in earned)
        shown = f"{tid} {task.function} {task.title} {statistics.fmean(earned):.2f} /{task.points} " \
                f"{full} {len(earned) - full - zero} {zero}"
        assert shown in page.words, shown
    bars = [int(a) for a in re_bars(page_text)]
    assert sum(bars) == len(rows) and sorted(bars) == sorted(n for n in class_report.bands(percents) if n)
    for r in everyone:
        if r["status"] != "graded":
            assert r["status"] in page.words


def re_bars(text: str) -> list[str]:
    import re

    return re.findall(r'<text class="bar"[^>]*>(\d+)</text>', text)


def test_failed_checks_name_the_students_they_hit_with_links(graded):
    page = Page(graded.page)
    links = {a["href"] for t, a in page.tags if t == "a"}
    assert links <= {f"feedback/{p.stem}.html" for p in (graded.out / "feedback").glob("*.html")}
    assert "feedback/ben.html" in links and "feedback/emma.html" in links  # a failing student; one not graded
    stored = [(p.stem, json.loads(p.read_text(encoding="utf-8"))) for p in sorted((graded.out / "students").glob("*.json"))]
    top = class_report.failed_checks([(slug, r) for slug, r in stored if r["status"] == "graded"])[0]
    assert f"{len(top['students'])} Task {top['task']} {TASKS[top['task']].function} : {top['line']}" in page.words
    assert f"Said most: {top['said']}" in page.words


def test_hostile_ids_in_the_batch_stay_text(graded):
    page = Page(graded.page)
    assert unsafe_characters(graded.page) == []
    assert page.count("script") == page.count("img") == page.count("link") == page.count("iframe") == 0
    assert "zed<b>\\x1b[31m\\u202eevil" in page.words  # the id, shown as text with its escapes
    for needle in ("src=", "http:", "https:", "url(", "@import"):
        assert needle not in graded.page, needle


def made_up(student: str, said: str, code: str) -> tuple[list, dict]:
    """One graded row whose failed check says said, and a similarity report showing code as both sides of a pair."""
    tasks = {tid: {"earned": float(t.points), "possible": float(t.points), "title": t.title} for tid, t in TASKS.items()}
    tasks["1.1"]["earned"] = 0.0
    test = {"nodeid": "grader/test_sec1_linear.py::t", "name": "t", "task": "1.1", "points": 3.0, "earned": 0.0,
            "outcome": "failed", "feedback": f"Task 1.1 (linear_forward), 3 pt: {said}\n  {said}"}
    integrity = {"sec1_linear.py": [{"line": 3, "rule": "R1", "detail": said}]}
    row = make(student, student, "graded", said, {"grader": "t", "seed": 1},
               grade_of(tasks, seed=1, grader="t", submission={"problems": {}}, integrity=integrity), [test])
    side = {"student": student, "slug": "s", "lines": [[1, code], [2, code]], "marked": [2], "more": 0}
    sim = {"settings": {"threshold": 0.7, "min_tokens": 45}, "students": {"s": student, "t": student},
           "tasks": {"4.2": {"compared": 2, "short": 0, "pairs": [{"a": "s", "b": "t", "score": 1.0, "shared": 9}],
                             "clusters": [{"students": ["s", "t"], "low": 1.0, "high": 1.0}]}},
           "shown": [{"task": "4.2", "score": 1.0, "a": side, "b": dict(side, slug="t")}]}
    return [("s", row), ("t", dict(row, status="unreadable"))], sim


def test_hostile_feedback_integrity_and_code_stay_text():
    hostile = "<script>alert(1)</script>\x1b[2J\u202e<img src=x onerror=alert(1)>\u200b&amp;"
    page_text = class_report.render(*made_up(EVIL_ID, hostile, hostile)[:1], TASKS, made_up(EVIL_ID, hostile, hostile)[1])
    page = Page(page_text)
    plain = Page(class_report.render(*made_up("sam", "plain", "x = 1")[:1], TASKS, made_up("sam", "plain", "x = 1")[1]))
    assert [t for t, _ in page.tags] == [t for t, _ in plain.tags]  # not one element more
    assert unsafe_characters(page_text) == []
    assert "<script>alert(1)</script>\\x1b[2J\\u202e<img src=x onerror=alert(1)>\\u200b&amp;" in page.words


def test_the_page_is_rebuilt_without_grading(graded, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(graded.out, out)
    (out / "class.html").unlink()
    (out / "similarity.json").unlink()
    before = sorted(p.stat().st_mtime_ns for p in (out / "students").glob("*.json"))
    command = [sys.executable, "-m", "course.front.class_page", str(out)]
    proc = subprocess.run(command, cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (out / "class.html").read_text(encoding="utf-8") == graded.page
    assert (out / "similarity.json").read_bytes() == (graded.out / "similarity.json").read_bytes()
    assert sorted(p.stat().st_mtime_ns for p in (out / "students").glob("*.json")) == before
    batch_json = json.loads((out / "batch.json").read_text(encoding="utf-8"))
    batch_json["submissions"] = str(tmp_path / "gone")  # the submissions were moved away: stored similarity
    (out / "batch.json").write_text(json.dumps(batch_json), encoding="utf-8")
    (out / "class.html").unlink()
    proc = subprocess.run(command, cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "not at hand" in proc.stdout, proc.stderr
    assert (out / "class.html").read_text(encoding="utf-8") == graded.page


@dataclass(frozen=True)
class Policies:
    name: str
    files: dict[str, str]  # OUT's policy files (a settings file: course.toml beside OUT), as the instructor writes them
    given: bool = False  # the rebuild is given the settings file, rather than reading which one from batch.json
    changed: tuple[str, ...] = ()  # the students whose numbers the policies change


LONG_AGO = (datetime.now(timezone.utc) - timedelta(days=30)).isoformat()
POLICIES = [
    Policies("an override", {"overrides.csv": "student,task,points,comment\nada,4.2,0,copied\nben,3.1,3,regraded\n"},
             changed=("ada", "ben")),
    Policies("a late penalty from the batch's settings",
             {"course.toml": f"due = {LONG_AGO}\n[late]\nper_day = 10\n",
              "submitted.csv": f"student,submitted\nchloe,{(datetime.fromisoformat(LONG_AGO) + timedelta(days=2)).isoformat()}\n"},
             changed=("chloe",)),
    Policies("both, the settings given again", {
        "course.toml": f"due = {LONG_AGO}\n[late]\nper_day = 25\ncap = 50\n",
        "submitted.csv": f"student,submitted\njon,{(datetime.fromisoformat(LONG_AGO) + timedelta(hours=5)).isoformat()}\n",
        "overrides.csv": "student,task,points,comment\njon,2.2,3,\n"}, given=True, changed=("jon",)),
]


@pytest.mark.parametrize("case", POLICIES, ids=[c.name for c in POLICIES])
def test_the_rebuilt_page_applies_the_course_policies(graded, tmp_path, case):
    """A batch with overrides, a settings file or submission times: the page the command rebuilds is the batch's, and
    its numbers are the gradebook's (which the policies changed)."""
    out = tmp_path / "out"
    shutil.copytree(graded.out, out)
    for name, text in case.files.items():
        (tmp_path / name if name.endswith(".toml") else out / name).write_text(text, encoding="utf-8")
    settings = ["--course-settings", str(tmp_path / "course.toml")] if "course.toml" in case.files else []
    ran = batch(graded.subs, out, "--grader-seed", SEED, *settings)
    assert ran.clean and ran.todo == 0, ran  # nothing graded again: the files rebuilt with the policies
    before = {r["student"]: r["percent"] for r in gradebook_rows(graded.out)}
    assert sorted(r["student"] for r in gradebook_rows(out) if r["percent"] != before[r["student"]]) == list(case.changed)
    page = (out / "class.html").read_text(encoding="utf-8")
    numbers_are_the_gradebooks(out, page)
    (out / "class.html").unlink()
    proc = subprocess.run([sys.executable, "-m", "course.front.class_page", str(out), *(settings if case.given else [])],
                          cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (out / "class.html").read_text(encoding="utf-8") == page


def test_a_settings_file_gone_is_said_not_ignored(graded, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(graded.out, out)
    recorded = json.loads((out / "batch.json").read_text(encoding="utf-8"))
    recorded["course_settings"] = str(tmp_path / "moved.toml")
    (out / "batch.json").write_text(json.dumps(recorded), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "course.front.class_page", str(out)], cwd=ROOT, env=environment(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "moved.toml" in proc.stderr and "--course-settings" in proc.stderr, proc.stderr


@dataclass(frozen=True)
class Broken:
    name: str
    folder: str  # made a folder in OUT, so that file cannot be written
    said: str  # in the line the batch prints (OUT is the folder "OUT")
    page: bool  # class.html is written all the same


BROKEN = [
    Broken("class.html cannot be written", "class.html",
           "class page: not written: OUT/class.html could not be written (IsADirectoryError", page=False),
    Broken("similarity.json cannot be written", "similarity.json",
           "OUT/class.html (OUT/similarity.json could not be written (IsADirectoryError", page=True),
]


@pytest.mark.parametrize("case", BROKEN, ids=[c.name for c in BROKEN])
def test_a_class_page_that_cannot_be_written_is_said_in_one_line(graded, tmp_path, case):
    """The batch ends as usual, every other file written, and its terminal output says in one line what failed."""
    out = tmp_path / "OUT"
    shutil.copytree(graded.out, out)
    (out / case.folder).unlink()
    (out / case.folder).mkdir()
    ran = batch(graded.subs, out, "--grader-seed", SEED)
    assert ran.clean, ran
    assert (out / "gradebook.csv").read_bytes() == (graded.out / "gradebook.csv").read_bytes()
    assert sorted(p.name for p in (out / "feedback").iterdir()) == sorted(p.name for p in (graded.out / "feedback").iterdir())
    (line,) = [line for line in ran.stdout.splitlines() if line.startswith("class page:")]
    assert case.said in line, line
    assert (out / "class.html").is_file() == case.page


def test_a_similarity_that_raises_is_said_and_the_page_written(graded, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(graded.out, out)
    weird = Entry("odd", "odd", "folder", tmp_path / "odd", sources={S1: "text where bytes belong"})
    found = class_similarity([weird], TASKS, None)
    line = write_class_page(out, stored_rows(out), TASKS, found)
    assert line.startswith(f"class page: {out / 'class.html'} (no similarity: it could not be computed (TypeError"), line
    assert "Similarity is unavailable" in Page((out / "class.html").read_text(encoding="utf-8")).words


def test_korean_page(graded, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(graded.out, out)
    proc = subprocess.run([sys.executable, "-m", "course.front.class_page", str(out), "--lang", "ko"], cwd=ROOT,
                          env=environment(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    page = Page((out / "class.html").read_text(encoding="utf-8"))
    assert ("html", {"lang": "ko"}) in page.tags
    assert "반 전체 보고서" in page.words and "과제별" in page.words and "코드 유사도" in page.words
    rows = graded_rows(graded.out)
    assert f"제출 {len(gradebook_rows(graded.out))}개 중 {len(rows)}개 채점" in page.words


def test_a_broken_similarity_report_leaves_the_rest_of_the_page():
    page = Page(class_report.render([], TASKS, {"tasks": {"4.2": "not a dict"}, "settings": {}}))
    assert "Similarity is unavailable" in page.words and "Class report" in page.words


# --- rendered by a real browser ------------------------------------------------------------------------------

def test_chromium_draws_the_page_on_a_phone(graded, tmp_path):
    pixels = screenshot(tmp_path, graded.out / "class.html")
    assert pixels.shape == (1200, 390, 3)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200, "the page looks blank"
    assert share_of(pixels[:150], HEADER_RGB) > 0.3  # the header band with the class's summary
    dom = Page(chromium(tmp_path, "--dump-dom", (graded.out / "class.html").as_uri()).stdout)
    rows = graded_rows(graded.out)
    assert f"{len(rows)} of {len(gradebook_rows(graded.out))} entries graded" in dom.words
    assert dom.count("script") == 0 and "zed<b>\\x1b[31m\\u202eevil" in dom.words  # the hostile id still text
    assert fits_390(tmp_path, graded.page, "class")

