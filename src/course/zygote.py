"""The zygote: imports torch and the trusted probes once, then forks one fresh child per call.

Started by course.worker as ``python -s -P -m course.zygote`` in an empty directory with an
explicit environment. It never imports solutions/ or the grader's tests, and never runs
submitted code itself: each call's child loads the submitted source, runs one probe, writes one
wire frame to a fresh pipe and exits. The zygote enforces the call's wall-clock deadline, kills
the child's whole process group afterwards, and answers the judge with one frame per request.

Frames on stdin/stdout are an 8-byte little-endian length followed by a course.wire frame.
"""
from __future__ import annotations

import gc
import os
import resource
import selectors
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback

import torch

torch.set_num_threads(1)  # one thread before any op: forking is then safe (no OpenMP pool)
torch.set_num_interop_threads(1)

from course import probes, wire  # noqa: E402  (after the thread settings on purpose)

OUTPUT_CAP = 64 * 1024
RESULT_FD = 3
REQUEST_FD = 4


def read_frame(fd: int) -> bytes | None:
    """One length-prefixed frame from fd, or None at end of file."""
    head = _read_exact(fd, 8)
    if head is None:
        return None
    (n,) = struct.unpack("<Q", head)
    if n > wire.MAX_FRAME + 1024:
        raise wire.WireError("request too large")
    body = _read_exact(fd, n)
    if body is None:
        raise wire.WireError("truncated request")
    return body


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def write_frame(fd: int, frame: bytes) -> None:
    data = struct.pack("<Q", len(frame)) + frame
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def describe_error(e: BaseException, stage: str, filename: str) -> dict:
    """Plain data about an exception: its type, message and the last line of submitted code it passed."""
    try:
        message = str(e)[:500]
    except Exception:
        message = "<unprintable message>"
    where = None
    for frame in traceback.extract_tb(e.__traceback__):
        if frame.filename == filename:
            where = {"line": frame.lineno, "function": frame.name, "code": (frame.line or "")[:200]}
    if isinstance(e, SyntaxError) and e.filename == filename:
        where = {"line": e.lineno, "function": "<module>", "code": (e.text or "").strip()[:200]}
    return {"stage": stage, "type": type(e).__name__, "message": message, "where": where,
            "not_implemented": isinstance(e, NotImplementedError)}


def _child(request_r: int, result_w: int, output_w: int, workdir: str) -> None:
    """Runs in a forked child: contain it, wait for its one request, run the probe, send one frame."""
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output_w, 1)
    os.dup2(output_w, 2)
    os.dup2(result_w, RESULT_FD)
    os.dup2(request_r, REQUEST_FD)
    os.closerange(REQUEST_FD + 1, 1 << 16)
    os.chdir(workdir)
    frame = read_frame(REQUEST_FD)
    if frame is None:  # the zygote is shutting down
        os._exit(0)
    os.close(REQUEST_FD)
    request = wire.loads(frame)
    limits = request["limits"]
    cpu = int(limits["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["address_space"], limits["address_space"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size"], limits["file_size"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    filename = request["filename"]
    try:
        module = probes.load_module(request["module"], filename, request["source"])
    except BaseException as e:
        reply = {"error": describe_error(e, "import", filename)}
    else:
        try:
            reply = {"value": probes.PROBES[request["probe"]](module, *request["args"])}
        except BaseException as e:
            reply = {"error": describe_error(e, "call", filename)}
    try:
        frame = wire.dumps(reply)
    except BaseException as e:
        frame = wire.dumps({"error": {"stage": "reply", "type": type(e).__name__, "message": str(e)[:300],
                                      "where": None, "not_implemented": False}})
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    view = memoryview(struct.pack("<Q", len(frame)) + frame)
    while view:
        view = view[os.write(RESULT_FD, view) :]
    os._exit(0)


class Child:
    """A forked child waiting for its request: forked ahead of time, so a call does not wait for fork()."""

    def __init__(self) -> None:
        request_r, self.request_w = os.pipe()
        self.result_r, result_w = os.pipe()
        self.output_r, output_w = os.pipe()
        self.workdir = tempfile.mkdtemp(prefix="course-call-")
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - runs in the child
            try:
                for fd in (self.request_w, self.result_r, self.output_r):
                    os.close(fd)
                _child(request_r, result_w, output_w, self.workdir)
            finally:
                os._exit(70)
        for fd in (request_r, result_w, output_w):
            os.close(fd)
        self.pidfd = os.pidfd_open(self.pid)

    def run(self, frame: bytes, timeout: float) -> dict:
        """Hand the child its request and collect the reply, returning as soon as the frame is whole."""
        started = time.monotonic()
        deadline = started + timeout
        result, output, status, exited = bytearray(), bytearray(), "ok", False
        try:
            write_frame(self.request_w, frame)
        except BrokenPipeError:
            status = "crashed"
        self._close_request()
        sel = selectors.DefaultSelector()
        sel.register(self.result_r, selectors.EVENT_READ, "result")
        sel.register(self.output_r, selectors.EVENT_READ, "output")
        sel.register(self.pidfd, selectors.EVENT_READ, "exit")
        while status == "ok" and not _complete(result):
            left = deadline - time.monotonic()
            if left <= 0:
                status = "crashed" if exited else "timeout"
                break
            for key, _ in sel.select(timeout=left):
                if key.data == "exit":
                    sel.unregister(self.pidfd)
                    exited = True
                    _kill_group(self.pid)  # nothing the child started may keep the pipes open
                    deadline = min(deadline, time.monotonic() + 0.5)  # a grace period to drain the pipes
                    continue
                chunk = os.read(key.fd, 1 << 20)
                if not chunk:
                    sel.unregister(key.fd)
                    if key.data == "result" and not _complete(result):
                        status = "crashed"
                elif key.data == "result":
                    result += chunk
                elif len(output) < OUTPUT_CAP:
                    output += chunk[: OUTPUT_CAP - len(output)]
            if len(result) >= 8 and struct.unpack("<Q", result[:8])[0] > wire.MAX_FRAME:
                status = "too_large"
        sel.close()
        _kill_group(self.pid)  # the call is over: the child and everything in its group die now
        _drain(self.output_r, output)
        exit_code = self.reap() if status != "ok" else None
        return {
            "status": status,
            "frame": bytes(result[8:]) if status == "ok" else b"",
            "output": output.decode("utf-8", "replace"),
            "exit_code": exit_code,
            "seconds": round(time.monotonic() - started, 4),
        }

    def _close_request(self) -> None:
        if self.request_w >= 0:
            os.close(self.request_w)
            self.request_w = -1

    def reap(self, block: bool = True) -> int | None:
        """Kill the child's group, wait for it (or only check, block=False), close its pipes, remove its
        directory. Returns its exit code; None if it has not exited yet (block=False)."""
        if self.pid is None:
            return None
        _kill_group(self.pid)
        pid, code = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return None
        self.pid = None
        for fd in (self.result_r, self.output_r, self.pidfd):
            os.close(fd)
        self._close_request()
        shutil.rmtree(self.workdir, ignore_errors=True)
        return os.waitstatus_to_exitcode(code)


def _complete(result: bytearray) -> bool:
    """Whether result holds a whole length-prefixed frame."""
    return len(result) >= 8 and len(result) - 8 >= struct.unpack("<Q", result[:8])[0]


def _drain(fd: int, output: bytearray) -> None:
    """Read what is already in the output pipe without waiting for more."""
    os.set_blocking(fd, False)
    try:
        while len(output) < OUTPUT_CAP:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            output += chunk[: OUTPUT_CAP - len(output)]
    except BlockingIOError:
        pass


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def main() -> None:
    channel_in, channel_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # stray prints go to the zygote's log, never into the channel
    for fd in (channel_in, channel_out):
        os.set_inheritable(fd, False)
    probes.warm_up()
    gc.freeze()  # children then never touch (and copy) the pages of everything loaded so far
    write_frame(channel_out, wire.dumps({"ready": True, "pid": os.getpid(), "torch": str(torch.__version__)}))
    spare, dying = Child(), []
    while True:
        frame = read_frame(channel_in)
        if frame is None:
            for child in [spare, *dying]:
                child.reap()
            return
        request = wire.loads(frame)
        child, spare = spare, None
        reply = child.run(frame, float(request["timeout"]))
        write_frame(channel_out, wire.dumps(reply))
        spare = Child()  # fork the next call's child while the judge reads this reply
        dying.append(child)  # already killed; reaped once its exit is done, without waiting for it
        dying = [c for c in dying if not c.reap(block=False)]


if __name__ == "__main__":
    main()
