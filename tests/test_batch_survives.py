"""A class with hostile entries still grades everyone: the batch never aborts (`pytest grader --submissions`).

One class holds three honest students (ann and bea hand in the references, cal a stub for section 2) and one
entry per hostile row of ENTRIES: notebooks that no parser in the judge can take (a 5,000-digit integer, JSON
nested 100,000 deep, a cell that makes Python's parser run out of memory or recursion, brackets nested past
its limit), code whose exception messages, exception class names, returned objects' type names or printed
output hold lone surrogates, OSC 52 clipboard writes, cursor movement and bidi overrides, entry names that
are escape sequences or spreadsheet formulas, and entries whose feedback page or export raises while it is
written (a fault injected with a pytest plugin, FAULTS). It is graded once with a fixed seed, and the three
honest students once alone with the same seed. Then:

- the batch exits normally, the gradebook lists every entry, and the honest students earn, task by task,
  what they earn alone;
- each hostile entry has its status, and its message (or its feedback) says what happened;
- no file under OUT, no string in its JSON files, and nothing printed on the terminal holds a raw control
  character, escape sequence, lone surrogate or invisible format character;
- a rerun over stored results that hold such text (written by an older grader) does not crash and writes
  only safe text;
- a fault inside the judge while one student is graded is that student's `error`, and every other student
  is graded as when alone.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import (ENTRIES, EXERCISES, add_entry, batch, environment, gradebook, gradebook_rows, results,
                      submission_from_solutions, unsafe_characters)


SEED = ("--grader-seed", "20240611", "--color=no")
HONEST = {"ann": {}, "bea": {}, "cal": {"sec2_forward.py": (EXERCISES / "sec2_forward.py").read_text(encoding="utf-8")}}


FAULTS = '''"""Faults for tests/test_batch_survives.py, injected into the judge: each strikes one student only."""
import course.engine.core
import course.render.exports
import course.render.html_report


def _fail(what):
    raise RuntimeError("injected \\x1b[2J fault")


def pytest_configure(config):
    render, classroom = course.render.html_report.render, course.render.exports.EXPORTERS["classroom"]
    grade = course.engine.core.Engine.grade

    def render_page(result, tasks=None):
        return _fail(result) if result.get("student") == "zz-render-fault" else render(result, tasks)

    def export(result):
        return _fail(result) if result.get("student") == "zz-export-fault" else classroom(result)

    def graded(self, submission, path, items, who, key):
        return _fail(who) if who["student"] == "zz-judge-fault" else grade(self, submission, path, items, who, key)

    course.render.html_report.render = render_page
    course.render.exports.EXPORTERS["classroom"] = export
    course.engine.core.Engine.grade = graded
'''


def honest_class(folder: Path) -> Path:
    for sid, changes in HONEST.items():
        submission_from_solutions(folder / sid, changes)
    return folder


def faults_plugin(folder: Path) -> dict[str, str]:
    """An environment in which `-p course_test_faults` loads FAULTS into the judge."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "course_test_faults.py").write_text(FAULTS, encoding="utf-8")
    return environment(folder)


def unsafe_in_outputs(out: Path) -> dict[str, list[str]]:
    """Every file under out (and every string of its JSON files) that holds a character no output may show."""
    found = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", "surrogateescape")
        bad = unsafe_characters(text)
        if path.suffix == ".json":
            bad += unsafe_characters(json.dumps(json.loads(text), ensure_ascii=False))
        if bad:
            found[str(path.relative_to(out))] = bad
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> SimpleNamespace:
    """The hostile class graded once (with FAULTS), and the honest students graded alone."""
    base = tmp_path_factory.mktemp("survives")
    subs, alone = honest_class(base / "class"), honest_class(base / "alone")
    for entry in ENTRIES:
        add_entry(subs, entry)
    ran = batch(subs, base / "out", *SEED, "-p", "course_test_faults", env=faults_plugin(base / "plugin"))
    return SimpleNamespace(subs=subs, out=base / "out", ran=ran, alone=batch(alone, base / "out-alone", *SEED),
                           alone_out=base / "out-alone", base=base)


def test_the_batch_exits_normally_and_lists_everyone(graded):
    assert graded.ran.clean, graded.ran
    assert graded.alone.clean, graded.alone
    assert sorted(r["student"] for r in gradebook_rows(graded.out)) == sorted([*HONEST, *(e.id for e in ENTRIES)])


@pytest.mark.parametrize("sid", list(HONEST))
def test_honest_students_earn_what_they_earn_alone(graded, sid):
    with_hostile, alone = results(graded.out)[sid], results(graded.alone_out)[sid]
    assert with_hostile["status"] == "graded"
    assert with_hostile["grade"]["tasks"] == alone["grade"]["tasks"]
    assert gradebook(graded.out)[sid] == gradebook(graded.alone_out)[sid]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_a_hostile_entry_gets_its_status_and_says_why(graded, entry):
    row = gradebook(graded.out)[entry.id]
    assert row["status"] == entry.status, row
    if entry.where == "message":
        assert entry.says in row["message"], row
    else:
        slug = next(p.stem for p in (graded.out / "feedback").glob("*.md")
                    if p.read_text(encoding="utf-8").startswith(f"# Feedback for {entry.id}\n"))
        assert entry.says in (graded.out / "feedback" / f"{slug}.md").read_text(encoding="utf-8")
    assert all(row[tid] == "0" for tid in entry.lost), row
    if entry.status == "graded" and not entry.lost:
        assert row["total"] == "41", row


def test_no_output_file_holds_a_raw_control_character(graded):
    assert unsafe_in_outputs(graded.out) == {}
    assert unsafe_characters(graded.ran.stdout + graded.ran.stderr) == []


def test_a_failed_page_or_export_is_removed_and_the_rest_is_written(graded):
    feedback, exports = graded.out / "feedback", graded.out / "exports"
    assert not (feedback / "zz-render-fault.html").exists() and (feedback / "zz-render-fault.md").exists()
    assert not (exports / "classroom" / "zz-export-fault.json").exists()
    assert (exports / "gradescope" / "zz-export-fault.json").exists()
    assert gradebook(graded.out)["zz-render-fault"]["total"] == "41"  # graded; only writing its page failed


def test_rerun_over_stored_hostile_text_writes_only_safe_text(graded, tmp_path):
    """A result stored by an older grader, with raw escapes and a lone surrogate in its text, is rendered
    safely by a rerun (the key is unchanged, so nobody is graded again)."""
    out = tmp_path / "out"
    shutil.copytree(graded.out, out)
    path = out / "students" / "ann.json"
    result = json.loads(path.read_text(encoding="utf-8"))
    hostile = "\ud800\x1b]52;c;aGk=\x07\x1b[2J\u202e"
    result["message"] = hostile
    result["grade"]["submission"]["problems"] = {"sec3_data.py": hostile}
    result["tests"][0].update(outcome="failed", feedback=hostile)
    path.write_text(json.dumps(result), encoding="utf-8")  # ensure_ascii: the file holds \ud800 and \u001b escapes
    again = batch(graded.subs, out, *SEED)
    assert again.clean, again
    assert again.todo == 0, again
    assert unsafe_in_outputs(out).keys() == {"students/ann.json"}  # what the older grader stored, as it was
    assert unsafe_characters(again.stdout + again.stderr) == []
    assert "\\ud800\\x1b]52;c;aGk=\\x07" in gradebook(out)["ann"]["message"]


def test_a_fault_in_the_judge_is_one_students_error(graded, tmp_path):
    """Grading raises inside the judge for one student (FAULTS): that student's status is `error` with a
    one-line message, and the others are graded as when alone; a rerun tries that student again."""
    subs = honest_class(tmp_path / "class")
    submission_from_solutions(subs / "zz-judge-fault")
    out, env = tmp_path / "out", faults_plugin(tmp_path / "plugin")
    ran = batch(subs, out, *SEED, "-p", "course_test_faults", env=env)
    assert ran.clean, ran
    row = gradebook(out)["zz-judge-fault"]
    assert (row["status"], row["total"]) == ("error", "0"), row
    assert "the grader failed on this entry while grading it (RuntimeError: injected \\x1b[2J fault)" in row["message"]
    for sid in HONEST:
        assert gradebook(out)[sid] == gradebook(graded.alone_out)[sid]
    assert unsafe_in_outputs(out) == {}
    again = batch(subs, out, *SEED, "-p", "course_test_faults", env=env)
    assert again.clean and again.todo == 1, again
    assert os.path.exists(out / "gradebook.csv")
