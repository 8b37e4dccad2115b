"""The zygote and its children, driven through the judge's handle (course.sandbox.worker) with the real processes.

Each test submits a small source file and calls one of its functions with the generic "call" probe.
"""
from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import torch

from course.sandbox import protocol, wire, worker
from conftest import environment, without_root

MODULE = "sec9_probe"
FILENAME = "/submission/sec9_probe.py"
ALLOWED_ENV = {
    "PATH", "HOME", "LANG", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "OMP_NUM_THREADS",
    "MKL_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "TMPDIR",
}


@pytest.fixture(scope="module")
def zyg() -> worker.Zygote:
    """The zygote as grading uses it: the strongest containment this machine allows."""
    z = worker.shared_zygote()
    z.wait_ready()
    return z


@pytest.fixture(scope="module")
def zyg_l1():
    """A zygote held to L1 (plain processes), whose children are visible by their pids here."""
    z = worker.Zygote(max_level="L1")
    assert z.wait_ready()["isolation"]["level"] == "L1"
    yield z
    z.close()


def level(z: worker.Zygote) -> str:
    return z.ready["isolation"]["level"]


def run(z: worker.Zygote, source: bytes, *args, fn: str = "f", kwargs: dict | None = None,
        timeout: float = 10.0) -> worker.CallResult:
    return call_once(z, "call", MODULE, FILENAME, source, [fn, list(args), kwargs or {}], timeout)


def call_once(z: worker.Zygote, *call) -> worker.CallResult:
    """One call in a session of its own (a fresh runner; its supervisor is fresh or starts afresh)."""
    session = z.session()
    try:
        return session.submit(*call)()
    finally:
        session.close()


def src(text: str) -> bytes:
    return text.strip("\n").encode() + b"\n"


def process_state(pid: int) -> str | None:
    """The State letter of /proc/<pid>/status, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("State:"):
                    return line.split()[1]
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def wait_dead(pid: int, seconds: float = 2.0) -> str | None:
    """Poll until pid is gone or a zombie; returns its last state (None: gone)."""
    deadline = time.monotonic() + seconds
    while True:
        state = process_state(pid)
        if state in (None, "Z", "X") or time.monotonic() > deadline:
            return state
        time.sleep(0.02)


def children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


# ---------------------------------------------------------------- normal calls and errors


NORMAL = src('''
import torch

def f(x, scale, *, tag="none"):
    return {"y": x * scale, "sum": x.sum(), "shape": tuple(x.shape), "tag": tag, "ints": [1, 2, 3],
            "half": x.to(torch.bfloat16), "nothing": None}
''')


def test_normal_call_returns_the_value_with_exact_tensor_data(zyg):
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    result = run(zyg, NORMAL, x, 2.5, kwargs={"tag": "k"})
    assert result.status == "ok", result
    assert result.error == {} and result.output == "" and result.exit_code is None
    value = result.value
    assert type(value["y"]) is torch.Tensor and value["y"].dtype == torch.float64
    assert torch.equal(value["y"], x * 2.5)  # bit-exact: same op, same inputs, one thread
    assert torch.equal(value["sum"], x.sum())
    assert torch.equal(value["half"], x.to(torch.bfloat16))
    assert value["shape"] == (3, 4) and value["tag"] == "k" and value["ints"] == [1, 2, 3]
    assert value["nothing"] is None


def test_inputs_do_not_come_back_changed_through_aliasing(zyg):
    source = src('''
def f(x):
    x += 1
    return x
''')
    x = torch.zeros(3)
    result = run(zyg, source, x)
    assert result.status == "ok" and result.value.tolist() == [1.0, 1.0, 1.0]
    assert x.tolist() == [0.0, 0.0, 0.0]


RAISES = src('''
import torch

def helper(n):
    if n > 3:
        raise ValueError(f"bad shape {n}")
    return n

def f(n):
    return helper(n)
''')


def test_exception_reports_type_message_and_line_in_the_submitted_file(zyg):
    result = run(zyg, RAISES, 7)
    assert result.status == "error" and result.value is None
    error = result.error
    assert error["stage"] == "call"
    assert error["type"] == "ValueError"
    assert error["message"] == "bad shape 7"
    assert error["not_implemented"] is False
    assert error["where"] == {"line": 5, "function": "helper", "code": 'raise ValueError(f"bad shape {n}")'}


def test_long_exception_message_is_capped(zyg):
    source = src('''
def f():
    raise RuntimeError("x" * 100_000)
''')
    result = run(zyg, source)
    assert result.status == "error" and result.error["type"] == "RuntimeError"
    assert 0 < len(result.error["message"]) <= 500


def test_not_implemented_error_sets_not_implemented(zyg):
    source = src('''
def f(x):
    """Task 9.9: not written yet."""
    raise NotImplementedError("Task 9.9: implement f")
''')
    result = run(zyg, source, 1)
    assert result.status == "error"
    assert result.error["not_implemented"] is True
    assert result.error["type"] == "NotImplementedError"
    assert result.error["message"] == "Task 9.9: implement f"
    assert result.error["where"]["line"] == 3


def test_other_errors_do_not_set_not_implemented(zyg):
    source = src('''
def f():
    return [][1]
''')
    result = run(zyg, source)
    assert result.status == "error" and result.error["type"] == "IndexError"
    assert result.error["not_implemented"] is False


def test_syntax_error_is_reported_at_import_with_its_line(zyg):
    source = src('''
import torch

def f(x):
    return x +* 2
''')
    result = run(zyg, source, 1)
    assert result.status == "error"
    assert result.error["stage"] == "import"
    assert result.error["type"] == "SyntaxError"
    assert result.error["where"]["line"] == 4
    assert result.error["where"]["code"] == "return x +* 2"


def test_exception_at_module_level_is_reported_at_import(zyg):
    source = src('''
import torch
SIZE = 10
TABLE = [1, 2, 3][SIZE]

def f():
    return 1
''')
    result = run(zyg, source)
    assert result.status == "error" and result.error["stage"] == "import"
    assert result.error["type"] == "IndexError"
    assert result.error["where"] == {"line": 3, "function": "<module>", "code": "TABLE = [1, 2, 3][SIZE]"}


def test_missing_function_is_an_error_not_a_crash(zyg):
    result = run(zyg, src("X = 1"), fn="does_not_exist")
    assert result.status == "error" and result.error["type"] == "AttributeError"


def test_system_exit_and_keyboard_interrupt_are_errors(zyg):
    for body, name in (("raise SystemExit(4)", "SystemExit"), ("raise KeyboardInterrupt", "KeyboardInterrupt")):
        result = run(zyg, src(f"def f():\n    {body}\n"))
        assert result.status == "error", result
        assert result.error["type"] == name


# ---------------------------------------------------------------- timeouts and crashes


def test_infinite_loop_times_out_quickly(zyg):
    started = time.monotonic()
    result = run(zyg, src("def f():\n    while True:\n        pass\n"), timeout=1)
    elapsed = time.monotonic() - started
    assert result.status == "timeout"
    assert 0.9 <= elapsed < 4
    assert result.exit_code == -signal.SIGKILL


def test_sleeping_submission_times_out_too(zyg):
    started = time.monotonic()
    result = run(zyg, src("import time\ndef f():\n    time.sleep(60)\n"), timeout=1)
    assert result.status == "timeout"
    assert time.monotonic() - started < 4


def test_infinite_loop_at_import_times_out(zyg):
    result = run(zyg, src("while True:\n    pass\ndef f():\n    return 1\n"), timeout=1)
    assert result.status == "timeout"


def test_os_exit_is_a_crash(zyg):
    result = run(zyg, src("import os\ndef f():\n    print('bye')\n    os._exit(3)\n"))
    assert result.status == "crashed"
    assert result.exit_code == 3
    assert result.value is None


def test_sigkill_of_itself_is_a_crash(zyg_l1):
    result = run(zyg_l1, src("import os, signal\ndef f():\n    os.kill(os.getpid(), signal.SIGKILL)\n"))
    assert result.status == "crashed"
    assert result.exit_code == -signal.SIGKILL


def test_the_runner_sees_only_its_supervisors_namespace(zyg):
    """Its parent, the supervisor, is PID 1 of a namespace that holds only the two of them (and what the
    call starts); signals sent inside it cannot reach the supervisor."""
    if level(zyg) == "L1":
        pytest.skip("no PID namespace on this machine")
    source = src('''
import os, signal
def f():
    for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGSTOP):
        try:
            os.kill(1, sig)
        except OSError:
            pass
    return os.getppid(), sorted(int(e) for e in os.listdir("/proc") if e.isdigit())
''')
    result = run(zyg, source)
    assert result.status == "ok", result
    ppid, pids = result.value
    assert ppid == 1 and pids == [1, max(pids)]


IN_A_USER_NAMESPACE = """
import json, sys
from course.sandbox import worker
zygote = worker.Zygote()
ready = zygote.wait_ready()
calls = []
for _ in range(2):  # the second: the zygote still forks after the first (and after its self-test)
    session = zygote.session()
    try:
        result = session.submit("call", "sec9_probe", "/submission/sec9_probe.py", sys.argv[1].encode(), ["f", [], {}], 30)()
    finally:
        session.close()
    calls.append([result.status, result.value])
zygote.close()
print(json.dumps({"isolation": ready["isolation"], "calls": calls}))
"""

LOOKS_AROUND = src('''
import os, signal
def f():
    here, writable = os.path.realpath(os.getcwd()), []
    for folder, subfolders, _ in os.walk("/"):
        subfolders[:] = [s for s in subfolders if folder.count("/") < 4 and os.path.join(folder, s) not in ("/proc", "/sys")]
        if os.path.realpath(folder) != here:
            try:
                os.close(os.open(os.path.join(folder, ".probe"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                writable.append(folder)
                os.unlink(os.path.join(folder, ".probe"))
            except OSError:
                pass
    os.kill(1, signal.SIGKILL)  # the supervisor: not to be reached from inside
    return os.getppid(), sorted(int(e) for e in os.listdir("/proc") if e.isdigit()), writable
''')


@pytest.mark.parametrize("how", ["user_without_root", "root_of_a_user_namespace", "rootless_container"])
def test_without_root_the_zygote_isolates_at_l2(how):
    """Where it is not root of the machine the zygote cannot return to its own PID namespace after making a
    supervisor's, so a middle process forks each supervisor: namespaces still hold (L2), the zygote keeps
    forking, the runner sees only its supervisor and can write nowhere but its working folder."""
    proc = subprocess.run([*without_root(how), sys.executable, "-c", IN_A_USER_NAMESPACE, LOOKS_AROUND.decode()],
                          capture_output=True, text=True, timeout=120, env=environment())
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.splitlines()[-1])
    assert seen["isolation"]["level"] == "L2" and seen["isolation"]["problems"] == [], seen["isolation"]
    for status, value in seen["calls"]:
        assert status == "ok", value
        ppid, pids, writable = value
        assert ppid == 1 and pids == [1, max(pids)] and writable == []


def test_segfault_is_a_crash(zyg):
    result = run(zyg, src("import ctypes\ndef f():\n    return ctypes.string_at(0)\n"))
    assert result.status == "crashed"
    assert result.exit_code == -signal.SIGSEGV


def test_closing_the_result_pipe_is_a_crash_not_a_hang(zyg):
    started = time.monotonic()
    result = run(zyg, src(f"import os, time\ndef f():\n    os.close({protocol.ANSWER_FD})\n"
                          "    time.sleep(60)\n"), timeout=5)
    assert result.status == "crashed"
    assert time.monotonic() - started < 4


# ---------------------------------------------------------------- output and stdin


def test_megabyte_of_output_is_capped_and_the_value_still_returns(zyg):
    source = src('''
import sys

def f():
    print("a" * 1_000_000)
    sys.stderr.write("b" * 100_000)
    return 42
''')
    result = run(zyg, source)
    assert result.status == "ok" and result.value == 42
    assert 0 < len(result.output) <= 64 * 1024
    assert len(result.output.encode()) <= worker.OUTPUT_CAP
    assert result.output.startswith("aaaa")


def test_output_is_collected_from_import_and_call(zyg):
    source = src('''
print("loading")

def f():
    print("calling")
    return 1
''')
    result = run(zyg, source)
    assert result.status == "ok"
    assert result.output.split() == ["loading", "calling"]


def test_output_of_a_crashing_call_is_kept(zyg):
    result = run(zyg, src("import os\ndef f():\n    os.write(1, b'last words')\n    os._exit(1)\n"))
    assert result.status == "crashed" and "last words" in result.output


def test_input_does_not_hang(zyg):
    started = time.monotonic()
    result = run(zyg, src("def f():\n    return input('name? ')\n"), timeout=5)
    assert result.status == "error" and result.error["type"] == "EOFError"
    assert time.monotonic() - started < 3


def test_stdin_reads_nothing(zyg):
    result = run(zyg, src("import sys, os\ndef f():\n    return sys.stdin.read(), os.read(0, 10)\n"))
    assert result.status == "ok" and result.value == ("", b"")


# ---------------------------------------------------------------- isolation between calls


def test_no_state_passes_between_calls(zyg):
    first = src('''
import sys, builtins, torch
import course.sandbox.probes

COUNTER = 0

def f():
    global COUNTER
    COUNTER += 1
    torch.relu = lambda x: "patched"
    torch.Tensor.sum = lambda self: "patched"
    torch.manual_seed(1234)
    builtins.LEAK = "leak"
    sys.modules["leak_module"] = sys
    course.sandbox.probes.PROBES["call"] = lambda *a: "patched probe"
    return COUNTER
''')
    second = src('''
import sys, builtins, torch

COUNTER = 0

def f():
    global COUNTER
    COUNTER += 1
    return {"counter": COUNTER, "relu": torch.relu(torch.tensor([-1.0, 2.0])).tolist(),
            "sum": torch.tensor([1.0, 2.0]).sum().item(), "builtin": hasattr(builtins, "LEAK"),
            "module": "leak_module" in sys.modules}
''')
    assert run(zyg, first).value == 1
    assert run(zyg, first).value == 1
    result = run(zyg, second)
    assert result.status == "ok", result  # the patched probe did not survive either
    assert result.value == {"counter": 1, "relu": [0.0, 2.0], "sum": 3.0, "builtin": False, "module": False}


def test_random_state_does_not_carry_over(zyg):
    source = src("import torch\ndef f(seed):\n    if seed is not None:\n        torch.manual_seed(seed)\n"
                 "    return torch.rand(3)\n")
    a = run(zyg, source, None).value
    run(zyg, source, 99)
    b = run(zyg, source, None).value
    assert torch.equal(a, b)  # every child starts from the zygote's random state


def test_previous_call_request_and_reply_are_not_visible_to_the_next_child(zyg):
    marker = f"judge-secret-{uuid.uuid4().hex}"
    first = run(zyg, src("def f(secret):\n    return secret\n"), marker)
    assert first.status == "ok" and first.value == marker
    needle = marker[::-1]  # the second submission never holds the marker in its own source or request
    snoop = src(f'''
import sys

def f():
    needle = {needle!r}[::-1].encode()
    found = []
    frame = sys._getframe(1)
    while frame is not None:
        for name, value in list(frame.f_locals.items()):
            try:
                data = value if isinstance(value, (bytes, bytearray)) else repr(value).encode()
            except Exception:
                continue
            if needle in data:
                found.append(frame.f_code.co_name + "." + name)
        frame = frame.f_back
    return found
''')
    result = run(zyg, snoop)
    assert result.status == "ok", result
    assert result.value == []


def test_an_earlier_submissions_answer_is_nowhere_in_the_next_runners_memory(zyg):
    """A supervisor serves one submission after another, and forks each runner from itself: an answer it
    relayed must not be left in its memory (a later student could scan for the values every student is
    asked to compute). The later runner reads all of its own writable memory."""
    marker = f"answer-{uuid.uuid4().hex}"
    first = run(zyg, src("def f(secret):\n    return [secret] * 50\n"), marker)
    assert first.status == "ok" and first.value == [marker] * 50
    scan = src(f'''
def f():
    needle = {marker[::-1]!r}[::-1].encode()
    mine = id(needle) + bytes.__basicsize__ - 1  # where this copy's bytes are: not a hit
    hits = []
    with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", buffering=0) as mem:
        for line in list(maps):
            fields = line.split()
            if not fields[1].startswith("rw"):
                continue
            low, high = (int(x, 16) for x in fields[0].split("-"))
            try:
                mem.seek(low)
                data = mem.read(high - low)
            except OSError:
                continue
            at = data.find(needle)
            while at >= 0:
                if low + at != mine:
                    hits.append(low + at)
                at = data.find(needle, at + 1)
            del data
    return len(hits)
''')
    assert run(zyg, scan).value == 0


def test_each_call_runs_in_its_own_fresh_process(zyg_l1):
    """(At L1, where pids are visible here.) A call of its own runs in a fresh runner, forked by a supervisor
    (a fresh one, or one that finished an earlier session and started afresh), itself forked by the zygote:
    never in the judge or the zygote."""
    zyg = zyg_l1
    source = src("import os\ndef f():\n    return os.getpid(), os.getppid(), os.getsid(0), os.getpgid(0)\n")
    zygote_pid = zyg.ready["pid"]
    runners, supervisors = set(), set()
    for _ in range(3):
        result = run(zyg, source)
        assert result.status == "ok"
        pid, ppid, sid, pgid = result.value
        assert pid not in (os.getpid(), zygote_pid, zyg.proc.pid) and pid not in runners | supervisors
        assert ppid not in (os.getpid(), zygote_pid) and ppid not in runners  # a supervisor, not a runner
        assert sid == pid and pgid == pid  # its own session and group, so the group can be killed
        runners.add(pid)
        supervisors.add(ppid)
    assert zygote_pid == zyg.proc.pid


def test_working_directory_is_private_empty_per_submission_and_removed():
    """Each session works in a private, empty folder of its supervisor's (a supervisor reused for the next
    session mounts a fresh one there); the folder goes when the supervisor does."""
    zyg = worker.Zygote()
    zyg.wait_ready()
    source = src("import os, stat\ndef f(name):\n    st = os.stat('.')\n    listing = sorted(os.listdir('.'))\n"
                 "    open(name, 'w').write('x')\n    return os.getcwd(), listing, stat.S_IMODE(st.st_mode)\n")
    try:
        first, second = run(zyg, source, "first.txt"), run(zyg, source, "second.txt")
        assert first.status == second.status == "ok"
        (cwd1, listing1, mode1), (cwd2, listing2, mode2) = first.value, second.value
        assert listing1 == listing2 == []
        assert mode1 == mode2 == 0o700
        for cwd in (cwd1, cwd2):
            assert os.path.basename(cwd).startswith("course-call-")
            assert os.path.realpath(cwd) != os.path.realpath(os.getcwd())
            assert not cwd.startswith(str(Path(__file__).resolve().parent.parent))
    finally:
        zyg.close()  # it kills its supervisors, reaps them and removes their folders on the way out
    assert not os.path.exists(cwd1)
    assert not os.path.exists(cwd2)


def test_files_written_by_a_call_are_gone_for_the_next(zyg):
    writer = src("import os\ndef f():\n    open('notes.txt', 'w').write('x')\n    return os.getcwd()\n")
    reader = src("import os\ndef f(other):\n    return sorted(os.listdir('.')), os.path.exists(other)\n")
    cwd = run(zyg, writer).value
    result = run(zyg, reader, os.path.join(cwd, "notes.txt"))
    assert result.value[0] == []
    # the other child's directory may survive until the zygote reaps it; it must be gone soon after
    deadline = time.monotonic() + 3
    while os.path.exists(cwd) and time.monotonic() < deadline:
        run(zyg, src("def f():\n    return 0\n"))
        time.sleep(0.1)
    assert not os.path.exists(cwd)


def test_child_has_not_imported_solutions_grader_or_hidden_tests(zyg):
    source = src('''
import sys, importlib.util

def f():
    loaded = sorted(m for m in sys.modules if m.startswith(("solutions", "grader", "test_sec", "exercises", "tests")))
    findable = [n for n in ("solutions", "grader", "exercises") if importlib.util.find_spec(n) is not None]
    return loaded, findable, sys.modules[__name__].__file__
''')
    result = run(zyg, source)
    assert result.status == "ok", result
    loaded, findable, file = result.value
    assert loaded == []
    assert findable == []
    assert file == FILENAME


def test_environment_holds_only_the_minimal_variables(zyg):
    result = run(zyg, src("import os\ndef f():\n    return dict(os.environ)\n"))
    assert result.status == "ok"
    env = result.value
    assert set(env) <= ALLOWED_ENV, set(env) - ALLOWED_ENV
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["HOME"] != os.environ.get("HOME")


def test_torch_runs_on_one_thread(zyg):
    result = run(zyg, src("import torch\ndef f():\n    return torch.get_num_threads(), torch.get_num_interop_threads()\n"))
    assert result.status == "ok" and result.value == (1, 1)


def test_resource_limits_are_set(zyg):
    source = src('''
import resource

def f():
    return {n: resource.getrlimit(getattr(resource, n)) for n in
            ("RLIMIT_CORE", "RLIMIT_NOFILE", "RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE")}
''')
    result = run(zyg, source)
    assert result.status == "ok"
    limits = result.value
    assert limits["RLIMIT_CORE"] == (0, 0)
    assert 0 < limits["RLIMIT_NOFILE"][0] <= 64 and limits["RLIMIT_NOFILE"][1] <= 64
    infinity = -1  # resource.RLIM_INFINITY
    for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE"):
        soft, hard = limits[name]
        assert soft != infinity and hard != infinity, name
    assert limits["RLIMIT_AS"][0] == protocol.RUNNER_LIMITS["address_space"]
    assert limits["RLIMIT_FSIZE"][0] == protocol.RUNNER_LIMITS["file_size"]


def test_limits_cannot_be_raised_back(zyg):
    source = src('''
import resource

def f():
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    except (ValueError, OSError) as e:
        return type(e).__name__
    return "raised"
''')
    result = run(zyg, source)
    assert result.status == "ok" and result.value != "raised"


def test_only_a_few_descriptors_are_open(zyg):
    result = run(zyg, src("import os\ndef f():\n    return sorted(int(n) for n in os.listdir('/proc/self/fd'))\n"))
    assert result.status == "ok"
    # 0-2, this call's answer pipe, the runner's own socket (it carries only its own file's calls) and
    # the fd listdir itself holds open: no channel of the judge, the zygote, the supervisor or another call
    assert len(set(result.value) - {0, 1, 2, protocol.ANSWER_FD, protocol.RUNNER_FD}) <= 1
    assert len(result.value) <= 6


def marked(marker: str) -> list[int]:
    """Pids, seen from here, of live processes whose command line holds marker."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes() and process_state(int(entry)) not in ("Z", "X"):
                    found.append(int(entry))
            except OSError:
                pass
    return found


def leftovers(marker: str, wait: float = 3.0) -> list[int]:
    """Processes carrying marker still alive after up to wait seconds (then killed)."""
    deadline = time.monotonic() + wait
    while marked(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    found = marked(marker)
    for pid in found:
        os.kill(pid, signal.SIGKILL)
    return found


@pytest.mark.parametrize("escape", ["fork", "setsid"])
def test_what_a_call_starts_dies_when_it_returns(zyg, escape):
    marker = f"sleep-{uuid.uuid4().hex}"
    source = src(f'''
import os

def f():
    if os.fork() == 0:
        if {escape == "setsid"!r}:
            os.setsid()
            if os.fork():
                os._exit(0)
        os.execv("/bin/sleep", ["{marker}", "600"])
    return "started"
''')
    result = run(zyg, source)
    assert result.status == "ok", result
    if escape == "setsid" and level(zyg) == "L1":
        pytest.skip("an escaped session outlives the call without a PID namespace (L1)")
    assert leftovers(marker) == []


def test_grandchild_holding_the_pipes_does_not_delay_a_crash(zyg):
    source = src('''
import os, time

def f():
    if os.fork() == 0:
        time.sleep(600)
        os._exit(0)
    os._exit(5)
''')
    started = time.monotonic()
    result = run(zyg, source, timeout=10)
    assert result.status == "crashed" and result.exit_code == 5
    assert time.monotonic() - started < 3


# ---------------------------------------------------------------- what comes back


def test_tensor_subclass_arrives_as_unsupported(zyg):
    source = src('''
import torch

class Sneaky(torch.Tensor):
    def __eq__(self, other):
        return True

def f():
    return {"t": torch.ones(2).as_subclass(Sneaky), "p": torch.nn.Parameter(torch.ones(2)), "s": {1, 2}}
''')
    result = run(zyg, source)
    assert result.status == "ok"
    assert isinstance(result.value["t"], wire.Unsupported)
    assert result.value["t"].type_name == f"{MODULE}.Sneaky"
    assert type(result.value["p"]) is torch.Tensor and result.value["p"].tolist() == [1.0, 1.0]
    assert result.value["s"] == wire.Unsupported("builtins.set")


def test_huge_value_is_refused_not_hung(zyg):
    started = time.monotonic()
    result = run(zyg, src("import torch\ndef f():\n    return torch.zeros(25_000_000)\n"), timeout=20)
    assert result.status in ("too_large", "error")
    if result.status == "error":
        assert result.error["type"] == "WireError"
    assert time.monotonic() - started < 10


def test_unencodable_values_are_errors(zyg):
    source = src('''
def f(kind):
    if kind == "tuple-key":
        return {(1, 2): 3}
    if kind == "deep":
        x = []
        for _ in range(100):
            x = [x]
        return x
    if kind == "loop":
        x = []
        x.append(x)
        return x
''')
    for kind in ("tuple-key", "deep", "loop"):
        result = run(zyg, source, kind)
        assert result.status == "error", (kind, result)
        assert result.error["stage"] == "reply" and result.error["type"] == "WireError"


def test_value_over_the_judges_node_cap_is_malformed(zyg):
    result = run(zyg, src(f"def f():\n    return [0] * {wire.MAX_NODES + 1}\n"))
    assert result.status == "malformed"


def test_fake_frame_on_stdout_cannot_replace_the_real_value(zyg):
    fake = wire.dumps({"value": "forged"})
    source = src(f'''
import os, struct, sys

FAKE = {fake!r}

def f():
    os.write(1, struct.pack("<Q", len(FAKE)) + FAKE)
    sys.stdout.buffer.write(struct.pack("<Q", len(FAKE)) + FAKE)
    print(FAKE)
    os.write(2, struct.pack("<Q", len(FAKE)) + FAKE)
    return "real"
''')
    result = run(zyg, source)
    assert result.status == "ok", result
    assert result.value == "real"


def test_garbage_on_the_result_pipe_is_malformed_not_a_judge_error(zyg):
    frame = b"CGW1" + b"\xff" * 20
    source = src(f'''
import os, struct

def f():
    os.write({protocol.ANSWER_FD}, struct.pack("<Q", {len(frame)}) + {frame!r})
    os._exit(0)
''')
    result = run(zyg, source)
    assert result.status == "malformed"


def test_announced_frame_over_the_cap_is_too_large(zyg):
    source = src(f'''
import os, struct, time

def f():
    os.write({protocol.ANSWER_FD}, struct.pack("<Q", {wire.MAX_FRAME + 1}) + b"x" * 100)
    time.sleep(60)
''')
    started = time.monotonic()
    result = run(zyg, source, timeout=10)
    assert result.status == "too_large"
    assert time.monotonic() - started < 3


def test_forged_result_frame_with_an_overflowing_shape_is_malformed(zyg):
    header = json.dumps({"v": {"$": "dict", "v": [["value", {"$": "tensor", "i": 0, "d": "float32",
                                                              "s": [0, 2**63]}]]}, "b": [0]}).encode()
    frame = wire.MAGIC + struct.pack("<I", len(header)) + header
    source = src(f'''
import os, struct

def f():
    os.write({protocol.ANSWER_FD}, struct.pack("<Q", {len(frame)}) + {frame!r})
    os._exit(0)
''')
    result = run(zyg, source)
    assert result.status == "malformed"


# ---------------------------------------------------------------- the zygote itself


def test_zygote_serves_fifty_calls_in_a_row(zyg):
    source = src("import torch\ncalls = []\ndef f(i):\n    calls.append(i)\n    return i, len(calls), torch.tensor([i]) * 2\n")
    for i in range(50):
        result = run(zyg, source, i)
        assert result.status == "ok", (i, result)
        got, seen, t = result.value
        assert got == i and seen == 1 and t.tolist() == [2 * i]
    assert zyg.alive()


def test_zygote_survives_failing_calls(zyg):
    for source in (src("import os\ndef f():\n    os._exit(1)\n"), src("def f(:\n"),
                   src("def f():\n    raise MemoryError\n")):
        assert run(zyg, source).status in ("crashed", "error")
    assert run(zyg, src("def f():\n    return 'still here'\n")).value == "still here"
    assert zyg.alive()


def test_memory_limit_stops_a_huge_allocation(zyg):
    # torch.empty does not touch the pages, so even without a limit this would not eat the machine
    result = run(zyg, src("import torch\ndef f():\n    return torch.empty(8 << 30, dtype=torch.uint8).numel()\n"))
    assert result.status in ("error", "crashed"), result


def test_separate_zygote_starts_calls_and_closes(monkeypatch):
    monkeypatch.setenv("COURSE_SECRET_TEST", "x")  # set before this zygote starts: it must not inherit it
    z = worker.Zygote()
    try:
        ready = z.wait_ready()
        assert ready["pid"] == z.proc.pid and ready["torch"] == str(torch.__version__)
        result = call_once(z, "call", MODULE, FILENAME, src("import os\ndef f():\n    return dict(os.environ)\n"),
                           ["f", [], {}], 10)
        assert result.status == "ok"
        assert "COURSE_SECRET_TEST" not in result.value
        assert set(result.value) <= ALLOWED_ENV
        assert z.calls == 1  # the one reply this handle collected
        assert z is not worker.shared_zygote()
        time.sleep(0.3)  # let the zygote fork its next spare child
        kids = children_of(z.proc.pid)
    finally:
        z.close()
    assert not z.alive()
    assert z.proc.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(ready["pid"], 0)  # reaped by close(): not even a zombie
    for kid in kids:  # the spare child notices the closed request pipe and exits
        assert wait_dead(kid) in (None, "Z", "X")


def test_closing_a_zygote_removes_its_temporary_directories():
    z = worker.Zygote()
    try:
        z.wait_ready()
        cwd = call_once(z, "call", MODULE, FILENAME, src("import os\ndef f():\n    return os.getcwd()\n"),
                        ["f", [], {}], 10).value
        time.sleep(0.3)
        spare_dirs = []
        for kid in children_of(z.proc.pid):
            try:
                spare_dirs.append(os.readlink(f"/proc/{kid}/cwd"))
            except OSError:
                pass
    finally:
        z.close()
    time.sleep(0.5)
    leftovers = [d for d in [z.home, cwd, *spare_dirs] if os.path.exists(d)]
    assert leftovers == []


# ---------------------------------------------------------------- sessions: one child answers a submission's calls


def scall(session: worker.Session, source: bytes, *args, fn: str = "f", timeout: float = 10.0) -> worker.CallResult:
    return session.submit("call", MODULE, FILENAME, source, [fn, list(args), {}], timeout)()


@pytest.fixture(params=["L3", "L1"])
def session(request, zyg, zyg_l1):
    """A session on the strongest zygote and on one held to L1 (where the call's processes have no namespace)."""
    s = (zyg if request.param == "L3" else zyg_l1).session()
    yield s
    s.close()


def test_session_answers_many_calls_with_one_child(session):
    source = src("import os\ndef f(i):\n    return i * 2, os.getpid()\n")
    results = [scall(session, source, i) for i in range(20)]
    assert [r.value[0] for r in results] == [2 * i for i in range(20)]
    assert len({r.value[1] for r in results}) == 1
    assert session.children == 1


def test_each_call_starts_from_a_pristine_torch(session):
    """What one call does to torch (patches, grad mode, default dtype, the random state) is undone before the next."""
    source = src('''
import torch
import torch.nn.functional as F

def spoil():
    torch.relu = lambda x: x * 0
    F.relu = lambda x, inplace=False: x * 0
    torch.Tensor.__add__ = lambda a, b: a
    torch.Tensor.extra = 1
    torch.set_default_dtype(torch.float64)
    torch.set_grad_enabled(False)
    torch.manual_seed(1234)
    return torch.rand(1)

def look(x):
    return torch.relu(x), F.relu(x), x + 1, str(torch.zeros(1).dtype), torch.is_grad_enabled(), hasattr(torch.Tensor, "extra"), torch.rand(1)
''')
    x = torch.tensor([1.0, -2.0])
    before = scall(session, source, x, fn="look").value
    assert scall(session, source, fn="spoil").status == "ok"
    after = scall(session, source, x, fn="look").value
    assert torch.equal(after[0], torch.tensor([1.0, 0.0])) and torch.equal(after[1], torch.tensor([1.0, 0.0]))
    assert torch.equal(after[2], torch.tensor([2.0, -1.0]))
    assert after[3:6] == ("torch.float32", True, False)
    assert torch.equal(after[6], before[6])  # the same random draw as before the call that reseeded
    assert session.children == 1


FRESH = """
import sys
def fresh():
    new = not hasattr(sys, "_seen")  # sys is not put back between calls: set only in this runner
    sys._seen = True
    return new
"""


def test_a_failed_call_ends_the_runner_and_the_next_gets_a_fresh_one(session):
    source = src(FRESH + '''
import os, time
def boom():
    os._exit(3)
def hang():
    time.sleep(60)
''')
    assert scall(session, source, fn="fresh").value is True
    assert scall(session, source, fn="fresh").value is False
    assert scall(session, source, fn="boom").status == "crashed"
    assert scall(session, source, fn="fresh").value is True
    assert scall(session, source, fn="hang", timeout=1).status == "timeout"
    assert scall(session, source, fn="fresh").value is True
    assert session.children == 1  # the supervisor lives on: only runners end


def test_each_file_has_a_runner_of_its_own(session):
    source = src(FRESH)
    assert session.submit("call", "sec8_a", "/submission/sec8_a.py", source, ["fresh", [], {}], 10)().value is True
    assert session.submit("call", "sec8_b", "/submission/sec8_b.py", source, ["fresh", [], {}], 10)().value is True
    assert session.submit("call", "sec8_a", "/submission/sec8_a.py", source, ["fresh", [], {}], 10)().value is True


def test_what_a_session_call_starts_dies_when_it_returns(session):
    marker = f"sleep-{uuid.uuid4().hex}"
    source = src(f'''
import os
def f():
    if os.fork() == 0:
        os.execv("/bin/sleep", ["{marker}", "600"])
    return "started"
''')
    assert scall(session, source).value == "started"
    assert leftovers(marker) == []
    assert session.children == 1  # and the child itself lives on


def test_a_thread_left_behind_ends_the_runner(session):
    """A thread that outlives its call (here: one waiting to write a forged answer into the next call's answer
    pipe) ends the runner when the call returns: the next call runs in a fresh one and gets its real value."""
    frame = wire.dumps({"value": "forged"})
    source = src(FRESH + f'''
import os, struct, threading, time

def plant():
    def forge():
        time.sleep(0.3)
        try:
            os.write({protocol.ANSWER_FD}, struct.pack("<Q", {len(frame)}) + {frame!r})
        except OSError:
            pass
    fresh()
    threading.Thread(target=forge, daemon=True).start()
    return "planted"

def slow():
    time.sleep(0.6)
    return "real", fresh()
''')
    assert scall(session, source, fn="plant").value == "planted"
    result = scall(session, source, fn="slow")
    assert (result.status, result.value) == ("ok", ("real", True))


def test_pipelined_calls_answer_in_order_each_with_its_own_output(session):
    """Calls sent ahead (more than the window) are answered in order by one child, and what each printed
    comes back with that call, not with a neighbour."""
    source = src("def f(i):\n    print(f'call {i}')\n    return i * 3\n")
    waits = [session.submit("call", MODULE, FILENAME, source, ["f", [i], {}], 10.0) for i in range(3 * worker.WINDOW)]
    results = [wait() for wait in reversed(waits)][::-1]  # waiting for the last first collects the rest in order
    assert [r.value for r in results] == [3 * i for i in range(3 * worker.WINDOW)]
    assert [r.output.strip() for r in results] == [f"call {i}" for i in range(3 * worker.WINDOW)]
    assert session.children == 1


def test_calls_queued_behind_a_failure_run_in_a_fresh_runner(session):
    source = src(FRESH + '''
import os
def f(i):
    if i == 2:
        os._exit(5)
    return i, fresh()
''')
    waits = [session.submit("call", MODULE, FILENAME, source, ["f", [i], {}], 10.0) for i in range(5)]
    results = [wait() for wait in waits]
    assert [r.status for r in results] == ["ok", "ok", "crashed", "ok", "ok"]
    assert results[2].exit_code == 5
    assert [r.value[0] for r in results if r.status == "ok"] == [0, 1, 3, 4]
    assert [r.value[1] for r in results if r.status == "ok"] == [True, False, True, False]
    assert session.children == 1


def test_a_queued_call_gets_its_whole_time_limit(session):
    """Two calls of 0.7 s each under a 1 s limit, sent together: the second's clock starts when the first
    is collected, so neither times out."""
    source = src("import time\ndef f():\n    time.sleep(0.7)\n    return 'done'\n")
    first = session.submit("call", MODULE, FILENAME, source, ["f", [], {}], 1.0)
    second = session.submit("call", MODULE, FILENAME, source, ["f", [], {}], 1.0)
    assert (first().status, second().status) == ("ok", "ok")
    assert session.children == 1


def test_a_request_too_big_for_its_pipe_waits_for_the_child_to_be_idle(session):
    source = src("import time\ndef f(x):\n    time.sleep(0.2)\n    return x.sum()\n")
    big = torch.ones(40_000)  # 160 KB of request, more than a pipe holds
    waits = [session.submit("call", MODULE, FILENAME, source, ["f", [x], {}], 10.0) for x in (torch.ones(3), big, torch.ones(2))]
    assert [float(w().value) for w in waits] == [3.0, 40_000.0, 2.0]
    assert session.children == 1


def test_a_supervisor_that_dies_is_a_fault_retried_once_on_a_fresh_one(zyg, monkeypatch):
    """The machine's failure is never the submission's: a call whose supervisor dies runs again on a fresh
    supervisor; when that one dies too, the call is a fault (not a crash, not an error of the code)."""
    source = src("import time\ndef f(x):\n    time.sleep(0.3)\n    return x + 1\n")
    session = zyg.session()
    try:
        wait = session.submit("call", MODULE, FILENAME, source, ["f", [1], {}], 10.0)
        first = session.child.pid
        os.kill(first, signal.SIGKILL)
        result = wait()
        assert (result.status, result.value) == ("ok", 2)
        assert session.children == 2 and session.child.pid != first
        start = worker.Child.start

        def start_then_die(child, *args, **kwargs):
            sent = start(child, *args, **kwargs)
            os.kill(child.pid, signal.SIGKILL)
            return sent

        monkeypatch.setattr(worker.Child, "start", start_then_die)
        result = session.submit("call", MODULE, FILENAME, source, ["f", [1], {}], 10.0)()
        assert result.status == "fault" and session.children == 3  # the one it was sent to, then one retry
    finally:
        session.close()
