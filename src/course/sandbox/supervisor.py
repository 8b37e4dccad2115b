"""The supervisor: one submission at a time, trusted, and never runs student code.

The zygote forks it as PID 1 of a fresh PID namespace, into the submission's own memory and pids
cgroup. Between submissions (NEXT from the judge) it ends its runner and everything in its namespace,
mounts a fresh working tmpfs and moves into a new cgroup, so each submission starts where the first
did: nothing of an earlier one is left in the namespace, the folder or the limits, and the supervisor
itself never held anything a runner made. It holds what decides a reply: the judge's socket and, per call, the result pipe. For each
exercise file it forks a runner (course.sandbox.runner) into a PID namespace of its own, hands it that file's
calls one at a time with a fresh answer pipe, and waits for one frame under the call's deadline. Then it
writes the reply the judge reads: a status it saw itself (ok, timeout, crashed with the exit code,
too_large, malformed, or fault when containment failed) and the runner's answer, untouched and
undecoded. A runner is ended, with everything it started, when the file changes, when a call fails,
when a call leaves a process or a thread behind, and when the judge hangs up; when this process dies
for any reason, the kernel kills everything in its namespace.

Student code cannot reach this process: it is outside the runner's PID namespace (so it has no pid
there), holds descriptors the runner never gets, is not dumpable (no ptrace, no /proc/pid/mem), and at
L3 runs as root where the runner runs as nobody.
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import selectors
import signal
import socket
import struct
import time
from dataclasses import dataclass

from course.sandbox import contain as sandbox, protocol
from course.limits import LIMITS

PR_SET_DUMPABLE = 4
START_SECONDS = LIMITS.runner_start_seconds
STOP_SECONDS = LIMITS.runner_stop_seconds
GRACE = LIMITS.answer_drain_seconds
CALL_HEAD = struct.Struct("<d")  # the call's time limit, after the CALL byte and before the file name

_libc = ctypes.CDLL(None, use_errno=True)


@dataclass
class Runner:
    """A runner as its supervisor sees it: stopped (SIGSTOP) between calls, so nothing of it runs then;
    handlers: the signals it caught when it said it was ready (/proc/<pid>/status SigCgt)."""

    pid: int
    pidfd: int
    sock: socket.socket
    file: bytes
    handlers: str = ""
    stopped: bool = False


def call_message(timeout: float, file: str) -> bytes:
    """What the judge sends a supervisor for one call (with the call's three descriptors)."""
    return protocol.CALL + CALL_HEAD.pack(timeout) + file.encode()


def serve(control: int, early_w: int, workdir: str, policy: sandbox.Policy, cgroup: sandbox.Cgroup | None,
          session: str, limits: dict) -> None:
    """Runs in the child the zygote forked: contain and answer calls until the judge hangs up. Never returns."""
    sandbox.name_process("course-supervisor")
    sandbox.die_with_parent()  # the zygote gone: this process and, with it, its namespace die
    os.setsid()
    if cgroup is not None:
        cgroup.join_session(session)  # before anything forks, so every runner is inside
    control, early_w = (fcntl.fcntl(fd, fcntl.F_DUPFD, 256) for fd in (control, early_w))  # out of the way
    kept = protocol.SUPERVISOR_FD + 1
    if cgroup is not None:  # its folders, for the cgroups of the submissions it serves next
        kept = cgroup.keep_folders_at(kept)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(early_w, 1)
    os.dup2(early_w, 2)
    os.dup2(control, protocol.SUPERVISOR_FD)
    os.closerange(kept, 1 << 16)
    proc = sandbox.enter_private_mounts(policy, workdir, sandbox.runner_uid(policy))  # the runners' folder and /proc
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # PID 1 without handlers: no signal from its namespace arrives
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})  # waited for with sigtimedwait (see stop)
    sandbox.set_oom_score(proc, -1000)
    Supervisor(policy, workdir, limits, cgroup, session, proc).loop()
    os._exit(0)


class Supervisor:
    """The loop of one supervisor: calls in from the judge, one runner per file, replies out; NEXT between
    submissions."""

    def __init__(self, policy: sandbox.Policy, workdir: str, limits: dict, cgroup: sandbox.Cgroup | None = None,
                 session: str = "", proc: int | None = None) -> None:
        self.policy, self.workdir, self.limits = policy, workdir, limits
        self.proc = proc  # a writable /proc its runners cannot reach (theirs is read-only): see enter_private_mounts
        self.cgroup, self.session, self.served = cgroup, session, 1
        self.control = socket.socket(fileno=protocol.SUPERVISOR_FD)
        self.runner: Runner | None = None
        self.answer = bytearray(1 << 16)  # the current call's answer (see collect)

    def loop(self) -> None:
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(self.control, 4096, 3)
            except OSError:
                message, fds = b"", []
            if message == protocol.NEXT and not fds and self.next_submission():
                continue
            if message[:1] != protocol.CALL or len(fds) != 3 or len(message) < 1 + CALL_HEAD.size:
                for fd in fds:
                    os.close(fd)
                break
            (timeout,) = CALL_HEAD.unpack_from(message, 1)
            request_r, result_w, output_w = fds
            self.call(message[1 + CALL_HEAD.size:], timeout, request_r, result_w, output_w)
            os.close(result_w)
        self.end_runner()

    def next_submission(self) -> bool:
        """Start afresh for the judge's next submission: end the runner and everything it started (which
        leaves a fresh working folder, see _kill), check the namespace holds nobody else and move into a new
        cgroup (the last one is removed). False if any of it fails: the supervisor then exits, and the judge
        takes a fresh one."""
        try:
            self.end_runner()
            if self.policy.namespaces and sorted(int(e) for e in os.listdir("/proc") if e.isdigit()) != [1]:
                return False
            if self.cgroup is not None:
                last, self.session = self.session, f"{self.session.split('.')[0]}.{self.served}"
                self.cgroup.join_session(self.session)
                self.cgroup.remove_session(last, wait=0, exact=True)
        except Exception:  # whatever a runner left that this cannot undo: a fresh supervisor takes over
            return False
        self.answer = bytearray(1 << 16)  # wiped after each call; its size is not kept either
        self.served += 1
        return True

    def call(self, file: bytes, timeout: float, request_r: int, result_w: int, output_w: int) -> None:
        """Relay one call to the file's runner and write the reply frame for the judge into result_w."""
        started = time.monotonic()
        try:
            if self.runner is not None and self.runner.file != file:
                self.end_runner()
            if self.runner is None:
                self.runner = self.start_runner(file)
        except (OSError, sandbox.SandboxError) as e:
            os.close(request_r)
            os.close(output_w)
            _write(result_w, protocol.pack_reply("fault", message=f"no runner could be started: {e}"[:300]))
            return
        runner = self.runner
        if runner.stopped:
            os.kill(runner.pid, signal.SIGCONT)
            runner.stopped = False
        answer_r, answer_w = os.pipe()
        try:
            socket.send_fds(runner.sock, [protocol.CALL], [request_r, answer_w, output_w], socket.MSG_DONTWAIT)
            taken = True
        except OSError:
            taken = False
        finally:
            for fd in (request_r, answer_w, output_w):
                os.close(fd)
        status, size = self.collect(runner, answer_r, started + timeout) if taken else ("crashed", 0)
        os.close(answer_r)
        facts: dict = {"seconds": round(time.monotonic() - started, 4)}
        if status != "ok":
            facts["exit_code"] = self.end_runner()
        elif not (self.stop(runner) and self.clean(runner)):
            self.end_runner()
        answer = memoryview(self.answer)[protocol.HEAD.size:size] if status == "ok" else memoryview(b"")
        _write(result_w, protocol.reply_prefix(status, len(answer), **facts))
        _write(result_w, answer)
        answer.release()
        self.answer[:size] = bytes(size)  # the next submission's runners are forked from this process

    def collect(self, runner: Runner, answer_r: int, deadline: float) -> tuple[str, int]:
        """Read the runner's answer to the end of its pipe, into self.answer: exactly one frame, by the
        deadline. Returns the status and how much of self.answer it filled (wiped after the reply, like
        anything the buffer held before it grew: no answer stays in this process's memory)."""
        size, exited = 0, False
        with selectors.DefaultSelector() as sel:
            sel.register(answer_r, selectors.EVENT_READ, "answer")
            sel.register(runner.pidfd, selectors.EVENT_READ, "exit")
            while True:
                events = sel.select(timeout=max(0.0, deadline - time.monotonic()))
                if not events:
                    return ("crashed" if exited else "timeout"), size
                for key, _ in events:
                    if key.data == "exit":
                        sel.unregister(runner.pidfd)
                        exited = True
                        deadline = min(deadline, time.monotonic() + GRACE)
                        continue
                    if size == len(self.answer):
                        self.grow()
                    with memoryview(self.answer) as view:
                        got = os.readv(answer_r, [view[size:]])
                    if not got:
                        whole = protocol.whole_frame(memoryview(self.answer)[:size])
                        if whole is None:
                            return "crashed", size
                        return ("ok" if whole else "malformed"), size
                    size += got
                    if size >= protocol.HEAD.size and protocol.HEAD.unpack_from(self.answer)[0] > protocol.MAX_ANSWER:
                        return "too_large", size
                    if size > protocol.MAX_ANSWER + protocol.HEAD.size:
                        return "malformed", size

    def grow(self) -> None:
        """Double the answer buffer, wiping the old one."""
        bigger = bytearray(2 * len(self.answer))
        bigger[:len(self.answer)] = self.answer
        self.answer[:] = bytes(len(self.answer))
        self.answer = bigger

    def stop(self, runner: Runner) -> bool:
        """Stop the runner until its next call (nothing of a call may run after its answer); True once it is."""
        try:
            os.kill(runner.pid, signal.SIGSTOP)
        except ProcessLookupError:
            return False
        deadline = time.monotonic() + STOP_SECONDS
        while True:
            try:
                info = os.waitid(os.P_PID, runner.pid, os.WSTOPPED | os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return False
            if info is not None:
                if info.si_code != os.CLD_STOPPED:
                    return False
                os.waitid(os.P_PID, runner.pid, os.WSTOPPED | os.WNOHANG)  # consume the report
                runner.stopped = True
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            signal.sigtimedwait({signal.SIGCHLD}, left)  # a child stopped or exited

    def clean(self, runner: Runner) -> bool:
        """Whether the stopped runner is alone and holds nothing that could act later: no other process or
        thread, no signal handler it did not have when it became ready, no timer."""
        try:
            if len(os.listdir(f"/proc/{runner.pid}/task")) != 1 or _handlers(runner.pid) != runner.handlers:
                return False
            with open(f"/proc/{runner.pid}/timers", "rb") as f:
                if f.read(1):
                    return False
            if self.policy.namespaces:  # this namespace holds this process, the runner and what it started
                return sorted(int(e) for e in os.listdir("/proc") if e.isdigit()) == [1, runner.pid]
            return True
        except OSError:
            return False

    def start_runner(self, file: bytes) -> Runner:
        """Fork a runner for one file; it is ready once it says so (its set-up is trusted code)."""
        from course.sandbox import runner as runner_module

        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the runner
            try:
                os.setsid()
                sandbox.name_process("course-runner")
                mine.close()
                os.dup2(theirs.detach(), protocol.RUNNER_FD)
                devnull = os.open(os.devnull, os.O_RDWR)
                os.dup2(devnull, 0)
                os.dup2(devnull, 1)  # stderr stays the supervisor's until the first call: set-up failures show
                proc = self.proc if self.proc is not None else 1 << 16  # a writable /proc, kept a moment longer
                os.closerange(3, protocol.RUNNER_FD)
                os.closerange(protocol.RUNNER_FD + 1, proc)
                os.closerange(proc + 1, 1 << 16)
                if self.proc is not None:  # its own /proc is read-only (see sandbox.enter_private_mounts)
                    sandbox.set_oom_score(self.proc, 1000)  # the memory's first victim
                    if self.policy.process_limit:  # L2: its processes counted apart from everyone else's
                        sandbox.own_proc_entries()  # its /proc entries its own again, not the supervisor's owner's
                        sandbox.own_process_count(self.policy, self.proc, protocol.SESSION_PIDS)
                    os.close(self.proc)
                runner_module.serve(protocol.RUNNER_FD, self.workdir, self.policy, self.limits)
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(70)
        theirs.close()
        runner = Runner(pid, os.pidfd_open(pid), mine, file)
        mine.settimeout(START_SECONDS)
        try:
            ready = mine.recv(16)
        except OSError:
            ready = b""
        mine.setblocking(True)
        if ready != protocol.READY:
            code = self._kill(runner)
            raise sandbox.SandboxError(0, f"the runner did not start (exit code {code})")
        runner.handlers = _handlers(pid)  # its trusted set-up is over: what it catches now is the baseline
        return runner

    def end_runner(self) -> int | None:
        """Kill the runner and everything it started; its exit code."""
        if self.runner is None:
            return None
        runner, self.runner = self.runner, None
        return self._kill(runner)

    def _kill(self, runner: Runner) -> int | None:
        """Kill the runner and everything it started. As PID 1 of the namespace, kill(-1) reaches every other
        process in it, whatever it did to its group or session; at L1, the runner's process group (a process
        that left it escapes: a limit of L1). Then the next runner gets an empty working folder: a fresh tmpfs
        mounted over it (whatever the last one left, however deep or many), or at L1 the folder emptied. A
        supervisor that cannot do that exits (the judge's next call to it is then a fault, retried afresh)."""
        for kill, target in ((os.kill, -1) if self.policy.namespaces else (os.killpg, runner.pid), (os.kill, runner.pid)):
            try:
                kill(target, signal.SIGKILL)
            except OSError:
                pass
        code = None
        while True:  # reap the runner and every orphan it left to this process
            try:
                pid, status = os.waitpid(-1 if self.policy.namespaces else runner.pid, 0)
            except ChildProcessError:
                break
            if pid == runner.pid:
                code = os.waitstatus_to_exitcode(status)
                if not self.policy.namespaces:
                    break
        os.close(runner.pidfd)
        runner.sock.close()
        try:
            if self.policy.namespaces:
                sandbox.fresh_working_folder(self.workdir, sandbox.runner_uid(self.policy))
            elif not _empty(self.workdir):
                os._exit(71)
        except Exception:
            os._exit(71)
        return code


def _write(fd: int, data: bytes | memoryview) -> None:
    try:
        protocol.write_all(fd, data)
    except OSError:
        pass  # the judge went away, or gave up on this call


def _handlers(pid: int) -> str:
    """The signals a process catches (SigCgt of /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"SigCgt:"):
                return line.split()[1].decode()
    return ""


def _empty(folder: str) -> bool:
    """At L1 (no mount namespace): remove what a runner left in the working folder, through folder
    descriptors and without recursion (a folder nested thousands deep, or with a path too long to name, is
    no harder). True if the folder is empty afterwards."""
    top = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    stack = [(top, None, None)]  # (folder fd, its parent's fd, its name there)
    while stack:
        fd, parent, name = stack[-1]
        sub = None
        for entry in os.scandir(fd):
            if entry.is_dir(follow_symlinks=False):
                sub = entry.name
                break
            try:
                os.unlink(entry.name, dir_fd=fd)
            except OSError:
                pass
        if sub is not None:
            try:
                stack.append((os.open(sub, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd), fd, sub))
                continue
            except OSError:
                pass
        stack.pop()
        os.close(fd)
        if parent is not None:
            try:
                os.rmdir(name, dir_fd=parent)
            except OSError:
                for left, _, _ in stack:  # cannot be emptied: the caller sees it
                    os.close(left)
                stack.clear()
    return not os.listdir(folder)
