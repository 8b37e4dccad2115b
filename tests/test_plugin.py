"""The grading plugin (course.front.grading) itself, tested with pytester on tiny synthetic grader suites.

Each suite is a made-up curriculum: Task 1.1 (double) and 1.2 (triple) in mod.py, Task 2.1 (negate) in
other.py, a solutions/ folder with the reference files, a submission/ folder with the student's files and
a hidden test file. The real grader/ folder is never used here.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# (id, section, file, function, title, points): the arguments of course.content.curriculum.Task
CURRICULUM = [
    ("1.1", 1, "mod.py", "double", "twice the input", 2),
    ("1.2", 1, "mod.py", "triple", "three times the input", 1),
    ("2.1", 2, "other.py", "negate", "minus the input", 1),
]

REFERENCE = {
    "mod.py": "def double(x):\n    return 2 * x\n\n\ndef triple(x):\n    return 3 * x\n",
    "other.py": "def negate(x):\n    return -x\n",
}

CONFTEST = '''
from pathlib import Path

pytest_plugins = ["course.front.grading"]

HERE = Path(__file__).resolve().parent


def pytest_grading_suite(config):
    from course.content.curriculum import Task
    from course.front.grading import Suite

    tasks = [Task(*row) for row in {rows!r}]
    return Suite(tasks={{t.id: t for t in tasks}}, solutions=HERE / "solutions",
                 default_submission=HERE / "submission")
'''

# The hidden tests of the standard suite: 2 + 1 + 1 points, as in CURRICULUM.
STANDARD_TESTS = '''
import pytest

from course.engine import checks


@pytest.mark.task("1.1")
class TestDouble:
    @pytest.mark.points(1)
    def test_two(self, judge):
        """double(2) is 4"""
        got, want = judge.run("call", "double", [2], {})
        checks.equal(got, want, "double(2)", "multiply by two")

    @pytest.mark.points(1)
    def test_five(self, judge):
        """double(5) is 10"""
        got, want = judge.run("call", "double", [5], {})
        checks.equal(got, want, "double(5)", "multiply by two, do not add two")  # hidden-line-5f3a


@pytest.mark.task("1.2")
@pytest.mark.points(1)
def test_triple(judge):
    """triple(4) is 12"""
    got, want = judge.run("call", "triple", [4], {})
    checks.equal(got, want, "triple(4)", "multiply by three")


@pytest.mark.task("2.1")
@pytest.mark.points(1)
def test_negate(judge):
    """negate(7) is -7"""
    got, want = judge.run("call", "negate", [7], {})
    checks.equal(got, want, "negate(7)", "put a minus sign in front")
'''

ADDS_TWO = "def double(x):\n    return x + 2\n\n\ndef triple(x):\n    return 3 * x\n"  # right for 2 only


class Run:
    """One in-process grading run: its pytest result, stdout and (when asked for) JSON report."""

    def __init__(self, result: pytest.RunResult, report: dict | None) -> None:
        self.result = result
        self.out = result.stdout.str()
        self.report = report
        self.grade = report["grade"] if report else None

    def test(self, name: str) -> dict:
        """The JSON report's entry of the one test whose node id ends with name."""
        found = [t for t in self.report["tests"] if t["nodeid"].endswith(name)]
        assert len(found) == 1, [t["nodeid"] for t in self.report["tests"]]
        return found[0]

    def feedback(self, name: str) -> str:
        return self.test(name)["metadata"].get("feedback", "")


def make_suite(pytester: pytest.Pytester, tests: str = STANDARD_TESTS, changes: dict | None = None,
               curriculum: list = CURRICULUM, test_file: str = "test_hidden.py") -> Path:
    """Write conftest.py, solutions/, submission/ (the reference with changes; None deletes a file) and the
    hidden tests into pytester.path; returns the submission folder."""
    pytester.makepyfile(conftest=CONFTEST.format(rows=curriculum))
    for folder, files in (("solutions", REFERENCE), ("submission", {**REFERENCE, **(changes or {})})):
        (pytester.path / folder).mkdir(exist_ok=True)
        for name, text in files.items():
            if text is not None:
                (pytester.path / folder / name).write_text(text, encoding="utf-8")
    (pytester.path / test_file).write_text(textwrap.dedent(tests), encoding="utf-8")
    return pytester.path / "submission"


def run(pytester: pytest.Pytester, *args: str, json_report: bool = True) -> Run:
    """Grade the suite in pytester.path in this process (it shares the zygote with the other runs)."""
    report = pytester.path / "report.json"
    report.unlink(missing_ok=True)
    extra = ["--json-report", f"--json-report-file={report}"] if json_report else []
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning",
                                          *extra, *args)
    return Run(result, json.loads(report.read_text()) if json_report else None)


def earned(graded: Run) -> dict[str, float]:
    return {task: entry["earned"] for task, entry in graded.grade["tasks"].items()}


# --- markers and a clean run ---------------------------------------------------------------------------------

def test_the_plugin_loads_without_torch():
    """Loading the plugin (and the batch runner) imports no torch: the zygote starts in pytest_configure and
    imports torch on the other core while the judge imports its own, so neither waits for the other."""
    code = "import sys, course.front.grading, course.front.batch; print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]", run.stdout + run.stderr


def test_markers_are_registered(pytester):
    make_suite(pytester)
    listing = run(pytester, "--markers", json_report=False)
    listing.result.stdout.fnmatch_lines(["@pytest.mark.task(id):*", "@pytest.mark.points(n):*"])
    strict = run(pytester, "--strict-markers")
    assert strict.result.ret == pytest.ExitCode.OK, strict.out
    strict.result.assert_outcomes(passed=4)


def test_reference_submission_gets_full_marks_and_a_score_table(pytester):
    make_suite(pytester)
    graded = run(pytester)
    assert graded.result.ret == pytest.ExitCode.OK, graded.out
    assert graded.grade["errors"] == []
    assert graded.grade["earned"] == graded.grade["possible"] == 4
    assert graded.grade["percent"] == 100.0
    assert re.search(r"^1\.1\s+double\s+2 / 2\s*$", graded.out, re.MULTILINE), graded.out
    assert re.search(r"^total\s+4 / 4\s+\(100\.0%\)", graded.out, re.MULTILINE), graded.out


def test_json_grade_holds_the_documented_fields(pytester):
    make_suite(pytester)
    graded = run(pytester, "--grader-seed", "7")
    grade = graded.grade
    assert {"earned", "possible", "percent", "tasks", "seed", "errors"} <= grade.keys()
    assert grade["seed"] == 7
    assert grade["errors"] == []
    assert grade["tasks"] == {
        "1.1": {"earned": 2.0, "possible": 2.0, "title": "twice the input"},
        "1.2": {"earned": 1.0, "possible": 1.0, "title": "three times the input"},
        "2.1": {"earned": 1.0, "possible": 1.0, "title": "minus the input"},
    }
    assert sorted(grade["submission"]["files"]) == ["mod.py", "other.py"]
    for test in graded.report["tests"]:
        assert test["metadata"]["earned"] == test["metadata"]["points"] == 1.0


def test_partial_credit_across_the_tests_of_one_task(pytester):
    make_suite(pytester, changes={"mod.py": ADDS_TWO})
    graded = run(pytester)
    assert earned(graded) == {"1.1": 1.0, "1.2": 1.0, "2.1": 1.0}
    assert graded.grade["tasks"]["1.1"]["possible"] == 2.0
    assert (graded.grade["earned"], graded.grade["possible"], graded.grade["percent"]) == (3.0, 4.0, 75.0)
    assert graded.test("test_two")["metadata"]["earned"] == 1.0
    assert graded.test("test_five")["metadata"]["earned"] == 0.0
    assert re.search(r"^1\.1\s+double\s+1 / 2\s+<$", graded.out, re.MULTILINE), graded.out
    assert re.search(r"^total\s+3 / 4\s+\(75\.0%\)", graded.out, re.MULTILINE), graded.out


# --- what earns nothing, and where "possible" comes from -----------------------------------------------------

OUTCOME_TESTS = '''
import pytest

from course.engine import checks


@pytest.fixture
def broken():
    raise RuntimeError("the fixture broke")


@pytest.fixture
def breaks_afterwards():
    yield
    raise RuntimeError("the teardown broke")


pytestmark = [pytest.mark.task("1.1"), pytest.mark.points(1)]


def test_passes(judge):
    got, want = judge.run("call", "double", [3], {})
    checks.equal(got, want, "double(3)")


def test_setup_error(judge, broken):
    got, want = judge.run("call", "double", [3], {})
    checks.equal(got, want, "double(3)")


def test_teardown_error(judge, breaks_afterwards):
    got, want = judge.run("call", "double", [3], {})
    checks.equal(got, want, "double(3)")


@pytest.mark.skip(reason="not today")
def test_skipped(judge):
    got, want = judge.run("call", "double", [3], {})
    checks.equal(got, want, "double(3)")


@pytest.mark.xfail(reason="expected to fail")
def test_xfailed(judge):
    got, want = judge.run("call", "double", [3], {})
    checks.equal(got, want + 1, "double(3)")


@pytest.mark.xfail(reason="expected to fail, but passes")
def test_xpassed(judge):
    got, want = judge.run("call", "double", [3], {})
    checks.equal(got, want, "double(3)")


def test_deselected(judge):
    got, want = judge.run("call", "double", [3], {})
    checks.equal(got, want, "double(3)")
'''


OUTCOME_CURRICULUM = [("1.1", 1, "mod.py", "double", "twice the input", 7)]  # 7 tests of 1 point


def test_errored_skipped_xfailed_and_deselected_tests_earn_zero_but_count_as_possible(pytester):
    make_suite(pytester, OUTCOME_TESTS, curriculum=OUTCOME_CURRICULUM)
    graded = run(pytester, "-k", "not deselected")
    graded.result.assert_outcomes(passed=2, errors=2, skipped=1, xfailed=1, xpassed=1, deselected=1)
    assert graded.grade["tasks"]["1.1"] == {"earned": 1.0, "possible": 7.0, "title": "twice the input"}
    assert (graded.grade["earned"], graded.grade["possible"]) == (1.0, 7.0)
    assert graded.grade["errors"] == []
    per_test = {t["nodeid"].split("::")[-1]: t["metadata"]["earned"] for t in graded.report["tests"]}
    assert per_test == {"test_passes": 1.0, "test_setup_error": 0.0, "test_teardown_error": 0.0,
                        "test_skipped": 0.0, "test_xfailed": 0.0, "test_xpassed": 0.0}
    assert "internal grader error (RuntimeError)" in graded.feedback("test_setup_error")


def test_possible_comes_from_the_curriculum_not_from_what_ran(pytester):
    make_suite(pytester)
    graded = run(pytester, "-k", "test_negate")
    graded.result.assert_outcomes(passed=1, deselected=3)
    assert earned(graded) == {"1.1": 0.0, "1.2": 0.0, "2.1": 1.0}
    assert (graded.grade["earned"], graded.grade["possible"]) == (1.0, 4.0)


def test_every_reported_test_has_task_points_and_seed_metadata(pytester):
    make_suite(pytester, OUTCOME_TESTS, curriculum=OUTCOME_CURRICULUM)
    graded = run(pytester)
    tests = graded.report["tests"]
    assert {t["outcome"] for t in tests} == {"passed", "error", "skipped", "xfailed", "xpassed"}
    assert len(tests) == 7
    for test in tests:
        meta = test["metadata"]
        assert (meta["task"], meta["points"]) == ("1.1", 1.0), test["nodeid"]
        assert isinstance(meta["seed"], int), test["nodeid"]


# --- a suite that disagrees with its curriculum -------------------------------------------------------------

def test_marker_points_disagreeing_with_the_curriculum_are_a_configuration_error(pytester):
    curriculum = [("1.1", 1, "mod.py", "double", "twice the input", 3), *CURRICULUM[1:]]
    make_suite(pytester, curriculum=curriculum)
    graded = run(pytester)
    assert graded.grade["errors"] == ["task 1.1: the suite holds 2 points, the curriculum 3"]
    assert "GRADER CONFIGURATION ERROR: task 1.1: the suite holds 2 points, the curriculum 3" in graded.out
    assert graded.grade["tasks"]["1.1"]["possible"] == 3.0


def test_a_task_missing_from_the_curriculum_is_a_configuration_error(pytester):
    make_suite(pytester)
    pytester.makepyfile(test_extra='''
        import pytest

        @pytest.mark.task("9.9")
        @pytest.mark.points(1)
        def test_unknown_task():
            pass
    ''')
    graded = run(pytester)
    assert graded.grade["errors"] == ["task 9.9 is not in the curriculum"]
    assert "GRADER CONFIGURATION ERROR: task 9.9 is not in the curriculum" in graded.out


def test_a_misconfigured_suite_never_awards_more_than_possible(pytester):
    curriculum = [("1.1", 1, "mod.py", "double", "twice the input", 1), *CURRICULUM[1:]]
    make_suite(pytester, curriculum=curriculum)  # the two 1.1 tests hold 2 points, the curriculum 1
    graded = run(pytester)
    assert graded.grade["errors"], "the disagreement must be reported"
    assert graded.grade["tasks"]["1.1"]["earned"] <= graded.grade["tasks"]["1.1"]["possible"] == 1.0
    assert graded.grade["earned"] <= graded.grade["possible"]


def test_a_non_numeric_points_marker_is_a_configuration_error(pytester):
    make_suite(pytester)
    pytester.makepyfile(test_extra='''
        import pytest

        @pytest.mark.task("1.1")
        @pytest.mark.points("two")
        def test_bad_points():
            pass
    ''')
    graded = run(pytester, json_report=False)
    assert graded.result.ret != pytest.ExitCode.INTERNAL_ERROR, graded.out
    assert "GRADER CONFIGURATION ERROR" in graded.out
    assert re.search(r"^total\s+4 / 4", graded.out, re.MULTILINE), graded.out


def test_a_test_without_its_markers_is_reported(pytester):
    make_suite(pytester)
    pytester.makepyfile(test_extra='''
        import pytest

        def test_unmarked():
            pass

        @pytest.mark.task("1.1")
        def test_without_points():
            pass
    ''')
    graded = run(pytester)
    assert sorted(graded.grade["errors"]) == [
        "test_extra.py::test_unmarked has no task or points marker",
        "test_extra.py::test_without_points has no task or points marker",
    ]
    assert "GRADER CONFIGURATION ERROR: test_extra.py::test_unmarked has no task or points marker" in graded.out
    assert (graded.grade["earned"], graded.grade["possible"]) == (4.0, 4.0)


# --- feedback -----------------------------------------------------------------------------------------------

def assert_no_traceback(out: str) -> None:
    assert "Traceback" not in out
    assert not re.search(r"^(E|>) ", out, re.MULTILINE), out
    assert "judge.run(" not in out and "checks.equal(" not in out, out


def test_a_failed_check_shows_task_message_and_hint_but_no_test_source(pytester):
    make_suite(pytester, changes={"mod.py": ADDS_TWO})
    graded = run(pytester)
    expected = ("Task 1.1 (double), 1 pt: double(5) is 10\n"
                "  double(5): expected 10, got 7\n"
                "  hint: multiply by two, do not add two")
    assert graded.feedback("test_five") == expected
    graded.result.stdout.fnmatch_lines(["Task 1.1 (double), 1 pt: double(5) is 10",
                                        "  double(5): expected 10, got 7",
                                        "  hint: multiply by two, do not add two"])
    assert "hidden-line-5f3a" not in graded.out
    assert_no_traceback(graded.out)


def test_a_failing_test_with_a_blank_docstring_is_still_graded(pytester):
    make_suite(pytester, '''
        import pytest

        from course.engine import checks


        @pytest.mark.task("1.1")
        @pytest.mark.points(2)
        def test_blank_doc(judge):
            """
            """
            got, want = judge.run("call", "double", [5], {})
            checks.equal(got, want, "double(5)", "multiply by two")
    ''', changes={"mod.py": ADDS_TWO}, curriculum=CURRICULUM[:1])
    graded = run(pytester, json_report=False)
    assert graded.result.ret == pytest.ExitCode.TESTS_FAILED, graded.out
    assert "Task 1.1 (double), 2 pt: test_blank_doc" in graded.out
    assert re.search(r"^total\s+0 / 2", graded.out, re.MULTILINE), graded.out


def test_what_a_failing_submission_printed_is_part_of_the_feedback(pytester):
    raising = "def double(x):\n    print('debug: x is', x)\n    raise ValueError('bad x')\n"
    make_suite(pytester, changes={"mod.py": raising + "\n\ndef triple(x):\n    return 3 * x\n"})
    graded = run(pytester)
    message = graded.feedback("test_five")
    assert "raised ValueError: bad x at mod.py line 3" in message, message
    assert "your code printed (last lines):\n    | debug: x is 5" in message, message


INTERNAL_ERROR_TESTS = '''
import pytest

from course.engine import checks


@pytest.mark.task("1.1")
@pytest.mark.points(2)
def test_grader_fault(judge):
    """double(2) is 4"""
    got, want = judge.run("call", "double", [2], {})
    settings = {}
    checks.equal(got, want * settings["scale"], "double(2)")  # hidden-line-9c2e
'''


def test_a_grader_fault_is_an_internal_error_without_traceback(pytester):
    make_suite(pytester, INTERNAL_ERROR_TESTS, curriculum=CURRICULUM[:1])
    graded = run(pytester)
    assert graded.feedback("test_grader_fault") == (
        "Task 1.1 (double), 2 pt: double(2) is 4\n"
        "  internal grader error (KeyError); rerun with --grader-debug")
    assert "hidden-line-9c2e" not in graded.out
    assert_no_traceback(graded.out)
    assert graded.grade["earned"] == 0.0


def test_grader_debug_shows_the_traceback_of_a_grader_fault(pytester):
    make_suite(pytester, INTERNAL_ERROR_TESTS, curriculum=CURRICULUM[:1])
    graded = run(pytester, "--grader-debug")
    assert "hidden-line-9c2e" in graded.out
    assert re.search(r"^E\s+KeyError: 'scale'", graded.out, re.MULTILINE), graded.out
    assert "internal grader error" not in graded.out
    assert graded.grade["earned"] == 0.0


def test_a_stub_says_not_implemented_yet_without_a_hint(pytester):
    stub = 'def double(x):\n    raise NotImplementedError("not implemented yet (Task 1.1)")\n\n\ndef triple(x):\n    return 3 * x\n'
    make_suite(pytester, changes={"mod.py": stub})
    graded = run(pytester)
    assert graded.feedback("test_two") == "Task 1.1 (double), 1 pt: double(2) is 4\n  not implemented yet (Task 1.1)"
    assert "raised NotImplementedError" not in graded.out
    assert earned(graded) == {"1.1": 0.0, "1.2": 1.0, "2.1": 1.0}


def test_a_syntax_error_zeroes_its_file_and_names_file_and_line(pytester):
    broken = "def double(x):\n    return 2 * x\n\n\ndef triple(x)\n    return 3 * x\n"  # line 5 lacks its colon
    make_suite(pytester, changes={"mod.py": broken})
    graded = run(pytester)
    assert earned(graded) == {"1.1": 0.0, "1.2": 0.0, "2.1": 1.0}
    for name in ("test_two", "test_five", "test_triple"):  # each check only says it could not run
        message = graded.feedback(name)
        assert "could not run: mod.py does not load" in message, message
        assert "SyntaxError" not in message and "hint" not in message, message
    problem = graded.grade["submission"]["problems"]["mod.py"]  # said once, for the file, with a caret
    assert problem.startswith("mod.py does not compile (SyntaxError at line 5, column 14)"), problem
    code, caret = problem.splitlines()[-2:]
    assert code.strip() == "def triple(x)" and caret.index("^") == code.index("x)") + 2, problem
    assert graded.out.count("does not compile") == 1, graded.out


def test_an_endless_loop_times_out_and_the_other_tasks_still_score(pytester):
    endless = "def double(x):\n    while True:\n        pass\n\n\ndef triple(x):\n    return 3 * x\n"
    make_suite(pytester, changes={"mod.py": endless})
    graded = run(pytester, "--grader-timeout", "1")
    assert "did not finish within 1 s" in graded.feedback("test_two")
    assert "did not finish within 1 s" in graded.feedback("test_five")
    assert earned(graded) == {"1.1": 0.0, "1.2": 1.0, "2.1": 1.0}


def test_a_missing_file_is_reported_and_only_its_tasks_lose_points(pytester):
    make_suite(pytester, changes={"mod.py": None})
    graded = run(pytester)
    assert "note: mod.py is missing from the submission folder" in graded.out
    assert graded.feedback("test_triple") == ("Task 1.2 (triple), 1 pt: triple(4) is 12\n"
                                              "  mod.py is missing from the submission folder\n"
                                              "  hint: submit the exercise file itself, under exactly this name")
    assert earned(graded) == {"1.1": 0.0, "1.2": 0.0, "2.1": 1.0}
    assert graded.grade["submission"]["problems"] == {"mod.py": "mod.py is missing from the submission folder"}


def test_a_submission_folder_that_does_not_exist_is_a_usage_error(pytester):
    make_suite(pytester)
    graded = run(pytester, "--submission", str(pytester.path / "no-such-folder"), json_report=False)
    assert graded.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "no such folder" in graded.result.stderr.str()


# --- seeds --------------------------------------------------------------------------------------------------

SEED_TESTS = '''
import pytest
import torch


@pytest.mark.task("1.1")
@pytest.mark.points(1)
def test_first(gen, json_metadata):
    json_metadata["values"] = torch.randn(3, generator=gen).tolist()


@pytest.mark.task("1.1")
@pytest.mark.points(1)
def test_second(gen, json_metadata):
    json_metadata["values"] = torch.randn(3, generator=gen).tolist()
'''


def test_the_header_prints_the_run_seed(pytester):
    make_suite(pytester, SEED_TESTS, curriculum=CURRICULUM[:1])
    graded = run(pytester)
    match = re.search(r"^grader seed: (\d+) \(replay with --grader-seed (\d+)\)$", graded.out, re.MULTILINE)
    assert match, graded.out
    assert int(match[1]) == int(match[2]) == graded.grade["seed"]


def test_a_given_seed_replays_the_inputs(pytester):
    make_suite(pytester, SEED_TESTS, curriculum=CURRICULUM[:1])

    def inputs(seed: str) -> tuple[dict, dict]:
        graded = run(pytester, "--grader-seed", seed)
        assert f"grader seed: {seed} (replay with --grader-seed {seed})" in graded.out
        assert graded.grade["seed"] == int(seed)
        values = {n: graded.test(n)["metadata"]["values"] for n in ("test_first", "test_second")}
        seeds = {n: graded.test(n)["metadata"]["seed"] for n in ("test_first", "test_second")}
        return values, seeds

    values, seeds = inputs("123")
    assert inputs("123") == (values, seeds)
    assert values["test_first"] != values["test_second"]
    assert seeds["test_first"] != seeds["test_second"]
    other_values, other_seeds = inputs("124")
    assert other_values["test_first"] != values["test_first"]
    assert other_seeds["test_first"] != seeds["test_first"]


def test_environment_that_steers_pytest_is_reported(pytester, monkeypatch):
    """PYTEST_ADDOPTS in the judge's environment (the instructor's, never the student's) is named in the
    report and the terminal, and the grade is still computed from the manifest."""
    submission = make_suite(pytester)
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly")
    monkeypatch.delenv("PYTEST_PLUGINS", raising=False)
    graded = run(pytester, "--submission", str(submission))
    assert re.search(r"warning: PYTEST_ADDOPTS=-p no:randomly was set", graded.out), graded.out
    assert graded.grade["environment"] == {"PYTEST_ADDOPTS": "-p no:randomly"}
    assert graded.grade["earned"] == graded.grade["possible"]
