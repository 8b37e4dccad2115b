"""The zygote: imports torch and the trusted probes once, then forks one fresh child per call.

Started by course.worker as ``python -s -P -m course.zygote`` in an empty directory with an
explicit environment. It never imports solutions/ or the grader's tests, and never runs
submitted code itself: each call's child loads the submitted source, runs one probe, writes one
wire frame to a fresh pipe and exits. The zygote enforces the call's wall-clock deadline, kills
the child's whole process group afterwards, and answers the judge with one frame per request.

Frames on stdin/stdout are an 8-byte little-endian length followed by a course.wire frame.
"""
from __future__ import annotations

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


def _child(request: dict, result_w: int, output_w: int, workdir: str) -> None:
    """Runs in the forked child: contain it, load the submission, run the probe, send one frame."""
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output_w, 1)
    os.dup2(output_w, 2)
    os.dup2(result_w, RESULT_FD)
    os.closerange(RESULT_FD + 1, 1 << 16)
    os.chdir(workdir)
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
    view = memoryview(frame)
    while view:
        view = view[os.write(RESULT_FD, view) :]
    os._exit(0)


def run_call(request: dict) -> dict:
    """Fork a child for one call and collect its frame, its output and how it ended."""
    result_r, result_w = os.pipe()
    output_r, output_w = os.pipe()
    workdir = tempfile.mkdtemp(prefix="course-call-")
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.close(result_r)
            os.close(output_r)
            _child(request, result_w, output_w, workdir)
        finally:
            os._exit(70)
    os.close(result_w)
    os.close(output_w)
    pidfd = os.pidfd_open(pid)
    deadline = started + float(request["timeout"])
    result, output, status = bytearray(), bytearray(), "ok"
    sel = selectors.DefaultSelector()
    sel.register(result_r, selectors.EVENT_READ, "result")
    sel.register(output_r, selectors.EVENT_READ, "output")
    sel.register(pidfd, selectors.EVENT_READ, "exit")
    exited = False
    while sel.get_map():
        left = deadline - time.monotonic()
        if left <= 0:
            if not exited:
                status = "timeout"
            break
        events = sel.select(timeout=left)
        for key, _ in events:
            if key.data == "exit":
                sel.unregister(pidfd)
                exited = True
                _kill_group(pid)  # nothing the child started outlives the call
                deadline = min(deadline, time.monotonic() + 1.0)  # a grace period to drain the pipes
                continue
            chunk = os.read(key.fd, 1 << 20)
            if not chunk:
                sel.unregister(key.fd)
            elif key.data == "result":
                result += chunk
                if len(result) > wire.MAX_FRAME:
                    status = "too_large"
            elif len(output) < OUTPUT_CAP:
                output += chunk[: OUTPUT_CAP - len(output)]
        if status != "ok":
            break
    sel.close()
    _kill_group(pid)
    _, code = os.waitpid(pid, 0)
    for fd in (result_r, output_r, pidfd):
        os.close(fd)
    shutil.rmtree(workdir, ignore_errors=True)
    if status == "ok" and not result:
        status = "crashed"
    return {
        "status": status,
        "frame": bytes(result) if status == "ok" else b"",
        "output": output.decode("utf-8", "replace"),
        "exit_code": os.waitstatus_to_exitcode(code),
        "seconds": round(time.monotonic() - started, 4),
    }


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
    write_frame(channel_out, wire.dumps({"ready": True, "pid": os.getpid(), "torch": str(torch.__version__)}))
    while True:
        frame = read_frame(channel_in)
        if frame is None:
            return
        request = wire.loads(frame)
        write_frame(channel_out, wire.dumps(run_call(request)))


if __name__ == "__main__":
    main()
