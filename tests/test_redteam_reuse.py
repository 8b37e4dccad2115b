"""Red team against supervisor reuse (commit e742087): one student's submission against the next one a reused
supervisor serves.

A judge hands its supervisor the next submission with NEXT once every call of the last one was answered: the
supervisor ends its runner and everything in its PID namespace, checks /proc holds only itself, mounts a fresh
tmpfs over the working folder, moves into a new cgroup and keeps no answer it relayed (the next student's
runners are forked from it). Each case below is a class of three students graded in one batch with
--grader-jobs 1, so the three share one supervisor in this order (the batch grades entries by name):

  <case>-a-atk     the attacker: honest files but the one its attack lives in, which is a stub carrying the
                   attack at module level (it runs at every call of that file); its last-served file is
                   sec4_training.py, so what it leaves there is what the supervisor meets at NEXT;
  <case>-b-spy     the reference, but first_layer_for (Task 1.3) prints what it finds of the attacker (files in
                   every writable place, processes, abstract sockets, keys of uid nobody's keyrings, SysV IPC,
                   the attacker's exit codes and answer in its own memory, a fork of the supervisor's) and raises;
  <case>-c-honest  the reference files.

The same spy and honest student are graded alone in a class of their own (same seed). Each case checks:
the batch ran (exit 0 or 1, no INTERNALERROR, every entry graded); the spy and the honest student earn, task
by task, exactly what they earn alone, with no faults and the same test outcomes; the spy's report shows
nothing of the attacker; the attack really ran (its RT-... line reached its own feedback); reuse really
happened (the attacker and the spy print the start time of their PID 1, the supervisor: equal when it
served both), or, for the attacks meant to break the supervisor, that the spy got a fresh one and was still
graded; and no process of the attack outlives the batch. Cases marked xfail(strict=True) get through today;
the reason says how (none does now).

Outcomes at L3 (root, kernel 6.18, Python 3.11): held: traces in every writable place (only the working tmpfs
is writable, and NEXT mounts a fresh one), processes (nobody cannot make a user namespace; kill(-1) and the
/proc check leave nothing), an abstract socket kept in flight (collected), SysV/POSIX IPC (ENOSPC), exit codes
in the supervisor's freed memory (overwritten before the next runner forks), a deep folder and many files
(both once broke or slowed NEXT, which emptied the folder file by file; a fresh tmpfs is now mounted over it
whenever a runner ends). Three got through, without points, until fixed: keys in uid nobody's keyrings (a
seccomp filter now denies runners the keyring calls), the answer buffer an attacker grew (NEXT now starts the
supervisor with a small one), and a module's __class__ swapped past the restore (the restore now puts back
the type of each trusted module and the bases of each trusted class).
"""
from __future__ import annotations

import os
import re
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import (S1, S4, SOLUTIONS, SURVIVOR_WAIT, contained_batch, describe, kill_marked, marked_processes,
                      results, stub, submission_from_solutions, tasks_of)

from course.content.curriculum import TASKS

SEED = "20240611"
ARGS = ("--grader-seed", SEED, "--grader-timeout", "5", "--grader-jobs", "1")
BATCH_TIMEOUT = 400
S4_TASKS = tasks_of(S4)

# ---------------------------------------------------------------- the attacker's toolbox (module level of its file)

TOOLS = '''\
import ctypes as _rt_ctypes
import os as _rt_os
import socket as _rt_socket
import sys as _rt_sys
import time as _rt_time

_rt_libc = _rt_ctypes.CDLL(None, use_errno=True)
_rt_libc.syscall.restype = _rt_ctypes.c_long


def _rt_say(*words):
    print(*words, flush=True)


def _rt_stamp():
    """When this PID namespace's PID 1 (the supervisor) started: equal for the runners of one supervisor."""
    try:
        with open("/proc/1/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return "?"


_rt_say("RT-STAMP", _rt_stamp())
'''


def attacker_file(file: str, code: str) -> dict[str, str]:
    """The stub of file with the toolbox and code at module level (it runs at every call of that file)."""
    return {file: stub(file, None, TOOLS + textwrap.dedent(code))}


# Traces in every place the runner may write: its working folder (files, hidden ones, a deep folder, a fifo, a
# bound unix socket, the tmpfs filled up), and /dev/shm, /dev/mqueue, /tmp, /var/tmp, /run, $HOME if writable.
FILES = '''\
_rt_made = []
for _rt_place in (".", "/dev/shm", "/dev/mqueue", "/tmp", "/var/tmp", "/run", "/run/lock", _rt_os.path.expanduser("~")):
    try:
        with open(_rt_os.path.join(_rt_place, ".rt-__MARK__"), "w") as _rt_f:
            _rt_f.write("__MARK__")
        _rt_made.append(_rt_place)
    except OSError:
        pass
try:
    _rt_os.makedirs("rt-__MARK__/a/b/c", exist_ok=True)
    _rt_os.mkfifo("rt-__MARK__-fifo")
except OSError:
    pass
try:
    _rt_s = _rt_socket.socket(_rt_socket.AF_UNIX)
    _rt_s.bind("rt-__MARK__-sock")
except OSError:
    pass
try:
    with open("rt-__MARK__-fill", "wb") as _rt_f:
        for _ in range(80):
            _rt_f.write(b"R" * (1 << 20))
except OSError:
    pass
_rt_say("RT-FILES", _rt_made, sorted(_rt_os.listdir("."))[:4])
'''

# Processes at every call: setsid double forks deaf to SIGTERM, a zombie, a stopped child, a child in a user
# and PID namespace of its own (if nobody may make one); the supervisor must end them all by NEXT.
PROCESSES = '''\
import signal as _rt_signal
_rt_kinds = []
def _rt_daemon():
    if _rt_os.fork() == 0:
        _rt_os.setsid()
        if _rt_os.fork() == 0:
            _rt_signal.signal(_rt_signal.SIGTERM, _rt_signal.SIG_IGN)
            _rt_signal.signal(_rt_signal.SIGHUP, _rt_signal.SIG_IGN)
            _rt_time.sleep(10**6)
        _rt_os._exit(0)
    _rt_kinds.append("daemon")
try:
    _rt_daemon()
    if _rt_os.fork() == 0:
        _rt_os._exit(0)  # a zombie: never reaped
    _rt_kinds.append("zombie")
    _rt_pid = _rt_os.fork()
    if _rt_pid == 0:
        _rt_time.sleep(10**6)
    _rt_os.kill(_rt_pid, _rt_signal.SIGSTOP)
    _rt_kinds.append("stopped")
    CLONE_NEWUSER, CLONE_NEWPID = 0x10000000, 0x20000000
    _rt_r, _rt_w = _rt_os.pipe()
    if _rt_os.fork() == 0:
        if _rt_libc.unshare(CLONE_NEWUSER | CLONE_NEWPID) == 0:
            if _rt_os.fork() == 0:
                _rt_os.write(_rt_w, b"y")
                _rt_time.sleep(10**6)
        _rt_os.write(_rt_w, b"n")
        _rt_time.sleep(10**6)
    _rt_kinds.append("userns:" + _rt_os.read(_rt_r, 1).decode())
except OSError as _rt_e:
    _rt_kinds.append(repr(_rt_e))
_rt_time.sleep(0.2)
_rt_say("RT-PROCS", _rt_kinds, len([p for p in _rt_os.listdir("/proc") if p.isdigit()]))
'''

# A listening abstract socket (the network namespace is shared by every supervisor) that no process holds: it is
# sent, with both ends of a datagram pair, into that pair's own queue (a cycle in flight), then every descriptor
# is closed. A memfd and a file of the working tmpfs ride along (they would keep the old tmpfs alive).
ABSTRACT_IN_FLIGHT = '''\
try:
    _rt_l = _rt_socket.socket(_rt_socket.AF_UNIX, _rt_socket.SOCK_STREAM)
    _rt_l.bind("\\0rt-__MARK__")
    _rt_l.listen(64)
    _rt_a, _rt_b = _rt_socket.socketpair(_rt_socket.AF_UNIX, _rt_socket.SOCK_DGRAM)
    _rt_m = _rt_os.memfd_create("rt-__MARK__")
    _rt_os.write(_rt_m, b"__MARK__" * 1000)
    _rt_t = _rt_os.open("rt-__MARK__-held", _rt_os.O_CREAT | _rt_os.O_RDWR, 0o600)
    _rt_socket.send_fds(_rt_a, [b"x"], [_rt_l.fileno(), _rt_a.fileno(), _rt_b.fileno(), _rt_m, _rt_t])
    _rt_socket.send_fds(_rt_b, [b"y"], [_rt_l.fileno(), _rt_a.fileno(), _rt_b.fileno()])
    for _rt_fd in (_rt_m, _rt_t):
        _rt_os.close(_rt_fd)
    for _rt_s in (_rt_l, _rt_a, _rt_b):
        _rt_s.close()
    _rt_c = _rt_socket.socket(_rt_socket.AF_UNIX, _rt_socket.SOCK_STREAM)
    _rt_c.connect("\\0rt-__MARK__")
    _rt_c.close()
    _rt_say("RT-IN-FLIGHT connected")
except OSError as _rt_e:
    _rt_say("RT-IN-FLIGHT", repr(_rt_e))
'''

# Keys in uid nobody's user keyring and user session keyring (every runner is uid 65534 at L3), with a timeout of
# 2 minutes so they do not outlive the test by much.
KEYRING = '''\
_rt_keys = []
for _rt_ring in (-4, -5):  # KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING
    _rt_data = b"__MARK__"
    _rt_id = _rt_libc.syscall(248, b"user", b"rt-__MARK__", _rt_data, len(_rt_data), _rt_ring)  # add_key
    if _rt_id > 0:
        _rt_libc.syscall(250, 15, _rt_id, 120)  # KEYCTL_SET_TIMEOUT
    _rt_keys.append(_rt_id if _rt_id > 0 else -_rt_ctypes.get_errno())
_rt_say("RT-KEYS", _rt_keys)
'''

# SysV and POSIX IPC objects (the IPC namespace is shared by every supervisor; its limits are 0).
IPC = '''\
_rt_ipc = []
_rt_key = 0x52540000 + (hash("__MARK__") & 0xffff)
for _rt_name, _rt_call in (("shm", lambda: _rt_libc.shmget(_rt_key, 4096, 0o1666)),
                           ("msg", lambda: _rt_libc.msgget(_rt_key, 0o1666)),
                           ("sem", lambda: _rt_libc.semget(_rt_key, 1, 0o1666))):
    _rt_ipc.append((_rt_name, _rt_call(), _rt_ctypes.get_errno()))
try:
    _rt_rt = _rt_ctypes.CDLL("librt.so.1", use_errno=True)
    _rt_ipc.append(("mq", _rt_rt.mq_open(b"/rt-__MARK__", 0o100 | 0o2, 0o666, None), _rt_ctypes.get_errno()))
except OSError:
    pass
_rt_say("RT-IPC", _rt_ipc)
'''

# The attacker's calls crash with exit codes of its choosing (and it picks how long they take): the supervisor
# writes them into the reply's header, in its own memory, which the next student's runners are forked from.
EXIT_CODES = '''\
_rt_say("RT-EXITING 213")
_rt_sys.stdout.flush()
_rt_os._exit(213)
'''

# A valid-looking answer of exactly 64 MiB (the most the supervisor takes), full of a pattern: the supervisor's
# answer buffer grows to 128 MiB, is wiped and kept; the next student's runners inherit it.
BIG_ANSWER = '''\
import struct as _rt_struct
_rt_word = b"RTBIG" + bytes(reversed(b"__MARK__"))[:3]
_rt_size = 64 * 1024 * 1024
_rt_os.write(3, _rt_struct.pack("<Q", _rt_size))
_rt_chunk = _rt_word * ((1 << 20) // 8)
for _ in range(64):
    _rt_os.write(3, _rt_chunk)
_rt_say("RT-BIG-ANSWER sent")
_rt_os.close(3)
_rt_sys.stdout.flush()
_rt_os._exit(0)
'''

# A folder 1,500 levels deep in the working tmpfs: the supervisor's rmtree (recursive in Python 3.11) of the
# working folder, when the runner ends at NEXT, can raise RecursionError instead of an OSError.
DEEP_FOLDER = '''\
_rt_fd = _rt_os.open(".", _rt_os.O_RDONLY | _rt_os.O_DIRECTORY)
_rt_depth = 0
try:
    for _rt_i in range(1500):
        try:
            _rt_os.mkdir("d", dir_fd=_rt_fd)
        except FileExistsError:
            pass
        _rt_next = _rt_os.open("d", _rt_os.O_RDONLY | _rt_os.O_DIRECTORY, dir_fd=_rt_fd)
        _rt_os.close(_rt_fd)
        _rt_fd = _rt_next
        _rt_depth += 1
except OSError as _rt_e:
    _rt_say("RT-DEEP-ERROR", repr(_rt_e))
_rt_os.close(_rt_fd)
_rt_say("RT-DEEP", _rt_depth)
'''

# Many small files (inodes cost no tmpfs size): the supervisor empties the folder file by file when the runner
# ends, so NEXT, and with it the next student's first call, waits.
MANY_FILES = '''\
_rt_made = 0
_rt_until = _rt_time.monotonic() + 3.5
_rt_dir = "m%d" % _rt_time.monotonic_ns()
_rt_total = sum(1 for _ in _rt_os.scandir(".")) * 40000
try:
    _rt_os.mkdir(_rt_dir)
    _rt_dfd = _rt_os.open(_rt_dir, _rt_os.O_RDONLY | _rt_os.O_DIRECTORY)
    while _rt_time.monotonic() < _rt_until and _rt_made + _rt_total < 600000:
        for _rt_i in range(1000):
            _rt_os.close(_rt_os.open("f%d" % (_rt_made + _rt_i), _rt_os.O_CREAT | _rt_os.O_WRONLY, 0o600, dir_fd=_rt_dfd))
        _rt_made += 1000
except OSError as _rt_e:
    _rt_say("RT-MANY-ERROR", repr(_rt_e))
_rt_say("RT-MANY", _rt_made, len(_rt_os.listdir(".")))
'''

# Trusted code changed where Runner's Untouched does not look (no dict, no function slot): course.sandbox.probes and
# torch.nn.functional given a module subclass, a trusted class's bases swapped, a mutable default of a trusted
# function filled. The stub then checks, inside the probe's call, which of them survived the restore.
RESTORE_MISSES = '''\
import types as _rt_types
import torch as _rt_torch
import course.sandbox.probes as _rt_probes
import course.content.models as _rt_models
_rt_changed = []
class _RtModule(_rt_types.ModuleType):
    pass
for _rt_m in (_rt_probes, _rt_torch.nn.functional):
    try:
        _rt_m.__class__ = _RtModule
        _rt_changed.append(_rt_m.__name__)
    except TypeError as _rt_e:
        _rt_changed.append(repr(_rt_e)[:40])
class _RtBase(_rt_torch.nn.Module):
    rt_patched = "__MARK__"
for _rt_name, _rt_cls in sorted(vars(_rt_models).items()):
    if isinstance(_rt_cls, type) and _rt_cls.__module__ == _rt_models.__name__ and _rt_cls.__bases__ == (_rt_torch.nn.Module,):
        try:
            _rt_cls.__bases__ = (_RtBase,)
            _rt_changed.append(_rt_name)
        except TypeError as _rt_e:
            _rt_changed.append(repr(_rt_e)[:40])
_rt_say("RT-CHANGED", _rt_changed)
'''

RESTORE_CHECK = '''\
import course.sandbox.probes, course.content.models, torch.nn.functional
_rt_kept = [type(course.sandbox.probes).__name__, type(torch.nn.functional).__name__,
            sorted(n for n, c in vars(course.content.models).items() if getattr(c, "rt_patched", "") == "__MARK__")]
print("RT-KEPT", _rt_kept, flush=True)
raise NotImplementedError("Task 4.1")
'''

# ---------------------------------------------------------------- the spy (first_layer_for of the reference's sec1)

SPY = '''\
    import ctypes, os, re, socket
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    mark = "__MARK__"
    try:
        with open("/proc/1/stat", "rb") as f:
            stamp = f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        stamp = "?"
    files = []
    for top in (".", "/dev/shm", "/dev/mqueue", "/tmp", "/var/tmp", "/run", os.path.expanduser("~")):
        for folder, subs, names in os.walk(top):
            if folder.count("/") > 4:
                subs[:] = []
            files += [os.path.join(folder, n) for n in subs + names if mark in n or top == "."]
    procs = sorted(int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid()))
    with open("/proc/net/unix") as f:
        sockets = [line.split()[-1] for line in f if mark in line]
    try:
        c = socket.socket(socket.AF_UNIX)
        c.connect("\\0rt-" + mark)
        sockets.append("connected")
    except OSError:
        pass
    keys = [libc.syscall(250, 10, ring, b"user", ("rt-" + mark).encode(), 0) for ring in (-4, -5)]  # KEYCTL_SEARCH
    keys = [k for k in keys if k > 0]
    ipc = []
    for kind in ("shm", "msg", "sem"):
        try:
            with open("/proc/sysvipc/" + kind) as f:
                ipc += [kind] * (len(f.readlines()) - 1)
        except OSError:
            pass
    codes, big, patterns = set(), [], 0
    word = re.compile(rb"RTBIG[a-f0-9]{3}")
    pattern = re.compile(rb'"exit_code": (-?[0-9]+)')
    with open("/proc/self/maps") as f:
        regions = [line.split() for line in f]
    with open("/proc/self/mem", "rb", buffering=0) as mem:
        for fields in regions:
            if not fields[1].startswith("rw") or (len(fields) > 5 and fields[5] != "[heap]"):
                continue
            low, high = (int(x, 16) for x in fields[0].split("-"))
            zero = True
            for at in range(low, high, 1 << 24):
                try:
                    mem.seek(at)
                    chunk = mem.read(min(1 << 24, high - at))
                except OSError:
                    continue
                codes.update(int(c) for c in pattern.findall(chunk))
                patterns += len(word.findall(chunk))
                zero = zero and not chunk.strip(b"\\0")
            if high - low >= 96 << 20:
                big.append((round((high - low) / (1 << 20)), zero))
    print("RT-SPY-STAMP", stamp, flush=True)
    print("RT-SPY-SEEN", "files", files[:6], "procs", procs[:6], "sockets", sockets[:3], "keys", keys, "ipc", ipc, flush=True)
    print("RT-SPY-MEMORY", "codes", sorted(codes)[:8], "big", big[:4], "pattern", patterns, flush=True)
    raise NotImplementedError("Task 1.3")
'''


def spy_files(mark: str) -> dict[str, str]:
    text = (SOLUTIONS / S1).read_text(encoding="utf-8")
    start = text.index("    ### BEGIN SOLUTION (Task 1.3)\n")
    end = text.index("    ### END SOLUTION", start)
    return {S1: text[:start] + SPY.replace("__MARK__", mark) + text[end:]}


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Case:
    """One attack: its file(s) (before fill), the tasks it attacks, what must reach its feedback (it ran), whether
    the spy must share its supervisor (reuse), and an xfail reason when it gets through today."""

    name: str
    files: dict[str, str]
    ran: tuple[str, ...]
    attacked: frozenset = frozenset(S4_TASKS)
    reuse: bool | None = True  # None: either way (the attack may or may not cost the spy its supervisor)
    not_in_feedback: tuple[str, ...] = ()  # what the attacker prints when it got through
    gap: str | None = None
    doc: str = ""


CASES = [
    Case("traces_in_every_writable_place", attacker_file(S4, FILES), ("RT-FILES ['.'",),
         doc="files, hidden files, a fifo, a bound socket, 80 MiB written in the working tmpfs and every other place"),
    Case("processes_zombies_and_namespaces", attacker_file(S4, PROCESSES), ("RT-PROCS ['daemon', 'zombie', 'stopped'",),
         doc="a setsid double-forked daemon deaf to SIGTERM, a zombie, a stopped child, a child in its own user+PID ns"),
    Case("abstract_socket_held_in_flight", attacker_file(S4, ABSTRACT_IN_FLIGHT), ("RT-IN-FLIGHT connected",),
         doc="a listening abstract socket, a memfd and a tmpfs file sent into a datagram pair's own queue (a cycle)"),
    Case("keys_in_nobodys_keyrings", attacker_file(S4, KEYRING), ("RT-KEYS [",),
         doc="a key in @u and @us of uid nobody; the spy searches for it"),
    Case("sysv_and_posix_ipc", attacker_file(S4, IPC), ("RT-IPC",),
         doc="shmget/msgget/semget/mq_open with IPC_CREAT (the IPC namespace is shared by every supervisor)"),
    Case("exit_codes_left_in_the_supervisors_memory", attacker_file(S4, EXIT_CODES), ("RT-EXITING 213",),
         doc="each sec4 call exits with code 213; the spy looks for the supervisor's reply headers in its own memory"),
    Case("a_64_mib_answer_grows_the_supervisors_buffer", attacker_file(S4, BIG_ANSWER), ("RT-BIG-ANSWER sent",),
         doc="a 64 MiB frame of a pattern on the answer pipe; the spy looks for the pattern and for big mappings"),
    Case("deep_folder_breaks_the_rmtree_at_next", attacker_file(S4, DEEP_FOLDER), ("RT-DEEP 1500",),
         doc="a 1,500-deep folder in the working tmpfs (a recursive rmtree would hit RecursionError; a new tmpfs is mounted)"),
    Case("many_files_make_next_slow", attacker_file(S4, MANY_FILES), ("RT-MANY",),
         doc="as many empty files as 3.5 s of each sec4 call makes (removing them one by one would outlast a deadline)"),
    Case("restore_misses_non_dict_changes",
         {S4: stub(S4, {"cross_entropy": RESTORE_CHECK}, TOOLS + RESTORE_MISSES)}, ("RT-CHANGED [", "RT-KEPT"), not_in_feedback=("_RtModule",),
         doc="module __class__ and class __bases__ swapped at import; the stub reports what survived the restore"),
]


class Student:
    """One entry of the class: its id, the marker its processes carry, and how to fill its text."""

    def __init__(self, sid: str) -> None:
        self.id = sid
        self.mark = "rt" + uuid.uuid4().hex[:10]

    def fill(self, text: str) -> str:
        return text.replace("__MARK__", self.mark).replace("__TAG__", self.id)


def run_batch(cls: Path, out: Path) -> SimpleNamespace:
    """The class graded with --grader-jobs 1 and this module's seed and limits (conftest.contained_batch)."""
    return contained_batch(cls, out, *ARGS, timeout=BATCH_TIMEOUT)


def earned(result: dict) -> dict[str, float]:
    return {task: entry["earned"] for task, entry in result["grade"]["tasks"].items()}


def outcomes(result: dict) -> list[tuple[str, str]]:
    return [(t["nodeid"], t["outcome"]) for t in result.get("tests", [])]


def feedback(result: dict, tasks) -> str:
    return "\n".join(t.get("feedback", "") for t in result.get("tests", []) if t["task"] in tasks and t.get("feedback"))


def said(text: str, word: str) -> str | None:
    """The rest of the last line of text that starts (after the output's '| ') with word."""
    found = re.findall(rf"\| {re.escape(word)} ([^\n]*)", text)
    return found[-1].strip() if found else None


@pytest.fixture(scope="module")
def alone(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The spy (looking for a mark nobody uses) and the honest student, graded alone with the same options."""
    base = tmp_path_factory.mktemp("reuse-alone")
    cls = base / "class"
    nobody = Student("alone")
    submission_from_solutions(cls / "b-spy", spy_files(nobody.mark))
    submission_from_solutions(cls / "c-honest")
    ran = run_batch(cls, base / "out")
    return SimpleNamespace(ran=ran, results=results(ran.out))


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=[pytest.mark.xfail(strict=True, reason=c.gap)]
                                               if c.gap else []) for c in CASES])
def test_later_student_after_attack(alone, tmp_path: Path, case: Case):
    cls = tmp_path / "class"
    atk = Student(f"{case.name}-a-atk")
    submission_from_solutions(cls / atk.id, {n: atk.fill(t) for n, t in case.files.items()})
    submission_from_solutions(cls / f"{case.name}-b-spy", spy_files(atk.mark))
    submission_from_solutions(cls / f"{case.name}-c-honest")
    try:
        ran = run_batch(cls, tmp_path / "out")
        deadline = time.monotonic() + SURVIVOR_WAIT
        while marked_processes(atk.mark) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = describe(marked_processes(atk.mark))
    finally:
        kill_marked(atk.mark)
    summary = f"exit {ran.returncode} after {ran.seconds:.0f} s; output ends:\n{ran.output[-2500:]}"
    assert ran.returncode in (0, 1) and "INTERNALERROR" not in ran.output, summary
    assert alone.ran.returncode in (0, 1), alone.ran.output[-2500:]
    found = results(ran.out)
    assert sorted(found) == sorted(p.name for p in cls.iterdir()), summary
    problems: list[str] = []

    attacker = found[atk.id]
    own = feedback(attacker, case.attacked)
    missing = [needle for needle in case.ran if atk.fill(needle) not in own]
    if missing:
        problems.append(f"the attack did not run as written: {missing} not in its feedback:\n{own[-1500:]}")
    for needle in case.not_in_feedback:
        if needle in own:
            problems.append(f"the attack got through: {needle!r} in its own feedback")
    for task, got in earned(attacker).items():
        if task in case.attacked and got > 0:
            problems.append(f"the attacker earns {got:g} in task {task}, which its stub earns 0 in")
    if survivors:
        problems.append(f"processes of the attack alive {SURVIVOR_WAIT:g} s after the batch: {survivors}")

    spy, spy_alone = found[f"{case.name}-b-spy"], alone.results["b-spy"]
    honest, honest_alone = found[f"{case.name}-c-honest"], alone.results["c-honest"]
    for name, now, then in (("spy", spy, spy_alone), ("honest", honest, honest_alone)):
        if now["status"] != "graded":
            problems.append(f"the {name} student's status is {now['status']}: {now.get('message')}")
        if earned(now) != earned(then):
            problems.append(f"the {name} student earns {earned(now)}, alone {earned(then)}")
        if outcomes(now) != outcomes(then):
            problems.append(f"the {name} student's test outcomes differ from alone")
        if now["grade"].get("faults") or now["grade"].get("errors"):
            problems.append(f"the {name} student has faults or errors: {now['grade'].get('faults')} "
                            f"{now['grade'].get('errors')}")

    report = feedback(spy, {"1.3"})
    base = feedback(spy_alone, {"1.3"})
    stamp_atk, stamp_spy = said(own, "RT-STAMP"), said(report, "RT-SPY-STAMP")
    if stamp_spy is None:
        problems.append(f"the spy reported nothing:\n{report[-1500:]}")
    elif case.reuse and stamp_atk != stamp_spy:
        problems.append(f"no reuse: the attacker's supervisor started at {stamp_atk}, the spy's at {stamp_spy}")
    elif not case.reuse and stamp_atk == stamp_spy:
        problems.append("the spy shared the supervisor the attack meant to break")
    if os.environ.get("RT_SHOW"):
        print(case.name, "stamps", stamp_atk, stamp_spy, "spy", [said(report, w) for w in ("RT-SPY-SEEN", "RT-SPY-MEMORY")],
              "alone", [said(base, w) for w in ("RT-SPY-SEEN", "RT-SPY-MEMORY")], "attacker", sorted(set(re.findall(r"RT-[A-Z-]+[^\n]{0,150}", own))))
    for word in ("RT-SPY-SEEN", "RT-SPY-MEMORY"):
        if said(report, word) != said(base, word):
            problems.append(f"the spy sees something of the attacker: {word} {said(report, word)} "
                            f"(alone: {said(base, word)})")
    if atk.mark in report or atk.mark in feedback(honest, set(TASKS)):
        problems.append("the attacker's mark reached a later student's feedback")
    for text in (report, feedback(honest, set(TASKS))):
        for needle in ("Traceback", "RecursionError", "RT-"):
            if needle in text and needle not in base:
                problems.append(f"{needle!r} reached a later student's feedback")
    assert not problems, "\n".join(problems) + f"\n--- attacker's feedback ends:\n{own[-800:]}"


def test_the_table_is_long_enough():
    assert len(CASES) >= 10
    assert len({c.name for c in CASES}) == len(CASES)
