"""Batch grading (course.front.batch), run for real: `pytest grader --submissions DIR --out OUT` in a subprocess.

Each run imports torch and starts a zygote (about 2 s), so the classes here are small copies of entries
of samples/class, and module-scoped fixtures grade each class once for several tests:

- resumability: one uninterrupted run, then a run killed with SIGKILL midway and resumed, must write the
  same gradebook byte for byte; a rerun skips unchanged students; a changed file regrades that student only;
- bad input: every odd entry gets a status and a message, the batch never crashes, nothing is written
  outside OUT;
- exports: the Gradescope, PrairieLearn and GitHub Classroom files have the platforms' fields and add up
  to the gradebook's totals;
- a student graded in a batch gets the same points as when graded alone with the same seed;
- one student's code cannot change another's score.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import (CLASS, ROOT, SOLUTIONS, batch, command, environment, gradebook, gradebook_rows, make_class,
                      results, without_root)

FILES = ["sec1_linear.py", "sec2_forward.py", "sec3_data.py", "sec4_training.py"]
TASKS = ["1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "3.1", "3.2", "3.3", "4.1", "4.2", "4.3", "4.4", "4.5"]

RESUME_CLASS = ["ada", "ben", "chloe", "dev", "gia.zip", "jon"]  # 6 entries, one of them a zip
RESUME_IDS = ["ada", "ben", "chloe", "dev", "gia", "jon"]


# --- reading the results -------------------------------------------------------------------------------------

def stored(out: Path) -> list[str]:
    """The names of the result files in OUT/students, leftovers of an interrupted write excluded."""
    folder = out / "students"
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".json" and not p.name.startswith(".")) \
        if folder.is_dir() else []


def mtimes(out: Path) -> dict[str, int]:
    return {name: (out / "students" / name).stat().st_mtime_ns for name in stored(out)}


def listing(top: Path, exclude: Path) -> dict[bytes, tuple]:
    """Every path under top (bytes: names need not be UTF-8) with its type, size and mtime, except under exclude."""
    skip = os.fsencode(str(exclude))
    seen = {}
    for dirpath, dirnames, filenames in os.walk(os.fsencode(str(top))):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) != skip]
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            seen[path] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns)
    return seen


# --- 1. resumability and crash safety -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def graded_class(tmp_path_factory) -> SimpleNamespace:
    """6 students graded in one uninterrupted run into OUT1."""
    base = tmp_path_factory.mktemp("resume")
    subs = make_class(base / "class", RESUME_CLASS)
    out1 = base / "out1"
    ran = batch(subs, out1)
    assert ran.clean, ran
    assert (ran.todo, ran.total, ran.unchanged) == (6, 6, 0), ran
    seed = json.loads((out1 / "batch.json").read_text())["seed"]
    assert type(seed) is int
    return SimpleNamespace(subs=subs, out=out1, seed=seed, ran=ran, gradebook=(out1 / "gradebook.csv").read_bytes())


def test_one_run_grades_every_student_once(graded_class):
    rows = gradebook_rows(graded_class.out)
    assert [r["student"] for r in rows] == RESUME_IDS
    assert stored(graded_class.out) == [f"{s}.json" for s in RESUME_IDS]
    for sid, result in results(graded_class.out).items():
        assert result["status"] == "graded", result
        assert result["key"]["seed"] == result["grade"]["seed"] == graded_class.seed
    book = gradebook(graded_class.out)
    assert book["ada"]["total"] == "41" and book["ada"]["percent"] == "100.00"
    assert 0 < float(book["ben"]["total"]) < 41  # partly right work: the class is not all-or-nothing


def test_a_user_without_root_grades_the_class_as_root_does(graded_class, tmp_path):
    """The same class and seed, graded by a user without root (user namespaces, L2): the same gradebook."""
    out = tmp_path / "out"
    proc = subprocess.run([*without_root("user_without_root"), *command(graded_class.subs, out, "--grader-seed",
                          str(graded_class.seed))], cwd=ROOT, env=environment(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "INTERNALERROR" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    assert (out / "gradebook.csv").read_bytes() == graded_class.gradebook
    assert {r["grade"]["isolation"]["level"] for r in results(out).values()} == {"L2"}


@pytest.fixture(scope="module")
def killed(graded_class, tmp_path_factory) -> SimpleNamespace:
    """The same class graded into OUT2 with OUT1's seed, SIGKILLed (the judge's whole process group) once at
    least 2 students are stored, then graded again into OUT2 without --grader-seed."""
    base = tmp_path_factory.mktemp("killed")
    out2, tmpdir = base / "out2", base / "tmp"
    tmpdir.mkdir()  # the killed run's TMPDIR: where its judge puts the zygote's home
    log = (base / "killed.out").open("w"), (base / "killed.err").open("w")
    proc = subprocess.Popen(command(graded_class.subs, out2, "--grader-seed", str(graded_class.seed)), cwd=ROOT,
                            env=environment(TMPDIR=str(tmpdir)), stdout=log[0], stderr=log[1],
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(stored(out2)) < 2:
            assert proc.poll() is None, "the batch finished before it could be interrupted"
            assert time.monotonic() < deadline, "no student was graded within 120 s"
            time.sleep(0.002)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for f in log:
            f.close()
    assert proc.returncode == -signal.SIGKILL
    done = stored(out2)
    assert 2 <= len(done) < 6, f"not interrupted midway: {done}"
    state = SimpleNamespace(out=out2, done=done, gradebook_after_kill=(out2 / "gradebook.csv").exists(),
                            whole=[json.loads((out2 / "students" / name).read_text())["status"] for name in done])
    # What a crash in the middle of a write leaves behind: half-written temporary files, for a student already
    # stored and for one still to grade. They must not count as results.
    (out2 / "students" / f".{done[0]}.k1lled00.tmp").write_text('{"student": "%s", "grade": {"ear' % done[0][:-5])
    (out2 / "students" / ".jon.json.k1lled01.tmp").write_text('{"student": "jon", "status": "graded", "gr')
    state.again = batch(graded_class.subs, out2)  # no --grader-seed: the rerun keeps the seed stored in OUT2
    state.tmp_left = sorted(p.name for p in tmpdir.iterdir())  # the killed run's zygote is long gone by now
    return state


def test_killed_run_resumes_to_the_same_gradebook(graded_class, killed):
    out2, done = killed.out, killed.done
    assert not killed.gradebook_after_kill  # the killed run never got as far as writing it
    assert killed.whole == ["graded"] * len(done)  # whatever was stored is whole: writes are atomic
    again = killed.again
    assert again.clean, again
    assert (again.todo, again.total, again.unchanged) == (6 - len(done), 6, len(done)), again
    assert (out2 / "gradebook.csv").read_bytes() == graded_class.gradebook
    assert [r["student"] for r in gradebook_rows(out2)] == RESUME_IDS  # none lost, none twice
    assert stored(out2) == [f"{s}.json" for s in RESUME_IDS]
    for platform in ("gradescope", "prairielearn", "classroom"):
        assert sorted(p.name for p in (out2 / "exports" / platform).iterdir()) == [f"{s}.json" for s in RESUME_IDS]
    assert sorted(p.name for p in (out2 / "feedback").iterdir()) == sorted(f"{s}.{ext}" for s in RESUME_IDS for ext in ("html", "md"))
    first, resumed = results(graded_class.out), results(out2)
    for sid in RESUME_IDS:
        assert resumed[sid]["key"] == first[sid]["key"]
        assert resumed[sid]["grade"]["tasks"] == first[sid]["grade"]["tasks"]
        assert [(t["nodeid"], t["outcome"]) for t in resumed[sid]["tests"]] == \
            [(t["nodeid"], t["outcome"]) for t in first[sid]["tests"]]


def test_killed_run_leaves_no_temporary_folder(killed):
    assert killed.tmp_left == []


def test_rerun_with_nothing_changed_grades_nobody(graded_class):
    before = mtimes(graded_class.out)
    again = batch(graded_class.subs, graded_class.out)
    assert again.clean, again
    assert (again.todo, again.total, again.unchanged) == (0, 6, 6), again
    assert "grading 0 of 6" in again.stderr
    assert (graded_class.out / "gradebook.csv").read_bytes() == graded_class.gradebook
    assert mtimes(graded_class.out) == before


def test_changing_one_file_regrades_that_student_only(graded_class, tmp_path):
    subs, out = tmp_path / "class", tmp_path / "out"
    shutil.copytree(graded_class.subs, subs)
    shutil.copytree(graded_class.out, out)
    before, book = mtimes(out), gradebook(out)
    assert book["chloe"]["1.1"] == "0"  # chloe's linear_forward is wrong; ada's is right
    shutil.copy(subs / "ada" / "sec1_linear.py", subs / "chloe" / "sec1_linear.py")

    again = batch(subs, out)
    assert again.clean, again
    assert (again.todo, again.total, again.unchanged) == (1, 6, 5), again
    after = mtimes(out)
    assert after["chloe.json"] != before["chloe.json"]
    assert {k: v for k, v in after.items() if k != "chloe.json"} == \
        {k: v for k, v in before.items() if k != "chloe.json"}
    new = gradebook(out)
    assert {s: r for s, r in new.items() if s != "chloe"} == {s: r for s, r in book.items() if s != "chloe"}
    assert new["chloe"]["1.1"] == "3"
    assert {t: new["chloe"][t] for t in TASKS if t != "1.1"} == {t: book["chloe"][t] for t in TASKS if t != "1.1"}
    assert float(new["chloe"]["total"]) == float(book["chloe"]["total"]) + 3


# --- 2. bad input ---------------------------------------------------------------------------------------------

def test_empty_submissions_folder_writes_a_header_only_gradebook(tmp_path):
    subs, out = tmp_path / "class", tmp_path / "out"
    subs.mkdir()
    before = listing(tmp_path, out)
    ran = batch(subs, out)
    assert ran.clean, ran
    assert (ran.todo, ran.total, ran.unchanged) == (0, 0, 0), ran
    lines = (out / "gradebook.csv").read_text().splitlines()
    assert lines == [",".join(["student", *TASKS, "total", "possible", "percent", "status", "integrity_flags",
                               "message"])]
    assert stored(out) == []
    assert listing(tmp_path, out) == before


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data)


UNSAFE = ("../evil.py", "/abs.py")


@pytest.fixture(scope="module")
def bad_class(tmp_path_factory) -> SimpleNamespace:
    """One class of odd entries, graded once; a listing of everything outside OUT before and after."""
    base = tmp_path_factory.mktemp("bad")
    subs, out = base / "class", base / "out"
    subs.mkdir()
    ada = {name: (CLASS / "ada" / name).read_bytes() for name in FILES}
    (subs / "nofiles").mkdir()
    (subs / "nofiles" / "README.txt").write_text("my answers are on paper\n")
    (subs / "nofiles" / "answers.ipynb").write_text("{}\n")
    (subs / "corrupt.zip").write_bytes(random.Random(0).randbytes(4096))
    _zip(subs / "evil.zip", {"../evil.py": b"print('escaped')\n", "/abs.py": b"print('absolute')\n", **ada})
    with zipfile.ZipFile(subs / "evil.zip") as zf:
        assert set(UNSAFE) <= set(zf.namelist())  # zipfile kept the hostile names as written
    cafe = os.path.join(os.fsencode(str(subs)), b"caf\xe9")
    os.mkdir(cafe)
    for name, data in ada.items():
        with open(os.path.join(cafe, name.encode()), "wb") as f:
            f.write(data)
    (subs / "linked").mkdir()
    for name in FILES[1:]:
        (subs / "linked" / name).write_bytes(ada[name])
    os.symlink(SOLUTIONS / "sec1_linear.py", subs / "linked" / "sec1_linear.py")
    (subs / "big").mkdir()
    for name in FILES[1:]:
        (subs / "big" / name).write_bytes(ada[name])
    (subs / "bigonly").mkdir()
    for folder in ("big", "bigonly"):  # right answers, padded to 50 MB: read whole, they would earn full marks
        with open(subs / folder / "sec1_linear.py", "wb") as f:
            f.write(ada["sec1_linear.py"])
            f.write(b"# padding\n" * (5 << 20))
    shutil.copytree(CLASS / "ben", subs / "bob")
    _zip(subs / "bob.zip", {name: (CLASS / "jon" / name).read_bytes() for name in ("sec1_linear.py", "sec3_data.py")})
    outside = [ROOT / "evil.py", ROOT / "abs.py", ROOT / "grader" / "evil.py", ROOT.parent / "evil.py",
               base.parent / "evil.py", Path("/abs.py"), Path("/evil.py")]
    assert not any(p.exists() for p in outside)

    before = listing(base, out)
    ran = batch(subs, out)
    return SimpleNamespace(subs=subs, out=out, ran=ran, before=before, after=listing(base, out), base=base,
                           outside=outside)


BAD_ENTRIES = ["big", "bigonly", "bob", "bob", "caf\\xe9", "corrupt", "evil", "linked", "nofiles"]


def test_bad_entries_never_crash_the_batch(bad_class):
    assert bad_class.ran.clean, bad_class.ran
    assert (bad_class.ran.todo, bad_class.ran.total) == (9, 9), bad_class.ran
    rows = gradebook_rows(bad_class.out)
    assert [r["student"] for r in rows] == BAD_ENTRIES
    for row in rows:
        assert row["status"] and (row["status"] == "graded" or row["message"]), row


def test_nothing_is_written_outside_out(bad_class):
    assert bad_class.after == bad_class.before
    assert not any(p.exists() for p in bad_class.outside)
    assert not [p for p in bad_class.base.rglob("*") if p.name in ("evil.py", "abs.py")]


def test_folder_without_exercise_files_is_empty(bad_class):
    row = gradebook(bad_class.out)["nofiles"]
    assert (row["status"], row["total"]) == ("empty", "0")
    assert "none of the exercise files" in row["message"]
    result = results(bad_class.out)["nofiles"]
    assert sorted(result["grade"]["submission"]["ignored"]) == ["README.txt", "answers.ipynb"]


def test_corrupt_zip_is_unreadable(bad_class):
    row = gradebook(bad_class.out)["corrupt"]
    assert (row["status"], row["total"]) == ("unreadable", "0")
    assert "zip cannot be read" in row["message"]


def test_zip_with_unsafe_members_grades_its_valid_files_only(bad_class):
    row = gradebook(bad_class.out)["evil"]
    assert (row["status"], row["total"], row["percent"]) == ("graded", "41", "100.00")
    assert "../evil.py" in row["message"] and "/abs.py" in row["message"], row
    result = results(bad_class.out)["evil"]
    assert sorted(result["grade"]["submission"]["files"]) == FILES
    assert not set(UNSAFE) & set(result["grade"]["submission"]["ignored"])


def test_entry_name_not_utf8_is_graded_under_a_visible_id(bad_class):
    row = gradebook(bad_class.out)["caf\\xe9"]
    assert (row["status"], row["total"]) == ("graded", "41")
    assert "not valid UTF-8" in row["message"]
    names = stored(bad_class.out)
    mine = [n for n in names if n.startswith("caf")]
    assert len(mine) == 1 and mine[0].isascii(), names
    assert results(bad_class.out)["caf\\xe9"]["entry"] == "caf\\xe9"


def test_symlink_in_a_student_folder_is_not_followed(bad_class):
    row = gradebook(bad_class.out)["linked"]
    assert row["status"] == "graded"  # the other three files are graded
    assert [row[t] for t in ("1.1", "1.2", "1.3")] == ["0", "0", "0"]  # the reference it points to was not read
    assert row["2.2"] == "3" and row["4.1"] == "4"
    result = results(bad_class.out)["linked"]
    assert "sec1_linear.py" not in result["grade"]["submission"]["files"]
    assert "symbolic link" in result["grade"]["submission"]["problems"]["sec1_linear.py"]
    assert "symbolic link" in (bad_class.out / "feedback" / "linked.md").read_text()


def test_50_mb_exercise_file_is_refused_unread(bad_class):
    book = gradebook(bad_class.out)
    row = book["big"]
    assert row["status"] == "graded"
    assert [row[t] for t in ("1.1", "1.2", "1.3")] == ["0", "0", "0"]  # read whole, it would earn 8
    assert row["total"] == str(41 - 8)
    result = results(bad_class.out)["big"]
    assert "larger than" in result["grade"]["submission"]["problems"]["sec1_linear.py"]
    only = book["bigonly"]
    assert only["status"] != "graded" and only["total"] == "0", only
    assert "larger than" in results(bad_class.out)["bigonly"]["grade"]["submission"]["problems"]["sec1_linear.py"]


def test_refused_only_file_is_named_in_the_gradebook_message(bad_class):
    row = gradebook(bad_class.out)["bigonly"]
    assert "larger than" in row["message"], row


def test_two_entries_for_one_student_are_both_duplicate(bad_class):
    bobs = [r for r in gradebook_rows(bad_class.out) if r["student"] == "bob"]
    assert len(bobs) == 2
    for row in bobs:
        assert (row["status"], row["total"]) == ("duplicate", "0")
        assert "bob" in row["message"] and "bob.zip" in row["message"]


def rerun_copy(bad_class, tmp_path: Path, entries: list[str]) -> tuple[Path, Path]:
    """Some entries of the bad class, and a copy of its OUT (results, batch.json and its seed), to rerun into."""
    subs, out = tmp_path / "class", tmp_path / "out"
    subs.mkdir()
    for name in entries:
        if (bad_class.subs / name).is_dir():
            shutil.copytree(bad_class.subs / name, subs / name, symlinks=True)
        else:
            shutil.copy2(bad_class.subs / name, subs / name)
    shutil.copytree(bad_class.out, out)
    return subs, out


def test_rerun_with_duplicate_entries_grades_nobody(bad_class, tmp_path):
    subs, out = rerun_copy(bad_class, tmp_path, ["bob", "bob.zip"])
    again = batch(subs, out)
    assert again.clean, again
    assert (again.todo, again.unchanged) == (0, 2), again


def test_rerun_after_fixing_a_zip_drops_the_stale_message(bad_class, tmp_path):
    subs, out = rerun_copy(bad_class, tmp_path, [])
    _zip(subs / "evil.zip", {name: (CLASS / "ada" / name).read_bytes() for name in FILES})
    again = batch(subs, out)
    assert again.clean, again
    assert gradebook(out)["evil"]["message"] == "", gradebook(out)["evil"]


def test_long_entry_name_does_not_crash_the_batch(tmp_path):
    subs, out = tmp_path / "class", tmp_path / "out"
    name = "s" * 240
    (subs / name).mkdir(parents=True)  # an empty folder: the crash comes when its result is saved
    ran = batch(subs, out)
    assert ran.clean, ran
    assert gradebook(out)[name]["status"] == "empty"


def _encrypted(path: Path, members: dict[str, bytes]) -> None:
    """A zip whose members are flagged as encrypted (general purpose bit 0), as `zip -P` writes them."""
    _zip(path, members)
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        while at >= 0:
            data[at + offset] |= 1
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as zf:
        assert all(info.flag_bits & 1 for info in zf.infolist())


def test_password_protected_zip_is_unreadable(tmp_path):
    subs, out = tmp_path / "class", tmp_path / "out"
    subs.mkdir()
    _encrypted(subs / "locked.zip", {name: (CLASS / "ada" / name).read_bytes() for name in FILES})
    (subs / "other").mkdir()
    ran = batch(subs, out)
    assert ran.clean, ran
    book = gradebook(out)
    assert book["locked"]["status"] == "unreadable" and book["other"]["status"] == "empty"


def test_rerun_keeps_a_stored_seed_of_zero(tmp_path):
    subs, out = tmp_path / "class", tmp_path / "out"
    (subs / "nofiles").mkdir(parents=True)
    out.mkdir()
    (out / "batch.json").write_text(json.dumps({"seed": 0}))  # as `--grader-seed 0` leaves it
    ran = batch(subs, out)
    assert ran.clean, ran
    assert json.loads((out / "batch.json").read_text())["seed"] == 0
    assert "grader seed: 0 " in ran.stdout, ran


# --- 3. exports -----------------------------------------------------------------------------------------------

def _export(out: Path, platform: str, slug: str) -> dict:
    return json.loads((out / "exports" / platform / f"{slug}.json").read_text())


def test_exports_have_the_platforms_fields_and_add_up(graded_class):
    book = gradebook(graded_class.out)
    for sid in RESUME_IDS:
        total, possible = float(book[sid]["total"]), float(book[sid]["possible"])
        n_tests = len(results(graded_class.out)[sid]["tests"])
        assert n_tests == 42

        gs = _export(graded_class.out, "gradescope", sid)
        assert gs["score"] == total
        assert len([t for t in gs["tests"] if t["max_score"]]) == n_tests  # and a 0-point entry per withheld detail
        for test in gs["tests"]:
            assert {"name", "number", "score", "max_score", "status", "output", "visibility"} <= test.keys(), test
            assert isinstance(test["name"], str) and test["name"]
            assert isinstance(test["number"], str)
            assert test["status"] in ("passed", "failed")
            assert test["score"] == (test["max_score"] if test["status"] == "passed" else 0)
            assert isinstance(test["output"], str)
            assert test["visibility"] in ("hidden", "after_due_date", "after_published", "visible")
        assert sum(t["score"] for t in gs["tests"]) == total
        assert sum(t["max_score"] for t in gs["tests"]) == possible

        pl = _export(graded_class.out, "prairielearn", sid)
        assert pl["gradable"] is True
        assert 0 <= pl["score"] <= 1 and pl["score"] == pytest.approx(total / possible, abs=1e-6)
        assert len(pl["tests"]) == n_tests
        for test in pl["tests"]:
            assert {"name", "points", "max_points", "message"} <= test.keys(), test
            assert 0 <= test["points"] <= test["max_points"]
        assert sum(t["points"] for t in pl["tests"]) == total
        assert sum(t["max_points"] for t in pl["tests"]) == possible

        gh = _export(graded_class.out, "classroom", sid)
        assert gh["version"] == 1
        assert gh["status"] in ("pass", "fail", "error")
        assert gh["status"] == ("pass" if total == possible else "fail")
        assert gh["max_score"] == possible
        assert len(gh["tests"]) == possible  # one test per point: the reporter's totals are ours (test_policies.py)
        for test in gh["tests"]:
            assert {"name", "status", "score", "message"} <= test.keys(), test
            assert test["status"] in ("pass", "fail", "error")
        assert sum(t["score"] for t in gh["tests"]) == total

    failed = [t for t in _export(graded_class.out, "gradescope", "ben")["tests"] if t["status"] == "failed"]
    assert failed and all(t["output"].startswith("Task ") for t in failed)  # the feedback reaches the student


def test_exports_of_an_ungraded_entry_say_so(bad_class):
    gs = _export(bad_class.out, "gradescope", "corrupt")
    assert (gs["score"], gs["tests"]) == (0, [])
    assert "cannot be read" in gs["output"]
    pl = _export(bad_class.out, "prairielearn", "corrupt")
    assert (pl["gradable"], pl["score"]) == (False, 0)
    assert pl["format_errors"] and "cannot be read" in pl["format_errors"][0]
    gh = _export(bad_class.out, "classroom", "corrupt")
    assert (gh["status"], gh["max_score"], len(gh["tests"])) == ("error", 41, 41)  # 0/41 in the reporter, not NaN
    assert gh["tests"][0]["status"] == "error" and "cannot be read" in gh["tests"][0]["message"]


# --- 4. a batch grades as a single run does -------------------------------------------------------------------

def test_batch_points_equal_single_runs_with_the_same_seed(graded_class, tmp_path):
    students = ["chloe", "dev"]  # partly right, in different tasks
    procs = {}
    for sid in students:
        report = tmp_path / f"{sid}.json"
        cmd = [sys.executable, "-m", "pytest", "grader", "--submission", str(graded_class.subs / sid),
               "--grader-seed", str(graded_class.seed), "-p", "no:cacheprovider", "--json-report",
               f"--json-report-file={report}"]
        procs[sid] = (subprocess.Popen(cmd, cwd=ROOT, env=environment(), stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True), report)
    stored_results = results(graded_class.out)
    for sid, (proc, report) in procs.items():
        output, _ = proc.communicate(timeout=300)
        assert "INTERNALERROR" not in output, output
        single = json.loads(report.read_text())
        grade = stored_results[sid]["grade"]
        assert single["grade"]["seed"] == grade["seed"] == graded_class.seed
        assert single["grade"]["tasks"] == grade["tasks"], sid
        assert (single["grade"]["earned"], single["grade"]["possible"]) == (grade["earned"], grade["possible"])
        assert grade["earned"] < grade["possible"]
        outcomes = {t["nodeid"]: t["outcome"] for t in single["tests"]}
        assert {t["nodeid"]: t["outcome"] for t in stored_results[sid]["tests"]} == outcomes
        feedback = {t["nodeid"]: t["metadata"].get("feedback") for t in single["tests"]}
        assert {t["nodeid"]: t.get("feedback") for t in stored_results[sid]["tests"]} == feedback  # word for word


# --- 5. isolation between students ----------------------------------------------------------------------------

ATTACK = '''
import builtins, os, tempfile

import torch
import torch.nn.functional as F

for _folder in {{os.environ.get("HOME"), os.environ.get("TMPDIR"), tempfile.gettempdir(), {home!r}, {tmp!r}}}:
    try:
        with open(os.path.join(_folder or ".", "planted.txt"), "w") as _f:
            _f.write("left by the student before")
    except OSError:
        pass
_zeros = lambda x, *a, **k: torch.zeros_like(x)
F.relu = _zeros
torch.relu = _zeros
torch.nn.ReLU.forward = lambda self, x: torch.zeros_like(x)
torch.Tensor.relu = lambda self: torch.zeros_like(self)
torch.set_default_dtype(torch.float64)
torch.manual_seed(1234)
builtins.LEFT_BEHIND = True
STATE = {{"students_seen": 1}}

'''


def test_one_student_cannot_change_the_next_ones_score(graded_class, tmp_path):
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    subs, out = tmp_path / "class", tmp_path / "out"
    honest = ["ada", "ben", "chloe", "dev"]  # with the attacker, enough students for both judge processes
    make_class(subs, honest)
    shutil.copytree(CLASS / "ada", subs / "aaa_attacker")  # claimed first: ids are sorted
    source = (CLASS / "ada" / "sec1_linear.py").read_text()
    future = "from __future__ import annotations\n"
    assert source.count(future) == 1
    attack = source.replace(future, future + ATTACK.format(home=str(home), tmp=str(tmp)))
    (subs / "aaa_attacker" / "sec1_linear.py").write_text(attack)

    ran = batch(subs, out, "--grader-seed", str(graded_class.seed),
                env=environment(HOME=str(home), TMPDIR=str(tmp)))
    assert ran.clean, ran
    assert [r["student"] for r in gradebook_rows(out)] == ["aaa_attacker", *honest]
    book, alone = gradebook(out), gradebook(graded_class.out)
    attacker = results(out)["aaa_attacker"]
    # its patches run with every call into sec1_linear.py, but each call starts from a pristine torch: the
    # calls into its own sec2_forward.py (Task 2.2, relu) are untouched too
    assert attacker["grade"]["tasks"]["2.2"]["earned"] == 3
    assert int(book["aaa_attacker"]["integrity_flags"]) > 0
    with_attacker, without = results(out), results(graded_class.out)
    for sid in honest:
        assert book[sid] == alone[sid]
        assert with_attacker[sid]["grade"]["tasks"] == without[sid]["grade"]["tasks"]
        assert [(t["nodeid"], t["outcome"]) for t in with_attacker[sid]["tests"]] == \
            [(t["nodeid"], t["outcome"]) for t in without[sid]["tests"]]
    if attacker["grade"]["isolation"]["level"] >= "L2":  # L2 hides home and temp folders behind a read-only view
        assert not list(home.rglob("planted.txt")) and not list(tmp.rglob("planted.txt"))


# --- progress -------------------------------------------------------------------------------------------------

def test_progress_is_a_bar_on_a_terminal_and_lines_elsewhere(tmp_path):
    """On a terminal (a pty 100 columns wide) the batch shows tqdm's bar with count and rate; piped, one line
    per student."""
    import fcntl
    import pty
    import struct
    import termios

    subs = make_class(tmp_path / "subs", ["ada", "jon"])
    main, side = pty.openpty()
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(command(subs, tmp_path / "out"), cwd=ROOT, env=environment(), stdin=subprocess.DEVNULL,
                            stdout=side, stderr=side)
    os.close(side)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 1 << 16)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(main)
    assert proc.wait(timeout=120) == 0
    text = seen.decode("utf-8", "replace")
    assert re.search(r"100%\|.*\| 2/2 \[", text), text[-2000:]
    assert "student/s" in text
    assert "[1/2]" not in text  # the plain lines are for pipes only

    piped = batch(subs, tmp_path / "out2")
    assert re.search(r"^\[1/2\] \w+ +\d+ / 41  graded$", piped.stderr, re.MULTILINE), piped
    assert re.search(r"^\[2/2\] ", piped.stderr, re.MULTILINE), piped


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_any_number_of_judges_writes_the_same_gradebook(graded_class, tmp_path, jobs):
    """One judge process, or three sharing the class through claims: the gradebook is byte for byte the same."""
    out = tmp_path / "out"
    ran = batch(graded_class.subs, out, "--grader-seed", str(graded_class.seed), "--grader-jobs", jobs)
    assert ran.clean, ran
    assert (out / "gradebook.csv").read_bytes() == graded_class.gradebook
    assert not (out / ".claims").exists()
