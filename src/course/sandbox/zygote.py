"""The zygote: a fork server that imports torch and the trusted probes once, then forks supervisors.

Started by course.sandbox.worker as ``python -s -P -m course.sandbox.zygote FD CONFIG`` in an empty directory with an
explicit environment; FD is its end of a SOCK_SEQPACKET control socket (course.sandbox.protocol). It never
imports solutions/ or the grader's tests, never runs submitted code and never sees a request: on FORK it
forks a supervisor (course.sandbox.supervisor) for one submission, as PID 1 of a fresh PID namespace, and hands
the judge that supervisor's socket and the pipe holding what it printed; the judge then talks to the
supervisor directly. It reaps supervisors as they exit and removes their folders and cgroups; when the
judge hangs up (or dies), it kills every supervisor, and with each the kernel kills its namespace.
"""
from __future__ import annotations

import gc
import json
import os
import shutil
import socket
import struct
import sys
import tempfile
import threading

import torch

torch.set_num_threads(1)  # one thread before any op: forking is then safe (no OpenMP pool)
torch.set_num_interop_threads(1)

from course.sandbox import contain as sandbox, probes, protocol, runner, supervisor  # noqa: E402  (after the thread settings on purpose)
from course.limits import LIMITS  # noqa: E402
from course.sandbox.worker import kill_group  # noqa: E402

ZYGOTE_PIDS = LIMITS.zygote_pids


class ForkServer:
    """The zygote's state: its control sockets and the supervisors it has forked and not yet reaped."""

    def __init__(self, control: socket.socket, policy: sandbox.Policy, cgroup: sandbox.Cgroup | None,
                 scratch: str | None) -> None:
        self.control = control
        self.controls = [control]  # the judge's socket, and one more per judge process it split off
        self.scratch = scratch
        self.policy = policy
        self.cgroup = cgroup
        self.namespace = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC) if policy.namespaces else None
        self.forked = 0
        self.workdirs: dict[int, str] = {}
        self.sessions: dict[int, str] = {}

    def fork(self) -> None:
        """Fork a supervisor and send the judge its pid, its socket and the pipe of what it prints."""
        theirs, mine = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        early_r, early_w = os.pipe()
        workdir = tempfile.mkdtemp(prefix="course-call-", dir=self.scratch)
        os.chmod(workdir, 0o755)
        self.forked += 1
        session = f"s-{self.forked}"
        try:
            pid = sandbox.fork_into_new_pid_namespace(self.policy, self.namespace)
        except OSError as e:
            print(f"cannot fork a supervisor: {e}", file=sys.stderr)
            pid = -1
        if pid == 0:  # pragma: no cover - runs in the supervisor
            try:
                for control in self.controls:
                    control.close()
                theirs.close()
                os.close(early_r)
                supervisor.serve(mine.detach(), early_w, workdir, self.policy, self.cgroup, session,
                                 protocol.RUNNER_LIMITS)
            except BaseException:
                import traceback

                traceback.print_exc()  # into the early pipe: the judge shows it with the first call
            finally:
                os._exit(70)
        mine.close()
        os.close(early_w)
        if pid > 0:
            self.workdirs[pid] = workdir
            self.sessions[pid] = session
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        socket.send_fds(self.control, [protocol.FORKED + struct.pack("<q", pid)], [theirs.fileno(), early_r])
        theirs.close()
        os.close(early_r)

    def reap(self, pid: int = -1, block: bool = False) -> None:
        """Collect exited supervisors (or wait for one pid) and remove their folders and cgroups."""
        while self.workdirs:
            try:
                done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
            except ChildProcessError:
                return
            if done == 0:
                return
            shutil.rmtree(self.workdirs.pop(done, ""), ignore_errors=True)
            session = self.sessions.pop(done, None)
            if session is not None and self.cgroup is not None:
                self.cgroup.remove_session(session)
            if pid != -1:
                return

    def split(self) -> None:
        """Open one more control socket for a second judge process and hand the judge its end."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        socket.send_fds(self.control, [protocol.SPLIT], [theirs.fileno()])
        theirs.close()
        self.controls.append(mine)

    def serve(self) -> None:
        """Answer commands until every judge has hung up; then kill and reap every supervisor left."""
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
                    elif message == protocol.FORK:
                        self.fork()
                    elif message == protocol.SPLIT:
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
    sandbox.name_process("course-zygote")
    control = socket.socket(fileno=int(sys.argv[1]))
    config = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # stray prints go to the zygote's log
    probes.warm_up()
    runner.prepare()
    gc.freeze()  # children then never touch (and copy) the pages of everything loaded so far
    policy = sandbox.default_policy(config.get("secrets", []), config.get("cover", []))
    if config.get("max_level") == "L1":
        policy.namespaces = policy.drop_uid = policy.cgroup = False
    cgroup = None
    if policy.cgroup:  # made before the view turns /sys read-only
        try:
            cgroup = sandbox.Cgroup(f"zygote-{os.getpid()}", protocol.SESSION_MEMORY, protocol.SESSION_PIDS,
                                    ZYGOTE_PIDS)
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
    control.send(protocol.READY + json.dumps(ready).encode())
    ForkServer(control, policy, cgroup, scratch).serve()
    if cgroup is not None:
        cgroup.remove()
    shutil.rmtree(os.path.basename(home), dir_fd=home_parent, ignore_errors=True)
    os._exit(0)  # every child is reaped; skip tearing down torch's interpreter state


if __name__ == "__main__":
    main()
