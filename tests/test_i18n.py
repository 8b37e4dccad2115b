"""Korean and English: the catalog holds a Korean translation of every message the code shows a student,
the committed .mo is the compiled .po, every lesson and stub docstring exists in both languages, and a
buggy submission graded with --lang ko reads Korean and scores exactly as in English."""
from __future__ import annotations

import ast
import gettext
import json
import re

import pytest
from conftest import ROOT, SOLUTIONS, mutate, submission_from_solutions

from course import i18n
from course.engine.result import grade_of, make
from course.content.curriculum import TASKS

HANGUL = re.compile("[\uac00-\ud7a3]")
PO, MO = i18n.catalog_paths("ko")
NO_RELU = ("        h = torch.relu(self.fc1(x))  # (N, in) -> (N, hidden[0])\n"
           "        h = torch.relu(self.fc2(h))  # (N, hidden[0]) -> (N, hidden[1])\n",
           "        h = self.fc1(x)\n        h = self.fc2(h)\n")


@pytest.fixture(scope="module")
def catalog() -> dict[str, i18n.Entry]:
    return {entry.key: entry for entry in i18n.read_po(PO)[1]}


def test_every_message_the_code_shows_has_korean(catalog):
    used = i18n.messages()
    assert len(used) > 150, "the scan should find the grader's messages"
    assert "apply ReLU after fc1 and after fc2" in used  # a hint, through _()
    assert "a network with other weights run on the same x after forward(x)" in used  # a feedback line
    assert "SimpleNN() has fc1 (11 -> 64), fc2 (64 -> 32), output (32 -> 1)" in used  # a check's title (docstring)
    assert "forward must not modify x" in used  # a public check's title (public/test_sec2_forward.py)
    assert "replace raise NotImplementedError(...) in the functions of tasks {tasks} with your code" in used  # public/conftest.py
    missing = [m for m in used if m not in catalog or not catalog[m].msgstr.strip()]
    assert missing == [], f"{len(missing)} message(s) without Korean: run python -m course.i18n update, translate"
    unused = sorted(set(catalog) - set(used))
    assert unused == [], f"catalog entries no code uses: {unused[:5]}"


def test_translations_keep_every_placeholder_and_are_korean(catalog):
    for entry in catalog.values():
        assert i18n.placeholders(entry.msgid) == i18n.placeholders(entry.msgstr), entry.msgid
        assert HANGUL.search(entry.msgstr) or entry.msgstr == entry.msgid, \
            f"neither Korean nor kept as is (code): {entry.msgid!r} -> {entry.msgstr!r}"
    assert sum(bool(HANGUL.search(e.msgstr)) for e in catalog.values()) > 0.95 * len(catalog)


def test_scan_finds_calls_and_titles_and_refuses_what_it_cannot_translate(tmp_path):
    grader = tmp_path / "grader"
    grader.mkdir()
    source = grader / "test_x.py"
    source.write_text('from course.i18n import _, N_\n'
                      'HINT = N_("kept for later {n}")\n'
                      'class TestX:\n'
                      '    def test_y(self):\n'
                      '        """the title line\n\n        more prose"""\n'
                      '        _("said {what}").format(what=_(HINT)) + C_("column", "points")\n', encoding="utf-8")
    assert i18n.extract([source], tmp_path) == {"kept for later {n}": ["grader/test_x.py:2"],
                                                "the title line": ["grader/test_x.py:4"],
                                                "said {what}": ["grader/test_x.py:8"],
                                                "column\x04points": ["grader/test_x.py:8"]}
    public = tmp_path / "public"
    public.mkdir()
    (public / "test_p.py").write_text('def test_p(sec1):\n    """a public title"""\n\n\ndef helper():\n    """not a title"""\n',
                                      encoding="utf-8")
    (public / "conftest.py").write_text('def test_looking_like_one():\n    """not a title either"""\n    _("said")\n',
                                        encoding="utf-8")
    assert i18n.extract([public / "test_p.py", public / "conftest.py"], tmp_path) == {
        "a public title": ["public/test_p.py:1"], "said": ["public/conftest.py:3"]}
    for bad in ('_(f"got {x}")\n', '_("got {}").format(1)\n', '_("got {0}").format(1)\n', 'C_(CONTEXT, "got")\n'):
        source.write_text(bad, encoding="utf-8")
        with pytest.raises(i18n.ExtractError):
            i18n.extract([source], tmp_path)


def test_committed_mo_is_the_compiled_po_and_gettext_reads_it(tmp_path):
    header, entries = i18n.read_po(PO)
    assert MO.read_bytes() == i18n.mo_bytes(header, entries), "stale: run python -m course.i18n compile"
    with MO.open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    assert compiled.info()["content-type"] == "text/plain; charset=UTF-8"
    for entry in entries:
        got = compiled.pgettext(entry.msgctxt, entry.msgid) if entry.msgctxt else compiled.gettext(entry.msgid)
        assert got == entry.msgstr, entry.key
    copy = tmp_path / "course.po"
    i18n.write_po(copy, header, entries, i18n.PO_COMMENT)
    assert copy.read_bytes() == PO.read_bytes(), "the .po is not in the form python -m course.i18n update writes"


def test_language_comes_from_the_option_then_the_environment_then_english():
    assert i18n.choose(None, {}) == "en"
    assert i18n.choose(None, {"COURSE_LANG": "ko"}) == "ko"
    assert i18n.choose(None, {"COURSE_LANG": "ko_KR.UTF-8"}) == "ko"
    assert i18n.choose("en", {"COURSE_LANG": "ko"}) == "en"
    with pytest.raises(ValueError):
        i18n.choose(None, {"COURSE_LANG": "fr"})
    with pytest.raises(ValueError):
        i18n.set_language("fr")
    with i18n.using("ko"):
        assert i18n.language() == "ko" and i18n._("the bias was not added") == "편향(bias)을 더하지 않았습니다"
    assert i18n.language() == "en" and i18n._("the bias was not added") == "the bias was not added"


def test_padding_counts_hangul_as_two_columns():
    assert i18n.width("과제") == 4 and i18n.width("task") == 4
    assert i18n.pad("과제", 6) == "과제  " and i18n.pad("합계", 7, ">") == "   합계"


def test_every_lesson_has_its_korean_twin():
    english = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "lessons").glob("*.md")}
    korean = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "lessons" / "ko").glob("*.md")}
    assert english and sorted(english) == sorted(korean)
    for name, text in korean.items():
        assert len(HANGUL.findall(text)) > 200, f"lessons/ko/{name} is hardly Korean"
        for pattern in (r"Task \d+\.\d+", r"```"):  # the same tasks and the same number of code blocks
            assert re.findall(pattern, text) == re.findall(pattern, english[name]), f"lessons/ko/{name}: {pattern}"


def test_every_docstring_of_the_exercises_is_bilingual():
    tasks = set()
    for path in sorted(SOLUTIONS.glob("sec*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in [tree, *ast.walk(tree)]:
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and ast.get_docstring(node):
                doc = ast.get_docstring(node)
                where = f"{path.name}:{getattr(node, 'name', 'module')}"
                assert HANGUL.search(doc), f"{where}: no Korean in its docstring"
                assert not HANGUL.search(doc.split("\n\n")[0]), f"{where}: the English comes first"
                tasks.update(re.findall(r"^Task (\d+\.\d+):", doc))
    assert tasks == set(TASKS)


@pytest.fixture
def buggy_forward(tmp_path):
    return submission_from_solutions(tmp_path / "no-relu", {"sec2_forward.py": mutate("sec2_forward.py", *NO_RELU)})


def test_korean_feedback_for_a_buggy_submission_scores_as_in_english(grade, buggy_forward, monkeypatch):
    monkeypatch.delenv(i18n.ENVIRONMENT, raising=False)
    english = grade(buggy_forward, "--grader-seed", "11")
    korean = grade(buggy_forward, "--grader-seed", "11", "--lang", "ko")
    assert english.earned("2.2") == korean.earned("2.2") < TASKS["2.2"].points
    assert [t["metadata"]["earned"] for t in english.report["tests"]] == \
        [t["metadata"]["earned"] for t in korean.report["tests"]]
    feedback = korean.feedback("2.2")[0].splitlines()
    assert feedback[0].startswith("Task 2.2 (SimpleNN.forward), 1점: ") and HANGUL.search(feedback[0])
    assert HANGUL.search(feedback[1]), feedback[1]  # what was checked and what came back
    assert feedback[-1] == "  힌트: fc1 뒤와 fc2 뒤에 ReLU를 적용하세요"
    table = korean.result.stdout.str()
    assert re.search(r"^합계 +\d", table, re.M) and "과제" in table
    assert english.feedback("2.2")[0].splitlines()[-1] == "  hint: apply ReLU after fc1 and after fc2"


def test_english_is_the_default_and_courselang_chooses_korean(grade, buggy_forward, monkeypatch):
    monkeypatch.delenv(i18n.ENVIRONMENT, raising=False)
    english = grade(buggy_forward, "--grader-seed", "11")
    assert not HANGUL.search(english.result.stdout.str())
    assert not HANGUL.search("\n".join(f for t in TASKS for f in english.feedback(t)))
    monkeypatch.setenv(i18n.ENVIRONMENT, "ko")
    korean = grade(buggy_forward, "--grader-seed", "11")
    assert HANGUL.search(korean.feedback("2.2")[0])
    assert not HANGUL.search(grade(buggy_forward, "--grader-seed", "11", "--lang", "en").feedback("2.2")[0])


def made_up_result() -> dict:
    """A stored result of one task, one check of it failed."""
    tasks = {"1.1": {"earned": 2.0, "possible": 3.0, "title": TASKS["1.1"].title}}
    tests = [{"nodeid": "grader/test_sec1_linear.py::t", "name": "Task 1.1: t", "task": "1.1", "points": 1.0,
              "earned": 0.0, "outcome": "failed", "feedback": "Task 1.1 (linear_forward), 1 pt: ..."}]
    return make("kim", "kim", "graded", "", {"grader": "0.1.0+0123456789ab"},
                grade_of(tasks, seed=5, grader="0.1.0+0123456789ab", submission={"problems": {}}), tests)


def test_batch_feedback_file_in_korean():
    from course.render.exports import feedback_markdown

    result = made_up_result()
    english = feedback_markdown(result, TASKS)
    with i18n.using("ko"):
        korean = feedback_markdown(result, TASKS)
    assert not HANGUL.search(english) and "## What to fix" in english
    assert korean.startswith("# kim 피드백\n") and "**2 / 3점 (66.7%)**" in korean
    assert "| 과제 | 내용 | 점수 |" in korean and "## 고칠 점" in korean and "채점에 쓴 시드: 5, 채점기: 0.1.0+0123456789ab." in korean


def test_korean_notebooks_take_the_korean_lesson(tmp_path):
    from course.front.notebooks import write_notebooks

    paths = write_notebooks(tmp_path, lang="ko")
    assert len(paths) == len(list((ROOT / "lessons" / "ko").glob("*.md")))
    for path in paths:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        lesson = "".join(cells[0]["source"])
        assert lesson.startswith((ROOT / "lessons" / "ko" / f"{path.stem}.md").read_text(encoding="utf-8").strip()[:40])
        assert all(HANGUL.search("".join(c["source"]).splitlines()[0]) for c in cells if c["cell_type"] == "code"
                   and "BEGIN HIDDEN TESTS" in "".join(c["source"])), "grade cells say what they are in Korean"
    assert i18n.language() == "en"


def test_words_come_out_in_the_current_language():
    words = i18n.Words({"fix": i18n.N_("What to fix"), "empty": ""})
    assert words["fix"] == "What to fix" and words["empty"] == "" and dict(words) == {"fix": "What to fix", "empty": ""}
    with i18n.using("ko"):
        assert words["fix"] == "고칠 점" and words["empty"] == ""  # gettext("") would be the catalog's header


def test_feedback_page_in_korean():
    from course.render import html_report

    english = html_report.render(made_up_result(), TASKS)
    with i18n.using("ko"):
        korean = html_report.render(made_up_result(), TASKS)
    assert '<html lang="en">' in english and not HANGUL.search(english)
    assert '<html lang="ko">' in korean and "과제별 점수" in korean and "고칠 점" in korean
    assert "y = x W^T + b를 직접 계산" in korean  # the task's title, from the curriculum
