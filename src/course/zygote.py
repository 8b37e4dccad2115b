"""The zygote: a fork server that imports torch and the trusted probes once, then forks children.

Started by course.worker as ``python -s -P -m course.zygote FD`` in an empty directory with an
explicit environment; FD is its end of a SOCK_SEQPACKET control socket. It never imports
solutions/ or the grader's tests, never runs submitted code and never sees a request: on "F" it
forks a child and hands the judge that child's socket and output pipe; the judge talks to the child
directly. On "W" it reports how a child ended. It reaps children as they exit and removes their
private directories.

A child: new session, stdin from /dev/null, stdout and stderr into the output pipe, every other
descriptor closed, a private empty working directory; it rehearses a call on a sample (so the
fork's copy-on-write faults are paid before the judge waits), then answers calls: each arrives on
its socket with fresh request, result and output pipes; it reads one length-prefixed course.wire
request, executes exactly the submitted source bytes as a module, runs one probe, writes one
length-prefixed frame to the result pipe and closes it (resource limits are set before the first).
"""
from __future__ import annotations

import fcntl
import gc
import json
import linecache
import operator
import os
import resource
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading

import torch

torch.set_num_threads(1)  # one thread before any op: forking is then safe (no OpenMP pool)
torch.set_num_interop_threads(1)

from course import probes, sandbox, wire  # noqa: E402  (after the thread settings on purpose)
from course.worker import kill_group  # noqa: E402

RESULT_FD, REQUEST_FD, CONTROL_FD = 3, 4, 5  # the current call's result and request pipes; the child's socket
MEMORY_BYTES, MAX_PIDS = 3 << 30, 128  # for all of a zygote's children together, where cgroups are writable


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
    view = memoryview(struct.pack("<Q", len(frame)) + frame)
    while view:
        view = view[os.write(fd, view) :]


def rehearse() -> None:
    """Walk a call's path once on a sample (decode, compile, run, encode) in a spare child, before its
    request: the copy-on-write faults of a fresh fork are then paid before the judge's clock starts.
    The global random state is put back, so the submission starts from the zygote's."""
    state = torch.random.get_rng_state()
    source = b"def f(x):\n    return x * 2\n"
    request = wire.loads(wire.dumps({"probe": "call", "source": source, "args": ["f", [torch.ones(2, 3)], {}]}))
    module = probes.load_module("rehearsal", "<rehearsal>", request["source"], register=False)
    wire.dumps({"value": probes.PROBES[request["probe"]](module, *request["args"])})
    linecache.cache.pop("<rehearsal>", None)
    torch.random.set_rng_state(state)


_MISSING = object()


class Pristine:
    """What each call of a child starts from, whatever earlier calls did: torch's random state, grad
    mode, default dtype and thread count; the namespaces of torch, torch.nn, torch.nn.functional,
    builtins, math and of the trusted modules in the child (this loop, the probes, the wire format);
    and the classes the probes build. A call that reassigns torch.relu, Tensor.__add__ or a probe
    affects that call only."""

    def __init__(self) -> None:
        import builtins
        import math

        from torch.utils import data

        from course import models

        trusted = (sys.modules[__name__], probes, models, wire)  # this loop, the probes and what they use
        modules = (torch, torch.nn, torch.nn.functional, torch.nn.init, torch.linalg, builtins, math, *trusted)
        classes = (torch.Tensor, torch.nn.Module, torch.nn.Linear, torch.nn.ReLU, torch.nn.Sequential,
                   torch.nn.BatchNorm1d, torch.nn.CrossEntropyLoss, torch.nn.MSELoss, data.DataLoader,
                   data.Dataset, data.TensorDataset, data.Subset)
        self.modules = [(m.__dict__, dict(m.__dict__)) for m in modules] + [(probes.PROBES, dict(probes.PROBES))]
        self.module_items = [(namespace, list(saved), list(saved.values())) for namespace, saved in self.modules]
        self.classes = [(c, dict(c.__dict__)) for c in classes]
        self.rng = torch.random.get_rng_state()
        self.dtype = torch.get_default_dtype()

    def restore(self) -> None:
        for (namespace, saved), (_, keys, values) in zip(self.modules, self.module_items):
            if len(namespace) != len(keys) or not all(map(operator.is_, map(namespace.get, keys), values)):
                namespace.clear()
                namespace.update(saved)
        for cls, saved in self.classes:
            for name in [k for k in cls.__dict__ if k not in saved]:
                delattr(cls, name)
            for name, value in saved.items():
                if cls.__dict__.get(name, _MISSING) is not value:
                    setattr(cls, name, value)
        torch.random.set_rng_state(self.rng)
        torch.set_grad_enabled(True)
        torch.set_default_dtype(self.dtype)
        torch.set_num_threads(1)


def _child(control: int, output_w: int, workdir: str, policy: sandbox.Policy, cgroup: sandbox.Cgroup | None) -> None:
    """Runs in a forked child: contain it, then answer calls until the judge hangs up (see next_call)."""
    os.setsid()
    if cgroup is not None:
        cgroup.add(os.getpid())  # before anything forks, so every descendant is inside
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output_w, 1)
    os.dup2(output_w, 2)
    os.dup2(control, CONTROL_FD)
    os.closerange(3, CONTROL_FD)
    os.closerange(CONTROL_FD + 1, 1 << 16)
    os.chdir(workdir)
    sandbox.contain(policy, workdir)  # with namespaces, this continues as PID 1 of a new namespace
    os.environ["HOME"] = os.environ["TMPDIR"] = os.getcwd()  # the one writable place (torch caches go here)
    tempfile.tempdir = None
    rehearse()
    _control()  # before the snapshot: the module's globals stay as they are from here on
    pristine = Pristine()
    pristine.restore()  # a rehearsal too: the copy-on-write faults of its first walk are paid before the request
    request = next_call()
    limits = request["limits"]
    cpu = int(limits["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["address_space"], limits["address_space"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size"], limits["file_size"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sandbox.drop_privileges(policy)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    while True:
        try:
            frame = wire.dumps(answer(request))
        except BaseException as e:
            frame = wire.dumps({"error": {"stage": "reply", "type": type(e).__name__, "message": str(e)[:300],
                                          "where": None, "not_implemented": False}})
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        write_frame(RESULT_FD, frame)
        os.close(RESULT_FD)  # the end of this call's channel: the judge reads to here
        end_of_call()
        request = next_call()
        try:
            pristine.restore()
        except BaseException as e:  # something an earlier call did cannot be undone: end this child
            print(f"cannot restore the state before the call: {type(e).__name__}: {e}", file=sys.stderr)
            os._exit(71)


def end_of_call() -> None:
    """Whatever a call started dies when it returns (and lets go of the call's result pipe). As PID 1 of
    the call's own PID namespace, every other process in it is the call's; without one (L1), the
    processes of the child's process group are (one that left the group escapes: a limit of L1)."""
    if os.getpid() == 1:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
    else:
        me, group = os.getpid(), os.getpgrp()
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and int(entry.name) != me:
                try:
                    with open(f"/proc/{entry.name}/stat", "rb") as f:
                        if int(f.read().rsplit(b")", 1)[1].split()[2]) == group:
                            os.kill(int(entry.name), signal.SIGKILL)
                except (OSError, ValueError, IndexError):
                    continue
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break


def next_call() -> dict:
    """Wait for the judge's next call: a message on the child's socket carrying the call's own fresh request,
    result and output pipes (placed at REQUEST_FD, RESULT_FD, and stdout and stderr), then the request read
    from its pipe. Exits when the judge hangs up."""
    try:
        message, fds, _, _ = socket.recv_fds(_control(), 16, 3)
    except OSError:
        message, fds = b"", []
    if message != b"C" or len(fds) != 3:
        os._exit(0)
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, CONTROL_FD + 1) for fd in fds]  # out of the way of the targets first
    for fd in fds:
        os.close(fd)
    for fd, targets in zip(high, ((REQUEST_FD,), (RESULT_FD,), (1, 2))):
        for target in targets:
            os.dup2(fd, target)
        os.close(fd)
    frame = read_frame(REQUEST_FD)
    os.close(REQUEST_FD)
    if frame is None:
        os._exit(0)
    return wire.loads(frame)


_sock: socket.socket | None = None


def _control() -> socket.socket:
    global _sock
    if _sock is None:
        _sock = socket.socket(fileno=CONTROL_FD)
    return _sock


def answer(request: dict) -> dict:
    """Load the submitted module from its bytes and run the probe: {"value": ...} or {"error": ...}."""
    filename = request["filename"]
    probe = probes.PROBES[request["probe"]]  # looked up before the submission runs and could replace it
    try:
        module = probes.load_module(request["module"], filename, request["source"])
    except BaseException as e:
        return {"error": probes.describe_error(e, "import", filename)}
    try:
        return {"value": probe(module, *request["args"])}
    except BaseException as e:
        return {"error": probes.describe_error(e, "call", filename)}


class ForkServer:
    """The zygote's state: its control socket and the children it has forked and not yet reaped."""

    def __init__(self, control: socket.socket, policy: sandbox.Policy, cgroup: sandbox.Cgroup | None,
                 scratch: str | None) -> None:
        self.control = control
        self.controls = [control]  # the judge's socket, and one more per judge process it split off
        self.scratch = scratch
        self.policy = policy
        self.cgroup = cgroup
        self.workdirs: dict[int, str] = {}
        self.statuses: dict[int, int] = {}

    def fork(self) -> None:
        """Fork a child and send the judge its pid, its socket and its output pipe."""
        theirs, mine = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        output_r, output_w = os.pipe()
        workdir = tempfile.mkdtemp(prefix="course-call-", dir=self.scratch)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                for control in self.controls:
                    control.close()
                theirs.close()
                os.close(output_r)
                _child(mine.detach(), output_w, workdir, self.policy, self.cgroup)
            except BaseException:
                import traceback

                traceback.print_exc()  # into the call's output: the judge shows it as a crash
            finally:
                os._exit(70)
        self.workdirs[pid] = workdir
        mine.close()
        os.close(output_w)
        socket.send_fds(self.control, [b"F" + struct.pack("<q", pid)], [theirs.fileno(), output_r])
        theirs.close()
        os.close(output_r)

    def reap(self, pid: int = -1, block: bool = False) -> None:
        """Collect exited children (or wait for one pid) and remove their directories."""
        while self.workdirs:
            try:
                done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
            except ChildProcessError:
                return
            if done == 0:
                return
            self.statuses[done] = status
            shutil.rmtree(self.workdirs.pop(done, ""), ignore_errors=True)
            if pid != -1:
                return

    def status(self, pid: int) -> None:
        """Kill a child's group, wait for it, and send the judge its exit code."""
        if pid in self.workdirs:
            kill_group(pid)
            self.reap(pid, block=True)
        code = os.waitstatus_to_exitcode(self.statuses.pop(pid)) if pid in self.statuses else 0
        self.control.send(b"W" + struct.pack("<qq", pid, code))

    def split(self) -> None:
        """Open one more control socket for a second judge process and hand the judge its end."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        socket.send_fds(self.control, [b"S"], [theirs.fileno()])
        theirs.close()
        self.controls.append(mine)

    def serve(self) -> None:
        """Answer commands until every judge has hung up; then kill and reap every child left."""
        import selectors

        sel = selectors.DefaultSelector()
        for control in self.controls:
            sel.register(control, selectors.EVENT_READ)
        try:
            while self.controls:
                for key, _ in sel.select():
                    self.control = key.fileobj
                    try:
                        message = self.control.recv(64)
                    except ConnectionResetError:  # that judge left with replies unread: a hang-up too
                        message = b""
                    self.reap()
                    if not message:
                        sel.unregister(self.control)
                        self.controls.remove(self.control)
                        self.control.close()
                    elif message == b"F":
                        self.fork()
                    elif message[:1] == b"W" and len(message) == 9:
                        self.status(struct.unpack("<q", message[1:])[0])
                    elif message == b"S":
                        self.split()
                        sel.register(self.controls[-1], selectors.EVENT_READ)
        except OSError:  # a judge went away mid-answer
            pass
        finally:
            for pid in list(self.workdirs):
                kill_group(pid)
                self.reap(pid, block=True)


def collapse_to_huge_pages() -> int:
    """Ask the kernel to back the warmed-up heap with 2 MiB pages; returns how many regions it took.

    fork() then copies a few hundred page-table entries instead of tens of thousands, and a
    child's exit tears down as few: about half the cost of each call. Best effort: kernels
    without MADV_COLLAPSE (before 6.1) or with transparent huge pages off just decline.
    """
    import ctypes

    madv_hugepage, madv_collapse, huge = 14, 25, 1 << 21
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return 0
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    done = 0
    with open("/proc/self/maps") as maps:
        regions = [line.split() for line in maps]
    for fields in regions:
        if fields[1].startswith("rw") and (len(fields) < 6 or fields[5] == "[heap]"):
            low, high = (int(x, 16) for x in fields[0].split("-"))
            low, high = (low + huge - 1) & ~(huge - 1), high & ~(huge - 1)
            if high - low >= huge and madvise(low, high - low, madv_hugepage) == 0:
                done += madvise(low, high - low, madv_collapse) == 0
    return done


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    config = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # stray prints go to the zygote's log
    probes.warm_up()
    gc.freeze()  # children then never touch (and copy) the pages of everything loaded so far
    policy = sandbox.default_policy(config.get("secrets", []), config.get("cover", []))
    if config.get("max_level") == "L1":
        policy.namespaces = policy.drop_uid = policy.cgroup = False
    cgroup = None
    if policy.cgroup:  # made before the view turns /sys read-only
        try:
            cgroup = sandbox.Cgroup(f"zygote-{os.getpid()}", MEMORY_BYTES, MAX_PIDS)
        except OSError as e:
            policy.cgroup = False
            policy.problems.append(f"cgroup: {e}")
    home = os.getcwd()  # the judge's folder for this zygote: removed on the way out, even if the judge was killed
    home_parent = os.open(os.path.dirname(home), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    scratch = sandbox.enter_shared_namespaces(policy)
    trial_dir = tempfile.mkdtemp(prefix="course-trial-", dir=scratch)
    policy = sandbox.self_test(policy, trial_dir)
    shutil.rmtree(trial_dir, ignore_errors=True)
    # Off the readiness path: the kernel sometimes compacts memory for a while first (0.04-0.3 s seen);
    # children forked meanwhile just cost a few ms more.
    threading.Thread(target=collapse_to_huge_pages, name="collapse", daemon=True).start()
    ready = {"pid": os.getpid(), "torch": str(torch.__version__), "isolation": policy.describe()}
    control.send(b"R" + json.dumps(ready).encode())
    ForkServer(control, policy, cgroup, scratch).serve()
    if cgroup is not None:
        cgroup.remove()
    shutil.rmtree(os.path.basename(home), dir_fd=home_parent, ignore_errors=True)
    os._exit(0)  # every child is reaped; skip tearing down torch's interpreter state


if __name__ == "__main__":
    main()
