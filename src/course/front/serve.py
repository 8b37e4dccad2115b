"""A warm engine in a process of its own: the grader suite's pytest session, grading entries sent to it.

    python -m pytest GRADER --grader-serve R,W [--grader-seed N --lang ko ...]

collects the hidden suite once, starts the zygote, reaches its isolation, and then grades every entry that
arrives on descriptor R with the engine (course.engine.core.Engine.grade), replying on W with the entry's
Result. Front ends that grade one submission at a time (the Gradescope autograder, the notebooks' grade
cells) or on other machines (a Dask worker: course.front.cluster) start one with `Service` and pay for
torch, collection and the zygote once, not per entry. The service process never runs student code itself
(its worker sessions do), and it holds no other descriptors of the front end's.

This module owns the protocol, its framing and its messages. A message is a big-endian u32 length and that
many bytes of UTF-8 JSON:

  service -> front end, first:  {"ready": true, "version", "seed", "isolation"}
                                 or {"ready": false, "why"}: the service refuses to grade, and exits
  front end -> service:         {"entry": an entry as plain data (pack)}, optionally "tasks": [ids]
                                 (grade only those tasks' tests; the others are `not run`)
  service -> front end:         {"result": the entry's Result}
  front end -> service:         end of file: the session ends

An entry travels as bytes (its files' contents) and strings, never as pickled objects; a Result comes
back as plain JSON, its text already made safe.
"""
from __future__ import annotations

import base64
import json
import os
import select
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from course import untrusted
from course.engine import result
from course.engine.core import STEERING
from course.engine.submission import STATUS_OK, Entry, Submission
from course.limits import LIMITS

HEAD = struct.Struct(">I")
MAX_MESSAGE = 2 * LIMITS.zip_bytes  # a Result, its text made safe and cut (course.untrusted), with room
# An entry, as the front end (trusted) sends it: its files in base64, and the names of everything else in it as
# shown (course.engine.submission.shown: an undecodable or control byte as \xNN, which JSON escapes again: five
# bytes a byte), all of which its content hash covers: a zip of the largest size holding nothing but names.
MAX_ENTRY_MESSAGE = 6 * LIMITS.zip_bytes


class ServiceError(RuntimeError):
    """The service refused to grade, died, or broke the protocol: no Result for this entry."""


def send(fd: int, message: dict) -> None:
    data = json.dumps(message, ensure_ascii=False).encode("utf-8")
    view = memoryview(HEAD.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def receive(fd: int, deadline: float | None = None, limit: int = MAX_MESSAGE) -> dict | None:
    """The next message (of at most limit bytes), or None at end of file."""
    head = _read(fd, HEAD.size, deadline)
    if head is None:
        return None
    (size,) = HEAD.unpack(head)
    if size > limit:
        raise ServiceError(f"a message of {size} bytes, more than {limit}")
    data = _read(fd, size, deadline)
    if data is None:
        raise ServiceError("the message was cut short")
    message = json.loads(data.decode("utf-8"))
    if not isinstance(message, dict):
        raise ServiceError("a message that is not an object")
    return message


def _read(fd: int, size: int, deadline: float | None) -> bytes | None:
    chunks, got = [], 0
    while got < size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise ServiceError("the grading service gave no reply in time")
        chunk = os.read(fd, min(size - got, 1 << 20))
        if not chunk:
            if got:
                raise ServiceError("the message was cut short")
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def pack(entry: Entry) -> dict:
    """An entry as plain data: what the reader found in it (never its path's contents again)."""
    # the path only names the entry (the service grades the bytes sent): shown, since a name that is not
    # UTF-8 (a surrogate in the str) could not be encoded into the message
    return {"student": entry.student, "name": entry.name, "kind": entry.kind, "path": untrusted.line(str(entry.path), None),
            "status": entry.status, "message": entry.message, "problems": dict(entry.problems),
            "ignored": list(entry.ignored),
            "sources": {name: base64.b64encode(data).decode("ascii") for name, data in entry.sources.items()}}


def unpack(data: dict) -> Entry:
    """The Entry pack made, with every field's type checked."""
    text = ("student", "name", "kind", "path", "status", "message")
    if not all(isinstance(data.get(k), str) for k in text) or not isinstance(data.get("sources"), dict) \
            or not isinstance(data.get("problems"), dict) or not isinstance(data.get("ignored"), list):
        raise ServiceError("an entry without an entry's fields")
    sources = {str(name): base64.b64decode(value, validate=True) for name, value in data["sources"].items()}
    return Entry(data["student"], data["name"], data["kind"], Path(data["path"]), data["status"], data["message"],
                 sources, {str(k): str(v) for k, v in data["problems"].items()}, [str(n) for n in data["ignored"]])


class Server:
    """The pytest plugin of the service process: takes over pytest's test loop and grades what arrives."""

    def __init__(self, engine: Any, fds: str) -> None:
        try:
            self.inbox, self.outbox = (int(fd) for fd in fds.split(","))
            for fd in (self.inbox, self.outbox):
                os.set_inheritable(fd, False)  # nothing the service starts (the zygote) holds them
        except (ValueError, OSError) as e:
            raise pytest.UsageError(f"--grader-serve {fds}: two open descriptors R,W ({e})") from None
        self.engine = engine
        self.empty = tempfile.TemporaryDirectory(prefix="course-serve-")  # entries are in memory; nothing is here
        engine.path = Path(self.empty.name)
        from course.engine.plan import Plan

        engine.plan = Plan()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        """Say ready (or why not), then grade each entry that arrives until the front end closes its end."""
        engine = self.engine
        if session.testsfailed or engine.errors:
            why = f"{session.testsfailed} error(s) collecting the grader's tests" if session.testsfailed \
                else "; ".join(engine.errors)
            send(self.outbox, {"ready": False, "why": why})
            return True
        logging_plugin = engine.config.pluginmanager.get_plugin("logging-plugin")
        if logging_plugin is not None:
            engine.config.pluginmanager.unregister(logging_plugin)
        isolation = engine.isolation()
        required = engine.config.getoption("require_isolation")
        if required and isolation["level"] < required:
            send(self.outbox, {"ready": False, "why": f"student code would run at isolation {isolation['level']}, "
                               f"below the required {required}", "isolation": isolation})
            return True
        send(self.outbox, {"ready": True, "version": engine.version(), "seed": engine.seed, "isolation": isolation})
        while (message := receive(self.inbox, limit=MAX_ENTRY_MESSAGE)) is not None:
            send(self.outbox, {"result": self.grade(message, session.items)})
        return True

    def grade(self, message: dict, items: list[pytest.Item]) -> dict:
        """One entry's Result; whatever raises while it is graded becomes its status (result.guarded)."""
        engine = self.engine
        entry = unpack(message.get("entry") or {})
        key = result.key_of(entry, engine.version(), engine.seed, bool(engine.config.getoption("grader_curves")))
        tasks = message.get("tasks")
        if tasks is not None:
            wanted = set(map(str, tasks))
            items = [item for item in items if engine.manifest.get(item.nodeid, ("",))[0] in wanted]
        if entry.status != STATUS_OK:
            graded = result.ungraded(entry, key, engine.tasks)
        else:
            graded = result.guarded(entry, key, engine.tasks, lambda: engine.grade(
                Submission(dict(entry.sources), dict(entry.problems), list(entry.ignored)), entry.path, items,
                entry.who(), key))
        return untrusted.tree(graded)

    def pytest_unconfigure(self) -> None:
        """Remove the empty folder the session pointed its engine at."""
        self.empty.cleanup()


class Service:
    """A front end's handle on a service process: start it, read its readiness, grade entries, end it.

    grader: the grader suite's folder; options: the grading options its session runs with (seed, language,
    time limit, isolation required). log: where the session's own output goes (default: nowhere).
    """

    def __init__(self, grader: Path, options: list[str] = (), log: Any = subprocess.DEVNULL) -> None:
        grader = Path(grader).resolve()
        self.inbox, theirs_out = os.pipe()  # service -> front end
        theirs_in, self.outbox = os.pipe()  # front end -> service
        env = {k: v for k, v in os.environ.items() if k not in STEERING}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pytest", str(grader), "--grader-serve", f"{theirs_in},{theirs_out}",
                 "-p", "no:cacheprovider", "-q", *options],
                cwd=grader.parent, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                pass_fds=(theirs_in, theirs_out))
        finally:
            os.close(theirs_in)
            os.close(theirs_out)
        self.hello: dict = {}

    def ready(self, seconds: float = LIMITS.zygote_start_seconds + 60) -> dict:
        """The service's first message: version, seed and isolation; ServiceError when it refuses."""
        if not self.hello:
            hello = receive(self.inbox, time.monotonic() + seconds)
            if hello is None:
                raise ServiceError(f"the grading service ended before it was ready (exit status {self.proc.wait()})")
            if not hello.get("ready"):
                raise ServiceError(f"the grading service refuses to grade: {untrusted.line(hello.get('why'), 500)}")
            self.hello = hello
        return self.hello

    def grade(self, entry: Entry, tasks: list[str] | None = None,
              seconds: float = LIMITS.entry_seconds) -> result.Result:
        """entry's Result (only the tests of tasks, if given), graded by the service."""
        self.ready()
        try:
            send(self.outbox, {"entry": pack(entry), **({"tasks": list(tasks)} if tasks is not None else {})})
            reply = receive(self.inbox, time.monotonic() + seconds)
        except OSError as error:
            raise ServiceError(f"the grading service is gone ({error})") from None
        if reply is None or not result.conforms(reply.get("result")):
            raise ServiceError("the grading service ended without a result" if reply is None
                               else "the grading service replied without a Result")
        return reply["result"]

    def close(self, wait: float = 30.0) -> None:
        """Hang up: the service finishes and exits; after wait seconds it is killed (0: a service that failed its front
        end, slow to start or silent mid-entry, is not waited for)."""
        for fd in (self.outbox, self.inbox):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, kind, *exc) -> None:
        self.close(wait=0 if kind is not None else 30.0)
