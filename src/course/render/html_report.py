"""A student's feedback as one self-contained HTML page: score table, what to fix, loss curves.

render() takes the result the batch stores in OUT/students/<id>.json (the grade with its tasks,
each test with outcome and feedback, and optionally "curves") and returns a page with no
external references: inline CSS, charts drawn as inline SVG, system fonts, no scripts. Every
piece of text is made safe first (course.untrusted: no control character, lone surrogate or
invisible format character, a capped length) and then HTML-escaped, since feedback quotes what the
submission printed and raised.
The layout is a single column that fits a phone (390 px) and puts the two charts side by side
on a wider screen.
"""
from __future__ import annotations

import math
import re
from html import escape

from course import untrusted
from course.i18n import N_, Words, _, language

WORDS = Words({  # every word a student reads on the page, in one place for the message catalog
    "title": N_("Feedback for {student}"),
    "kicker": N_("PyTorch basics: grader feedback"),
    "points": N_("points"),
    "points_column": N_("Points"),
    "not_graded": N_("Your entry was not graded: {message}"),
    "note": N_("Note: {message}"),
    "per_task": N_("Score per task"),
    "task": N_("Task"),
    "what": N_("What"),
    "total": N_("Total"),
    "to_fix": N_("What to fix"),
    "all_pass": N_("Every check passes. Well done."),
    "curves": N_("Training and validation loss"),
    "curves_intro": N_("Your fit, with your own train_one_epoch and evaluate, trained a small network on the "
                       "course's synthetic data; the reference trained the same network from the same weights."),
    "yours": N_("Your fit"),
    "reference": N_("Reference"),
    "train": N_("train loss"),
    "val": N_("validation loss"),
    "epoch": N_("epoch"),
    "unavailable": N_("Your loss curves are unavailable: {reason}"),
    "clipped": N_("Values above {top:g} are drawn at the top edge."),
    "first_last": N_("{name}, epoch 1 to {epochs}: train loss {train}, validation loss {val}"),
    "footer": N_("Graded with seed {seed} by grader {grader}."),
})

CSS = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:#eef2f6;color:#1f2933;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Noto Sans","Noto Sans KR","Apple SD Gothic Neo",sans-serif}
main{max-width:880px;margin:0 auto;padding:12px}
header{background:#1e3a8a;color:#fff;border-radius:12px;padding:16px 18px 18px}
.kicker{margin:0;font-size:.8rem;letter-spacing:.04em;text-transform:uppercase;opacity:.8}
h1{margin:.2rem 0 .6rem;font-size:1.45rem;line-height:1.25;overflow-wrap:anywhere}
.total{margin:0;font-size:1.05rem}
.total b{font-size:2.1rem;font-variant-numeric:tabular-nums;margin-right:.3rem}
.meter{height:10px;background:rgba(255,255,255,.25);border-radius:5px;margin-top:8px;overflow:hidden}
.meter span{display:block;height:100%;border-radius:5px}
.good{background:#22c55e}.fair{background:#f59e0b}.poor{background:#ef4444}
section{background:#fff;border-radius:12px;padding:14px 16px;margin-top:12px}
h2{margin:0 0 .6rem;font-size:1.15rem}
h3{margin:1rem 0 .4rem;font-size:1rem;overflow-wrap:anywhere}
h3:first-of-type{margin-top:.2rem}
.notice{background:#fff7ed;border:1px solid #fdba74;border-radius:10px;padding:10px 12px;margin:12px 0 0;
overflow-wrap:anywhere}
.notice ul{margin:.3rem 0 0;padding-left:1.2rem}
table{width:100%;border-collapse:collapse;table-layout:fixed;font-variant-numeric:tabular-nums}
col.id{width:3.2em}col.pts{width:6.2em}
th,td{text-align:left;padding:7px 6px;border-bottom:1px solid #e5e9ef;vertical-align:top;overflow-wrap:anywhere}
th{font-size:.8rem;color:#52606d;font-weight:600}
td.id{white-space:nowrap;font-weight:600}
td.pts{text-align:right;white-space:nowrap}
th.pts{text-align:right}
tfoot td,tfoot th{border-bottom:0;font-size:1rem;color:#1f2933;font-weight:700}
code{font:.88em/1.4 ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;background:#f1f4f8;padding:0 .2em;
border-radius:4px}
small{display:block;color:#52606d;font-size:.82rem}
.mark{display:inline-block;min-width:1.3em;margin-left:.35em;padding:0 .3em;border-radius:6px;color:#fff;
text-align:center;font-size:.8rem;line-height:1.5}
.checks{margin:.3rem 0 .35rem;padding-left:1.1rem;font-size:.92rem;overflow-wrap:anywhere}
.checks li{margin:.15rem 0}
pre{margin:0 0 .6rem;padding:8px 10px;background:#0f172a;color:#e2e8f0;border-radius:8px;white-space:pre-wrap;
overflow-wrap:anywhere;font:.82rem/1.45 ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:12px}
figure{margin:0}
figcaption{font-size:.82rem;color:#52606d}
svg{display:block;width:100%;height:auto}
p{margin:.4rem 0}
footer{color:#52606d;font-size:.8rem;padding:10px 4px 24px;overflow-wrap:anywhere}
"""

TRAIN_COLOUR, VAL_COLOUR = "#2563eb", "#ea580c"



def _problem_item(problem: str) -> str:
    """One file-level problem; a syntax error's code line and caret keep their spacing."""
    first, *more = problem.splitlines() or [""]
    code = f"<pre>{escape(chr(10).join(more))}</pre>" if more else ""
    return f"<li>{escape(first)}{code}</li>"

def render(result: dict, tasks: dict | None = None) -> str:
    """One student's result as a complete HTML page (a str); tasks (the curriculum) names each task's function."""
    result = untrusted.tree(result)
    grade = result["grade"]
    student = untrusted.line(result["student"])
    total = f"{grade['earned']:g} / {grade['possible']:g}"
    parts = [
        "<!doctype html>",
        f'<html lang="{language()}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(WORDS['title'].format(student=student))}: {total}</title>",
        f"<style>{CSS}</style></head><body><main>",
        _header(student, grade, total),
        _notices(result),
        _score_table(grade, tasks or {}, total),
        _failures(result, grade, tasks or {}),
        _curves(result.get("curves")),
        _footer(grade, result["key"]),
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _footer(grade: dict, key: dict) -> str:
    return f"<footer>{escape(WORDS['footer'].format(seed=grade['seed'], grader=key.get('grader', '?')))}</footer>"


def _level(earned: float, possible: float) -> str:
    share = earned / possible if possible else 0.0
    return "good" if share >= 0.85 else "fair" if share >= 0.5 else "poor"


def _header(student: str, grade: dict, total: str) -> str:
    width = max(0.0, min(100.0, float(grade["percent"])))
    return (f'<header><p class="kicker">{escape(WORDS["kicker"])}</p>'
            f"<h1>{escape(WORDS['title'].format(student=student))}</h1>"
            f'<p class="total" id="total"><b>{total}</b>{escape(WORDS["points"])} ({grade["percent"]:.1f}%)</p>'
            f'<div class="meter"><span class="{_level(grade["earned"], grade["possible"])}" '
            f'style="width:{width:.1f}%"></span></div></header>')


def _notices(result: dict) -> str:
    lines = []
    if result["status"] != "graded":
        lines.append(escape(WORDS["not_graded"].format(message=result["message"])))
    elif result["message"]:
        lines.append(escape(WORDS["note"].format(message=result["message"])))
    problems = list(result["grade"]["submission"]["problems"].values())
    if problems:
        lines.append("<ul>" + "".join(_problem_item(str(p)) for p in problems) + "</ul>")
    return f'<div class="notice">{"".join(lines)}</div>' if lines else ""


def _score_table(grade: dict, tasks: dict, total: str) -> str:
    rows = []
    for tid, row in grade["tasks"].items():
        function = tasks[tid].function if tid in tasks else ""
        title = _(row["title"])  # a curriculum title: the catalog holds it
        what = (f"<code>{escape(function)}</code><small>{escape(title)}</small>" if function
                else escape(title))
        level = _level(row["earned"], row["possible"])
        mark = "✓" if row["earned"] == row["possible"] else "✗" if row["earned"] == 0 else "±"
        rows.append(f'<tr><td class="id">{escape(tid)}</td><td>{what}</td><td class="pts">'
                    f'{row["earned"]:g} / {row["possible"]:g}<span class="mark {level}">{mark}</span></td></tr>')
    return (f"<section><h2>{escape(WORDS['per_task'])}</h2><table>"
            '<colgroup><col class="id"><col><col class="pts"></colgroup>'
            f'<thead><tr><th>{escape(WORDS["task"])}</th><th>{escape(WORDS["what"])}</th>'
            f'<th class="pts">{escape(WORDS["points_column"])}</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody>"
            f'<tfoot><tr><th colspan="2">{escape(WORDS["total"])}</th><td class="pts">{total}</td></tr></tfoot>'
            "</table></section>")


def _failures(result: dict, grade: dict, tasks: dict) -> str:
    """Per task with a failed check: the checks, each distinct feedback once under the checks that gave it."""
    failed: dict[str, list[dict]] = {}
    for test in result["tests"]:
        if test["outcome"] != "passed":
            failed.setdefault(test["task"], []).append(test)
    if not failed:
        return "" if result["status"] != "graded" else \
            f"<section><h2>{escape(WORDS['to_fix'])}</h2><p>{escape(WORDS['all_pass'])}</p></section>"
    order = [t for t in grade["tasks"] if t in failed] + [t for t in failed if t not in grade["tasks"]]
    blocks = []
    for tid in order:
        row = grade["tasks"].get(tid, {})
        score = f" ({row['earned']:g} / {row['possible']:g})" if row else ""
        function = f" <code>{escape(tasks[tid].function)}</code>" if tid in tasks else ""
        blocks.append(f'<h3 id="task-{escape(tid)}">{escape(WORDS["task"])} {escape(tid)}{function}{score}</h3>')
        by_body: dict[str, list[str]] = {}
        for test in failed[tid]:
            text = test.get("feedback") or f"{test['name']}: {test['outcome']}"
            head, _, body = str(text).partition("\n")
            by_body.setdefault(_dedent(body), []).append(_CHECK_PREFIX.sub("", head, count=1))
        for body, heads in by_body.items():
            blocks.append('<ul class="checks">' + "".join(f"<li>{escape(h)}</li>" for h in heads) + "</ul>")
            if body.strip():
                blocks.append(f"<pre>{escape(body)}</pre>")
    return f"<section><h2>{escape(WORDS['to_fix'])}</h2>{''.join(blocks)}</section>"


_CHECK_PREFIX = re.compile(r"^Task [\w.]+(?: \([^)]*\))?, ")  # the heading above names the task already


def _dedent(text: str) -> str:
    """The feedback body without the two spaces the terminal layout indents it by."""
    lines = text.splitlines()
    return "\n".join(line[2:] if line.startswith("  ") else line for line in lines).strip("\n")


def _curves(curves: dict | None) -> str:
    if not curves:
        return ""
    reference, yours = curves.get("reference"), curves.get("submission")
    parts = [f"<section><h2>{escape(WORDS['curves'])}</h2><p>{escape(WORDS['curves_intro'])}</p>"]
    if yours is None:
        reason = curves.get("error") or "fit did not run"
        why = escape(WORDS["unavailable"].format(reason=reason))
        parts.append(f'<p class="notice" id="curves-unavailable">{why}</p>')
    panels = [(WORDS["yours"], yours), (WORDS["reference"], reference)]
    panels = [(name, c) for name, c in panels if _usable(c)]
    if panels:
        top, clipped = _y_top([c for _, c in panels], reference if _usable(reference) else None)
        parts.append('<div class="charts">')
        for name, c in panels:
            parts.append(f"<figure>{_svg(name, c, top)}<figcaption>{escape(_summary(name, c))}</figcaption></figure>")
        parts.append("</div>")
        if clipped:
            parts.append(f"<p><small>{escape(WORDS['clipped'].format(top=top))}</small></p>")
    parts.append("</section>")
    return "".join(parts)


def _usable(curve: object) -> bool:
    return (isinstance(curve, dict) and all(isinstance(curve.get(k), list) and curve[k] for k in ("train", "val"))
            and all(type(v) in (int, float) for k in ("train", "val") for v in curve[k]))


def _finite(curves: list[dict]) -> list[float]:
    return [float(v) for c in curves for k in ("train", "val") for v in c[k] if math.isfinite(v)]


def _y_top(curves: list[dict], reference: dict | None) -> tuple[float, bool]:
    """The top of the shared y axis, and whether some value lies above it (a loss that blew up is cut off
    at three times the reference's largest, so the reference stays readable beside it)."""
    values = _finite(curves) or [1.0]
    high = max(values)
    if reference is not None and _finite([reference]):
        high = min(high, 3 * max(_finite([reference])))
    top = _nice_ceiling(max(high, 1e-9))
    return top, any(v > top for c in curves for k in ("train", "val") for v in c[k] if not math.isnan(v))


def _nice_step(span: float, ticks: int = 4) -> float:
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _nice_ceiling(value: float) -> float:
    step = _nice_step(value)
    return math.ceil(value / step - 1e-9) * step


def _svg(name: str, curve: dict, top: float) -> str:
    """One chart: both losses per epoch on a shared y axis from 0 to top."""
    width, height, left, right, upper, lower = 320, 218, 40, 312, 44, 188
    epochs = max(len(curve["train"]), len(curve["val"]))

    def x(i: int) -> float:  # i: 0-based epoch
        return left + (right - left) * (i / (epochs - 1) if epochs > 1 else 0.5)

    def y(v: float) -> float:
        return lower - (lower - upper) * min(max(v, 0.0), top) / top

    out = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{escape(name)}" '
           'font-family="system-ui,sans-serif" font-size="11">',
           f'<text x="{left}" y="14" font-size="13" font-weight="600" fill="#1f2933">{escape(name)}</text>']
    step = _nice_step(top)
    for k in range(int(round(top / step)) + 1):
        value = k * step
        out.append(f'<line x1="{left}" x2="{right}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
                   f'stroke="{"#9aa5b1" if k == 0 else "#e5e9ef"}" stroke-width="1"/>')
        out.append(f'<text x="{left - 5}" y="{y(value) + 4:.1f}" text-anchor="end" fill="#52606d">{value:g}</text>')
    for i in _epoch_ticks(epochs):
        out.append(f'<text x="{x(i):.1f}" y="{lower + 15}" text-anchor="middle" fill="#52606d">{i + 1}</text>')
    out.append(f'<text x="{(left + right) / 2:.0f}" y="{height - 2}" text-anchor="middle" fill="#52606d">'
               f"{escape(WORDS['epoch'])}</text>")
    styles = (("train", TRAIN_COLOUR, ""), ("val", VAL_COLOUR, ' stroke-dasharray="6 4"'))
    for n, (key, colour, dash) in enumerate(styles):
        for segment in _segments(curve[key]):
            points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in segment)
            out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.2" '
                       f'stroke-linejoin="round"{dash}/>')
        lx = left + 4 + n * 120
        out.append(f'<line x1="{lx}" x2="{lx + 22}" y1="26" y2="26" stroke="{colour}" stroke-width="2.5"{dash}/>'
                   f'<text x="{lx + 27}" y="30" fill="#1f2933">{escape(WORDS[key])}</text>')
    out.append("</svg>")
    return "".join(out)


def _epoch_ticks(epochs: int) -> list[int]:
    if epochs <= 6:
        return list(range(epochs))
    step = 5 if epochs <= 30 else int(_nice_step(epochs, 5))
    return [0] + list(range(step - 1, epochs, step))


def _segments(values: list[float]) -> list[list[tuple[int, float]]]:
    """The runs of finite values (NaN and infinity break a line)."""
    runs: list[list[tuple[int, float]]] = [[]]
    for i, v in enumerate(values):
        if math.isfinite(v):
            runs[-1].append((i, float(v)))
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def _summary(name: str, curve: dict) -> str:
    def span(values: list) -> str:
        return f"{values[0]:.3g} → {values[-1]:.3g}"

    return WORDS["first_last"].format(name=name, epochs=len(curve["train"]), train=span(curve["train"]),
                                      val=span(curve["val"]))


def curve_images(curves: dict | None) -> list[tuple[str, str]]:
    """The loss charts of the page as standalone SVG documents, (label, svg) each, for a platform that shows
    images (PrairieLearn's results take them as data URLs); none when there are no usable curves."""
    if not curves:
        return []
    reference, yours = curves.get("reference"), curves.get("submission")
    panels = [(name, c) for name, c in ((WORDS["yours"], yours), (WORDS["reference"], reference)) if _usable(c)]
    if not panels:
        return []
    top, _clipped = _y_top([c for _, c in panels], reference if _usable(reference) else None)
    return [(name, _svg(name, c, top).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="218" ', 1))
            for name, c in panels]
