"""The class as one page for the instructor: OUT/class.html.

render() takes every entry's stored result (with the file name its outputs carry, its slug) and the class's code
similarity (course.engine.similarity.report, or OUT/similarity.json read back) and returns a page in the manner of
a student's feedback page (course.render.html_report: its style sheet, its score colours), self-contained and one
column at a phone's width:

- the score distribution of graded entries, a histogram drawn as inline SVG, with mean, median and range;
- per task: mean points, how many earned full, partial or zero points;
- the checks that failed most: how many students each hit, its feedback line, the students (linked to their
  feedback pages, feedback/<slug>.html);
- integrity flags per student (never a score change), and every entry that was not graded, with why;
- code similarity per task: the flagged pairs and clusters, and the closest pairs side by side, shared lines marked.

Every text from a submission (ids, messages, feedback, integrity details, code) is made safe (course.untrusted)
and HTML-escaped here; the numbers are those of the gradebook (course.render.exports.gradebook_csv), taken from
the same results.
"""
from __future__ import annotations

import statistics
from html import escape
from course import untrusted
from course.engine.submission import STATUS_OK
from course.i18n import N_, Words, _, language
from course.render import html_report

WORDS = Words({
    "title": N_("Class report"),
    "kicker": N_("PyTorch basics: the class after grading"),
    "summary": N_("{graded} of {entries} entries graded; mean {mean}%, median {median}%"),
    "none_graded": N_("{entries} entries, none graded"),
    "distribution": N_("Score distribution"),
    "distribution_caption": N_("Graded entries by percent of the points, in bands of 10 (the last band holds 100)."),
    "range": N_("lowest {low}%, highest {high}%"),
    "per_task": N_("Per task"),
    "task": N_("Task"),
    "mean": N_("Mean"),
    "full": N_("Full"),
    "partial": N_("Part"),
    "zero": N_("Zero"),
    "per_task_caption": N_("Over the {graded} graded entries: mean points of the task, and how many earned all, "
                           "some or none of them."),
    "failed": N_("Checks that failed most"),
    "most_said": N_("Said most: {line}"),
    "no_failures": N_("No check failed for any graded entry."),
    "and_more": N_("and {count} more"),
    "integrity": N_("Integrity flags"),
    "integrity_caption": N_("Constructs a correct solution never needs, found by reading the code; they never "
                            "change a score."),
    "flags": N_("{count} flags"),
    "no_flags": N_("No submission was flagged."),
    "not_graded": N_("Entries not graded"),
    "status": N_("Status"),
    "student": N_("Student"),
    "why": N_("Why"),
    "similarity": N_("Code similarity"),
    "similarity_caption": N_("Each task's code (the function bodies, the stub's own lines left out) compared between "
                             "every two students, after renaming, layout, comments and the order of independent "
                             "statements are taken out. A pair is listed when at least {threshold}% of the smaller "
                             "body's fingerprints are shared; code common to more than a quarter of the class does not "
                             "count. Similar code is a reason to look, not proof; scores are never changed."),
    "too_short": N_("Too short to compare (under {tokens} tokens, about three lines, where independent solutions are "
                    "alike): tasks {tasks}."),
    "compared": N_("compared: {compared}"),
    "no_pairs": N_("No pair above the threshold."),
    "pair": N_("{a} and {b}: {score}% shared"),
    "cluster": N_("{count} students, {shared} shared:"),
    "side_by_side": N_("Side by side"),
    "side_caption": N_("The closest pairs (one of each kind), shared lines marked."),
    "lines_more": N_("{count} more lines"),
    "unavailable": N_("Similarity is unavailable: {reason}"),
    "footer": N_("Graded with seed {seed} by grader {grader}. Each student's feedback: feedback/<id>.html."),
})

CSS = html_report.CSS + """
.meter{margin-top:10px}
.hist text{font-variant-numeric:tabular-nums}
table.tasks{font-size:.86rem}
table.tasks th,table.tasks td{padding:6px 3px}
table.tasks code{font-size:.92em}
table.tasks col.id{width:2.9em}col.n{width:2.6em}col.mean{width:4.9em}
td.n,th.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.n .mark{margin:0 .25em 0 0}
.count{display:inline-block;min-width:2.2em;margin-right:.4em;padding:0 .35em;border-radius:6px;background:#1e3a8a;
color:#fff;text-align:center;font-size:.82rem;font-weight:600}
ol.top{margin:0;padding-left:1.3rem}ol.top>li{margin:.2rem 0 .8rem;overflow-wrap:anywhere}
.who{font-size:.86rem;color:#52606d}
.who a{color:#1e40af}
.said{display:block;font-size:.86rem;color:#52606d;overflow-wrap:anywhere}
.pairs{margin:.2rem 0 .6rem;padding-left:1.1rem;font-size:.92rem}
.side{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:8px;margin:.3rem 0 1rem}
.side pre{margin:0;font-size:.76rem;min-height:3em}
.side pre b{display:block;color:#93c5fd;font-weight:600;margin-bottom:.2rem}
.side pre .hit{background:#7c2d12;display:block}
.side pre i{font-style:normal;color:#64748b;margin-right:.5em}
"""

_FULL, _PART, _ZERO = "#22c55e", "#f59e0b", "#ef4444"
SHOWN_STUDENTS = 40  # students named under one failed check
TOP_CHECKS = 12


def render(rows: list[tuple[str, dict]], tasks: dict, similarity: dict | None, batch: dict | None = None) -> str:
    """The class page: rows are (slug, result) per entry, in the gradebook's order; similarity is the class's
    similarity report (None: not computed, or a dict {"error": reason})."""
    results = [(slug, untrusted.tree(r)) for slug, r in rows]
    graded = [(slug, r) for slug, r in results if r.get("status") == STATUS_OK]
    batch = batch or {}
    parts = [
        "<!doctype html>",
        f'<html lang="{language()}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(WORDS['title'])}</title>",
        f"<style>{CSS}</style></head><body><main>",
        _header(results, graded),
        _distribution(graded),
        _per_task(graded, tasks),
        _failed_checks(graded, tasks),
        _integrity(graded),
        _not_graded(results),
        _similarity(similarity, tasks),
        f"<footer>{escape(WORDS['footer'].format(seed=untrusted.line(batch.get('seed', '?')), grader=untrusted.line(batch.get('grader', '?'))))}</footer>",
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _link(slug: str, student: str) -> str:
    return f'<a href="feedback/{escape(untrusted.line(slug), quote=True)}.html">{escape(untrusted.line(student))}</a>'


def _pct(value: float) -> str:
    return f"{value:.1f}"


def _header(results: list, graded: list) -> str:
    percents = [float(r["grade"]["percent"]) for _, r in graded]
    if percents:
        line = WORDS["summary"].format(graded=len(graded), entries=len(results), mean=_pct(statistics.fmean(percents)),
                                       median=_pct(statistics.median(percents)))
        mean = statistics.fmean(percents)
        meter = (f'<div class="meter"><span class="{html_report._level(mean, 100)}" '
                 f'style="width:{max(0.0, min(100.0, mean)):.1f}%"></span></div>')
    else:
        line, meter = WORDS["none_graded"].format(entries=len(results)), ""
    return (f'<header><p class="kicker">{escape(WORDS["kicker"])}</p><h1>{escape(WORDS["title"])}</h1>'
            f'<p class="total" id="summary">{escape(line)}</p>{meter}</header>')


def bands(percents: list[float]) -> list[int]:
    """How many percents fall in each band of 10: [0, 10), ..., [80, 90), [90, 100]."""
    counts = [0] * 10
    for p in percents:
        counts[min(9, max(0, int(p // 10)))] += 1
    return counts


def _distribution(graded: list) -> str:
    if not graded:
        return ""
    percents = [float(r["grade"]["percent"]) for _, r in graded]
    counts = bands(percents)
    width, height, left, right, top, bottom = 340, 200, 30, 322, 16, 170
    high = max(counts)
    step = max(1, int(html_report._nice_step(high)))
    ceiling = max(step, -(-high // step) * step)
    slot = (right - left) / 10

    def y(v: float) -> float:
        return bottom - (bottom - top) * v / ceiling

    out = [f'<svg class="hist" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(WORDS["distribution"])}" '
           'font-family="system-ui,sans-serif" font-size="11">']
    for v in range(0, ceiling + 1, step):
        out.append(f'<line x1="{left}" x2="{right}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                   f'stroke="{"#9aa5b1" if v == 0 else "#e5e9ef"}" stroke-width="1"/>'
                   f'<text x="{left - 5}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#52606d">{v}</text>')
    for i, n in enumerate(counts):
        x = left + i * slot + 2
        colour = _ZERO if i < 5 else _PART if i < 8 else _FULL
        if n:
            out.append(f'<rect x="{x:.1f}" y="{y(n):.1f}" width="{slot - 4:.1f}" height="{y(0) - y(n):.1f}" '
                       f'fill="{colour}" rx="2"><title>{i * 10}-{i * 10 + 9 if i < 9 else 100}%: {n}</title></rect>'
                       f'<text class="bar" x="{x + (slot - 4) / 2:.1f}" y="{y(n) - 3:.1f}" text-anchor="middle" '
                       f'fill="#1f2933">{n}</text>')
        out.append(f'<text x="{left + i * slot:.1f}" y="{bottom + 14}" text-anchor="middle" fill="#52606d">{i * 10}</text>')
    out.append(f'<text x="{right:.1f}" y="{bottom + 14}" text-anchor="middle" fill="#52606d">100</text></svg>')
    spread = WORDS["range"].format(low=_pct(min(percents)), high=_pct(max(percents)))
    return (f"<section><h2>{escape(WORDS['distribution'])}</h2><figure>{''.join(out)}"
            f"<figcaption>{escape(WORDS['distribution_caption'])} {escape(spread)}</figcaption></figure></section>")


def task_rows(graded: list, tasks: dict) -> dict[str, dict]:
    """Per task over the graded entries: mean points, possible, and how many earned full, partial, zero."""
    rows: dict[str, dict] = {}
    for _slug, r in graded:  # (not `_`: that name is the translation function here)
        for tid, row in r["grade"]["tasks"].items():
            stat = rows.setdefault(tid, {"earned": [], "possible": float(row["possible"]), "full": 0, "partial": 0,
                                         "zero": 0, "title": row.get("title", "")})
            stat["earned"].append(float(row["earned"]))
            kind = "full" if row["earned"] >= row["possible"] else "zero" if row["earned"] <= 0 else "partial"
            stat[kind] += 1
    for stat in rows.values():
        stat["mean"] = statistics.fmean(stat["earned"]) if stat["earned"] else 0.0
    return rows


def _per_task(graded: list, tasks: dict) -> str:
    if not graded:
        return ""
    body = []
    for tid, stat in task_rows(graded, tasks).items():
        function = tasks[tid].function if tid in tasks else ""
        title = _(stat["title"]) if stat["title"] else ""
        what = f"<code>{escape(function)}</code><small>{escape(title)}</small>" if function else escape(title)
        level = html_report._level(stat["mean"], stat["possible"])
        body.append(f'<tr id="task-{escape(tid)}"><td class="id">{escape(tid)}</td><td>{what}</td>'
                    f'<td class="n"><span class="mark {level}">{stat["mean"]:.2f}</span>/{stat["possible"]:g}</td>'
                    f'<td class="n">{stat["full"]}</td><td class="n">{stat["partial"]}</td><td class="n">{stat["zero"]}</td></tr>')
    head = "".join(f'<th class="n">{escape(WORDS[k])}</th>' for k in ("mean", "full", "partial", "zero"))
    return (f"<section><h2>{escape(WORDS['per_task'])}</h2>"
            f"<p><small>{escape(WORDS['per_task_caption'].format(graded=len(graded)))}</small></p><table class=\"tasks\">"
            '<colgroup><col class="id"><col><col class="mean"><col class="n"><col class="n"><col class="n"></colgroup>'
            f"<thead><tr><th>{escape(WORDS['task'])}</th><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
            "</table></section>")


def failed_checks(graded: list) -> list[dict]:
    """Every check that failed for some graded entry: its task, its line, the most said first line of its
    feedback, and the students it hit (slug, id), most students first."""
    checks: dict[str, dict] = {}
    for slug, r in graded:
        for test in r["tests"]:
            if test["outcome"] == "passed":
                continue
            text = str(test.get("feedback") or f"{test['name']}: {test['outcome']}")
            head, _nl, body = text.partition("\n")
            check = checks.setdefault(test["nodeid"], {"task": test["task"], "heads": {}, "said": {}, "students": []})
            line = html_report._CHECK_PREFIX.sub("", head, count=1)
            check["heads"][line] = check["heads"].get(line, 0) + 1
            first = html_report._dedent(body).partition("\n")[0].strip()
            if first:
                check["said"][first] = check["said"].get(first, 0) + 1
            if not check["students"] or check["students"][-1][0] != slug:
                check["students"].append((slug, r["student"]))
    out = []
    for nodeid, c in checks.items():
        out.append({"nodeid": nodeid, "task": c["task"], "line": max(c["heads"], key=lambda k: (c["heads"][k], k)),
                    "said": max(c["said"], key=lambda k: (c["said"][k], k)) if c["said"] else "",
                    "students": c["students"]})
    return sorted(out, key=lambda c: (-len(c["students"]), c["task"], c["nodeid"]))


def _students(people: list[tuple[str, str]]) -> str:
    shown = ", ".join(_link(slug, student) for slug, student in people[:SHOWN_STUDENTS])
    if len(people) > SHOWN_STUDENTS:
        shown += " " + escape(WORDS["and_more"].format(count=len(people) - SHOWN_STUDENTS))
    return shown


def _failed_checks(graded: list, tasks: dict) -> str:
    if not graded:
        return ""
    checks = failed_checks(graded)
    if not checks:
        return f"<section><h2>{escape(WORDS['failed'])}</h2><p>{escape(WORDS['no_failures'])}</p></section>"
    items = []
    for c in checks[:TOP_CHECKS]:
        function = f" <code>{escape(tasks[c['task']].function)}</code>" if c["task"] in tasks else ""
        said = (f'<span class="said">{escape(WORDS["most_said"].format(line=untrusted.line(c["said"], 300)))}</span>'
                if c["said"] else "")
        items.append(f'<li><span class="count">{len(c["students"])}</span>{escape(WORDS["task"])} {escape(c["task"])}'
                     f'{function}: {escape(untrusted.line(c["line"], 400))}{said}'
                     f'<span class="who">{_students(c["students"])}</span></li>')
    more = len(checks) - TOP_CHECKS
    tail = f"<p><small>{escape(WORDS['and_more'].format(count=more))}</small></p>" if more > 0 else ""
    return f"<section><h2>{escape(WORDS['failed'])}</h2><ol class=\"top\">{''.join(items)}</ol>{tail}</section>"


def _integrity(graded: list) -> str:
    flagged = [(slug, r, [(name, f) for name, found in r["grade"]["integrity"].items() for f in found])
               for slug, r in graded]
    flagged = [item for item in flagged if item[2]]
    parts = [f"<section><h2>{escape(WORDS['integrity'])}</h2><p><small>{escape(WORDS['integrity_caption'])}</small></p>"]
    if not flagged:
        parts.append(f"<p>{escape(WORDS['no_flags'])}</p>")
    for slug, r, flags in flagged:
        parts.append(f'<h3>{_link(slug, r["student"])} <small>{escape(WORDS["flags"].format(count=len(flags)))}</small></h3>'
                     '<ul class="checks">')
        for name, f in flags[:10]:
            where = f"{name}:{f.get('line', '?')}" if isinstance(f, dict) else name
            rule = f.get("rule", "") if isinstance(f, dict) else ""
            detail = f.get("detail", "") if isinstance(f, dict) else f
            parts.append(f"<li><code>{escape(untrusted.line(where, 120))}</code> [{escape(untrusted.line(rule, 60))}] "
                         f"{escape(untrusted.line(detail, 300))}</li>")
        if len(flags) > 10:
            parts.append(f"<li>{escape(WORDS['and_more'].format(count=len(flags) - 10))}</li>")
        parts.append("</ul>")
    parts.append("</section>")
    return "".join(parts)


def _not_graded(results: list) -> str:
    others = [(slug, r) for slug, r in results if r.get("status") != STATUS_OK]
    if not others:
        return ""
    rows = "".join(f'<tr><td>{_link(slug, r["student"])}</td><td>{escape(untrusted.line(r["status"], 40))}</td>'
                   f'<td>{escape(untrusted.line(r.get("message", ""), 400))}</td></tr>' for slug, r in others)
    return (f"<section><h2>{escape(WORDS['not_graded'])}</h2><table id=\"not-graded\">"
            '<colgroup><col style="width:28%"><col style="width:22%"><col></colgroup>'
            f"<thead><tr><th>{escape(WORDS['student'])}</th><th>{escape(WORDS['status'])}</th><th>{escape(WORDS['why'])}</th>"
            f"</tr></thead><tbody>{rows}</tbody></table></section>")


def _similarity(similarity: dict | None, tasks: dict) -> str:
    if similarity is None:
        return ""
    head = f"<section id=\"similarity\"><h2>{escape(WORDS['similarity'])}</h2>"
    try:
        if "error" in similarity:
            raise ValueError(similarity["error"])
        return head + _similarity_body(untrusted.tree(similarity), tasks) + "</section>"
    except Exception as e:  # a similarity.json edited or from another version: the rest of the page stands
        reason = untrusted.line(f"{type(e).__name__}: {e}" if not isinstance(e, ValueError) else e, 300)
        return head + f'<p class="notice">{escape(WORDS["unavailable"].format(reason=reason))}</p></section>'


def _similarity_body(sim: dict, tasks: dict) -> str:
    settings = sim["settings"]
    names: dict[str, str] = sim["students"]
    parts = [f"<p><small>{escape(WORDS['similarity_caption'].format(threshold=round(100 * float(settings['threshold']))))}"
             "</small></p>"]
    short = [tid for tid, t in sim["tasks"].items() if not t["compared"] and t["short"]]
    if short:
        parts.append(f"<p><small>{escape(WORDS['too_short'].format(tokens=settings['min_tokens'], tasks=', '.join(short)))}"
                     "</small></p>")
    for tid, t in sim["tasks"].items():
        if not t["compared"]:
            continue
        function = f" <code>{escape(tasks[tid].function)}</code>" if tid in tasks else ""
        parts.append(f'<h3 id="similar-{escape(tid)}">{escape(WORDS["task"])} {escape(tid)}{function} '
                     f"<small>{escape(WORDS['compared'].format(compared=t['compared']))}</small></h3>")
        if not t["pairs"]:
            parts.append(f"<p><small>{escape(WORDS['no_pairs'])}</small></p>")
            continue
        items = []
        for cluster in t["clusters"]:
            people = cluster["students"]
            low, high = round(100 * float(cluster["low"])), round(100 * float(cluster["high"]))
            if len(people) == 2:
                text = escape(WORDS["pair"].format(a="\0a", b="\0b", score=high))
                items.append("<li>" + text.replace("\0a", _link(people[0], names.get(people[0], people[0])))
                             .replace("\0b", _link(people[1], names.get(people[1], people[1]))) + "</li>")
            else:
                share = f"{low}%" if low == high else f"{low}-{high}%"
                listed = ", ".join(_link(s, names.get(s, s)) for s in people)
                items.append(f"<li>{escape(WORDS['cluster'].format(count=len(people), shared=share))} {listed}</li>")
        parts.append(f'<ul class="pairs">{"".join(items)}</ul>')
    if sim.get("shown"):
        parts.append(f"<h3>{escape(WORDS['side_by_side'])}</h3><p><small>{escape(WORDS['side_caption'])}</small></p>")
        for pair in sim["shown"]:
            function = f" <code>{escape(tasks[pair['task']].function)}</code>" if pair["task"] in tasks else ""
            score = round(100 * float(pair["score"]))
            parts.append(f"<h3>{escape(WORDS['task'])} {escape(pair['task'])}{function}: "
                         f"{escape(untrusted.line(pair['a']['student']))} · {escape(untrusted.line(pair['b']['student']))} "
                         f"({score}%)</h3><div class=\"side\">{_code(pair['a'])}{_code(pair['b'])}</div>")
    return "".join(parts)


def _code(side: dict) -> str:
    marked = set(side.get("marked", []))
    lines = []
    for number, text in side["lines"]:
        row = f"<i>{int(number):>3}</i>{escape(untrusted.line(text, 200))}"
        lines.append(f'<span class="hit">{row}</span>' if number in marked else row + "\n")
    more = f"\n… {escape(WORDS['lines_more'].format(count=side['more']))}" if side.get("more") else ""
    return f"<pre><b>{escape(untrusted.line(side['student']))}</b>{''.join(lines)}{more}</pre>"


def choose_language(results: list[dict]) -> str | None:
    """The language the stored results were graded in, when they all agree (key.lang; English when absent)."""
    found = {r.get("key", {}).get("lang", "en") for r in results if isinstance(r, dict) and isinstance(r.get("key"), dict)}
    return found.pop() if len(found) == 1 else None

