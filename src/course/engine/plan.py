"""What a class's tests ask, learnt from one student and asked ahead of the next.

In a class every student gets the same inputs (one seed), so the calls a test made of one student are the
calls it will make of the next. The engine queues them in the next student's worker session before the
tests run (ask_ahead): the worker computes the next replies while the judge checks the last. A Judge
takes a queued reply when it makes one of these calls (take) and makes any other call itself; a reply
nobody takes is dropped with the session. Only calls are learnt, never answers: each student's replies
come from their own worker session.
"""
from __future__ import annotations

import collections
import hashlib
from typing import Any, Callable

from course.sandbox.worker import WorkerFailure


class Plan:
    """The calls each test made, by test; this student's calls so far; and the replies queued for them."""

    def __init__(self) -> None:
        self.calls: dict[str, dict[tuple, tuple]] = {}
        self.made: dict[str, dict[tuple, tuple]] = {}
        self.queued: dict[tuple, collections.deque] = {}

    def ask_ahead(self, session: Callable[[], Any], nodeids: list[str], sources: dict[str, bytes], timeout: float) -> None:
        """Queue in the session (made on first use) every call the tests made of an earlier student."""
        self.queued, self.made = {}, {}
        for nodeid in nodeids:
            for key, (probe, module, file, args) in self.calls.get(nodeid, {}).items():
                if file not in sources:
                    continue
                try:
                    wait = session().submit(probe, module, file, sources[file], args, timeout)
                except WorkerFailure:  # the tests' own calls will find out and start a fresh zygote
                    return
                self.queued.setdefault(key, collections.deque()).append(wait)

    def take(self, nodeid: str, probe: str, module: str, file: str, args: tuple, encoded: bytes | None) -> Any:
        """Note a test's call; the reply queued for it, or None when the test must make it itself."""
        from course.sandbox import wire  # torch: imported once the zygote is starting, not with the plugin

        key = (probe, file, hashlib.sha256(encoded or wire.dumps(list(args))).digest())
        self.made.setdefault(nodeid, {}).setdefault(key, (probe, module, file, list(args)))
        queued = self.queued.get(key)
        return queued.popleft() if queued else None

    def learn(self, outcomes: dict[str, str]) -> None:
        """Keep, per test, the calls it made of this student when it passed (a passing test made all of
        them) or when nothing is known yet: one student's worth, so the plan never grows."""
        for nodeid, calls in self.made.items():
            if outcomes.get(nodeid) == "passed" or nodeid not in self.calls:
                self.calls[nodeid] = calls
