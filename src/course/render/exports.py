"""What a student's result becomes: the gradebook row, the Markdown feedback, and the results each
learning system reads (Gradescope, PrairieLearn, GitHub Classroom). Each is a function of stored results
only; text in them is made safe here (course.untrusted) for its sink."""
from __future__ import annotations

import csv
import io

from course import untrusted
from course.i18n import _
from course.engine.submission import STATUS_ERROR, STATUS_OK, error_line


def gradebook_csv(results: list[dict], tasks: dict) -> str:
    """One row per student: points per task, total, percent, status, how many integrity flags, and a message
    (for a graded entry, followed by each of its files that could not be graded, and why). Every text cell
    is made safe (course.untrusted.cell: no control character, no formula); a result too broken for its
    row gets a row saying so."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["student", *tasks, "total", "possible", "percent", "status", "integrity_flags", "message"])
    for r in results:
        try:
            row = _gradebook_row(r, tasks)
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


def gradescope_results(result: dict) -> dict:
    """Gradescope's results.json: a score and one entry per test (name, number, score, max_score, status,
    output, visibility)."""
    result = untrusted.tree(result)
    tests = []
    for i, test in enumerate(result["tests"], 1):
        tests.append({"name": test["name"], "number": f"{test['task']}.{i}", "score": test["earned"],
                      "max_score": test["points"], "status": "passed" if test["outcome"] == "passed" else "failed",
                      "output": test.get("feedback", ""), "visibility": "visible"})
    out = {"score": result["grade"]["earned"], "output": result["message"] or f"status: {result['status']}",
           "visibility": "visible", "tests": tests}
    return out


def prairielearn_results(result: dict) -> dict:
    """PrairieLearn's external grading results.json: score as a fraction, gradable, tests with points."""
    result = untrusted.tree(result)
    grade = result["grade"]
    out = {"gradable": result["status"] in (STATUS_OK, "empty"),
           "score": round(grade["earned"] / grade["possible"], 6) if grade["possible"] else 0.0,
           "message": result["message"],
           "tests": [{"name": t["name"], "points": t["earned"], "max_points": t["points"],
                      "message": t.get("feedback", "")} for t in result["tests"]]}
    if not out["gradable"]:
        out["format_errors"] = [result["message"] or result["status"]]
    return out


def classroom_results(result: dict) -> dict:
    """The result a GitHub Classroom grading step reports (version, status, max_score, tests)."""
    result = untrusted.tree(result)
    tests = [{"name": t["name"], "status": "pass" if t["outcome"] == "passed" else "fail",
              "score": t["earned"], "message": t.get("feedback", ""), "test_code": "", "filename": "",
              "line_no": 0, "duration": 0} for t in result["tests"]]
    grade = result["grade"]
    status = "pass" if grade["earned"] == grade["possible"] else ("error" if result["status"] != STATUS_OK else "fail")
    return {"version": 1, "status": status, "max_score": grade["possible"], "tests": tests}


EXPORTERS = {"gradescope": gradescope_results, "prairielearn": prairielearn_results, "classroom": classroom_results}
