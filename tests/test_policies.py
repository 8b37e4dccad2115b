"""Course policies and the learning systems, each consumer read with its own rules.

- the settings file (course.policy.load): each key, and each mistake named;
- course.policy.apply: what a check shows before and after the due date for each visibility, overrides, late
  penalties (per day, cap, waived), never changing the stored result;
- exports as their consumers read them: Gradescope (numbers that sort as text, visibility entries), GitHub
  Classroom's reporter (its scoring rules rewritten from its source, and its own code run under node when its
  source is at hand), PrairieLearn (makeGradingResult's and the results element's rules), Canvas's and
  Moodle's bulk downloads regrouped into a class, and the gradebook CSVs their importers read;
- a batch with a settings file and OUT/overrides.csv: marked in the gradebook and feedback, kept by a rerun.
"""
from __future__ import annotations

import base64
import copy
import csv
import html
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from typing import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import (CLASS, ROOT, batch, environment, gradebook, make_class, submission_from_solutions,
                      unsafe_characters)
from course import policy
from course.content.curriculum import TASKS
from course.engine import submission
from course.render import exports, html_report

DUE = datetime(2025, 3, 14, 23, 59, tzinfo=timezone(timedelta(hours=9)))
BEFORE, AFTER = DUE - timedelta(hours=1), DUE + timedelta(hours=1)
FILES = ["sec1_linear.py", "sec2_forward.py", "sec3_data.py", "sec4_training.py"]


def made_result(student: str = "ada", earned: dict[str, float] | None = None, status: str = "graded") -> dict:
    """A stored result of the course's shape: one test per point of each task (the last of task 1.1 fails with a
    brief form), the tasks' earned points as given (default: full)."""
    earned = earned or {}
    tasks = {tid: {"earned": float(earned.get(tid, t.points)), "possible": float(t.points), "title": t.title}
             for tid, t in TASKS.items()}
    tests = []
    for tid, t in TASKS.items():
        for k in range(t.points):
            ok = k + 1 <= tasks[tid]["earned"]
            test = {"nodeid": f"grader/test_x.py::TestTask{tid.replace('.', '_')}::test_{k}", "name": f"Task {tid}: check {k}",
                    "task": tid, "points": 1.0, "earned": 1.0 if ok else 0.0, "outcome": "passed" if ok else "failed"}
            if not ok:
                test["feedback"] = f"Task {tid}: check {k}\n  out: expected 0.3133, got 0.5\n  hint: look again"
                test["brief"] = f"Task {tid}: check {k}\n  out: got 0.5, not the expected value\n  hint: look again"
            tests.append(test)
    total = sum(r["earned"] for r in tasks.values())
    return {"student": student, "entry": student, "status": status, "message": "", "key": {"grader": "g", "seed": 1},
            "grade": {"earned": total, "possible": 41.0, "percent": round(100 * total / 41, 2), "tasks": tasks, "seed": 1,
                      "grader": "g", "submission": {"problems": {}}, "isolation": {}, "integrity": {}, "errors": [],
                      "faults": [], "not_collected": [], "environment": {}, "seconds": 0.0},
            "tests": tests}


# --- the settings file ------------------------------------------------------------------------------------------

@dataclass
class SettingsCase:
    name: str
    text: str
    check: dict = field(default_factory=dict)  # attribute -> value
    error: str = ""  # a fragment of the SettingsError message


SETTINGS = [
    SettingsCase("empty file: the defaults", "", {"due": None, "visibility": "after_due_date", "per_day": 0.0, "given": True}),
    SettingsCase("due date, late policy, extensions",
                 'due = 2025-03-14T23:59:00+09:00\n[late]\nper_day = 10\ncap = 50\n[extensions]\nada = 2\n'
                 'ben = 2025-03-20T12:00:00+09:00\n',
                 {"due": DUE, "per_day": 10.0, "cap": 50.0,
                  "extensions": {"ada": DUE + timedelta(days=2),
                                 "ben": datetime(2025, 3, 20, 12, tzinfo=timezone(timedelta(hours=9)))}}),
    SettingsCase("visibility per course and per test",
                 '[visibility]\ndefault = "visible"\n"4.5" = "hidden"\n"grader/t.py::TestTask1_1" = "after_published"\n',
                 {"visibility": "visible", "rules": {"4.5": "hidden", "grader/t.py::TestTask1_1": "after_published"}}),
    SettingsCase("an unknown key", "deadline = 2025-03-14T23:59:00+09:00\n", error="unknown key(s) deadline"),
    SettingsCase("a due date without its offset", "due = 2025-03-14T23:59:00\n", error="with its offset"),
    SettingsCase("a percent out of range", "[late]\nper_day = 120\n", error="late.per_day is 120"),
    SettingsCase("an unknown visibility", '[visibility]\n"1.1" = "later"\n', error="visibility.1.1 is 'later'"),
    SettingsCase("days of extension without a due date", "[extensions]\nada = 2\n", error="there is no due date"),
    SettingsCase("not TOML", "due = = 1\n", error="not TOML"),
]


@pytest.mark.parametrize("case", SETTINGS, ids=lambda c: c.name)
def test_settings_file(case, tmp_path):
    path = tmp_path / "course.toml"
    path.write_text(case.text)
    if case.error:
        with pytest.raises(policy.SettingsError, match=None) as raised:
            policy.load(path)
        assert case.error in str(raised.value)
        return
    settings = policy.load(path)
    for name, value in case.check.items():
        assert getattr(settings, name) == value, name


def test_no_settings_file_is_the_defaults():
    assert policy.load(None) == policy.Settings() and not policy.Settings().given


# --- applying the policies --------------------------------------------------------------------------------------

@dataclass
class ShowCase:
    name: str
    settings: policy.Settings
    now: datetime
    shows: str  # "full", "brief" or "hidden": what a failed check of task 1.1 shows


SHOWS = [
    ShowCase("no due date: in full", policy.Settings(), BEFORE, "full"),
    ShowCase("default, before the due date: brief", policy.Settings(due=DUE), BEFORE, "brief"),
    ShowCase("default, after the due date: full", policy.Settings(due=DUE), AFTER, "full"),
    ShowCase("an extension moves the date", policy.Settings(due=DUE, extensions={"ada": DUE + timedelta(days=1)}), AFTER, "brief"),
    ShowCase("visible: full before the due date", policy.Settings(due=DUE, visibility="visible"), BEFORE, "full"),
    ShowCase("after_published, not published", policy.Settings(rules={"1.1": "after_published"}), AFTER, "brief"),
    ShowCase("after_published, published", policy.Settings(rules={"1.1": "after_published"}, published=True), AFTER, "full"),
    ShowCase("hidden", policy.Settings(rules={"grader/test_x.py::TestTask1_1": "hidden"}), AFTER, "hidden"),
]


@pytest.mark.parametrize("case", SHOWS, ids=lambda c: c.name)
def test_what_a_failed_check_shows(case):
    stored = made_result(earned={"1.1": 2})
    before = copy.deepcopy(stored)
    shown = policy.apply(stored, case.settings, [], case.now)
    assert stored == before  # the stored result is never changed
    (test,) = [t for t in shown["tests"] if t["outcome"] == "failed"]
    expected = {"full": test["full"], "brief": test["brief"], "hidden": "Task 1.1: a hidden check failed"}[case.shows]
    assert test["feedback"] == expected
    assert ("0.3133" in test["feedback"]) == (case.shows == "full")
    markdown = exports.feedback_markdown(shown, TASKS)
    assert ("0.3133" in markdown) == (case.shows == "full")


@dataclass
class GradeCase:
    name: str
    settings: policy.Settings
    overrides: list
    earned: float
    note: str = ""
    submitted: datetime | None = None
    flagged: bool = False


LATE = policy.Settings(due=DUE, per_day=10)
GRADES = [
    GradeCase("on time", LATE, [], 41, submitted=DUE - timedelta(minutes=1)),
    GradeCase("two started days late: 2 x 10% of 41", LATE, [], 41 - 8.2, "2 day(s) late", DUE + timedelta(hours=25)),
    GradeCase("a cap: late work earns at most half", policy.Settings(due=DUE, cap=50), [], 20.5, "late",
              DUE + timedelta(minutes=1)),
    GradeCase("marked late by the learning system, no time: one day", LATE, [], 41 - 4.1, "1 day(s) late", flagged=True),
    GradeCase("an override of a task", policy.Settings(), [policy.Override("2.2", 1.0, "regraded by hand", 2)], 39,
              "Task 2.2 set to 1 of 3 by your instructor (regraded by hand)"),
    GradeCase("a waived late penalty", LATE, [policy.Override("late", 0.0, "illness", 2)], 41,
              "late penalty set to 0 points", DUE + timedelta(days=3)),
]


@pytest.mark.parametrize("case", GRADES, ids=lambda c: c.name)
def test_overrides_and_late_penalties(case):
    shown = policy.apply(made_result(), case.settings, case.overrides, AFTER, case.submitted, case.flagged)
    assert shown["grade"]["earned"] == pytest.approx(case.earned)
    assert case.note in shown["message"]
    gs = exports.gradescope_results(shown)
    assert gs["score"] == pytest.approx(case.earned)
    assert sum(t["score"] for t in gs["tests"]) == pytest.approx(case.earned)  # each adjustment is an entry of its own
    if case.overrides or case.earned != 41:
        assert any(t["max_score"] == 0 and ("Override" in t["name"] or "Late" in t["name"]) for t in gs["tests"])


def test_overrides_csv_rows(tmp_path):
    path = tmp_path / "overrides.csv"
    path.write_text("student,task,points,comment\nada,2.2,3,regraded\nben,9.9,1,\nben,2.2,7,\nben,late,0,waived\n")
    found, problems = policy.read_overrides(path, TASKS)
    assert found == {"ada": [policy.Override("2.2", 3.0, "regraded", 2)], "ben": [policy.Override("late", 0.0, "waived", 5)]}
    assert [p.split(":")[0] for p in problems] == ["overrides.csv row 3", "overrides.csv row 4"]


# --- Gradescope ----------------------------------------------------------------------------------------------------

def test_gradescope_numbers_sort_as_text_and_withheld_values_wait():
    result = made_result(earned={"4.1": 0})
    result["tests"] += [dict(result["tests"][0], nodeid=f"grader/x.py::TestTask1_1::extra_{k}") for k in range(9)]
    gs = exports.gradescope_results(policy.apply(result, policy.Settings(), [], AFTER))
    numbers = [t["number"] for t in gs["tests"] if t["max_score"]]
    assert sorted(numbers) == sorted(numbers, key=lambda n: [int(p) for p in n.split(".")])
    assert "1.1.10" in numbers and "1.1.09" in numbers
    failed = [t for t in gs["tests"] if t["status"] == "failed"]
    shown = [t for t in failed if t["max_score"]]
    later = [t for t in failed if not t["max_score"]]
    assert all(t["visibility"] == "visible" and "0.3133" not in t["output"] for t in shown)
    assert len(later) == len(shown) and all(t["visibility"] == "after_due_date" and "0.3133" in t["output"] for t in later)


# --- what a student sees in every export, for each policy -----------------------------------------------------------

def gradescope_student_sees(results: dict, due: datetime | None, now: datetime, published: bool) -> str:
    """What Gradescope shows a student of a results.json at now (its autograder spec: an entry's visibility, else the
    top level's; after_due_date once the due date is past, after_published once grades are published, hidden never)."""
    shown = {"visible": True, "hidden": False, "after_due_date": due is None or now >= due, "after_published": published}
    default = results.get("visibility", "visible")
    return "\n".join([results.get("output", ""), *(f"{t['name']}\n{t.get('output', '')}" for t in results["tests"]
                                                   if shown[t.get("visibility", default)])])


def prairielearn_student_sees(results: dict) -> str:
    """The results element's view: the message, then each test's name and message (and output)."""
    return "\n".join([results.get("message", ""), *(f"{t['name']}\n{t.get('message', '')}\n{t.get('output', '')}"
                                                    for t in results["tests"])])


ACCOUNTS = {"ada": {"system": "canvas", "id": "1001", "name": "lovelaceada"}}
MOODLE_ACCOUNTS = {"ada": {"system": "moodle", "id": "77", "name": "Ada Lovelace"}}
STUDENT_SEES = {  # export -> what the student (or, for the gradebook, the instructor) reads of a shown result
    "Markdown feedback": lambda shown, case: exports.feedback_markdown(shown, TASKS),
    "HTML feedback": lambda shown, case: html.unescape(html_report.render(shown, TASKS)),
    "Gradescope": lambda shown, case: gradescope_student_sees(exports.gradescope_results(shown), case.settings.due_for("ada"),
                                                              case.now, case.settings.published),
    "PrairieLearn": lambda shown, case: prairielearn_student_sees(exports.prairielearn_results(shown)),
    "GitHub Classroom": lambda shown, case: reporter_output({"pytorch": exports.classroom_results(shown)}),
    "Moodle worksheet": lambda shown, case: exports.moodle_gradebook([shown], MOODLE_ACCOUNTS, "2025-03-15 10:00:00 +0900"),
    "Canvas gradebook": lambda shown, case: exports.canvas_gradebook([shown], ACCOUNTS, "PyTorch basics"),
    "gradebook.csv": lambda shown, case: exports.gradebook_csv([shown], TASKS, late=case.settings.given),
}
NO_FEEDBACK = {"Moodle worksheet", "Canvas gradebook", "gradebook.csv"}  # a total and a message: never a check's values
NO_NOTE = {"Canvas gradebook"}  # Canvas's gradebook import takes a grade per assignment and no comment


@dataclass
class SeenCase:
    name: str
    settings: policy.Settings
    now: datetime
    values: bool  # whether the student may see the failed check's expected values at now
    overrides: list = field(default_factory=list)
    submitted: datetime | None = None
    note: tuple = ()  # an adjustment is said: one of these, in any case


SEEN = [
    SeenCase("after_due_date, before the due date", policy.Settings(due=DUE, given=True), BEFORE, False),
    SeenCase("after_due_date, after it", policy.Settings(due=DUE, given=True), AFTER, True),
    SeenCase("visible, before the due date", policy.Settings(due=DUE, visibility="visible", given=True), BEFORE, True),
    SeenCase("after_published, not yet published", policy.Settings(due=DUE, rules={"1.1": "after_published"}), AFTER, False),
    SeenCase("after_published, published", policy.Settings(due=DUE, rules={"1.1": "after_published"}, published=True),
             BEFORE, True),
    SeenCase("hidden, after the due date", policy.Settings(due=DUE, rules={"1.1": "hidden"}), AFTER, False),
    SeenCase("an override of a task", policy.Settings(due=DUE), AFTER, True,
             [policy.Override("2.2", 1.0, "regraded by hand", 2)], note=("regraded by hand",)),
    SeenCase("a late penalty", LATE, AFTER, True, submitted=DUE + timedelta(hours=25), note=("day(s) late", "late penalty")),
    SeenCase("a waived late penalty", LATE, AFTER, True, [policy.Override("late", 0.0, "illness", 2)],
             DUE + timedelta(days=3), ("illness",)),
]


@dataclass
class ExportSeen:
    export: str
    case: SeenCase

    @property
    def values(self) -> bool:
        return self.case.values and self.export not in NO_FEEDBACK

    @property
    def noted(self) -> bool:
        return bool(self.case.note) and self.export not in NO_NOTE


EXPORT_SEEN = [ExportSeen(export, case) for export in STUDENT_SEES for case in SEEN]


@pytest.mark.parametrize("row", EXPORT_SEEN, ids=lambda r: f"{r.export}: {r.case.name}")
def test_every_export_keeps_the_visibility_policy_and_says_each_adjustment(row):
    """The expected values of task 1.1's failed check reach the student only when its visibility allows at that
    moment (Gradescope: by Gradescope's own rule for each entry), and every override or late penalty is said, in
    every export (Canvas's import holds a grade and no comment: only the total carries it there)."""
    case = row.case
    shown = policy.apply(made_result(earned={"1.1": 2}), case.settings, case.overrides, case.now, case.submitted)
    seen = STUDENT_SEES[row.export](shown, case)
    assert ("0.3133" in seen) == row.values, seen
    assert any(note.lower() in seen.lower() for note in case.note) == row.noted, seen
    if row.export == "Canvas gradebook":
        assert seen.splitlines()[1].endswith(f",{shown['grade']['earned']:g}")


# --- GitHub Classroom's reporter -----------------------------------------------------------------------------------
# Its rules, rewritten from classroom-resources/autograding-grading-reporter at 43c2d9f (src/, not its code):
# - src/main.js 6-13: each runner's result is the base64 JSON in <RUNNER>_RESULTS; 16-17: the console, then the notice;
#   19-23: the step fails ("Some tests failed.") if a runner's status is "fail", else ("Some tests errored.") if "error".
# - src/helpers/test-helpers.js 1: a runner's max score is max_score or 0; 11-18 (getTestScore): its score is
#   (tests with status "pass" / tests) x max score, NaN when it has no tests (0 / 0).
# - src/console-results.js 19: "Processing: <runner>"; 23-43: a passed test prints its name (with " - line N" when
#   line_no is not 0), an errored one "Error: " and its message (else "Failed to run test '<name>'") and not its name,
#   a failed one its name, each then its test_code if any; 50-52: "Total points for <runner>: <score, 2 decimals>/<max>"
#   unless the max is 0; 58: the table (src/aggregate-results.js 5-36: a row per runner, score and max score, then the
#   totals); 59-61: "Grand total tests passed: <passed>/<tests>".
# - src/notify-classroom.js 6-19: the posted points are the sum of tests[].score over runners with a max_score (none:
#   no notice); 21: "Points <total>/<max>", numbers as JavaScript writes them.

def js_number(value: float) -> str:
    """A number as JavaScript's String() writes it (shortest round trip; 41, not 41.0)."""
    if value != value:
        return "NaN"
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def reporter_table_score(runner: dict) -> float:
    passed = sum(t["status"] == "pass" for t in runner["tests"])
    return passed / len(runner["tests"]) * (runner["max_score"] or 0) if runner["tests"] else float("nan")


def reporter_posted_points(runner: dict) -> float:
    return sum(t["score"] for t in runner["tests"]) if runner["max_score"] else 0


def reporter_output(runners: dict[str, dict]) -> str:
    """What the reporter prints for these runners (colours aside): the console, the table's rows, the notice and
    whether the step fails, by the rules above."""
    lines = []
    for runner, result in runners.items():
        lines.append(f"Processing: {runner}")
        for test in result["tests"]:
            where = f" - line {test['line_no']}" if test.get("line_no") else ""
            if test["status"] == "pass":
                lines.append(f"PASS {test['name']}{where}")
            elif test["status"] == "error":
                lines.append(f"Error: {test.get('message') or f'Failed to run test {test[chr(39)]}'}")
            else:
                lines.append(f"FAIL {test['name']}{where}")
            if test.get("test_code"):
                lines.append(f"Test code:\n{test['test_code']}")
        score, most = reporter_table_score(result), result["max_score"] or 0
        if most != 0:
            lines.append(f"Total points for {runner}: {'NaN' if score != score else f'{score:.2f}'}/{js_number(most)}")
    rows = [(runner, reporter_table_score(r), r["max_score"] or 0) for runner, r in runners.items()]
    lines += [f"ROW {runner} {js_number(score)} {js_number(most)}" for runner, score, most in rows]
    lines.append(f"ROW Total: {js_number(sum(r[1] for r in rows))} {js_number(sum(r[2] for r in rows))}")
    counted = [r for r in runners.values() if r["max_score"]]
    if counted:
        lines.append(f"NOTICE Points {js_number(sum(reporter_posted_points(r) for r in counted))}/"
                     f"{js_number(sum(r['max_score'] for r in counted))}")
    statuses = {r["status"] for r in runners.values()}
    lines += ["FAILED Some tests failed."] if "fail" in statuses else ["FAILED Some tests errored."] if "error" in statuses else []
    return "\n".join(lines)


@pytest.mark.parametrize("earned", [{}, {"2.2": 1, "3.1": 2.5, "4.1": 0}, {tid: 0 for tid in TASKS}],
                         ids=["full", "partial, half points", "nothing"])
def test_classroom_totals_equal_ours_in_the_reporter(earned):
    result = made_result(earned=earned)
    ours = result["grade"]["earned"]
    runner = exports.classroom_results(result)
    assert reporter_table_score(runner) == pytest.approx(ours)
    assert reporter_posted_points(runner) == pytest.approx(ours)
    failed_tasks = {tid for tid, r in result["grade"]["tasks"].items() if r["earned"] < r["possible"]}
    printed = [t for t in runner["tests"] if t["status"] == "error"]
    assert {t["name"].split(":")[0][5:] for t in printed} == failed_tasks  # each failed task's hint is printed


def _not_graded() -> dict:
    result = made_result(earned={tid: 0 for tid in TASKS}, status="empty")
    result["message"], result["tests"] = "none of the exercise files is in the entry", []
    return exports.classroom_results(result)


def _adjusted() -> dict:
    shown = policy.apply(made_result(), LATE, [policy.Override("2.2", 1.0, "regraded by hand", 2)], AFTER,
                         DUE + timedelta(hours=25))
    return exports.classroom_results(shown)


@dataclass
class ReporterCase:
    name: str
    runner: Callable[[], dict]  # the pytorch runner's result
    says: list  # what the output holds
    never: list = field(default_factory=lambda: ["NaN"])


REPORTER_CASES = [
    ReporterCase("partial, half points: both totals ours, each failed task's hint printed",
                 lambda: exports.classroom_results(made_result(earned={"2.2": 1, "3.1": 2.5, "4.1": 0})),
                 ["Total points for pytorch: 34.50/41", "NOTICE Points 34.5/41", "Error: Task 2.2: check 1",
                  "hint: look again", "FAILED Some tests failed."]),  # 41 - 2 (2.2) - 0.5 (3.1) - 4 (4.1)
    ReporterCase("full marks", lambda: exports.classroom_results(made_result()),
                 ["Total points for pytorch: 41.00/41", "NOTICE Points 41/41"], ["NaN", "FAILED", "Error:"]),
    ReporterCase("an entry not graded: the reason, 0 and never NaN", _not_graded,
                 ["Error: none of the exercise files is in the entry", "Total points for pytorch: 0.00/41",
                  "NOTICE Points 0/41", "FAILED Some tests errored."]),
    ReporterCase("an override and a late penalty: each said, the totals ours", _adjusted,
                 ["regraded by hand", "late penalty", "Total points for pytorch: 30.80/41", "NOTICE Points 30.8/41"]),
    ReporterCase("the reporter's own NaN: a runner with no tests (which ours never is)",
                 lambda: {"version": 1, "status": "fail", "max_score": 41, "tests": []},
                 ["Total points for pytorch: NaN/41"], []),
]

REPORTER = Path(os.environ.get("CLASSROOM_REPORTER", "/work/.mirror/classroom-resources+autograding-grading-reporter/repo"))
STUBS = {  # the two libraries it loads, as small as its calls need: the table prints its rows, core records calls
    "@actions/core/index.js": "exports.getInput = (n) => process.env['INPUT_' + n.toUpperCase()] || '';\n"
                              "exports.notice = (t) => console.log('NOTICE ' + t);\n"
                              "exports.setFailed = (t) => console.log('FAILED ' + t);\n",
    "cli-table3/index.js": "module.exports = class { constructor() { this.rows = [] } push(r) { this.rows.push(r) }\n"
                           "  toString() { return this.rows.map((r) => 'ROW ' + r.join(' ')).join('\\n') } };\n",
}


def reporter_source(tmp_path: Path) -> Path | None:
    """The reporter's src/ as its repository has it: a checkout (CLASSROOM_REPORTER, or the bare mirror the fetch
    tool leaves), read with git; None when neither is here."""
    src = tmp_path / "reporter"
    if (REPORTER / "src" / "main.js").is_file():
        shutil.copytree(REPORTER / "src", src)
        return src
    if shutil.which("git") and (REPORTER / "HEAD").is_file():
        names = subprocess.run(["git", "--git-dir", str(REPORTER), "ls-tree", "-r", "--name-only", "HEAD", "src"],
                               capture_output=True, text=True).stdout.split()
        for name in names:
            target = tmp_path / "reporter" / Path(name).relative_to("src")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(subprocess.run(["git", "--git-dir", str(REPORTER), "show", f"HEAD:{name}"],
                                              capture_output=True).stdout)
        return src if names else None
    return None


def real_reporter_output(runner: dict, tmp_path: Path) -> str:
    """The reporter's own src/main.js run under node on the runner (with the stand-ins above); skips without them."""
    node = shutil.which("node")
    src = reporter_source(tmp_path)
    if node is None or src is None:
        pytest.skip("needs node and the reporter's source (set CLASSROOM_REPORTER to a checkout of "
                    "classroom-resources/autograding-grading-reporter); its rules rewritten run always")
    for name, text in STUBS.items():
        (tmp_path / "node_modules" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "node_modules" / name).write_text(text)
    env = {"PATH": os.environ["PATH"], "NODE_PATH": str(tmp_path / "node_modules"), "INPUT_RUNNERS": "pytorch",
           "PYTORCH_RESULTS": base64.b64encode(json.dumps(runner).encode()).decode()}
    return subprocess.run([node, str(src / "main.js")], env=env, capture_output=True, text=True, timeout=60).stdout


@pytest.mark.parametrize("engine", ["its rules rewritten", "its own code under node"])
@pytest.mark.parametrize("case", REPORTER_CASES, ids=lambda c: c.name)
def test_classroom_result_in_the_reporter(case, engine, tmp_path):
    """One table, read by the reporter's rules rewritten in Python (always) and by its own code (when node and its
    source are here): what the student reads in the workflow's log."""
    runner = case.runner()
    out = reporter_output({"pytorch": runner}) if engine.startswith("its rules") else real_reporter_output(runner, tmp_path)
    for text in case.says:
        assert text in out, out
    for text in case.never:
        assert text not in out, out


WORKFLOW = ROOT / "docs" / "workflows" / "classroom.yml"


def test_the_classroom_workflow_grades_a_repository_and_hands_the_reporter_its_result(tmp_path):
    """docs/workflows/classroom.yml as the README describes it: the student's repository and the grader checked out
    side by side, its Grade step (run as written, as GitHub runs a step: bash -eo pipefail) grading the repository as
    a class of one, and the reporter reading that step's result as the runner its env names (src/main.js 10)."""
    yaml = pytest.importorskip("yaml")
    flow = yaml.safe_load(WORKFLOW.read_text())
    assert set(flow.get("on", flow.get(True))) == {"push", "workflow_dispatch", "repository_dispatch"}  # YAML 1.1: on
    steps = flow["jobs"]["grade"]["steps"]
    checkouts = [s["with"]["path"] for s in steps if s.get("uses", "").startswith("actions/checkout@")]
    assert checkouts == ["submission", "course"]
    grade = next(s for s in steps if s.get("id") == "pytorch")
    (report,) = [s for s in steps if s.get("uses", "").startswith("classroom-resources/autograding-grading-reporter@")]
    runners = report["with"]["runners"].split(",")
    assert runners == ["pytorch"] and report["env"] == {"PYTORCH_RESULTS": "${{ steps.pytorch.outputs.result }}"}
    submission_from_solutions(tmp_path / "submission", {"sec1_linear.py": (ROOT / "exercises" / "sec1_linear.py").read_text()})
    for part in ("grader", "solutions", "exercises", "src"):
        shutil.copytree(ROOT / part, tmp_path / "course" / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "constraints.txt"):
        shutil.copy(ROOT / name, tmp_path / "course" / name)
    env = {**environment(), "GITHUB_OUTPUT": str(tmp_path / "output"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", grade["run"]], cwd=tmp_path, env=env,
                   check=True, capture_output=True, timeout=300)
    (line,) = (tmp_path / "output").read_text().splitlines()
    runner = json.loads(base64.b64decode(line.removeprefix("result=")))
    ours = gradebook(tmp_path / "grades")["student"]
    assert ours["status"] == "graded" and float(ours["total"]) == 41 - sum(t.points for t in TASKS.values()
                                                                           if t.file == "sec1_linear.py")
    out = reporter_output({"pytorch": runner})
    assert f"Total points for pytorch: {float(ours['total']):.2f}/41" in out and f"NOTICE Points {ours['total']}/41" in out
    assert "Error: Task 1.1" in out and "not implemented yet" in out


# --- PrairieLearn ----------------------------------------------------------------------------------------------------
# Its rules, from PrairieLearn/PrairieLearn: apps/prairielearn/src/lib/externalGraderCommon.ts (makeGradingResult: a
# score must be a number; format_errors a string or a list), docs/externalGrading.md (gradable false costs no attempt;
# images are {label, url} with a data URL) and elements/pl-external-grader-results/pl-external-grader-results.py
# (points shown only when every test has points and max_points; the sums are shown).

def test_prairielearn_reads_graded_and_ungraded_entries():
    curves = {"submission": {"train": [1.0, 0.5], "val": [1.1, 0.7]}, "reference": {"train": [1.0, 0.4], "val": [1.0, 0.6]}}
    graded = dict(made_result(earned={"2.2": 1}), curves=curves)
    pl = exports.prairielearn_results(graded)
    assert pl["gradable"] is True and isinstance(pl["score"], float) and pl["score"] == pytest.approx(39 / 41)
    assert all(t.get("points") is not None and t.get("max_points") is not None for t in pl["tests"])
    assert sum(t["points"] for t in pl["tests"]) == 39
    assert [i["label"] for i in pl["images"]] and all(i["url"].startswith("data:image/svg+xml;base64,") for i in pl["images"])
    svg = base64.b64decode(pl["images"][0]["url"].split(",", 1)[1]).decode()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and "<polyline" in svg
    for status in ("empty", "unreadable", "error"):
        ungraded = dict(made_result(earned={tid: 0 for tid in TASKS}, status=status), message=f"why: {status}", tests=[])
        pl = exports.prairielearn_results(ungraded)
        assert pl["gradable"] is False and pl["message"] == f"why: {status}" and pl["format_errors"] == [f"why: {status}"]


# --- Canvas and Moodle bulk downloads ------------------------------------------------------------------------------

def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _ada() -> dict[str, bytes]:
    return {name: (CLASS / "ada" / name).read_bytes() for name in FILES}


NEWER = b"\n# handed in again\n"


def _again(name: str) -> dict[str, bytes]:
    """ada's files, with sec1_linear.py handed in again under name (its bytes marked)."""
    files = _ada()
    files[name] = files.pop("sec1_linear.py") + NEWER
    return files


@dataclass
class DownloadCase:
    name: str
    members: dict
    ids: dict  # student id -> (system, late)
    again: str = ""  # "newer": the sec1_linear.py graded is the one handed in again; else a fragment of why it is not graded
    renamed: dict = field(default_factory=dict)  # what the download's record says was renamed


DOWNLOADS = [
    DownloadCase("Canvas: files at the top, one late",
                 {**{f"lovelaceada_1001_50{i}_{n}": d for i, (n, d) in enumerate(_ada().items())},
                  **{f"babbagecharles_late_1002_60{i}_{n}": d for i, (n, d) in enumerate(_ada().items())}},
                 {"1001": ("canvas", False), "1002": ("canvas", True)}),
    DownloadCase("Canvas: anonymous grading, a zip",
                 {"1003_700_submission.zip": b"PK\x05\x06" + b"\0" * 18}, {"1003": ("canvas", False)}),
    DownloadCase("Moodle 3.1 and later: a folder per student and plugin",
                 {f"Ada Lovelace_77_assignsubmission_file_/{n}": d for n, d in _ada().items()},
                 {"77": ("moodle", False)}),
    DownloadCase("Moodle before 3.1: files at the top",
                 {f"Ada Lovelace_78_assignsubmission_file_{n}": d for n, d in _ada().items()}, {"78": ("moodle", False)}),
    DownloadCase("Canvas: a file handed in again is renamed x-1.py",
                 {f"lovelaceada_1001_50{i}_{n}": d for i, (n, d) in enumerate(_again("sec1_linear-1.py").items())},
                 {"1001": ("canvas", False)}, "newer", {"sec1_linear-1.py": "sec1_linear.py"}),
    DownloadCase("Canvas: x.py and x-2.py in one submission: the higher file id wins",
                 {"lovelaceada_1001_590_sec1_linear.py": _ada()["sec1_linear.py"],
                  **{f"lovelaceada_1001_60{i}_{n}": d for i, (n, d) in enumerate(_again("sec1_linear-2.py").items())}},
                 {"1001": ("canvas", False)}, "newer", {"sec1_linear-2.py": "sec1_linear.py"}),
    DownloadCase("Canvas: after seven tries the suffix is a uuid",
                 {f"1001_60{i}_{n}": d for i, (n, d) in
                  enumerate(_again("sec1_linear-0f8fad5b-d9cb-469f-a165-70867728950e.py").items())},
                 {"1001": ("canvas", False)}, "newer", {"sec1_linear-0f8fad5b-d9cb-469f-a165-70867728950e.py": "sec1_linear.py"}),
    DownloadCase("Moodle: x.py and the x (1).py its file manager renamed: the higher number wins",
                 {f"Ada Lovelace_77_assignsubmission_file_/{n}": d for n, d in
                  {"sec1_linear.py": _ada()["sec1_linear.py"], **_again("sec1_linear (1).py")}.items()},
                 {"77": ("moodle", False)}, "newer", {"sec1_linear (1).py": "sec1_linear.py"}),
    DownloadCase("Moodle: x (1).py alone is not taken for x.py (a browser names a second download so)",
                 {f"Ada Lovelace_77_assignsubmission_file_/{n}": d for n, d in _again("sec1_linear (1).py").items()},
                 {"77": ("moodle", False)}, "rename it to sec1_linear.py exactly"),
]


@pytest.mark.parametrize("case", DOWNLOADS, ids=lambda c: c.name)
def test_bulk_download_becomes_a_class(case, tmp_path):
    folder = submission.unpack_class(_zip(tmp_path / "download.zip", case.members), tmp_path / "class")
    accounts = submission.accounts_of(folder)
    assert {k: (v["system"], v["late"]) for k, v in accounts.items()} == case.ids
    entries = submission.discover(folder, FILES)
    assert sorted(e.student for e in entries) == sorted(case.ids)
    for entry in entries:
        if entry.kind == "folder" and case.again in ("", "newer"):
            assert sorted(entry.sources) == FILES and entry.status == "graded"
            assert entry.sources["sec1_linear.py"].endswith(NEWER) == (case.again == "newer")
            assert entry.ignored == []  # an older attempt is left out, not listed
        elif entry.kind == "folder":
            assert case.again in entry.problems["sec1_linear.py"]
    assert {k: v.get("renamed", {}) for k, v in accounts.items()} == {k: case.renamed for k in case.ids}
    again = submission.unpack_class(tmp_path / "download.zip", tmp_path / "class")  # unchanged zip: as it was
    assert submission.accounts_of(again) == accounts


VICTIM, EVE = b"# the victim's own\n", b"# Eve's\n"


@dataclass
class HostileDownload:
    name: str
    members: dict
    sec1: dict  # student id -> what their sec1_linear.py must hold; every student of the class is here, no other


HOSTILE_DOWNLOADS = [
    *[HostileDownload(f"Moodle before 3.1: a file named to land in another student's folder ({order})",
                      dict(members[::step]), {"777": VICTIM, "555": None})
      for order, step in (("the victim first", 1), ("the victim last", -1))
      for members in [[("Victim Vic_777_assignsubmission_file_sec1_linear.py", VICTIM),
                       ("Evil Eve_555_assignsubmission_file_x_777_assignsubmission_file_sec1_linear.py", EVE)]]],
    HostileDownload("Canvas: a file part that is Moodle's name of another student's file",
                    {"vic_777_10_sec1_linear.py": VICTIM, "eve_555_11_x_777_assignsubmission_file_sec1_linear.py": EVE},
                    {"777": VICTIM, "555": None}),
    HostileDownload("Canvas: files named '.', '..' and '.-1.' (a re-upload of '..')",
                    {"vic_777_10_sec1_linear.py": VICTIM, "eve_555_11_..": EVE, "eve_555_12_.-1.": EVE, "eve_555_13_.": EVE},
                    {"777": VICTIM, "555": None}),
    HostileDownload("Moodle: a full name and file names with control and bidi characters",
                    {"Eve\x1b]52;c;eA==\x07\u202e_555_assignsubmission_file_/sec1_linear\u202e (1).py": EVE,
                     "Eve\x1b]52;c;eA==\x07\u202e_555_assignsubmission_file_/sec1_linear\u202e.py": VICTIM},
                    {"555": None}),
    HostileDownload("Moodle: a file and a folder of one name among a student's files (and a member 'x/.')",
                    {"Vic_777_assignsubmission_file_/sec1_linear.py": VICTIM, "Eve_555_assignsubmission_file_/x": EVE,
                     "Eve_555_assignsubmission_file_/x/y": EVE, "Eve_555_assignsubmission_file_/.": EVE},
                    {"777": VICTIM, "555": None}),
    HostileDownload("Canvas: a thousand re-uploads, the highest file id wins",
                    {f"eve_555_{1000 + i}_sec1_linear-{i}.py": b"# %d\n" % i for i in range(1, 1001)},
                    {"555": b"# 1000\n"}),
]


@pytest.mark.parametrize("case", HOSTILE_DOWNLOADS, ids=lambda c: c.name)
def test_a_hostile_bulk_download_touches_only_its_own_student(case, tmp_path):
    """Names in a bulk download are partly the students' (file names, and often their display names): none may
    put a file into another student's submission, take one out, make an entry of its own, or reach the record
    of the download (or, through it, the gradebook and the class page) unescaped."""
    folder = submission.unpack_class(_zip(tmp_path / "download.zip", case.members), tmp_path / "class")
    entries = {e.student: e for e in submission.discover(folder, ["sec1_linear.py"])}
    assert sorted(entries) == sorted(case.sec1)
    for student, expected in case.sec1.items():
        assert entries[student].sources.get("sec1_linear.py") == expected, student
    accounts = submission.accounts_of(folder)  # what the gradebook and the class page read of the download
    assert unsafe_characters(json.dumps(accounts, ensure_ascii=False)) == [], accounts
    assert sorted(accounts) == sorted(case.sec1)


# --- Gradescope's submission_metadata.json, as the autograder reads it (release.gradescope_policy) ---------------

GS_OWN_DUE = "2025-03-17T23:59:00+09:00"
HOSTILE_METADATA = [  # (why, the file's text, the due date used, the submission time)
    ("a list nested past the JSON decoder's depth", "[" * 100_000, None, None),
    ("not an object", json.dumps(["created_at", "2025-03-16T00:30:00+09:00"]), None, None),
    ("fields of the wrong types", json.dumps({"created_at": 5, "assignment": [], "users": {"a": 1}}), None, None),
    ("users that are not objects, a time with a NUL in it (Python reads it as if it were not there)",
     json.dumps({"created_at": "2025-03-16T00:30:00\x00+09:00", "users": [None, 3, {"assignment": None}]}), None,
     "2025-03-16T00:30:00+09:00"),
    ("dates without an offset, and a date only",
     json.dumps({"created_at": "2025-03-16T00:30:00", "assignment": {"due_date": "2025-03-14"}}), None, None),
    ("the first and last moments a date can hold",
     json.dumps({"created_at": "9999-12-31T23:59:59.999999-14:00", "assignment": {"due_date": "0001-01-01T00:00:00+14:00"}}),
     "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999999-14:00"),
    ("a submitter's own due date beside ones that are not dates",
     json.dumps({"users": [{"assignment": {"due_date": "soon"}}, {"assignment": {"due_date": GS_OWN_DUE}}],
                 "assignment": {"due_date": "2025-03-14T23:59:00+09:00"}}), GS_OWN_DUE, None),
]


@pytest.mark.parametrize("why,text,due,submitted", HOSTILE_METADATA, ids=[m[0] for m in HOSTILE_METADATA])
def test_gradescope_metadata_that_is_not_what_gradescope_writes(why, text, due, submitted, tmp_path):
    """The autograder reads the due date and the submission time from submission_metadata.json; what is not a
    date and time with its offset is left out, and nothing in the file stops the submission from being graded
    (the late policy then applied to its result)."""
    from course.front import release

    (tmp_path / "source").mkdir()
    (tmp_path / "source" / release.SETTINGS_FILE).write_text("[late]\nper_day = 10\n")
    (tmp_path / "submission_metadata.json").write_text(text)
    settings, when = release.gradescope_policy(tmp_path)
    assert (settings.due.isoformat() if settings.due else None, when.isoformat() if when else None) == (due, submitted)
    stored = {"student": "s", "tests": [], "message": "", "grade": {"tasks": {"1.1": {"earned": 1.0, "possible": 2.0}}}}
    grade = policy.apply(stored, settings, [], datetime.now(timezone.utc), when)["grade"]
    assert grade.get("earned", 1.0) == (0.0 if due and submitted else 1.0)


def test_a_plain_class_zip_is_not_regrouped(tmp_path):
    members = {f"{who}/{n}": d for who in ("ada", "ben") for n, d in _ada().items()}
    folder = submission.unpack_class(_zip(tmp_path / "c.zip", members), tmp_path / "class")
    assert submission.accounts_of(folder) == {} and [e.student for e in submission.discover(folder, FILES)] == ["ada", "ben"]


def test_gradebooks_canvas_and_moodle_import():
    results = [made_result("1001", {"2.2": 1}), made_result("77"), made_result("nobody")]
    accounts = {"1001": {"system": "canvas", "id": "1001", "name": "lovelaceada"},
                "77": {"system": "moodle", "id": "77", "name": "Ada Lovelace"}}
    canvas = list(csv.reader(io.StringIO(exports.canvas_gradebook(results, accounts, "PyTorch basics (5678)"))))
    # Canvas's gradebook import matches a row by the ID column; the assignment column by its name "(id)"
    assert canvas == [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "PyTorch basics (5678)"],
                      ["lovelaceada", "1001", "", "", "", "39"]]
    moodle = list(csv.DictReader(io.StringIO(exports.moodle_gradebook(results, accounts, "2025-03-15 10:00:00 +0900"))))
    # Moodle's assignfeedback_offline importer (importgradeslib.php) needs the columns Identifier, Grade and
    # Last modified (grade), and takes the participant id after "Participant " from Identifier
    (row,) = moodle
    assert row["Identifier"][len("Participant "):] == "77" and row["Grade"] == "41" and row["Last modified (grade)"]


# --- a batch with the course's policies -----------------------------------------------------------------------------

def test_batch_applies_settings_and_overrides_and_a_rerun_keeps_them(tmp_path):
    subs = make_class(tmp_path / "class", ["ada", "chloe"])
    out = tmp_path / "out"
    out.mkdir()
    (out / "overrides.csv").write_text("student,task,points,comment\nchloe,1.1,1,regraded by hand\n")
    (tmp_path / "course.toml").write_text(f"due = {(datetime.now(timezone.utc) + timedelta(days=7)).isoformat()}\n")
    for _ in range(2):  # the second run grades nothing again and rebuilds the same
        ran = batch(subs, out, "--course-settings", str(tmp_path / "course.toml"))
        assert ran.clean, ran
        book = gradebook(out)
        assert book["chloe"]["1.1"] == "1" and "set to 1 of 3 by your instructor (regraded by hand)" in book["chloe"]["message"]
        assert {"submitted", "late_days", "late_penalty"} <= book["ada"].keys()
        stored = json.loads((out / "students" / "chloe.json").read_text())
        assert "adjustments" not in stored["grade"]  # the stored result is the graded one
        feedback = (out / "feedback" / "chloe.md").read_text()
        assert "regraded by hand" in feedback and "expected" not in feedback.split("## What to fix")[-1].replace(
            "not the expected value", "").replace("the expected ones", "")
