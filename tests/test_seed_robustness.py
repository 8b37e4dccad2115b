"""A bug must lose the same test at every grader seed, not only when the random inputs show it.

Every hidden test draws its inputs from the run seed (--grader-seed). A sweep of the corpus's bugs and of
the sample class (the batch grader at seeds 1..60, and an in-process replay of the seeded tests at seeds
1..1000) found tests that a bug passes at a few seeds only, because the inputs drawn there happen to hide
it. Each case below names a submission, the test it must fail, the seeds where that test let it through
and why. The submissions are graded together, in one batch per seed of SEEDS, which holds those seeds.

Cases the grader still gets wrong are xfail(strict=True): when the grader is fixed they pass, strict
turns that into a failure, and the mark is to be removed then.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import CLASS, batches, submission_from_solutions
from corpus import BUGS, Case

# Seed 1 misses nothing; each other seed once let one of the cases below through.
SEEDS = (1, 10, 182, 288, 767, 2246)

CUSTOM_FORWARD = "grader/test_sec2_forward.py::TestTask2_2::test_custom_sizes_forward"
SHORT_BATCH = "grader/test_sec4_training.py::TestTask4_2::test_mean_loss_short_last_batch"
NO_UPDATES = "grader/test_sec4_training.py::TestTask4_3::test_no_gradients_no_updates"


@dataclass(frozen=True)
class Flaky:
    """submission: a BUGS case of tests/corpus.py or a student of samples/class; test: the node id it must fail
    at every seed; missed_at: the seeds of SEEDS where that test passed it; why: the input that hides it."""

    submission: str
    test: str
    missed_at: tuple[int, ...]
    why: str
    fixed: bool = False  # True once the grader catches it at every seed: the case then runs without xfail


DEAD_FC2 = ("at seed 767 every fc2 unit of SimpleNN(5, (8, 4), 3) is negative for all 7 inputs, so the output "
            "is output.bias for every sample; both_signs shifts that constant to 0 and ")
LESSON_FORWARD = "grader/test_sec2_forward.py::TestTask2_2::test_lesson_forward"
ONCE = ("an activation after the output layer is charged once, in test_lesson_forward (the lesson's sizes); "
        "test_custom_sizes_forward judges the sizes and lets that mistake through. Before that, ")
CASES = [
    Flaky("relu_on_output", LESSON_FORWARD, (),
          ONCE + DEAD_FC2 + "a ReLU on an all-zero output changed nothing", fixed=True),
    Flaky("inplace_relu_on_input", CUSTOM_FORWARD, (767,),
          DEAD_FC2 + "an output that ignores the input cannot show that x.relu_() changed it", fixed=True),
    Flaky("dev", LESSON_FORWARD, (),
          ONCE + DEAD_FC2 + "dev's ReLU on the output (the relu_on_output bug) changed nothing", fixed=True),
    Flaky("train_mean_over_batches", SHORT_BATCH, (10, 182),
          "with lr 0 the epoch's mean of batch means equals the per-sample mean when the short last batch's "
          "loss equals the other three batches' mean: within the tolerance at seeds 10 and 182", fixed=True),
    Flaky("eval_steps_its_own_optimizer", NO_UPDATES, (),
          "an evaluate that steps an optimizer is charged once, in test_no_gradients_no_updates (the other 4.3 "
          "tests take the loss and accuracy the steps make as right). Before that, test_eval_mode charged it and "
          "missed it at seeds 288 and 2246: an SGD step after the first of two batches moved the second batch's "
          "loss by less than the tolerance (its gradient nearly orthogonal to the first's)", fixed=True),
]


def build(folder: Path) -> None:
    """One entry per case's submission: a corpus bug as the reference with its edit, a student copied."""
    bugs = {case.name: case for case in (c if isinstance(c, Case) else c.values[0] for c in BUGS)}
    for submission in sorted({case.submission for case in CASES}):
        if submission in bugs:
            bug = bugs[submission]
            assert not bug.args, f"{submission} needs grader arguments {bug.args}: give it a batch of its own"
            submission_from_solutions(folder / submission, {bug.file: bug.text()})
        else:
            shutil.copytree(CLASS / submission, folder / submission)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[int, dict[str, dict]]:
    """{seed: {submission: its OUT/students/<id>.json}}, one batch of all the cases' submissions per seed (two at a
    time)."""
    base = tmp_path_factory.mktemp("seeds")
    subs = base / "subs"
    subs.mkdir()
    build(subs)
    outs = {seed: base / f"out-{seed}" for seed in SEEDS}
    runs = batches([(subs, outs[seed], ("--grader-seed", str(seed), "-q")) for seed in SEEDS])
    results = {}
    for seed, ran in zip(SEEDS, runs):
        out = outs[seed]
        if not (out / "students").is_dir():  # not an AssertionError: an xfail case must not swallow it
            raise RuntimeError(f"the batch at seed {seed} wrote no results: {ran!r}")
        results[seed] = {path.stem: json.loads(path.read_text()) for path in (out / "students").glob("*.json")}
    return results


def test_every_seed_graded_every_submission(outcomes):
    """The batches themselves worked: each submission graded at each seed, with no grader errors."""
    wanted = {case.submission for case in CASES}
    for seed, students in outcomes.items():
        assert set(students) == wanted, f"seed {seed}: graded {sorted(students)}, expected {sorted(wanted)}"
        for sid, result in students.items():
            assert result["status"] == "graded", f"seed {seed}, {sid}: {result['status']} {result.get('message')}"
            assert result["grade"]["errors"] == [], f"seed {seed}, {sid}: {result['grade']['errors']}"
            assert result["key"]["seed"] == seed


def test_seeds_hold_every_known_miss():
    for case in CASES:
        assert set(case.missed_at) <= set(SEEDS), f"{case.submission}: add {case.missed_at} to SEEDS"


def _param(case: Flaky):
    name = f"{case.submission}-{case.test.rsplit('::', 1)[-1]}"
    if case.fixed:
        return pytest.param(case, id=name)
    return pytest.param(case, id=name, marks=pytest.mark.xfail(
        strict=True, raises=AssertionError,
        reason=f"grader gap: {case.test} passes {case.submission} at seed(s) {list(case.missed_at)}: {case.why}"))


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bug_fails_its_test_at_every_seed(case, outcomes):
    seen = {}
    for seed, students in outcomes.items():
        tests = {t["nodeid"]: t for t in students[case.submission]["tests"]}
        assert case.test in tests, f"{case.test} is not among the graded tests"
        seen[seed] = tests[case.test]["outcome"]
    missed = sorted(seed for seed, outcome in seen.items() if outcome != "failed")
    assert missed == [], (f"{case.submission}: {case.test} did not fail at seed(s) {missed} "
                          f"(outcomes by seed: {seen}); known cause: {case.why}")
