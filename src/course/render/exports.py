"""What a student's result becomes: the gradebook row, the Markdown feedback, and the results each
learning system reads (Gradescope, PrairieLearn, GitHub Classroom). Each is a function of stored results
only; text in them is made safe here (course.untrusted) for its sink."""
from __future__ import annotations

import base64
import csv
import io
from fractions import Fraction

from course import policy, untrusted
from course.i18n import _
from course.engine.submission import STATUS_ERROR, STATUS_OK, error_line
from course.render import html_report


def gradebook_csv(results: list[dict], tasks: dict, late: bool = False) -> str:
    """One row per student: points per task, total, percent, status, how many integrity flags, and a message
    (for a graded entry, followed by each of its files that could not be graded, and why). Every text cell
    is made safe (course.untrusted.cell: no control character, no formula); a result too broken for its
    row gets a row saying so."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["student", *tasks, "total", "possible", "percent", "status", "integrity_flags", "message",
                     *(["submitted", "late_days", "late_penalty"] if late else [])])
    for r in results:
        try:
            row = _gradebook_row(r, tasks)
            if late:
                when = r.get("late", {})
                row += [untrusted.cell(when.get("submitted", "")), when.get("days", 0), f"{when.get('penalty', 0):g}"]
        except Exception as e:
            row = [untrusted.cell(r.get("student", "?") if isinstance(r, dict) else "?"), *([""] * (len(tasks) + 3)),
                   STATUS_ERROR, "", untrusted.cell(f"its stored result cannot be shown ({error_line(e)})")]
        writer.writerow(row)
    return buf.getvalue()


def _gradebook_row(r: dict, tasks: dict) -> list:
    grade = r["grade"]
    flags = sum(len(v) for v in grade["integrity"].values())
    message = r["message"]
    if r["status"] == STATUS_OK:  # every file that was not graded, and why (missing, too large, unreadable...)
        problems = list(grade["submission"]["problems"].values())
        message = "; ".join([m for m in (message, *problems) if m])
    return [untrusted.cell(r["student"]), *(f"{grade['tasks'].get(t, {}).get('earned', 0.0):g}" for t in tasks),
            f"{grade['earned']:g}", f"{grade['possible']:g}", f"{grade['percent']:.2f}",
            untrusted.cell(r["status"]), flags, untrusted.cell(message, 2 * untrusted.LINE_LIMIT)]


def feedback_markdown(result: dict, tasks: dict) -> str:
    """What a student reads: the total, a table per task, and the feedback of every test that failed."""
    result = untrusted.tree(result)
    grade = result["grade"]
    lines = ["# " + _("Feedback for {student}").format(student=untrusted.line(result["student"])), "",
             "**" + _("{earned} / {possible} points ({percent}%)").format(
                 earned=f"{grade['earned']:g}", possible=f"{grade['possible']:g}", percent=f"{grade['percent']:.1f}") + "**", ""]
    message = untrusted.line(result["message"], 2 * untrusted.LINE_LIMIT)
    if result["status"] != STATUS_OK:
        lines += [_("Your entry was not graded: {message}").format(message=message), ""]
    elif message:
        lines += [_("Note: {message}").format(message=message), ""]
    for problem in grade["submission"]["problems"].values():
        first, *more = str(problem).splitlines() or [""]  # a syntax error's code line and caret follow
        lines.append(f"- {untrusted.line(first)}")
        if more:
            lines += ["", "  ```text", *(f"  {untrusted.line(m).replace('```', chr(39) * 3)}" for m in more), "  ```"]
    if grade["submission"]["problems"]:
        lines.append("")
    lines += [f"| {_('Task')} | {_('What')} | {_('Points')} |", "|---|---|---|"]
    for tid, row in grade["tasks"].items():
        what = tasks[tid].function if tid in tasks else row.get("title", "")
        mark = "" if row["earned"] == row["possible"] else " ✗"
        lines.append(f"| {tid} | `{what}` | {row['earned']:g} / {row['possible']:g}{mark} |")
    failed = [t for t in result["tests"] if t["outcome"] != "passed"]
    if failed:
        lines += ["", "## " + _("What to fix"), ""]
        for text in _grouped(failed, tasks):
            lines += ["```text", text.replace("```", "'''"), "```", ""]
    lines += ["", _("Graded with seed {seed} by grader {grader}.").format(seed=grade["seed"], grader=result["key"]["grader"])]
    return "\n".join(lines).rstrip() + "\n"


def _grouped(failed: list[dict], tasks: dict) -> list[str]:
    """The feedback of failed tests, one block each; except that checks of one task that say exactly the same
    (an untouched stub's "not implemented yet", a file that does not load) are one block, with their count."""
    blocks: dict[tuple, list[dict]] = {}
    for test in failed:
        text = test.get("feedback") or f"Task {test['task']}: {test['outcome']}"
        said = text.partition("\n")[2]
        blocks.setdefault((test["task"], said) if said else (test["nodeid"], text), []).append(test)
    out = []
    for (task, said), tests in blocks.items():
        if len(tests) == 1:
            out.append(tests[0].get("feedback") or f"Task {tests[0]['task']}: {tests[0]['outcome']}")
            continue
        what = tasks[task].function if task in tasks else ""
        points = sum(t["points"] for t in tests)
        out.append(_("Task {task} ({what}): {count} checks, {points} pt").format(
            task=task, what=what, count=len(tests), points=f"{points:g}") + "\n" + said)
    return out


def _view(test: dict) -> tuple[str, str, str]:
    """(visibility, full feedback, brief feedback) of a test row, as course.policy.apply leaves it; a row that
    never went through it has the default visibility and its brief form where the engine stored one."""
    full = test.get("full", test.get("feedback", ""))
    return test.get("visibility", policy.DEFAULT_VISIBILITY), full, test.get("brief") or full


def _numbers(result: dict) -> list[str]:
    """Each test's Gradescope number, task id then the check's place in its task, every part zero-padded to
    the widest in the result, so that numbers sort as text as they do as numbers (2.1.09 before 2.1.10)."""
    places, seen = [], {}
    for test in result["tests"]:
        seen[test["task"]] = seen.get(test["task"], 0) + 1
        places.append([*test["task"].split("."), str(seen[test["task"]])])
    widths: dict[int, int] = {}
    for parts in places:
        for i, part in enumerate(parts):
            widths[i] = max(widths.get(i, 0), len(part))
    return [".".join(p.zfill(widths[i]) if p.isdigit() else p for i, p in enumerate(parts)) for parts in places]


def _adjustment_name(adjustment: dict) -> str:
    if adjustment["kind"] == "late":
        return _("Late penalty: {days} day(s) late").format(days=adjustment["days"])
    what = _("late penalty") if adjustment["task"] == policy.LATE_TASK else _("Task {task}").format(task=adjustment["task"])
    comment = f" ({adjustment['comment']})" if adjustment.get("comment") else ""
    return _("Override by the instructor: {what}").format(what=what) + comment


def _adjustment_points(adjustment: dict) -> float:
    if adjustment["kind"] == "late":
        return adjustment["points"]
    return 0.0 if adjustment["task"] == policy.LATE_TASK else adjustment["to"] - adjustment["from"]


def gradescope_results(result: dict) -> dict:
    """Gradescope's results.json: a score and one entry per test (name, number, score, max_score, status,
    output, visibility). A check whose visibility is after_due_date or after_published shows at once with
    its points, what failed and the hint, and its expected values in a 0-point entry of that visibility;
    a hidden check is a hidden entry. Overrides and the late penalty are entries of their own (max_score 0)."""
    result = untrusted.tree(result)
    tests = []
    for test, number in zip(result["tests"], _numbers(result)):
        visibility, full, brief = _view(test)
        status = "passed" if test["outcome"] == "passed" else "failed"
        tests.append({"name": test["name"], "number": number, "score": test["earned"], "max_score": test["points"],
                      "status": status, "output": full if visibility in ("visible", "hidden") else brief,
                      "visibility": "hidden" if visibility == "hidden" else "visible"})
        if visibility in ("after_due_date", "after_published") and full != brief:
            tests.append({"name": test["name"] + " - " + _("expected values"), "number": number, "score": 0,
                          "max_score": 0, "status": status, "output": full, "visibility": visibility})
    for adjustment in result["grade"].get("adjustments", []):
        tests.append({"name": _adjustment_name(adjustment), "score": _adjustment_points(adjustment), "max_score": 0,
                      "output": "", "visibility": "visible"})
    out = {"score": result["grade"]["earned"], "output": result["message"] or f"status: {result['status']}",
           "visibility": "visible", "tests": tests}
    return out


def prairielearn_results(result: dict) -> dict:
    """PrairieLearn's external grading results.json: score as a fraction, tests with points, the loss curves
    as images (SVG data URLs). An entry that was not graded (nothing submitted, unreadable, the grader's
    own failure) is gradable: false with the reason as message and format_errors, which costs the
    student no attempt."""
    result = untrusted.tree(result)
    grade = result["grade"]
    if result["status"] != STATUS_OK:
        reason = result["message"] or result["status"]
        return {"gradable": False, "score": 0.0, "message": reason, "format_errors": [reason], "tests": []}
    tests = [{"name": t["name"], "points": t["earned"], "max_points": t["points"], "message": t.get("feedback", "")}
             for t in result["tests"]]
    tests += [{"name": _adjustment_name(a), "points": _adjustment_points(a), "max_points": 0, "message": ""}
              for a in grade.get("adjustments", [])]
    out = {"gradable": True,
           "score": round(max(grade["earned"], 0) / grade["possible"], 6) if grade["possible"] else 0.0,
           "message": result["message"], "tests": tests}
    images = html_report.curve_images(result.get("curves"))
    if images:
        out["images"] = [{"label": label, "url": "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()}
                         for label, svg in images]
    return out


def classroom_results(result: dict) -> dict:
    """The result a GitHub Classroom grading step reports (version, status, max_score, tests), made for what its
    reporter (autograding-grading-reporter) computes: it scores a runner as (tests passed / tests) x max_score
    and posts the sum of tests[].score, so each test here is one equal unit of points (0.5 for this course):
    a task of 3 points is 6 units, as many passed as it earned; both totals are then ours. It prints a test's
    message only when its status is error, so the first failed unit of a task carries the task's feedback
    with that status; a result it cannot grade is all units failed, the first with the reason. It prints a passed
    or failed test's name: units taken by the late penalty say so in theirs, and an instructor's override is said
    in the first unit of its task (the last unit for the late penalty's), in its message when that is what the
    reporter prints of it."""
    result = untrusted.tree(result)
    grade = result["grade"]
    rows = grade["tasks"]
    penalty = -sum(a["points"] for a in grade.get("adjustments", []) if a["kind"] == "late")
    unit = policy.point_unit([*(r["possible"] for r in rows.values()), *(r["earned"] for r in rows.values()), penalty])
    failed: dict[str, list[str]] = {}
    for test in result["tests"]:
        if test["outcome"] != "passed" and test.get("feedback"):
            failed.setdefault(test["task"], []).append(test["feedback"])
    reason = "" if result["status"] == STATUS_OK else (result["message"] or result["status"])
    take = int(round(penalty / unit))  # units of a late penalty: the last passed units fail
    tests, first = [], {}
    for tid, row in rows.items():
        first[tid] = len(tests)
        count, passed = int(round(row["possible"] / unit)), int(round(row["earned"] / unit))
        said = "\n\n".join(failed.get(tid, []))
        for k in range(count):
            name = f"Task {tid}: {row.get('title', '')} ({k + 1}/{count})"
            ok = k < passed
            test = {"name": name, "status": "pass" if ok else "fail", "score": 0,
                    "message": "", "test_code": "", "filename": "", "line_no": 0, "duration": 0}
            if not ok and k == passed and (said or reason):
                test.update(status="error", message=reason or said)
                reason = ""
            tests.append(test)
    for test in reversed(tests):
        if take <= 0:
            break
        if test["status"] == "pass":
            test.update(status="fail", name=test["name"] + " - " + _("late penalty"))
            take -= 1
    total, posted = Fraction(0), 0.0  # the reporter adds the scores up in order: each running sum a decimal of ours
    for test in (t for t in tests if t["status"] == "pass"):
        total += unit
        test["score"] = float(round(total, 6)) - posted  # 0.2 each, but the sum of 154 is 30.8, not 30.799999999999923
        posted += test["score"]
    for adjustment in grade.get("adjustments", []):
        if adjustment["kind"] == "override" and tests:
            test = tests[first.get(adjustment["task"], len(tests) - 1)]
            field, glue = ("message", "\n\n") if test["status"] == "error" else ("name", " - ")
            test[field] += glue + _adjustment_name(adjustment)
    status = "pass" if grade["earned"] == grade["possible"] else ("error" if result["status"] != STATUS_OK else "fail")
    return {"version": 1, "status": status, "max_score": grade["possible"], "tests": tests}


EXPORTERS = {"gradescope": gradescope_results, "prairielearn": prairielearn_results, "classroom": classroom_results}


def canvas_gradebook(results: list[dict], accounts: dict[str, dict], assignment: str) -> str:
    """A CSV Canvas's gradebook import reads: Student, ID, SIS User ID, SIS Login ID, Section, then one column
    named after the assignment with each student's total. Canvas matches a row by its ID (the Canvas user id,
    from the bulk download's file names); an entry with no Canvas id is left out."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment or "PyTorch basics"])
    for r in results:
        account = accounts.get(r.get("student", ""))
        if account and account.get("system") == "canvas":
            writer.writerow([untrusted.cell(account.get("name", "")), untrusted.cell(account["id"]), "", "", "",
                             f"{r['grade']['earned']:g}"])
    return buf.getvalue()


def moodle_gradebook(results: list[dict], accounts: dict[str, dict], when: str) -> str:
    """A CSV Moodle's assignment grading worksheet import reads (offline grading, assignfeedback_offline):
    Identifier ("Participant <id>", the id from the bulk download's folder names), Full name, Grade, Last
    modified (grade), Feedback comments. An entry with no Moodle id is left out."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["Identifier", "Full name", "Grade", "Last modified (grade)", "Feedback comments"])
    for r in results:
        account = accounts.get(r.get("student", ""))
        if account and account.get("system") == "moodle":
            writer.writerow([f"Participant {untrusted.cell(account['id'])}", untrusted.cell(account.get("name", "")),
                             f"{r['grade']['earned']:g}", when, untrusted.cell(r.get("message", ""), 2 * untrusted.LINE_LIMIT)])
    return buf.getvalue()
