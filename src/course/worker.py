"""The judge's side of the worker: start the zygote once, run each call in a fresh child, read plain data.

The zygote (course.zygote) only forks. For every call the judge takes a child forked ahead of
time, writes the request straight into that child's pipe, asks the zygote for the next spare
child, and waits for the one result frame under a wall-clock deadline; then it kills the child's
process group. This module imports course.wire (and so torch) only inside methods, so starting
the zygote costs the judge nothing and its torch import overlaps with the judge's own.
"""
from __future__ import annotations

import atexit
import collections
import fcntl
import json
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

STARTUP_SECONDS = 120.0
SPARES = 2  # children forked ahead: each fork (about 5 ms) overlaps with two calls' work
OUTPUT_CAP = 64 * 1024
DEFAULT_LIMITS = {"cpu_seconds": 20, "address_space": 4 << 30, "file_size": 16 << 20}
SESSION_LIMITS = {**DEFAULT_LIMITS, "cpu_seconds": 120}  # CPU time is counted over all of a session's calls
WINDOW = 8  # calls a session sends ahead; the kernel queues at most net.unix.max_dgram_qlen (10) messages
F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)


class WorkerFailure(RuntimeError):
    """The zygote itself failed (not the submission): it died, hung or answered nonsense."""


@dataclass
class CallResult:
    """How one call ended. status is ok, error, timeout, crashed, too_large or malformed."""

    status: str
    value: Any = None
    error: dict = field(default_factory=dict)
    output: str = ""
    seconds: float = 0.0
    exit_code: int | None = None


@dataclass
class Child:
    """A forked child waiting for calls, as the judge sees it: a pid, its socket, and the pipe that holds
    what it printed before its first call.

    Each call sends the child, over the socket, the read end of a fresh request pipe and the write ends
    of a fresh result pipe and a fresh output pipe: a call's reply is whatever arrives on its own result
    pipe before that pipe's end of file, so nothing written for one call can be read as the reply to
    another, and what a call printed is told apart from what the next one prints."""

    pid: int
    control: int
    output_r: int

    def close(self) -> None:
        for fd in (self.control, self.output_r):
            if fd >= 0:
                os.close(fd)
        self.control = self.output_r = -1

    @property
    def open(self) -> bool:
        return self.control >= 0

    def start(self, frame: bytes, idle: bool = True) -> Sent | None:
        """Send one call: the fresh request, result and output pipes go to the child over its socket, then
        the request is written into the first. idle: the child has no earlier call to finish, so writing
        may wait for it to read; otherwise a request that does not fit in its pipe is not sent (None)."""
        request_r, request_w = os.pipe()
        result_r, result_w = os.pipe()
        output_r, output_w = os.pipe()
        message = struct.pack("<Q", len(frame)) + frame
        if not idle and len(message) > fcntl.fcntl(request_w, F_GETPIPE_SZ):
            for fd in (request_r, request_w, result_r, result_w, output_r, output_w):
                os.close(fd)
            return None
        sock = socket.socket(fileno=self.control)
        try:
            socket.send_fds(sock, [b"C"], [request_r, result_w, output_w])
            sent = True
        except OSError:
            sent = False
        finally:
            sock.detach()
            for fd in (request_r, result_w, output_w):
                os.close(fd)
        try:
            if sent:
                _write_all(request_w, message)
        except BrokenPipeError:
            sent = False
        finally:
            os.close(request_w)
        return Sent(result_r, output_r, sent, time.monotonic())


@dataclass
class Sent:
    """The judge's ends of one call's pipes, whether the child took the call, and when it was sent."""

    result_r: int
    output_r: int
    taken: bool
    at: float

    def close(self) -> None:
        for fd in (self.result_r, self.output_r):
            if fd >= 0:
                os.close(fd)
        self.result_r = self.output_r = -1


def _environment(home: str) -> dict[str, str]:
    src = str(Path(__file__).resolve().parent.parent)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONPATH": src,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # machine quirks torch needs to stay correct
        if name in os.environ:
            env[name] = os.environ[name]
    return env


class Zygote:
    """A running zygote: its process, its control socket, and the spare child it forked for the next call."""

    def __init__(self, secrets: tuple[str, ...] = (), cover: tuple[str, ...] = (), max_level: str | None = None) -> None:
        """secrets: folders student code must never see; cover: folders shown to it as empty;
        max_level "L1" turns namespaces, uid drop and cgroups off (to measure what they cost)."""
        self.secrets, self.cover = tuple(map(str, secrets)), tuple(map(str, cover))
        self.home = tempfile.mkdtemp(prefix="course-zygote-")
        self.log = open(os.path.join(self.home, "zygote.log"), "w+b")
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = json.dumps({"secrets": self.secrets, "cover": self.cover, "max_level": max_level})
        self.proc = subprocess.Popen(
            [sys.executable, "-s", "-P", "-m", "course.zygote", str(theirs.fileno()), config],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, pass_fds=[theirs.fileno()],
            cwd=self.home, env=_environment(self.home), start_new_session=True,
        )
        theirs.close()
        self.ready: dict | None = None
        self.owner = os.getpid()
        self.calls = 0
        self._replies: list[str] = []  # kinds of the replies the zygote still owes, in order
        self._spares: list[Child] = []
        self._statuses: dict[int, int] = {}

    def _recv(self, deadline: float) -> tuple[bytes, list[int]]:
        if self.sock.fileno() < 0:
            raise WorkerFailure("this handle on the zygote is closed")
        with selectors.DefaultSelector() as sel:
            sel.register(self.sock, selectors.EVENT_READ)
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                raise WorkerFailure(f"the zygote did not answer in time: {self.log_tail()}")
        try:
            message, fds, _, _ = socket.recv_fds(self.sock, 4096, 3)
        except OSError as e:
            raise WorkerFailure(f"lost the zygote: {e}") from None
        if not message:
            raise WorkerFailure(f"the zygote exited: {self.log_tail()}")
        return message, fds

    def _take_reply(self, deadline: float) -> None:
        """Read the next reply the zygote owes and file it (a spare child, or an exit code)."""
        message, fds = self._recv(deadline)
        kind = self._replies.pop(0)
        if kind == "F" and message[:1] == b"F" and len(fds) == 2:
            self._spares.append(Child(struct.unpack("<q", message[1:9])[0], *fds))
        elif kind == "S" and message[:1] == b"S" and len(fds) == 1:
            self._split = fds[0]
        elif kind == "W" and message[:1] == b"W":
            pid, code = struct.unpack("<qq", message[1:17])
            self._statuses[pid] = code
        else:
            raise WorkerFailure(f"unexpected reply from the zygote: {message[:20]!r}")

    def _send(self, command: bytes, kind: str) -> None:
        if self.sock.fileno() < 0:
            raise WorkerFailure("this handle on the zygote is closed")
        try:
            self.sock.send(command)
        except OSError as e:
            raise WorkerFailure(f"lost the zygote: {e}") from None
        self._replies.append(kind)

    def wait_ready(self) -> dict:
        if self.ready is None:
            message, _ = self._recv(time.monotonic() + STARTUP_SECONDS)
            if message[:1] != b"R":
                raise WorkerFailure(f"the zygote did not start: {self.log_tail()}")
            self.ready = json.loads(message[1:])
            for _ in range(SPARES):
                self._send(b"F", "F")
        return self.ready

    def log_tail(self) -> str:
        try:  # through the open file: the zygote removes its folder when it exits
            self.log.seek(0)
            return self.log.read()[-2000:].decode("utf-8", "replace").strip() or "(no log)"
        except (OSError, ValueError):
            return "(no log)"

    def call(self, probe: str, module: str, filename: str, source: bytes, args: list, timeout: float) -> CallResult:
        """Run probe on the submitted module in a fresh child; never raises for the submission's faults."""
        return self.submit(probe, module, filename, source, args, timeout)()

    def submit(self, probe: str, module: str, filename: str, source: bytes, args: list,
               timeout: float) -> Callable[[], CallResult]:
        """Hand a call to a fresh child and return a function that waits for its result."""
        return self.start_call(self.take_child(), probe, module, filename, source, args, timeout, keep=False)

    def start_call(self, child: Child, probe: str, module: str, filename: str, source: bytes, args: list,
                   timeout: float, keep: bool) -> Callable[[], CallResult]:
        """Send child one call; the returned function waits for its reply (once, then repeats it).
        keep: the child is a session's and lives on after a call that ended normally."""
        sent = child.start(self.request(probe, module, filename, source, args, keep))
        result: list[CallResult] = []

        def wait() -> CallResult:
            if not result:
                result.append(self._collect(child, sent, sent.at, timeout, keep))
            return result[0]

        return wait

    @staticmethod
    def request(probe: str, module: str, filename: str, source: bytes, args: list, keep: bool) -> bytes:
        """One call's request frame: the probe, the submitted bytes and the inputs, in the wire format."""
        from course import wire

        return wire.dumps({"probe": probe, "module": module, "filename": filename, "source": source, "args": args,
                           "limits": SESSION_LIMITS if keep else DEFAULT_LIMITS})

    def split(self) -> Zygote:
        """A second handle on this zygote, with its own control socket and spares, for a judge process
        forked from this one (each process then talks to the zygote only through its own handle)."""
        self.wait_ready()
        self._send(b"S", "S")
        self._split = -1
        while self._split < 0:
            self._take_reply(time.monotonic() + STARTUP_SECONDS)
        twin = object.__new__(Zygote)
        twin.__dict__.update(self.__dict__)
        twin.sock = socket.socket(fileno=self._split)
        twin.calls, twin._replies, twin._spares, twin._statuses = 0, [], [], {}
        for _ in range(SPARES):
            twin._send(b"F", "F")
        return twin

    def forget(self) -> None:
        """In a forked judge: close this process's copies of a handle that belongs to the other process."""
        for child in self._spares:
            child.close()
        self._spares.clear()
        self.sock.close()

    def take_child(self) -> Child:
        """A spare child, waiting for its first request; the zygote forks the next one meanwhile."""
        self.wait_ready()
        while not self._spares:
            self._take_reply(time.monotonic() + STARTUP_SECONDS)
        child = self._spares.pop(0)
        self._send(b"F", "F")
        return child

    def session(self) -> Session:
        """A worker for one submission: a single child answers its calls in turn (see Session)."""
        return Session(self)

    def _collect(self, child: Child, sent: Sent, started: float, timeout: float, keep: bool = False) -> CallResult:
        """Read a call's reply, to the end of its own result pipe, by started + timeout. Then the child's
        process group is killed, unless keep (a session's child) and the call ended normally."""
        from course import wire

        deadline = started + timeout
        data, output, status, exited = bytearray(), bytearray(), "ok" if sent.taken else "crashed", False
        sel = selectors.DefaultSelector()
        sel.register(sent.result_r, selectors.EVENT_READ, "result")
        sel.register(sent.output_r, selectors.EVENT_READ, "output")
        if child.output_r >= 0:  # what the child printed before its first call (a failure to start, say)
            sel.register(child.output_r, selectors.EVENT_READ, "early")
        try:
            pidfd = os.pidfd_open(child.pid)  # readable once the child has exited
            sel.register(pidfd, selectors.EVENT_READ, "exit")
        except ProcessLookupError:
            pidfd, exited = -1, True
        result_open = True
        while status == "ok" and result_open:  # to the end of the stream: exactly one frame may be in it
            events = sel.select(timeout=max(0.0, deadline - time.monotonic()))
            if not events:  # a child that sent its frame closes the pipe at once, unless it is up to something
                status = ("ok" if _complete(data) else "crashed") if exited else "timeout"
                break
            for key, _ in events:
                if key.data == "exit":
                    sel.unregister(pidfd)
                    exited = True
                    kill_group(child.pid)  # nothing it left behind may hold the pipes open
                    deadline = min(deadline, time.monotonic() + 0.5)  # a grace period to drain them
                    continue
                chunk = os.read(key.fd, 1 << 20)
                if not chunk:
                    sel.unregister(key.fd)
                    if key.data == "result":
                        result_open = False
                        status = "ok" if _complete(data) else "crashed"
                    elif key.data == "early":
                        os.close(child.output_r)
                        child.output_r = -1
                elif key.data == "result":
                    data += chunk
                elif len(output) < OUTPUT_CAP:
                    output += chunk[: OUTPUT_CAP - len(output)]
            if len(data) >= 8 and struct.unpack("<Q", data[:8])[0] > wire.MAX_FRAME:
                status = "too_large"
        sel.close()
        if pidfd >= 0:
            if status == "crashed" and not exited:  # let it finish dying, so its exit code is its own
                with selectors.DefaultSelector() as grace:
                    grace.register(pidfd, selectors.EVENT_READ)
                    grace.select(timeout=0.5)
            os.close(pidfd)
        if status == "ok" and len(data) - 8 != struct.unpack("<Q", data[:8])[0]:
            status = "malformed"  # more than one frame: something besides the probe wrote to the channel
        self.calls += 1
        base = {"output": "", "seconds": round(time.monotonic() - started, 4)}
        result = self._read_reply(status, data, child, base)
        ended = not keep or result.status not in ("ok", "error")
        if ended:
            kill_group(child.pid)  # the call is over: the child and all of its process group die now
        for fd in (sent.output_r, child.output_r):
            if fd >= 0:
                _drain(fd, output)
        sent.close()
        if ended:
            child.close()
        result.output = output.decode("utf-8", "replace")
        return result

    def _read_reply(self, status: str, data: bytearray, child: Child, base: dict) -> CallResult:
        from course import wire

        if status == "malformed":
            return CallResult(status, error={"message": "more than one reply frame"}, **base)
        if status != "ok":
            kill_group(child.pid)
            return CallResult(status, exit_code=self._exit_code(child.pid), **base)
        try:
            body = wire.loads(bytes(data[8:]))
        except wire.WireError as e:
            return CallResult("malformed", error={"message": str(e)}, **base)
        if type(body) is not dict or len(body) != 1 or not ({"value", "error"} & body.keys()):
            return CallResult("malformed", error={"message": "the reply is neither a value nor an error"}, **base)
        if "error" in body:
            error = body["error"]
            if type(error) is not dict or not all(type(k) is str for k in error):
                return CallResult("malformed", error={"message": "the error report is not plain data"}, **base)
            return CallResult("error", error=error, **base)
        return CallResult("ok", value=body["value"], **base)

    def _exit_code(self, pid: int) -> int | None:
        """Ask the zygote how a (killed) child ended."""
        self._send(b"W" + struct.pack("<q", pid), "W")
        deadline = time.monotonic() + 10
        while pid not in self._statuses:
            self._take_reply(deadline)
        return self._statuses.pop(pid)

    def alive(self) -> bool:
        if os.getpid() != self.owner:  # a judge forked off with split(): the zygote is not its child
            if self.sock.fileno() < 0:
                return False
            try:
                with open(f"/proc/{self.proc.pid}/stat", "rb") as f:
                    return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")  # a zombie is dead
            except (OSError, IndexError):
                return False
        return self.proc.poll() is None

    def close(self) -> None:
        """Stop the zygote (it reaps its children on the way out) and remove its directory. In a judge
        forked off with split(), only this process's handle closes: the zygote belongs to the other."""
        for child in self._spares:
            child.close()
        self._spares.clear()
        self.sock.close()
        if os.getpid() != self.owner:
            return
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)
        from course.sandbox import remove_cgroups

        remove_cgroups(self.proc.pid)


class Session:
    """One submission's worker: a child forked from the clean zygote that answers the submission's
    calls one after another (each call loads the module afresh from its bytes and starts from the
    zygote's random state). A call that times out, crashes or garbles its reply ends the child, and
    the next call gets a fresh one; close() kills it. Nothing passes from one session to the next.

    Calls are pipelined: submit() sends up to WINDOW calls ahead, so the child computes the next ones
    while the judge checks earlier results. Replies are collected in the order the calls were sent,
    and a call's deadline starts when the one before it was collected (or when it was sent, if later):
    no call gets less than its time. Calls queued behind one that ended the child never ran; they go
    to the next child, as if they had been sent after the failure."""

    def __init__(self, zygote: Zygote) -> None:
        self.zygote = zygote
        self.child: Child | None = None
        self.calls = 0
        self.children = 0
        self.flight: collections.deque[Call] = collections.deque()  # sent to the child, oldest first
        self.backlog: collections.deque[Call] = collections.deque()  # not yet sent
        self.last_done = 0.0

    def submit(self, probe: str, module: str, filename: str, source: bytes, args: list,
               timeout: float) -> Callable[[], CallResult]:
        """Queue a call for this session's child; the returned function waits for its reply."""
        call = Call(self.zygote.request(probe, module, filename, source, args, keep=True), timeout)
        self.calls += 1
        self.backlog.append(call)
        self._pump()
        return lambda: self._wait(call)

    def _pump(self) -> None:
        """Send queued calls while fewer than WINDOW are in flight; a call whose request would not fit in
        its pipe waits until the child has nothing else to do."""
        while self.backlog and len(self.flight) < WINDOW:
            if self.child is None or not self.child.open:
                self.child = self.zygote.take_child()
                self.children += 1
            call = self.backlog[0]
            sent = self.child.start(call.frame, idle=not self.flight)
            if sent is None or (not sent.taken and self.flight):  # later: after the calls in flight
                if sent is not None:
                    sent.close()
                return
            self.backlog.popleft()
            call.child, call.sent = self.child, sent
            self.flight.append(call)

    def _collect_oldest(self) -> None:
        call = self.flight.popleft()
        started = max(call.sent.at, self.last_done)
        call.result = self.zygote._collect(call.child, call.sent, started, call.timeout, keep=True)
        self.last_done = time.monotonic()
        if not call.child.open:  # the call ended the child: what was queued behind it never ran
            if self.child is call.child:
                self.child = None
            for orphan in reversed(self.flight):
                orphan.sent.close()
                orphan.child = orphan.sent = None
                self.backlog.appendleft(orphan)
            self.flight.clear()

    def _wait(self, call: Call) -> CallResult:
        while call.result is None:
            if self.flight:
                self._collect_oldest()
            self._pump()
        return call.result

    def close(self) -> None:
        for call in self.flight:
            call.sent.close()
        self.flight.clear()
        self.backlog.clear()
        if self.child is not None:
            kill_group(self.child.pid)
            self.child.close()
            self.child = None


@dataclass
class Call:
    """A session's call: its request frame, time limit, and once sent, the child and pipes it went to."""

    frame: bytes
    timeout: float
    child: Child | None = None
    sent: Sent | None = None
    result: CallResult | None = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _complete(data: bytearray) -> bool:
    """Whether data holds a whole length-prefixed frame."""
    return len(data) >= 8 and len(data) - 8 >= struct.unpack("<Q", data[:8])[0]


def _drain(fd: int, output: bytearray, limit: int = OUTPUT_CAP) -> None:
    """Read what is already in a pipe, up to limit bytes in all, without waiting for more."""
    os.set_blocking(fd, False)
    try:
        while len(output) < limit:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            output += chunk[: limit - len(output)]
    except BlockingIOError:
        pass


def kill_group(pid: int) -> None:
    """SIGKILL a child's process group (it called setsid), or the child alone if it had not yet."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


_shared: Zygote | None = None


def shared_zygote(secrets: tuple = (), cover: tuple = ()) -> Zygote:
    """The process's zygote, started on first use, and again if it died or must hide more folders."""
    global _shared
    from course.sandbox import COVER

    wanted = tuple(map(str, secrets)), tuple(map(str, cover))
    if _shared is not None and _shared.alive() and set(wanted[0]) <= set(_shared.secrets):
        hidden = (*_shared.cover, *_shared.secrets, *COVER)
        if all(any(os.path.realpath(p) == h or os.path.realpath(p).startswith(h.rstrip("/") + "/") for h in hidden)
               for p in wanted[1]):
            return _shared
    if _shared is not None:
        _shared.close()
    _shared = Zygote(*wanted)
    return _shared


@atexit.register
def _shutdown() -> None:
    if _shared is not None:
        _shared.close()
