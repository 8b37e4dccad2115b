"""What the terminal shows at the end of a run: a submission's score table, or a class's gradebook in short.

Every line is made safe here (course.untrusted.line): names, problems and integrity details quote the
submission, and nothing from it reaches the terminal as a control character. Lines come with pytest's
terminal markup ({"red": True}, ...).
"""
from __future__ import annotations

from pathlib import Path

from course import i18n, untrusted
from course.i18n import C_, _
from course.engine.submission import STATUS_OK, error_line

Line = tuple[str, dict]


def score_table(grade: dict, tasks: dict, steering: dict) -> list[Line]:
    """A submission's notes, the points per task and in total, the integrity flags and the isolation reached."""
    lines: list[Line] = []

    def write(line: str, **markup: bool) -> None:
        lines.append((untrusted.line(line, 400), markup))

    for problem in grade["submission"]["problems"].values():
        first, *more = str(problem).splitlines() or [""]  # a syntax error's code line and caret follow
        write(_("note: {problem}").format(problem=first))
        for line in more:
            write(line)
    for error in grade["errors"]:
        write(f"GRADER CONFIGURATION ERROR: {error}", red=True)
    for nodeid in grade["faults"]:
        write(_("not graded (the grading machine failed, not the submission; rerun): {test}").format(test=nodeid), red=True)
    if grade["not_collected"]:
        write(_("not in this run (earn 0): tasks {tasks}").format(tasks=", ".join(grade["not_collected"])))
    write(i18n.pad(C_("score table", "task"), 6) + i18n.pad(C_("score table", "what"), 44)
          + i18n.pad(C_("score table", "points"), 10, ">"))
    for task_id, entry in grade["tasks"].items():
        what = tasks[task_id].function if task_id in tasks else ""
        mark = "" if entry["earned"] == entry["possible"] else "  <"
        write(f"{task_id:<6}{what[:43]:<44}{entry['earned']:>5g} / {entry['possible']:<3g}{mark}")
    write(f"{i18n.pad(C_('score table', 'total'), 50)}{grade['earned']:>5g} / {grade['possible']:<3g} ({grade['percent']:.1f}%)",
          bold=True)
    flags = [(name, flag) for name, found in grade["integrity"].items() for flag in found]
    if flags:
        write(f"integrity scan: {len(flags)} construct(s) a correct solution never needs (scores unchanged)")
        for name, flag in flags[:20]:
            write(f"  {name}:{flag['line']} [{flag['rule']}] {flag['detail']}")
    isolation = grade["isolation"]
    write(f"isolation {isolation['level']}: {', '.join(isolation['mechanisms'])}")
    for problem in isolation["problems"]:
        write(f"  not available: {problem}")
    for name, value in steering.items():
        write(f"warning: {name}={untrusted.line(value, 80)} was set: it changes how pytest runs the grader; "
              "grade with a clean environment", yellow=True)
    return lines


def class_summary(results: list[dict], out: Path) -> list[str]:
    """The gradebook in short: one line per student, then the totals and where files went."""
    lines = [f"{'student':<24}{'points':>12}{'percent':>9}  status"]
    for r in results:
        try:
            lines.append(_summary_line(r))
        except Exception as e:
            lines.append(f"{untrusted.line(r.get('student', '?'), 23):<24}  its result cannot be shown ({error_line(e)})"[:160])
    graded = [r["grade"]["percent"] for r in results if r.get("status") == STATUS_OK
              and isinstance(r.get("grade"), dict) and isinstance(r["grade"].get("percent"), (int, float))]
    if graded:
        mean = sum(graded) / len(graded)
        lines.append(f"{len(results)} entries, {len(graded)} graded, mean {mean:.1f}%")
    else:
        lines.append(f"{len(results)} entries, none graded")
    lines.append(f"gradebook: {out / 'gradebook.csv'}; per student: {out / 'students'}, "
                 f"{out / 'feedback'}, {out / 'exports'}")
    return [untrusted.line(line, None) for line in lines]


def _summary_line(r: dict, width: int = 160) -> str:
    """One student's line: id, points, percent, status and as much of the message as fits in width (a cut
    message ends with a marker saying how much was left out)."""
    g = r["grade"]
    head = (f"{untrusted.line(r['student'], 23)[:23]:<24}{g['earned']:>6g} / {g['possible']:<3g}{g['percent']:>8.1f}%  "
            f"{untrusted.line(r['status'], 40)}")
    message = untrusted.line(r.get("message", ""), max(20, width - len(head) - 2))
    return f"{head}: {message}" if message else head
