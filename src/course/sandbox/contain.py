"""Containment of a submission's supervisor and runners, layered by what the machine allows.

  L1 process     a runner in its own session and process group (killed with its group), stdin closed,
                 output captured and capped, every other descriptor closed, rlimits on CPU, memory, file
                 size, descriptors and core dumps, one torch thread, a private working directory, the
                 supervisor's wall-clock deadline, a minimal environment.
  L2 namespaces  L1, plus, built once by the zygote and shared by everything it forks: a network namespace
                 with no interface up, an IPC namespace with SysV and POSIX IPC switched off, and a mount
                 namespace whose view is read-only and covers every top-level folder but the system ones
                 (/usr, /etc, /lib, ...) with an empty one (the course, its references, hidden tests,
                 submissions, temp and home folders, any other copy on the machine), showing only the
                 interpreter, its packages and the course package again, and a /dev of a few devices
                 (DEVICES). Per submission: its supervisor is PID 1 of a new PID namespace
                 (fork_into_new_pid_namespace) with its own mount namespace, a fresh read-only /proc and a
                 private tmpfs its runners work in (enter_private_mounts); runners drop their capabilities
                 and set no_new_privs. Needs root or unprivileged user namespaces (without root of the
                 machine, a middle process forks each supervisor: Policy.through_middle; each runner counts
                 its processes in a user namespace of its own: own_process_count).
  L3 full        L2, plus runners run as an unprivileged uid, and each submission has its own memory and
                 pids cgroup (Cgroup.join_session).

The zygote calls enter_shared_namespaces() and self_test() once at start (the self-test walks the real
path in a throw-away supervisor and runner and keeps the layers that work).
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import site
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from course.limits import LIMITS

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x8000000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 4096, 16384, 1 << 18
MNT_DETACH = 2
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV, AT_RECURSIVE = 1, 2, 4, 0x8000
SYS_MOUNT_SETATTR = 442  # the same number on every architecture (new syscall table)
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP, PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NAME = 38, 24, 1, 4, 15
PR_SET_CHILD_SUBREAPER = 36
NOBODY = 65534
SYSTEM = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "dev", "proc", "sys"}


def _top_level_folders() -> list[str]:
    """Every folder at / but the system ones: all are covered, whatever else the machine keeps there
    (another checkout of the course, other graders' files, /work, /opt, /tmp, /root, /home, /var, ...)."""
    try:
        names = os.listdir("/")
    except OSError:
        return []
    return [f"/{n}" for n in names if n not in SYSTEM and os.path.isdir(f"/{n}") and not os.path.islink(f"/{n}")]


COVER = ("/tmp", "/root", "/home")  # always among the covered folders (the judge relies on it)
CGROUP_ROOT = Path("/sys/fs/cgroup")

_libc = ctypes.CDLL(None, use_errno=True)


class SandboxError(OSError):
    """A containment step failed; the message names the step."""


@dataclass
class Policy:
    """What containment every child gets; fixed by self_test() when the zygote starts."""

    namespaces: bool = False
    user_namespace: bool = False  # needed when not root
    drop_uid: bool = False
    cgroup: bool = False
    # The zygote's PID namespace belongs to a user namespace it has no rights in (a user without root, or root
    # inside a container's user namespace): it cannot return to it after making a child's, so each supervisor
    # is forked by a short-lived middle process instead (fork_into_new_pid_namespace).
    through_middle: bool = False
    # At L2 each runner enters a user namespace of its own, where RLIMIT_NPROC counts its processes alone
    # (own_process_count); True once the self-test saw the kernel enforce it.
    process_limit: bool = False
    secrets: list[str] = field(default_factory=list)  # must never be visible (references, hidden tests)
    cover: list[str] = field(default_factory=list)  # shown as empty folders
    expose: list[str] = field(default_factory=list)  # shown again inside covered folders (interpreter, packages)
    problems: list[str] = field(default_factory=list)  # why a layer is missing

    @property
    def level(self) -> str:
        if self.namespaces and self.drop_uid and self.cgroup:
            return "L3"
        return "L2" if self.namespaces else "L1"

    def describe(self) -> dict:
        mechanisms = ["session", "rlimits", "deadline", "private-cwd", "closed-fds", "minimal-env"]
        if self.namespaces:
            mechanisms += ["pid-namespace", "network-namespace", "ipc-namespace", "mount-namespace",
                           "read-only-fs", "hidden-paths", "no-capabilities"]
        mechanisms += ["unprivileged-uid"] * self.drop_uid + ["cgroup"] * self.cgroup + ["process-limit"] * self.process_limit
        return {"level": self.level, "mechanisms": mechanisms, "problems": list(self.problems)}


def _check(result: int, step: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise SandboxError(errno, f"{step}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                       ctypes.c_ulong(flags), data and data.encode()), f"mount {target}")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _read_only(path: str, recursive: bool) -> None:
    """Make the mount at path (and, if recursive, every mount below it) read-only and nosuid in this mount
    namespace; devices stay usable (/dev/null)."""
    attr = _MountAttr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0, 0, 0)
    flags = AT_RECURSIVE if recursive else 0
    _check(_libc.syscall(SYS_MOUNT_SETATTR, -100, path.encode(), flags, ctypes.byref(attr), ctypes.sizeof(attr)),
           f"read-only remount of {path}")


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def default_policy(secrets: list[str], cover: list[str]) -> Policy:
    """The richest policy to try: everything on, with the paths to hide and to show again."""
    secrets = [os.path.realpath(p) for p in secrets]
    expose = {os.path.realpath(p) for p in [sys.prefix, sys.base_prefix, *site.getsitepackages(), *sys.path]
              if p and os.path.isdir(p)}
    # never show a folder that holds a secret, or that sits inside one
    expose = sorted(p for p in expose if not any(_under(s, p) or _under(p, s) for s in secrets))
    cover = sorted({os.path.realpath(p) for p in [*COVER, *_top_level_folders(), *cover, *secrets] if os.path.isdir(p)})
    cover = [c for c in cover if not any(c != o and _under(c, o) for o in cover)]  # outermost only
    root = os.geteuid() == 0
    return Policy(namespaces=True, user_namespace=not root, drop_uid=root and _mapped(NOBODY),
                  cgroup=root and _cgroups_writable(),
                  secrets=secrets, cover=cover, expose=expose)


def _mapped(uid: int) -> bool:
    """Whether uid exists in this process's user namespace (root in a container's user namespace often has
    only itself, and then cannot switch to nobody)."""
    try:
        ranges = [[int(x) for x in line.split()] for line in Path("/proc/self/uid_map").read_text().splitlines()]
    except (OSError, ValueError):
        return False
    return any(inside <= uid < inside + count for inside, _, count in ranges)


def _cgroups_writable() -> bool:
    return all(os.access(CGROUP_ROOT / c, os.W_OK) for c in ("memory", "pids"))


IPC_LIMITS = {"kernel/shmmni": "0", "kernel/msgmni": "0", "kernel/sem": "0 0 0 0", "fs/mqueue/queues_max": "0"}


SCRATCH = "/tmp/course-calls"  # inside the zygote's view: where the children's folders are made


def enter_shared_namespaces(policy: Policy) -> str | None:
    """In the zygote: the namespaces and the file-system view every child shares, made once.

    A network namespace with no interface up, an IPC namespace allowing no objects, and a mount
    namespace holding the restricted view (covered folders, the interpreter shown again,
    everything read-only) plus a writable scratch tmpfs for the children's folders. Made per call,
    these cost several milliseconds each. Without root this also enters a user namespace (uid mapped
    to itself). Returns the scratch folder, or None when namespaces are not available.
    """
    if not policy.namespaces:
        return None
    uid, gid = os.getuid(), os.getgid()
    try:
        flags = CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWNS | (CLONE_NEWUSER if policy.user_namespace else 0)
        _check(_libc.unshare(flags), "unshare network, IPC and mount")
        if policy.user_namespace:
            Path("/proc/self/setgroups").write_text("deny")
            Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
            Path("/proc/self/gid_map").write_text(f"0 {gid} 1")
        for name, value in IPC_LIMITS.items():
            Path("/proc/sys", name).write_text(value)
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        shown = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in policy.expose if any(_under(p, c) for c in policy.cover)}
        for root in policy.cover:
            _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
            for path, fd in shown.items():
                if _under(path, root):
                    os.makedirs(path, exist_ok=True)
                    _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        for fd in shown.values():
            os.close(fd)
        try:
            _only_some_devices()
        except OSError as e:  # the machine's /dev stays: every other layer holds, and the report says so
            policy.problems.append(f"devices: {e}")
        os.makedirs(SCRATCH, exist_ok=True)
        _read_only("/", recursive=True)
        _mount("tmpfs", SCRATCH, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0711")
        own = os.open("/proc/self/ns/pid", os.O_RDONLY)
        try:  # a no-op setns needs the same rights as the return to it after each child's namespace
            policy.through_middle = _libc.setns(own, CLONE_NEWPID) != 0
        finally:
            os.close(own)
        if policy.through_middle:  # the supervisors, once their middle process is gone, become the zygote's
            _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "child subreaper")
        return SCRATCH
    except OSError as e:
        policy.namespaces = policy.drop_uid = False
        policy.problems.append(f"namespaces: {e}")
        return None


# The devices a runner may open: what the interpreter, torch and honest code use. The machine's /dev is covered: at
# L2 a runner has the grader's own uid, and could open every device that uid owns (the instructor's terminal, to
# write escape sequences into it or read what is typed there; in a container, whatever its root owns).
DEVICES = ("null", "zero", "full", "random", "urandom")


def _only_some_devices() -> None:
    """Cover /dev with a small tmpfs that shows DEVICES again (bind mounts of the real nodes), /dev/fd and
    the standard streams as links into /proc, and an empty /dev/shm; made read-only with the rest."""
    kept = {name: os.open(f"/dev/{name}", os.O_PATH) for name in DEVICES if os.path.exists(f"/dev/{name}")}
    try:
        _mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k")
        try:
            for name, fd in kept.items():
                os.close(os.open(f"/dev/{name}", os.O_CREAT | os.O_WRONLY, 0o666))
                _mount(f"/proc/self/fd/{fd}", f"/dev/{name}", None, MS_BIND)
            for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                                 ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
                os.symlink(target, f"/dev/{name}")
            os.mkdir("/dev/shm", 0o755)
        except OSError:
            _libc.umount2(b"/dev", MNT_DETACH)  # half a /dev is worse than the machine's
            raise
    finally:
        for fd in kept.values():
            os.close(fd)


def fork_into_new_pid_namespace(policy: Policy, own_namespace: int | None) -> int:
    """os.fork(), the child becoming PID 1 of a fresh PID namespace when policy has namespaces.

    unshare(CLONE_NEWPID) only sets where the caller's next child goes; setns() back to the caller's own
    namespace (own_namespace: an open /proc/self/ns/pid) afterwards lets it do so again for the next one.
    A process whose namespace's PID 1 dies is killed by the kernel, whatever it did to its group or session.
    """
    if not policy.namespaces:
        return os.fork()
    if policy.through_middle:
        return _fork_through_middle()
    _check(_libc.unshare(CLONE_NEWPID), "unshare PID")
    try:
        pid = os.fork()
    except OSError:
        pid = -1
    if pid != 0 and own_namespace is not None:  # the parent: its next child goes beside this one again
        _check(_libc.setns(own_namespace, CLONE_NEWPID), "setns PID")
    if pid < 0:
        raise SandboxError(11, "fork: no process could be created")
    return pid


def _fork_through_middle() -> int:
    """fork_into_new_pid_namespace without setns: a middle child moves its own children into a new PID
    namespace, forks the supervisor, tells this process its pid and exits. The supervisor then belongs to
    this process (a child subreaper), and waits for word that it does before it goes on, so that a parent-death
    signal it asks for later is tied to this process and not to the middle one."""
    pid_r, pid_w = os.pipe()
    go_r, go_w = os.pipe()
    try:
        middle = os.fork()
    except OSError:
        middle = -1
        os.close(pid_w)
        os.close(go_r)
    if middle == 0:  # pragma: no cover - the middle process
        os.close(pid_r)
        os.close(go_w)
        try:
            _check(_libc.unshare(CLONE_NEWPID), "unshare PID")
            pid = os.fork()
        except OSError:
            pid = -1
        if pid == 0:  # the supervisor
            os.close(pid_w)
            go = os.read(go_r, 1)
            os.close(go_r)
            if go != b"1":  # the zygote went away first
                os._exit(70)
            return 0
        os.write(pid_w, pid.to_bytes(8, "little", signed=True))
        os._exit(0)
    if middle > 0:
        os.close(pid_w)
        os.close(go_r)
    reply = b""
    while middle > 0 and (chunk := os.read(pid_r, 8 - len(reply))):
        reply += chunk
    os.close(pid_r)
    if middle > 0:
        os.waitpid(middle, 0)  # once it is reaped, its child is this process's
    pid = int.from_bytes(reply, "little", signed=True) if len(reply) == 8 else -1
    if pid > 0:
        os.write(go_w, b"1")
    os.close(go_w)
    if pid < 0:
        raise SandboxError(11, "fork: no process could be created")
    return pid


def enter_private_mounts(policy: Policy, workdir: str, owner: int) -> int | None:
    """In a supervisor, PID 1 of a new PID namespace: its own mount namespace with a fresh /proc (that
    namespace's processes only) and a private tmpfs as working folder, owned by owner (the runners' uid).
    Without namespaces: just the working folder.

    The /proc its runners see is read-only: at L2 a runner has its supervisor's uid, and through a writable
    /proc it could switch SysV and POSIX IPC back on in the IPC namespace every submission shares
    (/proc/sys/kernel/shmmni: its segments would outlive it, for a later student to find), or change knobs of
    its supervisor, which serves the next student too (/proc/1/oom_score_adj, /proc/1/autogroup). Returns a
    descriptor (O_PATH) of a writable /proc under it, for the supervisor alone (oom_score_adj), or None."""
    os.chdir(workdir)
    if not policy.namespaces:
        return None
    _check(_libc.unshare(CLONE_NEWNS), "unshare mount")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    if os.path.dirname(workdir) == SCRATCH:  # the scratch, and the other submissions' folders in it, read-only
        _read_only(SCRATCH, recursive=False)  # here: a runner with the zygote's own uid (L2) could write there
    _mount("tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=0700,uid={owner},gid={owner},size={LIMITS.working_folder}")
    os.chdir(workdir)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    opened = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    writable = fcntl.fcntl(opened, fcntl.F_DUPFD_CLOEXEC, 256)  # out of the way of the runner's descriptors
    os.close(opened)
    _mount("proc", "/proc", "proc", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    return writable


def set_oom_score(proc: int | None, score: int) -> None:
    """This process's oom_score_adj (best effort), through proc (enter_private_mounts) or /proc."""
    try:
        fd = os.open("self/oom_score_adj" if proc is not None else "/proc/self/oom_score_adj", os.O_WRONLY,
                     dir_fd=proc)
        try:
            os.write(fd, str(score).encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def own_process_count(policy: Policy, proc: int | None, processes: int) -> bool:
    """In a runner, still trusted, at L2: a user namespace of its own (its uid and gid mapped to themselves) and
    RLIMIT_NPROC set to processes. The kernel counts a limit on processes per uid and per user namespace; at L2
    every runner has the uid of its supervisor, the zygote and (for a user without root) the judge, so without
    this a fork bomb would count against all of them: the zygote could fork no supervisor for the next student.
    In a namespace of its own only the runner's processes count. proc: a writable /proc (enter_private_mounts),
    since the runner's own is read-only. False when not at L2 or the kernel refused. The kernel never applies
    RLIMIT_NPROC to the machine's root (a user namespace whose root is the real root): see Policy.process_limit."""
    if not policy.namespaces or policy.drop_uid or proc is None:
        return False
    import resource

    uid, gid = os.getuid(), os.getgid()
    if _libc.unshare(CLONE_NEWUSER) != 0:
        return False
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        fd = os.open(f"self/{name}", os.O_WRONLY, dir_fd=proc)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))  # after the unshare: see above
    return True


def fresh_working_folder(workdir: str, owner: int) -> None:
    """In a supervisor between submissions: a new tmpfs over the old one's mount point. The old one, and
    whatever a runner left in it, is detached at once and freed by a thread of this process: freeing
    600,000 files a runner made takes seconds, which the next submission's calls must not wait for (the
    kernel frees a detached mount when its last reference goes: the descriptor the thread closes)."""
    os.chdir("/")
    old = os.open(workdir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)  # runners close every descriptor they inherit
    try:
        _check(_libc.umount2(workdir.encode(), MNT_DETACH), "unmount the working folder")
    except OSError:
        os.close(old)
        raise
    threading.Thread(target=os.close, args=(old,), name="free-folder", daemon=True).start()
    _mount("tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=0700,uid={owner},gid={owner},size={LIMITS.working_folder}")
    os.chdir(workdir)


def runner_uid(policy: Policy) -> int:
    """The uid student code runs as."""
    return NOBODY if policy.drop_uid else os.getuid()


def drop_privileges(policy: Policy) -> None:
    """Last step before untrusted code: an unprivileged uid, or at least no capabilities; no_new_privs."""
    if policy.drop_uid:
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
    elif policy.namespaces:
        for cap in range(64):
            if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                break
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
        data = (ctypes.c_uint32 * 6)()
        _check(_libc.capset(header, data), "capset")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    deny_keyrings()  # best effort: a kernel without seccomp filters keeps every other layer


# The kernel's keyrings are per uid, not per namespace: a key a runner adds to uid nobody's user keyring would
# outlive it and be found by every later student's runner. Runners have no use for them; a seccomp filter
# (allowed once no_new_privs is set, inherited by everything a runner starts) makes add_key, request_key and
# keyctl fail with EPERM. Numbers per architecture, as audit names it: x86_64 (and its x32 calls), aarch64.
KEYRING_CALLS = {0xC000003E: (248, 249, 250), 0xC00000B7: (217, 218, 219)}
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
BPF_LD_W_ABS, BPF_JEQ_K, BPF_JGE_K, BPF_RET_K = 0x20, 0x15, 0x35, 0x06
X32_BIT = 0x40000000


class _Instruction(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Instruction))]


def keyring_filter() -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k): read the architecture, then the call number; the keyring calls (and,
    on x86_64, any x32 call) return EPERM, everything else is allowed. Jumps count from the next instruction."""
    import errno

    body: list[tuple[int, int, int, int]] = []
    for arch, calls in KEYRING_CALLS.items():
        checks = [(BPF_JEQ_K, "deny", 0, nr) for nr in calls] + ([(BPF_JGE_K, "deny", 0, X32_BIT)] if arch == 0xC000003E else [])
        body += [(BPF_LD_W_ABS, 0, 0, 4), (BPF_JEQ_K, 0, len(checks) + 1, arch), (BPF_LD_W_ABS, 0, 0, 0), *checks]
    body.append((BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    deny = len(body)
    body.append((BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM))
    return [(code, deny - i - 1 if jt == "deny" else jt, jf, k) for i, (code, jt, jf, k) in enumerate(body)]


def deny_keyrings() -> bool:
    """Install keyring_filter() on this process (it needs no_new_privs or CAP_SYS_ADMIN); False if the
    kernel refused it."""
    program = keyring_filter()
    instructions = (_Instruction * len(program))(*[_Instruction(*i) for i in program])
    fprog = _Program(len(program), instructions)
    return _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0


def name_process(name: str) -> None:
    """The name `ps` and `top` show for this process (its comm, 15 bytes at most: course-zygote,
    course-supervis(or),
    course-runner), so an instructor can tell the grader's roles apart."""
    _libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (code running later may undo it)."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def own_proc_entries() -> None:
    """After a uid change the kernel marks a process not dumpable: its /proc entries become root's, so even
    /proc/self/comm is not its own. A runner takes them back (only processes that can see its pid, its
    own descendants and its trusted ancestors, could use them; core dumps stay off by rlimit)."""
    _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)


class Cgroup:
    """A zygote's memory and pids cgroups (v1): a folder per controller for the zygote, and inside it one
    per submission, which that submission's supervisor makes and joins before it forks anything, so each
    submission has its own memory and process limits and cannot use up what another needs.

    The zygote's folders are opened before its view makes /sys read-only; the supervisors work through
    those descriptors. The zygote removes a submission's folders once its supervisor has exited (the
    kernel has then killed everything in the supervisor's PID namespace), and the judge removes the
    zygote's once the zygote has exited (remove_cgroups)."""

    CONTROLLERS = ("memory", "pids")

    def __init__(self, name: str, memory_bytes: int, pids: int, total_pids: int) -> None:
        """name: the zygote's folder; memory_bytes and pids: each submission's limits; total_pids: all of
        the zygote's submissions together."""
        self.dirs = [CGROUP_ROOT / c / "course" / name for c in self.CONTROLLERS]
        for d in self.dirs:
            d.mkdir(parents=True, exist_ok=True)
        (self.dirs[1] / "pids.max").write_text(str(total_pids))
        self.name = name
        self.memory_bytes, self.pids = memory_bytes, pids
        self.folders = [os.open(d, os.O_RDONLY | os.O_DIRECTORY) for d in self.dirs]
        self.parents = [os.open(d.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) for d in self.dirs]

    def join_session(self, session: str) -> None:
        """In a supervisor: make the submission's folders, set its limits and move this process in."""
        for fd, controller in zip(self.folders, self.CONTROLLERS):
            os.mkdir(session, mode=0o755, dir_fd=fd)
            if controller == "memory":
                _write_at(fd, f"{session}/memory.limit_in_bytes", self.memory_bytes)
                if os.path.exists(f"/proc/self/fd/{fd}/{session}/memory.memsw.limit_in_bytes"):
                    _write_at(fd, f"{session}/memory.memsw.limit_in_bytes", self.memory_bytes)
            else:
                _write_at(fd, f"{session}/pids.max", self.pids)
            _write_at(fd, f"{session}/cgroup.procs", 0)  # 0: the writing process itself

    def keep_folders_at(self, first: int) -> int:
        """In a supervisor: move the descriptors of the zygote's folders to first, first + 1, ... (whatever
        was there is replaced); returns the first descriptor after them."""
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 256) for fd in self.folders]  # out of the way first
        self.folders = []
        for i, fd in enumerate(high):
            os.dup2(fd, first + i)
            os.close(fd)
            self.folders.append(first + i)
        return first + len(high)

    def remove_session(self, session: str, wait: float = 1.0, exact: bool = False) -> None:
        """Remove a submission's folders once its processes are gone (best effort). A supervisor names the
        folders of the submissions it serves after the first session.1, session.2, ...; unless exact, those
        go too."""
        for fd in self.folders:
            names = [session] if exact else [n for n in os.listdir(fd) if n.split(".")[0] == session]
            for name in names:
                _rmdir_at([fd], name, wait)

    def remove(self, wait: float = 1.0) -> None:
        """Remove the zygote's folders once every child has left (best effort)."""
        for fd in self.folders:
            for entry in os.listdir(fd):
                if entry.startswith("s-"):
                    _rmdir_at([fd], entry, 0.1)
        _rmdir_at(self.parents, self.name, wait)


def _write_at(folder: int, name: str, value: int) -> None:
    fd = os.open(name, os.O_WRONLY, dir_fd=folder)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def _rmdir_at(folders: list[int], name: str, wait: float) -> None:
    deadline = time.monotonic() + wait
    for fd in folders:
        while True:
            try:
                os.rmdir(name, dir_fd=fd)
                break
            except FileNotFoundError:
                break
            except OSError:  # EBUSY: a process is still leaving
                if time.monotonic() > deadline:
                    break
                time.sleep(0.005)


def remove_cgroups(zygote_pid: int) -> None:
    """Remove a zygote's cgroup folders (and any submission's left in them) once it is gone (best effort)."""
    for controller in Cgroup.CONTROLLERS:
        folder = CGROUP_ROOT / controller / "course" / f"zygote-{zygote_pid}"
        try:
            for session in folder.iterdir():
                if session.is_dir():
                    session.rmdir()
            folder.rmdir()
        except OSError:
            pass


def self_test(policy: Policy, workdir: str) -> Policy:
    """Try the policy in a throw-away child and keep the layers that work; problems say why not."""
    while True:
        report = _trial(policy, workdir)
        if report.get("ok"):
            policy.process_limit = bool(report.get("process_limit"))
            return policy
        problem = report.get("error", "unknown failure")
        policy.problems.append(f"{report.get('layer', '?')}: {problem}")
        if report.get("layer") == "unprivileged-uid" and policy.drop_uid:
            policy.drop_uid = False
        elif policy.namespaces:
            policy.namespaces = policy.drop_uid = False
        else:
            return policy


def _limits_processes(policy: Policy, proc: int | None) -> bool:
    """Whether own_process_count works here: in a throw-away child, at a limit of 1 process, a fork is refused."""
    if not policy.namespaces or policy.drop_uid or proc is None:
        return False
    child = os.fork()
    if child == 0:  # pragma: no cover - the throw-away child
        refused = False
        try:
            if own_process_count(policy, proc, 1):
                try:
                    os._exit(0) if os.fork() == 0 else os.wait()
                except OSError:
                    refused = True
        finally:
            os._exit(0 if refused else 1)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _trial(policy: Policy, workdir: str) -> dict:
    """Walk the real path once: a supervisor-like child as PID 1 of a new PID namespace with its private
    mounts, which forks a runner-like grandchild that drops its privileges; the grandchild reports what it saw."""
    read, write = os.pipe()
    own = os.open("/proc/self/ns/pid", os.O_RDONLY) if policy.namespaces else None
    try:
        pid = fork_into_new_pid_namespace(policy, own)
    except OSError as e:
        return {"layer": "namespaces", "error": f"{type(e).__name__}: {e}"[:300]}
    finally:
        if own is not None:
            os.close(own)
    if pid == 0:  # pragma: no cover - runs in the trial's supervisor
        os.close(read)
        report: dict = {"layer": "namespaces"}
        try:
            proc = enter_private_mounts(policy, workdir, runner_uid(policy))
            if policy.namespaces and os.getpid() != 1:
                raise SandboxError(0, "not PID 1 in a new namespace")
            runner = os.fork()
            if runner:
                os.close(write)
                os.waitpid(runner, 0)
                os._exit(0)
            if policy.namespaces:
                for secret in policy.secrets:
                    if os.path.exists(secret):
                        raise SandboxError(0, f"{secret} is still visible")
                if sorted(int(e) for e in os.listdir("/proc") if e.isdigit()) != [1, os.getpid()]:
                    raise SandboxError(0, "the runner sees processes outside its supervisor's namespace")
            report["process_limit"] = _limits_processes(policy, proc)
            report["layer"] = "unprivileged-uid"
            drop_privileges(policy)
            import colorsys  # noqa: F401  a module nobody imported yet: the interpreter is readable
            Path("probe.txt").write_text("ok")  # the working directory is writable
            report["ok"] = True
        except Exception as e:
            report["error"] = f"{type(e).__name__}: {e}"[:300]
        os.write(write, json.dumps(report).encode())
        os._exit(0)
    os.close(write)
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    os.close(read)
    os.waitpid(pid, 0)
    try:
        return json.loads(data)
    except ValueError:
        return {"layer": "namespaces", "error": "the trial child died"}


__all__ = ["Cgroup", "Policy", "SandboxError", "default_policy", "drop_privileges", "enter_private_mounts",
           "die_with_parent", "enter_shared_namespaces", "own_proc_entries", "fork_into_new_pid_namespace", "remove_cgroups", "runner_uid", "self_test"]
