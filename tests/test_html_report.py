"""The HTML feedback report (course.render.html_report): escaped, complete and self-contained; written by the batch
beside each feedback/<id>.md and by a single run with --grader-html; its loss curves come from the
submission's own fit in the worker and never change a score; and headless Chromium (Debian's chromium
package, started here) renders it at a phone's width (390 px) with the score showing and nothing wider
than the screen.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import CLASS, Page, batch, chromium, fits_390, gradebook, make_class, results, screenshot, share_of

from course.render import html_report
from course.engine.result import grade_of, make
from course.content.curriculum import TASKS
from course.sandbox.probes import CURVE_EPOCHS

HEADER_RGB = (0x1E, 0x3A, 0x8A)  # the header band behind the total
POOR_RGB = (0xEF, 0x44, 0x44)  # the score meter under 50%
SEED = "11"
CLASS_IDS = ["ada", "ben", "gia", "jon"]


def curve(start: float, end: float) -> list[float]:
    return [start + (end - start) * i / (CURVE_EPOCHS - 1) for i in range(CURVE_EPOCHS)]


def made_up_result(feedback: str = "", **changes) -> dict:
    """A stored result for every task of the curriculum: 2.2 and 4.4 partly or wholly lost, one failed check each."""
    earned = {tid: float(t.points) for tid, t in TASKS.items()} | {"2.2": 1.0, "4.4": 0.0}
    tasks = {tid: {"earned": earned[tid], "possible": float(t.points), "title": t.title} for tid, t in TASKS.items()}
    total, possible = sum(earned.values()), float(sum(t.points for t in TASKS.values()))
    tests = [{"nodeid": "grader/test_sec2_forward.py::t", "name": "Task 2.2: forward", "task": "2.2", "points": 2.0,
              "earned": 0.0, "outcome": "failed",
              "feedback": f"Task 2.2 (SimpleNN.forward), 2 pt: the output matches\n  {feedback or 'wrong values'}"},
             {"nodeid": "grader/test_sec4_training.py::t", "name": "Task 4.4: calls", "task": "4.4", "points": 3.0,
              "earned": 0.0, "outcome": "not run"}]
    made = make("sam", "sam", "graded", "", {"grader": "0.1.0+test", "seed": 5},
                grade_of(tasks, seed=5, grader="0.1.0+test", submission={"problems": {}}), tests,
                {"reference": {"train": curve(0.7, 0.4), "val": curve(0.7, 0.55)},
                 "submission": {"train": curve(0.8, 0.3), "val": curve(0.8, 0.9)}})
    assert made["grade"]["earned"] == total and made["grade"]["possible"] == possible
    made.update(changes)
    return made


# --- the page itself ----------------------------------------------------------------------------------------

def test_feedback_and_names_render_as_text_never_as_markup():
    evil = "<script>alert('printed by the submission')</script> & <img src=x onerror=alert(1)>"
    page_text = html_report.render(made_up_result(evil, student="<b>sam</b>", message="<i>late</i>"), TASKS)
    page = Page(page_text)
    plain = Page(html_report.render(made_up_result("text", student="sam", message="late"), TASKS))
    assert [t for t, _ in page.tags] == [t for t, _ in plain.tags]  # not one element more
    assert page.count("script") == page.count("img") == 0
    assert "<script>alert('printed by the submission')</script>" in page.words  # shown to the student as text
    assert "&lt;script&gt;" in page_text and "<script" not in page_text
    assert "Feedback for <b>sam</b>" in page.words and "Note: <i>late</i>" in page.words


def test_every_task_appears_with_its_points_and_the_total():
    result = made_up_result()
    page = Page(html_report.render(result, TASKS))
    for tid, row in result["grade"]["tasks"].items():
        shown = f"{tid} {TASKS[tid].function} {row['title']} {row['earned']:g} / {row['possible']:g}"
        assert shown in page.words, shown
    total = f"{result['grade']['earned']:g} / {result['grade']['possible']:g}"
    assert f"Total {total}" in page.words
    assert f"{total} points ({result['grade']['percent']:.1f}%)" in page.words
    assert "Task 2.2 SimpleNN.forward (1 / 3)" in page.words and "2 pt: the output matches wrong values" in page.words
    assert "Task 4.4 fit (0 / 3)" in page.words and "Task 4.4: calls: not run" in page.words


def test_page_is_one_document_that_loads_nothing_from_elsewhere():
    text = html_report.render(made_up_result(), TASKS)
    page = Page(text)
    assert page.count("html") == 1 and page.count("style") == 1
    assert page.count("script") == page.count("link") == page.count("img") == page.count("iframe") == 0
    for needle in ("src=", "href=", "http:", "https:", "url(", "@import", "//"):
        assert needle not in text, needle
    viewport = [a for t, a in page.tags if t == "meta" and a.get("name") == "viewport"]
    assert viewport and "width=device-width" in viewport[0]["content"]


def test_curves_show_both_fits_on_one_scale():
    page = Page(html_report.render(made_up_result(), TASKS))
    assert page.count("svg") == 2
    labels = [a["aria-label"] for t, a in page.tags if t == "svg"]
    assert labels == ["Your fit", "Reference"]
    lines = [a["points"] for t, a in page.tags if t == "polyline"]
    assert len(lines) == 4 and all(len(p.split()) == CURVE_EPOCHS for p in lines)
    tops = [float(p.split()[0].split(",")[1]) for p in lines]  # first points: yours at 0.8, the reference's at 0.7
    assert tops[0] == tops[1] < tops[2] == tops[3]  # one y axis for both: higher loss, higher on the page
    assert "Your fit, epoch 1 to 15: train loss 0.8 → 0.3, validation loss 0.8 → 0.9" in page.words


def test_failed_fit_is_one_line_saying_why_beside_the_reference_curve():
    curves = {"reference": {"train": curve(0.7, 0.4), "val": curve(0.7, 0.5)},
              "error": "raised ZeroDivisionError: division by zero at sec4_training.py line 9: <x> / 0"}
    page = Page(html_report.render(made_up_result(curves=curves), TASKS))
    assert ("Your loss curves are unavailable: raised ZeroDivisionError: division by zero at sec4_training.py "
            "line 9: <x> / 0") in page.words
    assert [a["aria-label"] for t, a in page.tags if t == "svg"] == ["Reference"]


def test_losses_that_blow_up_are_cut_at_the_top_and_gaps_break_the_line():
    yours = {"train": [0.7, math.nan, 0.5] + [1e6] * (CURVE_EPOCHS - 3), "val": [0.7] * (CURVE_EPOCHS - 1) + [math.inf]}
    reference = {"train": curve(0.7, 0.4), "val": curve(0.7, 0.5)}
    result = made_up_result(curves={"reference": reference, "submission": yours})
    page = Page(html_report.render(result, TASKS))
    lines = [a["points"].split() for t, a in page.tags if t == "polyline"]
    assert [len(p) for p in lines[:3]] == [1, CURVE_EPOCHS - 2, CURVE_EPOCHS - 1]  # NaN splits train; inf ends val
    assert "Values above 3 are drawn at the top edge." in page.words  # 3 x the reference's largest, rounded up
    ys = {float(xy.split(",")[1]) for p in lines for xy in p}
    assert all(math.isfinite(y) for y in ys)


def test_an_entry_that_was_not_graded_says_so():
    result = made_up_result(status="unreadable", message="the zip cannot be read (BadZipFile: not a zip)", tests=[])
    result.pop("curves")
    page = Page(html_report.render(result, TASKS))
    assert "Your entry was not graded: the zip cannot be read (BadZipFile: not a zip)" in page.words
    assert "Every check passes" not in page.words and page.count("svg") == 0


# --- written by the batch and by a single run ----------------------------------------------------------------

@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> SimpleNamespace:
    """Four students (one a zip, one without sec4_training.py) graded with --grader-curves, and again without."""
    base = tmp_path_factory.mktemp("html")
    subs = make_class(base / "class", ["ada", "ben", "gia.zip", "jon"])
    curves, plain = base / "curves", base / "plain"
    for out, extra in ((curves, ["--grader-curves"]), (plain, [])):
        ran = batch(subs, out, "--grader-seed", SEED, *extra)
        assert ran.clean and ran.todo == 4, ran
    return SimpleNamespace(subs=subs, curves=curves, plain=plain)


def test_batch_writes_one_html_report_beside_each_markdown_one(graded):
    for out in (graded.curves, graded.plain):
        files = sorted(p.name for p in (out / "feedback").iterdir())
        assert files == sorted(f"{sid}.{ext}" for sid in CLASS_IDS for ext in ("html", "md")), files
        for sid, row in gradebook(out).items():
            page = Page((out / "feedback" / f"{sid}.html").read_text(encoding="utf-8"))
            assert f"{row['total']} / {row['possible']} points" in page.words, sid
            assert f"Graded with seed {SEED} by grader" in page.words


def test_curves_come_from_each_students_fit_and_never_change_a_score(graded):
    assert (graded.curves / "gradebook.csv").read_bytes() == (graded.plain / "gradebook.csv").read_bytes()
    stored = results(graded.curves)
    for sid in ("ada", "gia"):  # a working fit: their own curves, as plain floats, one per epoch
        mine = stored[sid]["curves"]["submission"]
        assert [len(mine["train"]), len(mine["val"])] == [CURVE_EPOCHS] * 2
        assert all(type(v) is float and math.isfinite(v) for v in mine["train"] + mine["val"])
        assert mine["train"][-1] < mine["train"][0]  # training lowers the training loss
    assert stored["ben"]["curves"]["error"] == "not implemented yet (Task 4.4)"
    assert stored["jon"]["curves"]["error"] == "sec4_training.py is missing from the submission folder"
    assert len({json.dumps(r["curves"]["reference"]) for r in stored.values()}) == 1  # one reference run, same seed
    pages = {sid: Page((graded.curves / "feedback" / f"{sid}.html").read_text(encoding="utf-8")) for sid in CLASS_IDS}
    assert [pages[sid].count("svg") for sid in CLASS_IDS] == [2, 1, 2, 1]
    assert "Your loss curves are unavailable: not implemented yet (Task 4.4)" in pages["ben"].words
    assert all("curves" not in r for r in results(graded.plain).values())
    assert all(Page((graded.plain / "feedback" / f"{sid}.html").read_text()).count("svg") == 0 for sid in CLASS_IDS)


def test_reports_are_rebuilt_from_the_stored_results(graded, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(graded.curves, out)
    before = (out / "feedback" / "ada.html").read_bytes()
    for page in (out / "feedback").glob("*.html"):
        page.unlink()
    ran = batch(graded.subs, out, "--grader-curves")
    assert ran.clean and ran.todo == 0, ran  # nobody regraded: the pages come back from students/<id>.json
    assert (out / "feedback" / "ada.html").read_bytes() == before
    ran = batch(graded.subs, out)  # without --grader-curves the stored results (with curves) are keyed apart
    assert ran.clean and ran.todo == 4, ran
    assert all("curves" not in r for r in results(out).values())


def test_single_run_writes_the_page_with_its_curves(grade, tmp_path):
    page_path = tmp_path / "report" / "chloe.html"
    graded = grade(CLASS / "chloe", "--grader-seed", SEED, "--grader-html", str(page_path))
    plain = grade(CLASS / "chloe", "--grader-seed", SEED)
    assert graded.grade["tasks"] == plain.grade["tasks"]  # the curves cost no points
    page = Page(page_path.read_text(encoding="utf-8"))
    g = graded.grade
    assert f"{g['earned']:g} / {g['possible']:g} points ({g['percent']:.1f}%)" in page.words
    for tid, row in g["tasks"].items():
        assert f"{tid} {TASKS[tid].function} {row['title']} {row['earned']:g} / {row['possible']:g}" in page.words
    assert [a["aria-label"] for t, a in page.tags if t == "svg"] == ["Your fit", "Reference"]
    assert f"Graded with seed {SEED} by grader" in page.words


# --- rendered by a real browser ------------------------------------------------------------------------------

def test_chromium_shows_the_score_on_a_phone(graded, tmp_path):
    page = graded.curves / "feedback" / "ben.html"
    row = gradebook(graded.curves)["ben"]
    total = f"{row['total']} / {row['possible']}"
    pixels = screenshot(tmp_path, page)
    assert pixels.shape == (1200, 390, 3)
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 200, f"only {len(colours)} colours: the page looks blank"
    top = pixels[:200]
    assert share_of(top, HEADER_RGB) > 0.3  # the header band with the total fills the top of the screen
    assert share_of(top, POOR_RGB) > 0.002  # and its meter shows ben's 39%
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    shown = Page(dom)
    assert f"{total} points" in shown.words
    assert any(t == "p" and a.get("id") == "total" for t, a in shown.tags)


def test_chromium_never_scrolls_sideways_at_390px(graded, tmp_path):
    long_line = "Traceback: " + "x" * 300 + " https://example.invalid/" + "a/" * 80
    result = made_up_result(long_line, student="s" * 120, message="m" * 200)
    assert fits_390(tmp_path, html_report.render(result, TASKS), "long")
    assert fits_390(tmp_path, (graded.curves / "feedback" / "ben.html").read_text(encoding="utf-8"), "ben")
    wide = '<!doctype html><html><head><meta name="viewport" content="width=device-width"></head>' \
           '<body><div style="width:600px">too wide</div></body></html>'
    assert not fits_390(tmp_path, wide, "control")  # the probe does see a page that is too wide
