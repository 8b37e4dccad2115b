"""Text from student code is hostile; course.untrusted makes it safe, and every sink shows only safe text.

One table of hostile strings (a lone surrogate, a byte that is not UTF-8, an OSC 52 clipboard write,
CSI cursor movement, an 8-bit CSI, a carriage return before a fake score, bidi overrides, zero-width
characters, NUL and BEL, line separators, a spreadsheet formula, a megabyte) and one table of sinks (the
two functions themselves, a failed check's message, the description of a returned object, the terminal
summary, the gradebook CSV, the Markdown and HTML feedback, the three JSON exports and the stored result).
Each hostile string is put into every text field of a made-up result (student id, message, problems,
ignored names, feedback, integrity details, the loss curves' error) and each sink must give text that
encodes as UTF-8, holds no control, format or surrogate character (newlines and tabs allowed where text
has lines), stays short, and still shows the hostile text, escaped.
"""
from __future__ import annotations

import csv
import html
import io
import json
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from conftest import SOLUTIONS, submission_from_solutions, unsafe_characters

from course import untrusted
from course.engine import checks, result, submission
from course.render import exports, html_report, terminal
from course.content.curriculum import TASKS
from course.feedback import Mismatch
from course.sandbox.wire import Unsupported


@dataclass(frozen=True)
class Case:
    """One hostile string, and what a sink must show of it (escaped)."""

    name: str
    text: str
    shows: str


CASES = [
    Case("lone_surrogate", "bad \ud800 text", "bad \\ud800 text"),
    Case("not_utf8_byte", "caf\udce9", "caf\\xe9"),
    Case("osc52_clipboard", "\x1b]52;c;aGk=\x07", "\\x1b]52;c;aGk=\\x07"),
    Case("csi_cursor", "\x1b[2J\x1b[1A\x1b[2Kdone", "\\x1b[2J\\x1b[1A\\x1b[2Kdone"),
    Case("c1_csi", "\x9b31mred", "\\x9b31mred"),
    Case("fake_score", "oops\r41 / 41 (100.0%)", "oops\\r41 / 41"),
    Case("bidi_override", "abc\u202edcba\u2066x\u2069", "abc\\u202edcba\\u2066x\\u2069"),
    Case("zero_width", "a\u200bb\ufeffc\u2060d", "a\\u200bb\\ufeffc\\u2060d"),
    Case("nul_bell", "a\x00b\x07c\x08", "a\\x00b\\x07c\\x08"),
    Case("separators", "a\u2028b\u2029c\x85", "a\\u2028b\\u2029c\\x85"),
    Case("formula", "=HYPERLINK(\"http://x.invalid\",\"ok\")", "HYPERLINK("),
    Case("megabyte", "x" * (1 << 20), "more characters]"),
    Case("korean", "한국어 피드백: 정답", "한국어 피드백: 정답"),
]


def made_up_result(hostile: str) -> dict:
    """A stored result whose every text field holds the hostile string."""
    tasks = {tid: {"earned": 0.0 if tid == "1.1" else float(t.points), "possible": float(t.points), "title": t.title}
             for tid, t in TASKS.items()}
    earned, possible = sum(t["earned"] for t in tasks.values()), sum(t["possible"] for t in tasks.values())
    grade = result.grade_of(tasks, seed=7, grader="0.1.0+test",
                            submission={"problems": {"sec2_forward.py": hostile}, "ignored": [hostile]},
                            integrity={"sec1_linear.py": [{"rule": "builtins", "line": 3, "detail": hostile}]})
    assert (grade["earned"], grade["possible"]) == (earned, possible)
    tests = [{"nodeid": "grader/test_sec1_linear.py::t", "name": f"Task 1.1: {hostile}", "task": "1.1",
              "points": 3.0, "earned": 0.0, "outcome": "failed",
              "feedback": f"Task 1.1 (linear_forward), 3 pt: shapes\n  raised {hostile}\n  hint: {hostile}"}]
    return result.make(hostile, hostile, "graded", hostile, {"grader": "0.1.0+test", "seed": 7}, grade, tests,
                       {"reference": {"train": [0.7, 0.5], "val": [0.7, 0.6]}, "error": hostile})


def json_strings(text: str) -> str:
    """Every string (keys too) in a JSON document, one per line: what a JSON sink really holds."""
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(json.loads(text))
    return "\n".join(found)


def csv_cells(text: str) -> str:
    return "\n".join(cell for row in csv.reader(io.StringIO(text)) for cell in row)


def stored(hostile: str, tmp_path: Path) -> str:
    """What result.store writes for the result, read back by result.load, as JSON."""
    entry = submission.Entry("sam", "sam", "folder", tmp_path / "sam")
    result.store(tmp_path, made_up_result(hostile), entry, TASKS)
    written = (tmp_path / "students" / "sam.json").read_text(encoding="utf-8")
    return written + "\n" + json.dumps(result.load(tmp_path, entry), ensure_ascii=False)


@dataclass(frozen=True)
class Sink:
    """Where hostile text ends up: render(hostile, tmp_path) gives what is written or shown, and shown(that)
    the text a reader sees (JSON strings decoded, HTML unescaped, CSV cells parsed)."""

    name: str
    render: Callable[[str, Path], str]
    shown: Callable[[str], str] = str
    lines: bool = True  # whether newlines and tabs may appear
    limit: int = 40_000


SINKS = [
    Sink("text", lambda h, _: untrusted.text(h)),
    Sink("line", lambda h, _: untrusted.line(h), lines=False, limit=400),
    Sink("csv_cell", lambda h, _: untrusted.cell(h), lines=False, limit=400),
    Sink("mismatch", lambda h, _: Mismatch(f"expected 1, got {h}", h).message),
    Sink("describe", lambda h, _: checks.describe(Unsupported(h)), lines=False, limit=400),
    Sink("terminal", lambda h, _: "\n".join(terminal.class_summary([made_up_result(h)], Path("out"))), limit=2000),
    Sink("gradebook_csv", lambda h, _: exports.gradebook_csv([made_up_result(h)], TASKS), csv_cells, limit=4000),
    Sink("markdown", lambda h, _: exports.feedback_markdown(made_up_result(h), TASKS)),
    Sink("html", lambda h, _: html_report.render(made_up_result(h), TASKS), html.unescape, limit=80_000),
    *(Sink(platform, lambda h, _, export=export: json.dumps(export(made_up_result(h)), ensure_ascii=False),
           json_strings) for platform, export in exports.EXPORTERS.items()),
    Sink("stored", stored, lambda t: "\n".join(json_strings(part) for part in t.split("\n", 1)), limit=200_000),
]


@pytest.mark.parametrize("sink", SINKS, ids=[s.name for s in SINKS])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_text_reaches_no_sink_raw(case, sink, tmp_path):
    out = sink.render(case.text, tmp_path)
    out.encode("utf-8")  # no lone surrogate left: every sink is a UTF-8 file or terminal
    seen = sink.shown(out)
    assert unsafe_characters(out, sink.lines) == []
    assert unsafe_characters(seen, sink.lines) == []  # nor after JSON or HTML decoding
    assert len(out) <= sink.limit, len(out)
    assert case.shows in seen


@pytest.mark.parametrize("value", ["=1+2", "+1", "-1", "@SUM(A1)", " =1", "＝1"])
def test_a_cell_a_spreadsheet_would_run_starts_with_an_apostrophe(value):
    assert untrusted.cell(value) == "'" + value


def test_every_control_format_and_surrogate_character_is_escaped():
    """The escaper's table against the running Python's Unicode database: nothing of Cc, Cf, Cs, Zl or Zp
    passes through (newline and tab only where text keeps lines)."""
    chars = "".join(chr(c) for c in range(sys.maxunicode + 1)
                    if unicodedata.category(chr(c)) in ("Cc", "Cf", "Cs", "Zl", "Zp"))
    assert unsafe_characters(untrusted.line(chars, None), lines=False) == []
    assert unsafe_characters(untrusted.text(chars, None)) == []
    assert "\n" in untrusted.text(chars, None) and "\n" not in untrusted.line(chars, None)


def test_honest_text_is_left_as_it_is():
    honest = "Task 2.2 (SimpleNN.forward), 3 pt: 값이 다릅니다\n  hint: weight is (out, in)\tok — café"
    assert untrusted.text(honest) == honest
    assert untrusted.tree({"a": [honest, 1.5, None]}) == {"a": [honest, 1.5, None]}


def test_a_tree_made_safe_is_made_safe_once_per_limit():
    """Every renderer of a result calls tree(); a result already made safe is returned as it is, and one
    made safe to a longer limit is made safe again to the shorter one."""
    safe = untrusted.tree({"message": "\x1b[2J" + "x" * 50})
    assert untrusted.tree(safe) is safe
    shorter = untrusted.tree(safe, 20)
    assert shorter is not safe and len(shorter["message"]) < len(safe["message"])
    assert untrusted.tree(dict(safe)) is not safe  # a plain dict is never taken on trust


HOSTILE_CODE = '''
def linear_forward(x, weight, bias=None):
    print("\\x1b]52;c;aGk=\\x07\\x1b[2J fake 41 / 41\\r")
    raise type("\\x1b[2J\\x1b]52;c;aGk=\\x07Evil", (Exception,), {})("\\ud800 \\u202e")


def parameter_shapes(layer):
    return type("\\x1b[1A\\x1b[2KFake\\u202e", (), {})()
'''


def test_a_single_run_shows_and_writes_only_safe_text(grade, tmp_path):
    """`pytest grader --submission` on code that raises, prints and returns hostile text: the terminal, the
    JSON report and the --grader-html page hold none of it raw."""
    source = (SOLUTIONS / "sec1_linear.py").read_text(encoding="utf-8") + HOSTILE_CODE
    folder = submission_from_solutions(tmp_path / "hostile", {"sec1_linear.py": source})
    page = tmp_path / "report.html"
    graded = grade(folder, "--grader-html", str(page), "--color=no")
    assert graded.result.ret in (0, 1), graded.result.stdout.str()
    assert graded.earned("1.1") == 0 and graded.earned("1.2") < TASKS["1.2"].points
    terminal = "\n".join(graded.result.outlines + graded.result.errlines)
    feedback = "\n".join(graded.feedback("1.1") + graded.feedback("1.2"))
    report = json.dumps(graded.report, ensure_ascii=False)
    page_text = page.read_text(encoding="utf-8")
    for shown in (terminal, feedback, report, page_text, json_strings(report)):
        assert unsafe_characters(shown) == []
    assert "\\x1b]52;c;aGk=\\x07" in feedback and "\\ud800" in feedback and "\\x1b[1A" in feedback
