"""The Judge: what a grader test asks with. It runs a probe on the submission (in the worker, through
the grading session's supervisor) and on the reference (here, in the judge's process), checks that the
submission's answer has the shape the probe promises, and turns a failed call into feedback.

It works on a grading state (course.engine.core.Engine): the submission's sources and problems, the worker,
the reference sources and cache, the time limit, and, in a class, the calls queued ahead (course.engine.plan).
loss_curves draws on it too: the submission's fit next to the reference's (never scores)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable

import pytest

from course import feedback, untrusted
from course.feedback import Mismatch
from course.i18n import _


class Judge:
    """What a grader test uses: run a probe on the submission (in the worker) and on the reference (here)."""

    def __init__(self, grading: Any, task: str, nodeid: str | None = None) -> None:
        self.grading = grading
        self.task = task
        self.nodeid = nodeid  # the test asking: a class learns which calls it makes (course.engine.plan)
        self.printed = ""  # what the submission printed in its last call, for feedback
        if grading.tasks and task in grading.tasks:
            self.file = grading.tasks[task].file
        else:
            raise pytest.UsageError(f"task {task} is not in the curriculum")
        self.module = Path(self.file).stem

    def student(self, probe: str, *args: Any, hint: str | None = None) -> Any:
        """The probe's result on the submission; a Mismatch with feedback if the submission failed."""
        return self._submit(probe, args, hint)()

    def _submit(self, probe: str, args: tuple, hint: str | None, encoded: bytes | None = None) -> Callable[[], Any]:
        """Start the probe in the worker (or take its reply queued ahead: course.engine.plan); the returned
        function waits for it and explains failures. encoded: the args in the wire format, if at hand."""
        from course.sandbox import worker

        problem = self.grading.submission.problems.get(self.file)
        if problem:
            raise Mismatch(problem, _("submit the exercise file itself, under exactly this name"))
        source = self.grading.submission.sources[self.file]
        pending = None
        if self.grading.plan is not None and self.nodeid is not None:  # a class: the call may be queued ahead
            pending = self.grading.plan.take(self.nodeid, probe, self.module, self.file, args, encoded)
        if pending is None:
            try:
                pending = self.grading.worker().submit(probe, self.module, self.file, source, list(args), self.grading.timeout)
            except worker.WorkerFailure:  # an earlier call broke the zygote: a fresh one takes this call
                self.grading.start_worker().close()
                pending = self.grading.worker().submit(probe, self.module, self.file, source, list(args), self.grading.timeout)

        def wait() -> Any:
            result = pending()  # a WorkerFailure (the zygote died) is a fault too: see explain()
            self.printed = feedback.printed(result.output)
            if result.status == "ok":
                return self._whole(probe, args, result.value, hint)
            if result.status == "fault":  # the machine failed, twice: this check is not graded, never a 0 earned
                raise worker.WorkerFailure(str(result.error.get("message", "")))
            if result.status == "error" and result.error.get("stage") == "import":  # said once, for the file
                self.grading.submission.does_not_import(self.file, untrusted.text(self._explain(result), None))
                raise Mismatch(_("could not run: {file} does not load (the note about {file} above says why)")
                               .format(file=self.file), None)
            message = untrusted.text(self._explain(result), None) + (f"\n{self.printed}" if self.printed else "")
            raise Mismatch(message, feedback.hint_for(result.error, self.task, hint))

        return wait

    # probes that answer with one entry per case: the argument that holds the cases
    PER_CASE = {"each": 1, "loader": 1, "split": 1}

    def _whole(self, probe: str, args: tuple, value: Any, hint: str | None) -> Any:
        """value, if it has the shape the probe promises (one entry per case asked); a Mismatch otherwise.
        The answer comes from the submission's process: a short list must not make a test check fewer cases."""
        where = self.PER_CASE.get(probe)
        if where is None:
            return value
        asked = len(args[where])
        entries = value if type(value) is list else []
        if probe == "each":  # the cases after the first that raised are not run
            cut = next((i + 1 for i, e in enumerate(entries) if type(e) is not dict or "value" not in e), len(entries))
            whole = all(type(e) is dict for e in entries) and (len(entries) == asked or 0 < cut == len(entries) < asked)
        else:
            whole = len(entries) == asked
        if type(value) is not list or not whole:
            got = len(value) if isinstance(value, (list, tuple)) else type(value).__name__
            raise Mismatch(_("expected an answer for each of the {asked} cases asked, got {got}").format(asked=asked, got=got),
                           hint)
        return value

    def _explain(self, result: Any) -> str:
        limit = f"{self.grading.timeout:g} s"
        if result.status == "timeout":
            return _("did not finish within {limit} (an endless loop, or waiting for input?)").format(limit=limit)
        if result.status == "crashed":
            return _("the process running your code died (exit code {code}) before it returned").format(code=result.exit_code)
        if result.status == "too_large":
            return _("returned more data than the grader accepts")
        if result.status == "malformed":
            return _("returned something the grader could not read back ({why})").format(why=result.error.get("message", ""))
        return feedback.raised(result.error, self.file, self.task)

    def reference(self, probe: str, *args: Any, encoded: bytes | None = None) -> Any:
        """The probe's result on a fresh copy of the reference solution, as plain data."""
        from course.sandbox import probes, wire

        if self.grading.solutions is None:
            raise pytest.UsageError("the grader suite names no solutions folder (pytest_grading_suite)")
        encoded = encoded or wire.dumps(list(args))
        cache = self.grading.reference_cache
        key = (self.file, probe, hashlib.sha256(encoded).digest())
        if key not in cache:  # a batch asks the same questions of every student: answer each once
            module = probes.load_module(f"reference_{self.module}", *self.grading.reference_source(self.file),
                                        register=False)
            if len(cache) >= 1024:
                cache.clear()
            cache[key] = wire.dumps(probes.PROBES[probe](module, *wire.loads(encoded)))  # on its own copies
        return wire.loads(cache[key])

    def run(self, probe: str, *args: Any, hint: str | None = None) -> tuple[Any, Any]:
        """(submission's result, reference's result) of the same probe on the same inputs."""
        from course.sandbox import wire

        encoded = wire.dumps(list(args))
        wait = self._submit(probe, args, hint, encoded)  # the worker computes while the reference runs here
        want = self.reference(probe, *args, encoded=encoded)
        return wait(), want

    def run_each(self, probe: str, cases: list[list], hint: str | None = None) -> list[tuple[Any, Any]]:
        """run() for several cases in one worker call; a Mismatch for the first case that raised."""
        from course.sandbox.worker import CallResult

        wait = self._submit("each", (probe, cases), hint)
        wants = [self.reference(probe, *args) for args in cases]
        pairs = []
        for result, want in zip(wait(), wants):  # one entry per case, up to the first that raised (see _whole)
            if "error" in result:
                error = result["error"] if isinstance(result["error"], dict) else {}
                raise Mismatch(untrusted.text(self._explain(CallResult("error", error=error)), None),
                               feedback.hint_for(error, self.task, hint))
            pairs.append((result.get("value"), want))
        return pairs


def loss_curves(engine: Any) -> dict | None:
    """The submission's fit and the reference's training the same network on the same data, per epoch
    (the fit_curves probe, in the worker for the submission): {"reference": {"train", "val"}, and
    "submission" or "error"}. None without task 4.4. Never scores."""
    if "4.4" not in engine.tasks:
        return None
    from course.sandbox import probes

    judge = Judge(engine, "4.4")
    args = probes.curves_case(engine.test_seed("loss curves"))
    try:
        got, want = judge.run("fit_curves", *args)
    except Mismatch as e:
        why = (e.message.strip().splitlines() or ["fit failed"])[0]
        return {"reference": judge.reference("fit_curves", *args), "error": why}
    except Exception as e:  # the worker itself failed: no curves, and no score changes
        why = f"the grader could not run fit ({type(e).__name__})"
        return {"reference": judge.reference("fit_curves", *args), "error": why}
    plain = isinstance(got, dict) and all(
        isinstance(got.get(k), list) and len(got[k]) == len(want[k]) and all(type(v) is float for v in got[k])
        for k in ("train", "val"))
    return {"reference": want, **({"submission": {k: got[k] for k in ("train", "val")}} if plain
                                  else {"error": "fit_curves returned something other than two lists of floats"})}
