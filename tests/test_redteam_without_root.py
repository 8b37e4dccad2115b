"""Red team against grading without root (L2): one table of attacks, each graded as root (L3) and under every way
of grading without it (tests/conftest.py WITHOUT_ROOT, and a real user of the machine, uid 1000).

Without root the runner keeps the zygote's own uid: the uid of its supervisor, of every other submission's
supervisor and runners, of the zygote, and for a user without root of the judge itself. Every row is an attack
that uid makes possible if nothing else stops it: the judge's terminal and the machine's devices, the knobs /proc
gives the owner of a process or of the IPC namespace every submission shares, signals to its supervisor, a user
namespace of its own to undo the read-only view, a fork bomb counted against the zygote, a process that outlives
its submission. Each row names the submissions it hands in, one after another (a later one is another
student's, usually on the same supervisor started afresh), and checks what they returned.

All rows of one setting run in one subprocess with one zygote (tests/conftest.py without_root); a setting the
machine cannot make is skipped. Where an attack cannot be stopped at L2 by design the check says so, and README's
"Containment levels" names it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import Callable

import pytest
from conftest import WITHOUT_ROOT, as_a_real_user, environment, without_root

from course.sandbox import contain

# The driver, run in each setting: a zygote, then every row's submissions in order, each in a session of its own
# (a supervisor fresh or started afresh), each call with the row's arguments ("{pty}": a terminal the judge
# opened, as an instructor's terminal is). Prints one JSON line: the isolation and, per row, per submission, per
# call: [status, value or error], and what the judge's terminal received.
DRIVER = r'''
import json, os, sys, time
from course.sandbox import worker

rows = json.loads(sys.stdin.read())
master, slave = os.openpty()
terminal = os.ttyname(slave)
os.set_blocking(master, False)
zygote = worker.Zygote()
ready = zygote.wait_ready()
out = {"isolation": ready["isolation"], "rows": {}, "uid": os.getuid(),
       "uid_map": [[int(x) for x in line.split()] for line in open("/proc/self/uid_map").read().splitlines()]}
for name, submissions in rows.items():
    done = []
    for calls in submissions:
        session = zygote.session()
        results = []
        try:
            for source, args in calls:
                args = [terminal if a == "{pty}" else a for a in args]
                r = session.submit("call", "sec9_probe", "/submission/sec9_probe.py", source.encode(), ["f", args, {}], 20)()
                results.append([r.status, r.value if r.status == "ok" else (r.error, r.output[-2000:])])
        finally:
            session.close()
        done.append(results)
    try:
        heard = os.read(master, 4096).decode("latin-1")
    except BlockingIOError:
        heard = ""
    survivors = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            if open(f"/proc/{pid}/comm").read().strip() == "rt-outlives":
                survivors.append(int(pid))
        except OSError:
            pass
    out["rows"][name] = {"results": done, "terminal": heard, "survivors": survivors}
zygote.close()
print(json.dumps(out, default=repr))
'''

PRELUDE = '''
import ctypes, errno, os, signal, time
libc = ctypes.CDLL(None, use_errno=True)


def why(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def write(path, text):
    try:
        with open(path, "w") as f:
            f.write(text)
        return "WROTE"
    except OSError as e:
        return why(e)
'''


def source(body: str) -> str:
    return PRELUDE + textwrap.dedent(body)


@dataclass
class Attack:
    name: str
    submissions: list[list[tuple[str, list]]]  # per submission, its calls: (source, arguments)
    check: Callable[[dict, dict], None]  # (this row's outcome, the setting's facts)


def values(row: dict) -> list:
    """Every call's value, in order; each call must have been answered."""
    found = []
    for submission in row["results"]:
        for status, value in submission:
            assert status == "ok", value
            found.append(value)
    return found


TERMINAL = source('''
def f(terminal):
    try:
        fd = os.open(terminal, os.O_RDWR | os.O_NOCTTY)
    except OSError as e:
        return why(e)
    os.write(fd, b"\\x1b]52;c;cm0gLXJmIH4=\\x07RT-TERMINAL\\r\\n")  # an OSC 52 clipboard write, then text
    return "OPENED"
''')


def check_terminal(row: dict, facts: dict) -> None:
    (opened,) = values(row)
    assert opened != "OPENED" and "RT-TERMINAL" not in row["terminal"], (opened, row["terminal"])


DEVICES = source('''
def f():
    opened = {}
    for name in sorted(os.listdir("/dev")):
        for mode, flag in (("rw", os.O_RDWR), ("r", os.O_RDONLY)):
            try:
                os.close(os.open("/dev/" + name, flag | os.O_NOCTTY | os.O_NONBLOCK))
                opened[name] = mode
                break
            except OSError:
                pass
    return opened
''')


def check_devices(row: dict, facts: dict) -> None:
    (opened,) = values(row)
    expected = {*contain.DEVICES, "fd", "stdin", "stdout", "stderr", "shm"}  # the links, and an empty folder
    assert set(opened) <= expected, sorted(set(opened) - expected)


IPC_KEY = 0x5EED
IPC_SWITCHED_ON = source(f'''
def f():
    done = {{name: write("/proc/sys/" + name, value) for name, value in
            (("kernel/shmmni", "4096"), ("kernel/msgmni", "32"), ("kernel/sem", "250 32000 32 128"),
             ("fs/mqueue/queues_max", "16"))}}
    segment = libc.shmget({IPC_KEY}, 1 << 20, 0o1666)  # IPC_CREAT: left behind for a later student
    done["shmget"] = segment if segment < 0 else "MADE"
    return done
''')
IPC_FOUND = source(f'''
def f():
    return [libc.shmget({IPC_KEY}, 0, 0), open("/proc/sys/kernel/shmmni").read().strip()]
''')


def check_ipc(row: dict, facts: dict) -> None:
    made, (found, shmmni) = values(row)
    assert set(made.values()) <= {"EROFS", "EACCES", "EPERM", -1}, made
    assert found == -1 and shmmni == "0", (found, shmmni)


SUPERVISOR_KNOBS = source('''
def f():
    return {name: write("/proc/1/" + name, value) for name, value in
            (("oom_score_adj", "1000"), ("oom_adj", "15"), ("autogroup", "19"), ("coredump_filter", "0x1ff"),
             ("clear_refs", "5"), ("sched", "0"), ("timerslack_ns", "1"), ("comm", "rt-renamed"),
             ("attr/current", "unconfined"), ("loginuid", "1"))}
''')
SUPERVISOR_AFTER = source('''
def f():
    return [open("/proc/1/oom_score_adj").read().strip(), open("/proc/1/autogroup").read().split()[-1],
            open("/proc/1/comm").read().strip()]
''')


def check_supervisor_knobs(row: dict, facts: dict) -> None:
    written, after = values(row)
    assert "WROTE" not in written.values(), written
    assert after[1:] == ["0", "course-supervis"] and after[0] != "1000", after


SIGNALS = source('''
def f():
    sent = []
    for s in (signal.SIGSTOP, signal.SIGTERM, signal.SIGKILL, signal.SIGSEGV, signal.SIGUSR1, signal.SIGHUP):
        try:
            os.kill(1, s)
            sent.append(int(s))
        except OSError:
            pass
    import fcntl
    try:  # the kernel signals pid 1 whenever its supervisor writes to this socket
        fcntl.fcntl(5, fcntl.F_SETOWN, 1)
        fcntl.fcntl(5, 10, signal.SIGKILL)  # F_SETSIG
        fcntl.fcntl(5, fcntl.F_SETFL, fcntl.fcntl(5, fcntl.F_GETFL) | os.O_ASYNC)
    except OSError:
        pass
    return sent
''')
ALIVE = source('''
def f():
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit()) == [1, os.getpid()]
''')


def check_signals(row: dict, facts: dict) -> None:
    sent, again, later = values(row)  # the same supervisor answers the next call, and the next student
    assert again is True and later is True


OWN_USER_NAMESPACE = source('''
def f():
    # a user and mount namespace of its own: full capabilities there, over a copy of the read-only view
    if libc.unshare(0x10000000 | 0x20000) != 0:
        return {"unshare": why(OSError(ctypes.get_errno(), ""))}
    tried = {}
    for target in ("/tmp/course-calls", os.path.dirname(os.getcwd()), "/", "/proc", "/dev", "/sys"):
        ok = libc.mount(None, target.encode(), None, ctypes.c_ulong(32), None)  # MS_REMOUNT, read-write
        tried["remount " + target] = "DONE" if ok == 0 else errno.errorcode[ctypes.get_errno()]
    ok = libc.mount(b"proc", b"/mnt", b"proc", ctypes.c_ulong(0), None)
    tried["new /proc"] = "DONE" if ok == 0 else errno.errorcode[ctypes.get_errno()]
    ok = libc.umount2(b"/proc", 2)
    tried["unmount /proc"] = "DONE" if ok == 0 else errno.errorcode[ctypes.get_errno()]
    for path in ("/tmp/course-calls/rt-planted", os.path.dirname(os.getcwd()) + "/rt-planted", "/dev/rt-planted"):
        try:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY))
            tried["write " + path] = "DONE"
        except OSError as e:
            tried["write " + path] = why(e)
    tried["shmmni"] = write("/proc/sys/kernel/shmmni", "4096")
    return tried
''')


def check_own_user_namespace(row: dict, facts: dict) -> None:
    (tried,) = values(row)
    assert "DONE" not in tried.values() and "WROTE" not in tried.values(), tried


FORK_BOMB = source('''
def f(nested=False):
    if nested and libc.unshare(0x10000000) != 0:  # a user namespace of its own first: a count of its own?
        return -1
    kids = []
    for _ in range(200):  # bounded: this machine is shared; the limit is 128
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            signal.pause()
            os._exit(0)
        kids.append(pid)
    return len(kids)
''')
FORKS_AGAIN = source('''
def f():
    return os.getpid()
''')


def check_fork_bomb(row: dict, facts: dict) -> None:
    forked, _ = values(row)  # and the zygote forks the next student's supervisor
    mechanisms = facts["isolation"]["mechanisms"]
    if "cgroup" in mechanisms or "process-limit" in mechanisms:
        assert forked < 128, forked
    else:  # the kernel never applies RLIMIT_NPROC to the machine's root: README, "What does not hold below L3"
        assert facts["machine_root"], ("no limit on processes", mechanisms)


OUTLIVES = source('''
def f():
    if os.fork() == 0:  # a daemon in user and PID namespaces of its own, in a session of its own
        os.setsid()
        libc.unshare(0x10000000 | 0x20000000)
        if os.fork() == 0:
            libc.prctl(15, b"rt-outlives", 0, 0, 0)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            time.sleep(60)
        os._exit(0)
    time.sleep(0.3)
    return "LEFT"
''')


def check_outlives(row: dict, facts: dict) -> None:
    left, alone = values(row)
    assert alone is True and row["survivors"] == [], row["survivors"]


SUPERVISOR_PROC = source('''
def f():
    seen = {}
    for name in ("environ", "mem", "maps", "cwd", "root", "exe", "ns/pid", "ns/user", "fd/3", "fd/0"):
        try:
            if os.path.islink("/proc/1/" + name) and name != "fd/0":
                os.listdir("/proc/1/" + name) if name in ("cwd", "root") else os.close(os.open("/proc/1/" + name, os.O_RDONLY))
            else:
                open("/proc/1/" + name, "rb").read(1)
            seen[name] = "READ"
        except OSError as e:
            seen[name] = why(e)
    seen["ptrace"] = "ATTACHED" if libc.ptrace(16, 1, 0, 0) == 0 else errno.errorcode[ctypes.get_errno()]
    pidfd = libc.syscall(434, 1, 0)  # pidfd_open: allowed; then pidfd_getfd, to take the judge's socket (fd 3)
    stolen = libc.syscall(438, pidfd, 3, 0) if pidfd >= 0 else -1
    seen["pidfd_getfd"] = "READ" if stolen >= 0 else errno.errorcode[ctypes.get_errno()]
    local, remote = (ctypes.c_char * 8)(), (ctypes.c_void_p * 2)(0x400000, 8)
    seen["process_vm_readv"] = ("READ" if libc.process_vm_readv(1, ctypes.byref((ctypes.c_void_p * 2)(
        ctypes.addressof(local), 8)), 1, remote, 1, 0) >= 0 else errno.errorcode[ctypes.get_errno()])
    return seen
''')


def check_supervisor_proc(row: dict, facts: dict) -> None:
    (seen,) = values(row)
    assert "READ" not in seen.values() and seen["ptrace"] != "ATTACHED", seen


ATTACKS = [
    Attack("terminal", [[(TERMINAL, ["{pty}"])]], check_terminal),
    Attack("devices", [[(DEVICES, [])]], check_devices),
    Attack("ipc-switched-back-on", [[(IPC_SWITCHED_ON, [])], [(IPC_FOUND, [])]], check_ipc),
    Attack("supervisor-knobs", [[(SUPERVISOR_KNOBS, [])], [(SUPERVISOR_AFTER, [])]], check_supervisor_knobs),
    Attack("signals-to-the-supervisor", [[(SIGNALS, []), (ALIVE, [])], [(ALIVE, [])]], check_signals),
    Attack("own-user-namespace", [[(OWN_USER_NAMESPACE, [])]], check_own_user_namespace),
    Attack("supervisor-proc", [[(SUPERVISOR_PROC, [])]], check_supervisor_proc),
    Attack("fork-bomb", [[(FORK_BOMB, [])], [(FORKS_AGAIN, [])]], check_fork_bomb),
    Attack("fork-bomb-in-a-nested-user-namespace", [[(FORK_BOMB, [True])], [(FORKS_AGAIN, [])]], check_fork_bomb),
    Attack("outlives-its-submission", [[(OUTLIVES, [])], [(ALIVE, [])]], check_outlives),
]

SETTINGS = ["as_root", *WITHOUT_ROOT, "a_real_user"]


def prefix(setting: str) -> list[str]:
    if setting == "as_root":
        return []
    if setting == "a_real_user":
        return as_a_real_user()
    return without_root(setting)


_outcomes: dict[str, dict] = {}


def outcome(setting: str) -> dict:
    """Every row graded in one setting (run once per setting)."""
    if setting not in _outcomes:
        rows = {a.name: a.submissions for a in ATTACKS}
        proc = subprocess.run([*prefix(setting), sys.executable, "-c", DRIVER], input=json.dumps(rows),
                              capture_output=True, text=True, timeout=600, env=environment())
        assert proc.returncode == 0, proc.stderr[-3000:]
        found = json.loads(proc.stdout.splitlines()[-1])
        uid = found["uid"]  # one level up is the machine in every setting here: is the judge its root?
        found["machine_root"] = any(i <= uid < i + n and o + uid - i == 0 for i, o, n in found["uid_map"])
        _outcomes[setting] = found
    return _outcomes[setting]


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_without_root(setting: str, attack: Attack):
    if setting == "as_root" and os.geteuid() != 0:
        pytest.skip("as root only")
    facts = outcome(setting)
    if setting != "as_root":
        assert facts["isolation"]["level"] == "L2", facts["isolation"]
    attack.check(facts["rows"][attack.name], facts)
