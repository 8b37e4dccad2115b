"""Red team: hostile submissions must earn no more than their honest code deserves and leave nothing behind.

Every attack is a submission folder: the reference files, with one exercise file replaced by a stub
(or a deliberately wrong answer) carrying the hostile code, and sometimes extra files planted next to
it. The honest baseline is what that code earns without the attack: 0 for a stub or a wrong answer,
or the grade of the same code without the hostile lines, graded in the same test. Each test asserts:

- the grading run is valid: no INTERNALERROR, exit code 0 or 1, a report with a grade over the whole
  curriculum and no configuration errors;
- the attacked tasks earn no more than their baseline, and every other task earns exactly its baseline;
- no process the attack started is still alive 3 s after grading. Every hostile file first renames
  its process (its comm, with prctl: a runner's /proc is read-only) to a marker unique to the test, which
  forks inherit, and every program it starts carries the marker in its argv; survivors are found in /proc
  and killed by the fixture;
- nothing it planted ran in the judge (marker files under a side directory stay absent), and, where an
  attack reports what it saw through its printed output, the feedback shows it saw nothing useful.

Cases marked xfail(strict=True) are attacks that work today; each reason says why and what stops it
(issue 3). Resource attacks (loops, sleeps, stops, bombs) run in one call early in the run, with
--grader-timeout 3, so that every later call shows whether they did lasting harm.

Each attack is built by the ATTACKS table of tests/attacks.py, which tests/test_redteam_batch.py grades in
a batch: the test of an attack's name (test_resource_abuse for the resource attacks) grades it alone.
"""
from __future__ import annotations

import socket
import time
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest
from attacks import (AFTER_WRITING, ATTACKS, HONEST_BASELINES, IN_FEEDBACK, NOT_IN_FEEDBACK, RESOURCE_ATTACKS,
                     shared_places)
from conftest import S1, S4, SOLUTIONS, Graded, RedTeam, stub, tasks_of, with_prelude

from course.content.curriculum import TASKS, total_points

SEED = ("--grader-seed", "20240611")
SLOW = (*SEED, "--grader-timeout", "3")


def gap(reason: str):
    """An attack that works today: the test must keep failing until the grader stops it."""
    return pytest.mark.xfail(strict=True, reason=reason)


def build(rt: RedTeam, name: str, where: Path | None = None) -> tuple[Path, set[str]]:
    """The submission folder of the attack name, written as the table builds it, and the tasks it attacks."""
    files, planted, attacked = ATTACKS[name](rt)
    folder = rt.folder(files, planted, where)
    if name in AFTER_WRITING:
        AFTER_WRITING[name](folder)
    return folder, attacked


def verdict(rt: RedTeam, name: str, graded: Graded, attacked: set[str], honest: Graded | None = None) -> None:
    """rt.verdict, with what the attack name prints when it worked kept out of the feedback, and what it prints
    when it found nothing required in it (the attack really ran)."""
    rt.verdict(graded, attacked, honest, not_in_feedback=NOT_IN_FEEDBACK.get(name, ()))
    if name in IN_FEEDBACK:
        texts = [text for task in sorted(attacked) for text in graded.feedback(task)]
        assert any(IN_FEEDBACK[name] in text for text in texts), f"{IN_FEEDBACK[name]!r} is in no feedback: {texts}"


def run(rt: RedTeam, name: str, *args: str) -> Graded:
    """The attack name graded alone, with its verdict."""
    folder, attacked = build(rt, name)
    graded = rt.grade(folder, *args)
    verdict(rt, name, graded, attacked)
    return graded


def honest_grade(rt: RedTeam, name: str) -> Graded:
    """The grade of the honest-but-buggy code the attack name hides a mistake of: the bound of its tasks."""
    return rt.grade(rt.folder(HONEST_BASELINES[name]))


# ---------------------------------------------------------------- controls


def test_control_reference_gets_full_marks(rt):
    """The harness itself: the reference with the process tag earns everything and leaves nothing."""
    files = {name: with_prelude((SOLUTIONS / name).read_text(encoding="utf-8")) for name in (S1, S4)}
    graded = rt.grade(rt.folder(files))
    rt.verdict(graded, attacked=set())


def test_control_stubs_earn_nothing_in_their_file(rt):
    """The baseline of most attacks: a stub file earns 0 in its tasks, the other files keep full marks."""
    graded = rt.grade(rt.folder({S1: stub(S1)}))
    rt.verdict(graded, attacked=tasks_of(S1))
    assert graded.grade["earned"] == total_points() - 8


# ---------------------------------------------------------------- cheating the comparison


def test_patched_comparisons_at_import(rt):
    """torch.allclose / equal / testing.assert_close / isclose / Tensor.__eq__ / math.isclose patched at import"""
    run(rt, "patched_comparisons_at_import")


def test_patched_comparisons_inside_the_call(rt):
    """the same patches made inside each function, right before it returns a wrong answer"""
    run(rt, "patched_comparisons_inside_the_call")


def test_always_equal_objects(rt):
    """objects whose == is always True, from every function of sec1 (an int subclass for count_parameters)"""
    run(rt, "always_equal_objects")


def test_lying_tensor_subclass(rt):
    """a torch.Tensor subclass whose __torch_function__ answers True to every comparison"""
    run(rt, "lying_tensor_subclass")


def test_patched_torch_equal_hides_a_changed_input(rt):
    """torch.equal patched in the worker makes forward's in-place change of its input invisible (Task 2.2)"""
    name = "patched_torch_equal_hides_a_changed_input"
    honest = honest_grade(rt, name)
    assert honest.earned("2.2") < TASKS["2.2"].points  # the honest code loses the input_unchanged point
    folder, attacked = build(rt, name)
    verdict(rt, name, rt.grade(folder), attacked, honest)


def test_probe_replaced_through_sys_modules(rt):
    """the submission wraps the worker's own probe (found in sys.modules) to forge its observation (Task 2.2)"""
    name = "probe_replaced_through_sys_modules"
    honest = honest_grade(rt, name)
    folder, attacked = build(rt, name)
    verdict(rt, name, rt.grade(folder), attacked, honest)


def test_patched_grad_mode_fakes_no_grad(rt):
    """evaluate forgets torch.no_grad() but patches torch.is_grad_enabled to answer False (Task 4.3): grad mode
    is no longer scored (no value shows it), so the honest code keeps its points and the patch gains nothing"""
    name = "patched_grad_mode_fakes_no_grad"
    honest = honest_grade(rt, name)
    assert honest.earned("4.3") == TASKS["4.3"].points
    folder, attacked = build(rt, name)
    assert (folder / S4).read_text(encoding="utf-8").count("_rt_real") == 2
    verdict(rt, name, rt.grade(folder), attacked, honest)


# ---------------------------------------------------------------- subverting pytest


def test_patched_pytest_test_report(rt):
    """_pytest.reports.TestReport patched at import to report every test as passed"""
    run(rt, "patched_pytest_test_report")


def test_planted_conftest_and_ini_beside_the_exercises(rt):
    """conftest.py forcing every report to passed, and pytest.ini / tox.ini / setup.cfg / pyproject.toml with addopts"""
    run(rt, "planted_conftest_and_ini_beside_the_exercises")


def test_planted_conftest_and_ini_in_the_working_directory(rt):
    """the same files when the instructor grades from inside the submission folder (it is the cwd)"""
    name = "planted_conftest_and_ini_beside_the_exercises"
    folder, attacked = build(rt, name, where=rt.pytester.path)
    assert Path.cwd() == folder
    verdict(rt, name, rt.grade(folder), attacked)


def test_os_exit_at_import(rt):
    """os._exit(0) at import: the process ends with status 0 and no reply"""
    run(rt, "os_exit_at_import")


def test_sys_exit_at_import(rt):
    """sys.exit(0) at import"""
    run(rt, "sys_exit_at_import")


def test_double_forked_daemon_rewrites_the_report(rt):
    """a setsid daemon, double-forked, that looks for the JSON report under /tmp and the cwd and forges the grade"""
    name = "double_forked_daemon_rewrites_the_report"
    folder, attacked = build(rt, name, where=rt.tmp / rt.tag)
    graded = rt.grade(folder)
    written = rt.report_path(folder).read_bytes()
    time.sleep(2)
    problems = []
    if b"FORGED" in written or graded.grade.get("forged"):
        problems.append("the report was already forged when grading returned")
    if rt.report_path(folder).read_bytes() != written:
        problems.append("the report changed after grading ended")
    try:
        verdict(rt, name, graded, attacked)
    except AssertionError as e:
        problems.append(str(e))
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- forged result frames


def test_forged_frame_on_stdout(rt):
    """a frame with the right answer written to fd 1 and fd 2 before returning a wrong answer"""
    run(rt, "forged_frame_on_stdout")


def test_forged_frame_on_the_result_descriptor(rt):
    """a frame with the right answer written to fd 3, the result pipe, before the probe returns a wrong answer"""
    run(rt, "forged_frame_on_the_result_descriptor")


def test_forged_frames_on_every_other_descriptor(rt):
    """the frame written to fds 0, 2 and 4 to 50 (whatever the worker inherited)"""
    run(rt, "forged_frames_on_every_other_descriptor")


# ---------------------------------------------------------------- stealing answers


def test_sys_modules_hunt_for_the_reference(rt):
    """any loaded module named like a solution, reference or test, or holding another linear_forward"""
    run(rt, "sys_modules_hunt_for_the_reference")


def test_gc_and_frames_hunt_for_the_reference(rt):
    """gc.get_objects() (after gc.unfreeze()), linecache and the caller frames searched for reference code"""
    run(rt, "gc_and_frames_hunt_for_the_reference")


def test_reads_the_reference_from_disk(rt):
    """solutions/sec1_linear.py found by glob and module paths, executed, and its linear_forward answers"""
    run(rt, "reads_the_reference_from_disk")


def test_reads_the_hidden_tests_from_disk(rt):
    """grader/test_sec1_linear.py found and read; the attack prints how much it got"""
    run(rt, "reads_the_hidden_tests_from_disk")


def test_reads_the_reference_from_the_judges_memory(rt):
    """the judge (the zygote's parent) holds the reference source in memory; /proc/<pid>/mem gives it away"""
    run(rt, "reads_the_reference_from_the_judges_memory")


def test_network_connection(rt):
    """a TCP connection to a port the test listens on, sending the marker"""
    name = "network_connection"
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        rt.port = server.getsockname()[1]  # the port the table's build connects to
        folder, attacked = build(rt, name)
        graded = rt.grade(folder)
        server.settimeout(0.2)
        try:
            connection, _ = server.accept()
            connection.close()
            connected = True
        except OSError:
            connected = False
    assert not connected, "the worker opened a TCP connection to 127.0.0.1"
    verdict(rt, name, graded, attacked)


def test_signal_the_judge(rt):
    """the worker finds the judge (its parent's parent) and checks it may signal it, with signal 0"""
    run(rt, "signal_the_judge")


def test_kills_the_zygote(rt):
    """SIGKILL to the worker's parent (the zygote, unless a PID namespace hides it) once: later calls still graded"""
    run(rt, "kills_the_zygote")


# ---------------------------------------------------------------- resource abuse
# Each attack runs in linear_forward's one call with a 3-D x (the third of Task 1.1's four calls), early in
# the run: every call after it, in sec1 and in the other files, shows whether it did lasting damage.


@pytest.mark.parametrize("name", list(RESOURCE_ATTACKS))
def test_resource_abuse(rt, name):
    """loops, sleeps, stops, memory and fork bombs, floods, deep recursion: 0 for sec1, every later call unharmed"""
    folder, attacked = build(rt, name)
    verdict(rt, name, rt.grade(folder, *SLOW), attacked)
    assert rt.report_path(folder).stat().st_size < 1 << 20, "the submission's output reached the report uncapped"


def test_thread_outlives_the_call(rt):
    """a non-daemon thread that keeps appending to a file (where the worker can write) for 10 s after returning"""
    name = "thread_outlives_the_call"
    log = rt.scratch / "thread.log"  # where the table's build has the thread write
    folder, attacked = build(rt, name)
    graded = rt.grade(folder, *SLOW)
    time.sleep(0.3)
    size = log.stat().st_size if log.exists() else 0
    time.sleep(1.0)
    assert (log.stat().st_size if log.exists() else 0) == size, "a thread of the submission still writes after grading"
    verdict(rt, name, graded, attacked)


# ---------------------------------------------------------------- supply chain and deserialization


def test_stale_pyc_of_the_reference(rt):
    """__pycache__ holds the reference compiled with the stub's mtime and size: an import would run it"""
    name = "stale_pyc_of_the_reference"
    folder, attacked = build(rt, name)
    # the forgery is live: Python's own loader accepts the .pyc for the stub and finds the reference in it
    loaded = SourceFileLoader("sec1_linear", str(folder / S1)).get_code("sec1_linear")
    forward = next(c for c in loaded.co_consts if getattr(c, "co_name", "") == "linear_forward")
    assert "NotImplementedError" not in forward.co_names
    verdict(rt, name, rt.grade(folder), attacked)


def test_shadow_modules_planted(rt):
    """torch.py, pytest.py, numpy.py and a course/ package in the submission folder: none may run"""
    run(rt, "shadow_modules_planted")


def test_site_hooks_planted(rt):
    """sitecustomize.py, usercustomize.py and x.pth in the submission folder: none may run"""
    run(rt, "site_hooks_planted")


def test_pickle_payload_in_the_result(rt):
    """linear_forward returns pickle bytes whose __reduce__ would write a file when unpickled"""
    run(rt, "pickle_payload_in_the_result")


def test_source_that_stalls_the_judges_static_scan(rt):
    """nesting past the parser's limits, and a 60 000-part dotted name, for the judge's integrity scan"""
    name = "source_that_stalls_the_judges_static_scan"
    folder, attacked = build(rt, name)
    started = time.monotonic()
    graded = rt.grade(folder)
    seconds = time.monotonic() - started
    verdict(rt, name, graded, attacked)
    assert S1 in graded.grade.get("integrity", {S1: []})
    assert seconds < 8, f"grading took {seconds:.0f} s (about 2 s without the hostile lines)"


def test_terminal_escapes_in_printed_output(rt):
    """printed output with ANSI/OSC escapes, a fake score line and carriage returns, shown back in feedback"""
    graded = run(rt, "terminal_escapes_in_printed_output")
    assert not any("\x1b" in line for line in graded.result.outlines), "escape sequences reached the terminal"


def test_plants_files_where_others_would_find_them(rt, request):
    """a harmless .pth written into site-packages, the course package, /tmp, /var/tmp, /dev/shm and a shared $HOME"""
    name = "plants_files_where_others_would_find_them"
    pth = f"rt-{rt.mark}.pth"

    def planted() -> list[Path]:
        return [p for p in [*(d / pth for d in shared_places()), *Path("/tmp").glob(f"*/{pth}")] if p.exists()]

    request.addfinalizer(lambda: [p.unlink(missing_ok=True) for p in planted()])
    folder, attacked = build(rt, name)
    graded = rt.grade(folder)
    assert not planted(), f"the worker left files where others read: {planted()}"
    verdict(rt, name, graded, attacked)


def test_every_attack_of_the_table_is_graded_alone():
    """each attack of tests/attacks.py has the test of its name here (a resource attack: test_resource_abuse)"""
    alone = {name.removeprefix("test_") for name in globals() if name.startswith("test_")} | set(RESOURCE_ATTACKS)
    assert sorted(set(ATTACKS) - alone) == []
