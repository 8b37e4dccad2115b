"""Every limit the grader holds a submission to, in one place, each with its reason.

Modules read them from LIMITS (some keep a short module-level name for one, bound to the value here).
A limit is a fact of the course, not of one module: a change here is a change of what every student
is held to, and changes the grader's version (course.version hashes this file with the rest).
"""
from __future__ import annotations

from dataclasses import dataclass

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30


@dataclass(frozen=True)
class Limits:
    # One call of student code (course.engine.judge, course.sandbox.supervisor).
    call_seconds: float = 10.0  # wall clock of one call: the lesson's functions take milliseconds; a loop that
    #                             waits for input or never ends is told so (--grader-timeout changes it)
    output_bytes: int = 64 * KIB  # what one call may print: enough for a student's debugging lines
    answer_bytes: int = 64 * MIB  # one answer frame (course.sandbox.wire): the largest tensors a probe returns, and some
    request_bytes: int = 64 * MIB + KIB  # one request: the inputs of the largest probe, plus its framing

    # A runner (course.sandbox.runner), by rlimit: what one exercise file's code may use over all of its calls.
    runner_cpu_seconds: int = 120  # all calls together at call_seconds each, with room; a spinning thread dies
    runner_address_space: int = 4 * GIB  # torch maps a lot of address space it never touches
    runner_file_size: int = 16 * MIB  # a checkpoint of the lesson's models is a few KiB
    runner_open_files: int = 64  # a DataLoader with a few workers stays far below

    # A submission: its supervisor and runners, in a cgroup of their own at L3 (course.sandbox.contain).
    submission_memory: int = 3 * GIB  # torch's footprint plus a generous model; never another student's memory
    submission_pids: int = 128  # a runner and a DataLoader's workers; a fork bomb stops here
    working_folder: int = 64 * MIB  # the tmpfs a submission's runners write in (memory, hence small)
    submissions_per_supervisor: int = 64  # then a fresh supervisor: bounds a slow leak in trusted code
    zygote_pids: int = 4096  # all of one zygote's submissions together

    # The untrusted input, as read (course.engine.submission, course.engine.ipynb, course.sandbox.wire).
    file_bytes: int = 1 * MIB  # one exercise file: a solution is a few KiB
    zip_bytes: int = 64 * MIB  # one zip entry as a whole
    class_zip_bytes: int = 4 * GIB  # a whole class's download, unpacked (--submissions class.zip)
    class_zip_members: int = 100_000  # files in it
    notebook_bytes: int = 16 * MIB  # a notebook with its outputs (plots make them large; the code stays small)
    wire_depth: int = 32  # nesting of an answer: the probes' answers nest three or four deep
    wire_nodes: int = 200_000  # values in an answer: a probe's answer holds a few thousand

    # Text from student code, when shown (course.untrusted).
    line_chars: int = 300  # one line: a name, a status message, a line of the terminal
    text_chars: int = 8000  # a block: one check's feedback, what the code printed

    # The grader's own processes (course.sandbox.worker, course.sandbox.supervisor): waits, not limits on students.
    zygote_start_seconds: float = 120.0  # the zygote imports torch and tests its isolation
    runner_start_seconds: float = 60.0  # a runner's trusted set-up before it takes a call
    runner_stop_seconds: float = 2.0  # a runner stopping after its answer; else it is ended
    answer_drain_seconds: float = 0.5  # after a runner exits, for its answer pipe to drain
    supervisor_grace_seconds: float = 5.0  # beyond a call's own limit, for its supervisor to reply
    entry_seconds: float = 600.0  # one entry's whole suite in a grading service (a notebook's grade cells, the
    #                               Gradescope autograder, a cluster worker); each call has its own limit

    def entry_limit(self, call_seconds: float) -> float:
        """entry_seconds for calls of call_seconds each (--grader-timeout): longer in proportion to a longer call."""
        return self.entry_seconds * max(1.0, call_seconds / self.call_seconds)


LIMITS = Limits()
