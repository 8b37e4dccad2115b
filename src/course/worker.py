"""The judge's handle on the zygote: start it once, send calls, read back plain data.

One zygote per judging process, started as early as possible (its `import torch` overlaps the
judge's own) and reused for every call; each call runs in a fresh child the zygote forks.
This module imports course.wire (and so torch) only inside methods, so starting the zygote
costs the judge nothing.
"""
from __future__ import annotations

import atexit
import os
import selectors
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

STARTUP_SECONDS = 120.0
DEFAULT_LIMITS = {"cpu_seconds": 20, "address_space": 4 << 30, "file_size": 16 << 20}


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
    """A running zygote process and its pipes."""

    def __init__(self) -> None:
        self.home = tempfile.mkdtemp(prefix="course-zygote-")
        self.log = open(os.path.join(self.home, "zygote.log"), "w+b")
        self.proc = subprocess.Popen(
            [sys.executable, "-s", "-P", "-m", "course.zygote"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            cwd=self.home, env=_environment(self.home), start_new_session=True, close_fds=True,
        )
        self.ready: dict | None = None
        self.calls = 0
        self._pending: Callable[[], CallResult] | None = None

    def _read(self, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        head = self._read_exact(fd, 8, deadline)
        (n,) = struct.unpack("<Q", head)
        return self._read_exact(fd, n, deadline)

    def _read_exact(self, fd: int, n: int, deadline: float) -> bytes:
        chunks, left = [], n
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while left:
                if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    raise WorkerFailure("the zygote did not answer in time")
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    raise WorkerFailure(f"the zygote exited: {self.log_tail()}")
                chunks.append(chunk)
                left -= len(chunk)
        return b"".join(chunks)

    def wait_ready(self) -> dict:
        if self.ready is None:
            from course import wire

            self.ready = wire.loads(self._read(time.monotonic() + STARTUP_SECONDS))
        return self.ready

    def log_tail(self) -> str:
        self.log.seek(0)
        return self.log.read()[-2000:].decode("utf-8", "replace").strip() or "(no log)"

    def call(self, probe: str, module: str, filename: str, source: bytes, args: list, timeout: float) -> CallResult:
        """Run probe on the submitted module in a fresh child; never raises for the submission's faults."""
        return self.submit(probe, module, filename, source, args, timeout)()

    def submit(self, probe: str, module: str, filename: str, source: bytes, args: list,
               timeout: float) -> Callable[[], CallResult]:
        """Send a call and return a function that waits for its result: the judge works meanwhile."""
        from course import wire

        self.wait_ready()
        if self._pending is not None:  # a result nobody read: take it off the channel first
            self._pending()
        request = {"probe": probe, "module": module, "filename": filename, "source": source, "args": args,
                   "timeout": timeout, "limits": DEFAULT_LIMITS}
        frame = wire.dumps(request)
        try:
            self.proc.stdin.write(struct.pack("<Q", len(frame)) + frame)
            self.proc.stdin.flush()
        except OSError as e:
            raise WorkerFailure(f"lost the zygote: {e}") from None
        deadline = time.monotonic() + timeout + 30
        result: list[CallResult] = []

        def wait() -> CallResult:
            if not result:
                self._pending = None
                result.append(self._result(deadline))
            return result[0]

        self._pending = wait
        return wait

    def _result(self, deadline: float) -> CallResult:
        from course import wire

        try:
            reply = wire.loads(self._read(deadline))
        except (OSError, wire.WireError) as e:
            raise WorkerFailure(f"lost the zygote: {e}") from None
        self.calls += 1
        base = {"output": reply["output"], "seconds": reply["seconds"], "exit_code": reply["exit_code"]}
        if reply["status"] != "ok":
            return CallResult(reply["status"], **base)
        try:
            body = wire.loads(reply["frame"])
        except wire.WireError as e:
            return CallResult("malformed", error={"message": str(e)}, **base)
        if type(body) is not dict or len(body) != 1 or not ({"value", "error"} & body.keys()):
            return CallResult("malformed", error={"message": "reply is not {value} or {error}"}, **base)
        if "error" in body:
            error = body["error"]
            return CallResult("error", error=error if type(error) is dict else {"message": repr(error)}, **base)
        return CallResult("ok", value=body["value"], **base)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        self.log.close()


_shared: Zygote | None = None


def shared_zygote() -> Zygote:
    """The process's zygote, started on first use and restarted if it died."""
    global _shared
    if _shared is None or not _shared.alive():
        if _shared is not None:
            _shared.close()
        _shared = Zygote()
    return _shared


@atexit.register
def _shutdown() -> None:
    if _shared is not None:
        _shared.close()
