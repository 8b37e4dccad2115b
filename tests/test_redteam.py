"""Red team: hostile submissions must earn no more than their honest code deserves and leave nothing behind.

Every attack is a submission folder: the reference files, with one exercise file replaced by a stub
(or a deliberately wrong answer) carrying the hostile code, and sometimes extra files planted next to
it. The honest baseline is what that code earns without the attack: 0 for a stub or a wrong answer,
or the grade of the same code without the hostile lines, graded in the same test. Each test asserts:

- the grading run is valid: no INTERNALERROR, exit code 0 or 1, a report with a grade over the whole
  curriculum and no configuration errors;
- the attacked tasks earn no more than their baseline, and every other task earns exactly its baseline;
- no process the attack started is still alive 3 s after grading. Every hostile file first renames
  its process (/proc/self/comm) to a marker unique to the test, which forks inherit, and every program
  it starts carries the marker in its argv; survivors are found in /proc and killed by the fixture;
- nothing it planted ran in the judge (marker files under a side directory stay absent), and, where an
  attack reports what it saw through its printed output, the feedback shows it saw nothing useful.

Cases marked xfail(strict=True) are attacks that work today; each reason says why and what stops it
(issue 3). Resource attacks (loops, sleeps, stops, bombs) run in one call early in the run, with
--grader-timeout 3, so that every later call shows whether they did lasting harm.
"""
from __future__ import annotations

import os
import socket
import time
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest
from attacks import (ALWAYS_EQUAL, CHEAT, DAEMON, EVAL_WITHOUT_NO_GRAD, FAKES_NO_GRAD, FIND_ON_DISK, FORGE, GC_HUNT,
                     KILL_THE_ZYGOTE, LAUNCH_DAEMON, LIAR, MUTATES_INPUT, OS_EXIT, PATCHED_EQUAL, PATCHED_TEST_REPORT,
                     PICKLE_PAYLOAD, PLANT_SHARED_FILES, PLANTED_CONFIG, PROBE_FORGERY, READ_THE_HIDDEN_TESTS,
                     READ_THE_REFERENCE, RESOURCE_ATTACKS, SHADOW_MODULES, SIGNAL_THE_JUDGE, SITE_HOOKS,
                     STALLS_THE_SCAN, STEAL_FROM_MEMORY, STEAL_FROM_MEMORY_PRELUDE, SYS_EXIT, SYS_MODULES_HUNT,
                     TERMINAL_ESCAPES, WRONG_REST, forged_then_wrong, network_body, on_3d_call, plant_stale_pyc,
                     shared_places, thread_body)
from conftest import EXERCISES, S1, S2, S4, SOLUTIONS, WRONG_LINEAR, sec1, stub, tasks_of, with_prelude

from course.curriculum import TASKS, total_points

SEED = ("--grader-seed", "20240611")
SLOW = (*SEED, "--grader-timeout", "3")


def gap(reason: str):
    """An attack that works today: the test must keep failing until the grader stops it."""
    return pytest.mark.xfail(strict=True, reason=reason)


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
    files = sec1(prelude=CHEAT + "_rt_cheat()\n", **WRONG_REST)
    rt.verdict(rt.grade(rt.folder(files)), attacked=tasks_of(S1))


def test_patched_comparisons_inside_the_call(rt):
    """the same patches made inside each function, right before it returns a wrong answer"""
    files = sec1("_rt_cheat()\n" + WRONG_LINEAR, prelude=CHEAT,
                 **{name: "_rt_cheat()\n" + body for name, body in WRONG_REST.items()})
    rt.verdict(rt.grade(rt.folder(files)), attacked=tasks_of(S1))


def test_always_equal_objects(rt):
    """objects whose == is always True, from every function of sec1 (an int subclass for count_parameters)"""
    files = sec1("return _RtAnything()\n", prelude=ALWAYS_EQUAL, parameter_shapes="return _RtEqualDict()\n",
                 count_parameters="return _RtEqualInt(0)\n", first_layer_for="return _RtAnything()\n")
    rt.verdict(rt.grade(rt.folder(files)), attacked=tasks_of(S1))


def test_lying_tensor_subclass(rt):
    """a torch.Tensor subclass whose __torch_function__ answers True to every comparison"""
    files = sec1("return torch.zeros(*x.shape[:-1], weight.shape[0]).as_subclass(_RtLiar)\n", prelude=LIAR,
                 count_parameters="return torch.tensor(0).as_subclass(_RtLiar)\n")
    rt.verdict(rt.grade(rt.folder(files)), attacked=tasks_of(S1))


def test_patched_torch_equal_hides_a_changed_input(rt):
    """torch.equal patched in the worker makes forward's in-place change of its input invisible (Task 2.2)"""
    honest = rt.grade(rt.folder({S2: with_prelude(MUTATES_INPUT)}))
    assert honest.earned("2.2") < TASKS["2.2"].points  # the honest code loses the input_unchanged point
    attack = with_prelude(MUTATES_INPUT, PATCHED_EQUAL)
    rt.verdict(rt.grade(rt.folder({S2: attack})), attacked={"2.2"}, honest=honest)


def test_probe_replaced_through_sys_modules(rt):
    """the submission wraps the worker's own probe (found in sys.modules) to forge its observation (Task 2.2)"""
    honest = rt.grade(rt.folder({S2: with_prelude(MUTATES_INPUT)}))
    rt.verdict(rt.grade(rt.folder({S2: with_prelude(MUTATES_INPUT, PROBE_FORGERY)})), attacked={"2.2"}, honest=honest)


def test_patched_grad_mode_fakes_no_grad(rt):
    """evaluate forgets torch.no_grad() but patches torch.is_grad_enabled to answer False (Task 4.3): grad mode
    is no longer scored (no value shows it), so the honest code keeps its points and the patch gains nothing"""
    honest = rt.grade(rt.folder({S4: with_prelude(EVAL_WITHOUT_NO_GRAD)}))
    assert honest.earned("4.3") == TASKS["4.3"].points
    attack = FAKES_NO_GRAD
    assert attack.count("_rt_real") == 2
    rt.verdict(rt.grade(rt.folder({S4: with_prelude(attack)})), attacked={"4.3"}, honest=honest)


# ---------------------------------------------------------------- subverting pytest


def test_patched_pytest_test_report(rt):
    """_pytest.reports.TestReport patched at import to report every test as passed"""
    rt.verdict(rt.grade(rt.folder(sec1(prelude=PATCHED_TEST_REPORT))), attacked=tasks_of(S1))


def test_planted_conftest_and_ini_beside_the_exercises(rt):
    """conftest.py forcing every report to passed, and pytest.ini / tox.ini / setup.cfg / pyproject.toml with addopts"""
    rt.verdict(rt.grade(rt.folder({S1: stub(S1)}, PLANTED_CONFIG)), attacked=tasks_of(S1))


def test_planted_conftest_and_ini_in_the_working_directory(rt):
    """the same files when the instructor grades from inside the submission folder (it is the cwd)"""
    folder = rt.folder({S1: stub(S1)}, PLANTED_CONFIG, where=rt.pytester.path)
    assert Path.cwd() == folder
    rt.verdict(rt.grade(folder), attacked=tasks_of(S1))


def test_os_exit_at_import(rt):
    """os._exit(0) at import: the process ends with status 0 and no reply"""
    rt.verdict(rt.grade(rt.folder(sec1(prelude=OS_EXIT))), attacked=tasks_of(S1))


def test_sys_exit_at_import(rt):
    """sys.exit(0) at import"""
    rt.verdict(rt.grade(rt.folder(sec1(prelude=SYS_EXIT))), attacked=tasks_of(S1))


def test_double_forked_daemon_rewrites_the_report(rt):
    """a setsid daemon, double-forked, that looks for the JSON report under /tmp and the cwd and forges the grade"""
    folder = rt.folder(sec1(LAUNCH_DAEMON, prelude=f"_RT_DAEMON = {DAEMON!r}\n"), where=rt.tmp / rt.tag)
    graded = rt.grade(folder)
    written = rt.report_path(folder).read_bytes()
    time.sleep(2)
    problems = []
    if b"FORGED" in written or graded.grade.get("forged"):
        problems.append("the report was already forged when grading returned")
    if rt.report_path(folder).read_bytes() != written:
        problems.append("the report changed after grading ended")
    try:
        rt.verdict(graded, attacked=tasks_of(S1))
    except AssertionError as e:
        problems.append(str(e))
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- forged result frames


def test_forged_frame_on_stdout(rt):
    """a frame with the right answer written to fd 1 and fd 2 before returning a wrong answer"""
    rt.verdict(rt.grade(rt.folder(sec1(forged_then_wrong("[1, 2]"), prelude=FORGE))), attacked=tasks_of(S1))


def test_forged_frame_on_the_result_descriptor(rt):
    """a frame with the right answer written to fd 3, the result pipe, before the probe returns a wrong answer"""
    rt.verdict(rt.grade(rt.folder(sec1(forged_then_wrong("[3]"), prelude=FORGE))), attacked=tasks_of(S1))


def test_forged_frames_on_every_other_descriptor(rt):
    """the frame written to fds 0, 2 and 4 to 50 (whatever the worker inherited)"""
    fds = "[fd for fd in range(51) if fd not in (1, 3)]"
    rt.verdict(rt.grade(rt.folder(sec1(forged_then_wrong(fds), prelude=FORGE))), attacked=tasks_of(S1))


# ---------------------------------------------------------------- stealing answers


def test_sys_modules_hunt_for_the_reference(rt):
    """any loaded module named like a solution, reference or test, or holding another linear_forward"""
    graded = rt.grade(rt.folder(sec1(SYS_MODULES_HUNT)))
    rt.verdict(graded, attacked=tasks_of(S1))
    assert any("RT-FOUND []" in text for text in graded.feedback("1.1"))


def test_gc_and_frames_hunt_for_the_reference(rt):
    """gc.get_objects() (after gc.unfreeze()), linecache and the caller frames searched for reference code"""
    graded = rt.grade(rt.folder(sec1(GC_HUNT)))
    rt.verdict(graded, attacked=tasks_of(S1))
    assert any("RT-FOUND 0 0" in text for text in graded.feedback("1.1"))


def test_reads_the_reference_from_disk(rt):
    """solutions/sec1_linear.py found by glob and module paths, executed, and its linear_forward answers"""
    rt.verdict(rt.grade(rt.folder(sec1(READ_THE_REFERENCE, prelude=FIND_ON_DISK))), attacked=tasks_of(S1))


def test_reads_the_hidden_tests_from_disk(rt):
    """grader/test_sec1_linear.py found and read; the attack prints how much it got"""
    graded = rt.grade(rt.folder(sec1(READ_THE_HIDDEN_TESTS, prelude=FIND_ON_DISK)))
    rt.verdict(graded, attacked=tasks_of(S1), not_in_feedback=("RT-GRADER-LEAK",))


def test_reads_the_reference_from_the_judges_memory(rt):
    """the judge (the zygote's parent) holds the reference source in memory; /proc/<pid>/mem gives it away"""
    rt.verdict(rt.grade(rt.folder(sec1(STEAL_FROM_MEMORY, prelude=STEAL_FROM_MEMORY_PRELUDE))), attacked=tasks_of(S1))


def test_network_connection(rt):
    """a TCP connection to a port the test listens on, sending the marker"""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        graded = rt.grade(rt.folder(sec1(network_body(server.getsockname()[1]))))
        server.settimeout(0.2)
        try:
            connection, _ = server.accept()
            connection.close()
            connected = True
        except OSError:
            connected = False
    assert not connected, "the worker opened a TCP connection to 127.0.0.1"
    rt.verdict(graded, attacked=tasks_of(S1), not_in_feedback=("RT-NET-OPEN",))


def test_signal_the_judge(rt):
    """the worker finds the judge (its parent's parent) and checks it may signal it, with signal 0"""
    graded = rt.grade(rt.folder(sec1(SIGNAL_THE_JUDGE)))
    rt.verdict(graded, attacked=tasks_of(S1), not_in_feedback=(f"RT-CAN-SIGNAL-JUDGE {os.getpid()}",))


def test_kills_the_zygote(rt):
    """SIGKILL to the worker's parent (the zygote, unless a PID namespace hides it) once: later calls still graded"""
    rt.verdict(rt.grade(rt.folder(sec1(KILL_THE_ZYGOTE))), attacked=tasks_of(S1))


# ---------------------------------------------------------------- resource abuse
# Each attack runs in linear_forward's one call with a 3-D x (the third of Task 1.1's four calls), early in
# the run: every call after it, in sec1 and in the other files, shows whether it did lasting damage.


@pytest.mark.parametrize("name", list(RESOURCE_ATTACKS))
def test_resource_abuse(rt, name):
    """loops, sleeps, stops, memory and fork bombs, floods, deep recursion: 0 for sec1, every later call unharmed"""
    folder = rt.folder(on_3d_call(RESOURCE_ATTACKS[name]))
    graded = rt.grade(folder, *SLOW)
    rt.verdict(graded, attacked=tasks_of(S1), not_in_feedback=("SURVIVED",))
    assert rt.report_path(folder).stat().st_size < 1 << 20, "the submission's output reached the report uncapped"


def test_thread_outlives_the_call(rt):
    """a non-daemon thread that keeps appending to a file (where the worker can write) for 10 s after returning"""
    log = rt.scratch / "thread.log"
    body = thread_body(str(log))
    graded = rt.grade(rt.folder(on_3d_call(body)), *SLOW)
    time.sleep(0.3)
    size = log.stat().st_size if log.exists() else 0
    time.sleep(1.0)
    assert (log.stat().st_size if log.exists() else 0) == size, "a thread of the submission still writes after grading"
    rt.verdict(graded, attacked=tasks_of(S1))


# ---------------------------------------------------------------- supply chain and deserialization


def test_stale_pyc_of_the_reference(rt):
    """__pycache__ holds the reference compiled with the stub's mtime and size: an import would run it"""
    folder = rt.folder({S1: (EXERCISES / S1).read_text(encoding="utf-8")})
    source = plant_stale_pyc(folder)
    # the forgery is live: Python's own loader accepts the .pyc for the stub and finds the reference in it
    loaded = SourceFileLoader("sec1_linear", str(source)).get_code("sec1_linear")
    forward = next(c for c in loaded.co_consts if getattr(c, "co_name", "") == "linear_forward")
    assert "NotImplementedError" not in forward.co_names
    rt.verdict(rt.grade(folder), attacked=tasks_of(S1))


def test_shadow_modules_planted(rt):
    """torch.py, pytest.py, numpy.py and a course/ package in the submission folder: none may run"""
    rt.verdict(rt.grade(rt.folder({S1: stub(S1)}, SHADOW_MODULES)), attacked=tasks_of(S1))


def test_site_hooks_planted(rt):
    """sitecustomize.py, usercustomize.py and x.pth in the submission folder: none may run"""
    rt.verdict(rt.grade(rt.folder({S1: stub(S1)}, SITE_HOOKS)), attacked=tasks_of(S1))


def test_pickle_payload_in_the_result(rt):
    """linear_forward returns pickle bytes whose __reduce__ would write a file when unpickled"""
    rt.verdict(rt.grade(rt.folder(sec1(PICKLE_PAYLOAD))), attacked=tasks_of(S1))


def test_source_that_stalls_the_judges_static_scan(rt):
    """nesting past the parser's limits, and a 60 000-part dotted name, for the judge's integrity scan"""
    files = {S1: stub(S1) + STALLS_THE_SCAN}
    folder = rt.folder(files)
    started = time.monotonic()
    graded = rt.grade(folder)
    seconds = time.monotonic() - started
    rt.verdict(graded, attacked=tasks_of(S1))
    assert S1 in graded.grade.get("integrity", {S1: []})
    assert seconds < 8, f"grading took {seconds:.0f} s (about 2 s without the hostile lines)"


def test_terminal_escapes_in_printed_output(rt):
    """printed output with ANSI/OSC escapes, a fake score line and carriage returns, shown back in feedback"""
    graded = rt.grade(rt.folder(sec1(TERMINAL_ESCAPES)))
    rt.verdict(graded, attacked=tasks_of(S1), not_in_feedback=("\x1b", "\x07", "\r"))
    assert not any("\x1b" in line for line in graded.result.outlines), "escape sequences reached the terminal"


def test_plants_files_where_others_would_find_them(rt, request):
    """a harmless .pth written into site-packages, the course package, /tmp, /var/tmp, /dev/shm and a shared $HOME"""
    name = f"rt-{rt.mark}.pth"

    def planted() -> list[Path]:
        return [p for p in [*(d / name for d in shared_places()), *Path("/tmp").glob(f"*/{name}")] if p.exists()]

    request.addfinalizer(lambda: [p.unlink(missing_ok=True) for p in planted()])
    graded = rt.grade(rt.folder(sec1(PLANT_SHARED_FILES)))
    assert not planted(), f"the worker left files where others read: {planted()}"
    rt.verdict(graded, attacked=tasks_of(S1), not_in_feedback=("RT-WROTE",))
