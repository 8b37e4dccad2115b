"""The runner: the only process that executes submitted code, one per exercise file of a submission.

A supervisor (course.sandbox.supervisor) forks it into a PID namespace of its own and hands it calls for one
file, one at a time. A call arrives on the runner's socket with three descriptors: the judge's request
pipe, a fresh answer pipe whose reading end only the supervisor holds, and the call's output pipe. The
runner reads the request (course.sandbox.wire), executes exactly the submitted source bytes as a module, runs one
probe, writes one frame into the answer pipe and closes it, then kills whatever the call started.

Nothing the runner writes is evidence: the supervisor takes one frame from the answer pipe and passes it
on as the submission's answer, which the judge decodes as untrusted data and compares with its own
reference. Code in this process can rewrite anything in it, this module included; it cannot reach the
judge's socket, the result pipes, another file's calls or another runner.
"""
from __future__ import annotations

import ctypes
import fcntl
import operator
import os
import resource
import signal
import socket
import sys
import tempfile
import types

import torch

from course import feedback
from course.sandbox import contain as sandbox, inprocess, probes, protocol, wire

_MISSING = object()


class Pristine:
    """What each call starts from, and what the probe meets after the submitted module has run: torch's
    random state, grad mode, default dtype and thread count; the namespaces of torch, torch.nn,
    torch.nn.functional, builtins, math, json and of the trusted modules here (this loop, the probes, the
    models, the wire format, the protocol); the classes the probes build; and the code, defaults and
    closures of every function and method those trusted modules define. restore() runs between loading the
    module and running the probe, so what a module does at import to the grader's code is undone before the
    question is asked; before each call only torch's global state is reset (reset_torch), since the runner
    serves one file and anything else an earlier call left is that file's own doing. What the student's
    functions do while they run is their answer, and is judged as values (see course.sandbox.probes)."""

    def __init__(self) -> None:
        import builtins
        import json
        import math

        from torch.utils import data

        from course.content import models

        trusted = (sys.modules[__name__], probes, models, wire, protocol, feedback, json, json.encoder, json.decoder)
        modules = (torch, torch.nn, torch.nn.functional, torch.nn.init, torch.linalg, builtins, math, *trusted)
        own = [c for m in trusted[:5] for c in vars(m).values() if isinstance(c, type) and c.__module__ == m.__name__]
        classes = (torch.Tensor, torch.nn.Module, torch.nn.Linear, torch.nn.ReLU, torch.nn.Sequential,
                   torch.nn.BatchNorm1d, torch.nn.CrossEntropyLoss, torch.nn.MSELoss, data.DataLoader,
                   data.Dataset, data.TensorDataset, data.Subset, *own)
        self.modules = [(m.__dict__, dict(m.__dict__)) for m in modules] + [(probes.PROBES, dict(probes.PROBES))]
        self.module_items = [(namespace, list(saved), list(saved.values())) for namespace, saved in self.modules]
        self.classes = [(c, dict(c.__dict__), list(c.__dict__), list(c.__dict__.values())) for c in classes]
        functions = _functions([v for m in trusted for v in vars(m).values()] + [v for c in own for v in vars(c).values()])
        cells = [cell for f in functions for cell in f.__closure__ or () if _filled(cell)]
        self.attributes = [(name, functions, [getattr(f, name) for f in functions])
                           for name in ("__code__", "__defaults__", "__kwdefaults__")]
        self.attributes.append(("cell_contents", cells, [cell.cell_contents for cell in cells]))
        self.attributes.append(("__class__", list(modules), [type(m) for m in modules]))  # a module's type swapped
        self.attributes.append(("__bases__", list(classes), [c.__bases__ for c in classes]))
        self.rng = torch.random.get_rng_state()
        self.dtype = torch.get_default_dtype()
        self.memory = Untouched.of([namespace for namespace, _ in self.modules] + [_real_dict(c) for c in classes],
                                   functions, cells, list(modules), list(classes))

    def restore(self) -> None:
        """Put everything back. Whether anything changed is read from the objects' memory (Untouched), so an
        untouched state costs a few microseconds and copies no page; only then the identities are compared
        and what differs is put back."""
        if self.memory is None or self.memory.changed():
            self._put_back()
            if self.memory is not None:
                self.memory.retake()
        self.reset_torch()

    def _put_back(self) -> None:
        for (namespace, saved), (_, keys, values) in zip(self.modules, self.module_items):
            if len(namespace) != len(keys) or not all(map(operator.is_, map(namespace.get, keys), values)):
                namespace.clear()
                namespace.update(saved)
        for cls, saved, keys, values in self.classes:
            if len(cls.__dict__) != len(keys) or not all(map(operator.is_, map(cls.__dict__.get, keys), values)):
                for name in [k for k in cls.__dict__ if k not in saved]:
                    delattr(cls, name)
                for name, value in saved.items():
                    if cls.__dict__.get(name, _MISSING) is not value:
                        setattr(cls, name, value)
        for attribute, objects, values in self.attributes:
            if not all(map(operator.is_, map(operator.attrgetter(attribute), objects), values)):
                for target, value in zip(objects, values):
                    if getattr(target, attribute, _MISSING) is not value:
                        setattr(target, attribute, value)

    def reset_torch(self) -> None:
        """torch's global state only: random state, grad mode, default dtype, threads (cheap; before each
        call, so a seed or a dtype set by one test's code does not reach the next)."""
        torch.random.set_rng_state(self.rng)
        torch.set_grad_enabled(True)
        torch.set_default_dtype(self.dtype)
        torch.set_num_threads(1)


class Untouched:
    """Whether trusted objects are as they were, read from their memory without taking a reference to them.

    Taking a reference writes the object's count, and in a runner (a fork of the zygote) the first write to a
    page copies it: comparing every value of torch's namespaces by identity copied some two thousand pages a
    runner, a quarter of its page faults. This reads instead, with ctypes: a dict's header (its version tag
    changes with every change made through the interpreter: setattr on a module or class, __dict__.update,
    vars(), a deletion), the slots of a function's code, defaults and keyword defaults and of a cell's
    contents, a module's type and a class's bases. A change made by writing the process's memory directly goes unseen; the answers that decide
    points are values the judge recomputes, so such a change earns what computing them would (see
    course.sandbox.probes). of() checks its reading of this interpreter's layout first and returns None when it does
    not hold, and the runner then compares identities at every restore."""

    def __init__(self, ranges: list[tuple[int, int]]) -> None:
        self.views = [(ctypes.c_char * size).from_address(address) for address, size in ranges]
        self.saved = self.read()

    @classmethod
    def of(cls, dicts: list[dict], functions: list[types.FunctionType], cells: list, modules: list[types.ModuleType],
           classes: list[type]) -> Untouched | None:
        layout = _layout()
        if layout is None:
            return None
        head, size, function_slots, cell_slot, type_slot, bases_slot = layout
        ranges = [(id(d) + head, size) for d in dicts]
        ranges += [(id(m) + type_slot, _WORD) for m in modules] + [(id(c) + bases_slot, _WORD) for c in classes]
        low, high = min(function_slots), max(function_slots) + _WORD
        if high - low == len(function_slots) * _WORD:  # next to each other (they are, in CPython 3.11): one read
            ranges += [(id(f) + low, high - low) for f in functions]
        else:
            ranges += [(id(f) + slot, _WORD) for f in functions for slot in function_slots]
        ranges += [(id(c) + cell_slot, _WORD) for c in cells]
        return cls(ranges)

    def read(self) -> bytes:
        return b"".join(map(bytes, self.views))

    def changed(self) -> bool:
        return self.read() != self.saved

    def retake(self) -> None:
        """After a restore: what is in memory now is the state to compare with."""
        self.saved = self.read()


_WORD = ctypes.sizeof(ctypes.c_void_p)


def _layout() -> tuple[int, int, tuple[int, ...], int, int, int] | None:
    """Where this interpreter keeps what Untouched reads, found and tried on objects made here: the part of
    a dict's header after the reference count and type, the slots of a function's code, defaults and
    keyword defaults, the slot of a cell's contents, of an object's type and of a class's bases. None if
    any of it is not where it should be."""
    def slot_of(owner: object, target: object) -> int | None:
        words = (ctypes.c_void_p * (type(owner).__basicsize__ // _WORD)).from_address(id(owner))
        found = [i * _WORD for i, word in enumerate(words) if word == id(target)]
        return found[0] if len(found) == 1 else None

    def probe(a=(), *, b=()):  # noqa: B006 - its defaults are what the slots are found by
        return probe, a, b

    head, size = object.__basicsize__, dict.__basicsize__ - object.__basicsize__
    sample = {"key": object()}
    before = ctypes.string_at(id(sample) + head, size)
    sample["key"] = object()
    if ctypes.string_at(id(sample) + head, size) == before:
        return None  # this dict header has no version tag
    slots = tuple(slot_of(probe, value) for value in (probe.__code__, probe.__defaults__, probe.__kwdefaults__))
    cell_slot = slot_of((lambda: sample).__closure__[0], sample)
    module = types.ModuleType("sample")
    type_slot = slot_of(module, types.ModuleType)
    derived = type("Derived", (type("Base", (), {}),), {})
    bases_slot = slot_of(derived, derived.__bases__)
    if None in slots or None in (cell_slot, type_slot, bases_slot):
        return None
    return head, size, slots, cell_slot, type_slot, bases_slot


def _real_dict(cls: type) -> dict:
    """The dict behind a class's read-only __dict__ view (what setattr on the class changes)."""
    import gc

    (inner,) = gc.get_referents(cls.__dict__)
    return inner


def _functions(values: list) -> list[types.FunctionType]:
    """The plain functions among values, with those they wrap (decorators) and hold in their closures."""
    found: dict[int, types.FunctionType] = {}
    todo = list(values)
    while todo:
        value = todo.pop()
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        elif isinstance(value, property):
            todo += [value.fget, value.fset, value.fdel]
            continue
        if not isinstance(value, types.FunctionType) or id(value) in found:
            continue
        found[id(value)] = value
        todo += [getattr(value, "__wrapped__", None)]
        for cell in value.__closure__ or ():
            try:
                todo.append(cell.cell_contents)
            except ValueError:
                pass
    return list(found.values())


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents
    except ValueError:  # an empty cell stays empty
        return False
    return True


_PRISTINE: list[Pristine] = []  # made once in the zygote (prepare()); every runner inherits it


def prepare() -> None:
    """In the zygote, after its warm-up: take the snapshot every runner restores (about 5 ms, paid once).
    It is kept in a list made at import, so the snapshot of this module's own namespace still matches.
    DataLoaders load in process from here on (course.sandbox.inprocess), so the snapshot holds that too."""
    inprocess.install()
    _PRISTINE.append(Pristine())


def serve(sock: int, workdir: str, policy: sandbox.Policy, limits: dict) -> None:
    """Runs in the forked runner: limits, no privileges; then answer calls until the supervisor hangs up.
    Never returns."""
    os.chdir(workdir)  # its supervisor's private tmpfs (or, at L1, folder), emptied between runners
    os.environ["HOME"] = os.environ["TMPDIR"] = os.getcwd()  # the one writable place (torch caches go here)
    tempfile.tempdir = None
    sock = socket.socket(fileno=sock)  # a local: restoring this module's namespace must never drop it
    if not _PRISTINE:
        inprocess.install()
    pristine = _PRISTINE[0] if _PRISTINE else Pristine()
    _oom_first()
    cpu = int(limits["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["address_space"], limits["address_space"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size"], limits["file_size"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"], limits["open_files"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sandbox.drop_privileges(policy)
    sandbox.die_with_parent()  # after the uid change, which clears it; without namespaces (L1) the only tie
    sandbox.own_proc_entries()  # the uid change made /proc/self root's; only its own namespace can see it
    sock.send(protocol.READY)  # the last word of trusted code: from here on, nothing it says counts
    request = next_call(sock)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    while True:
        try:
            frame = wire.dumps(answer(request, pristine))
        except BaseException as e:
            frame = wire.dumps({"error": {"stage": "reply", "type": type(e).__name__, "message": str(e)[:300],
                                          "where": None, "not_implemented": False}})
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        protocol.write_all(protocol.ANSWER_FD, protocol.frame(frame))
        os.close(protocol.ANSWER_FD)  # the end of this call's answer: the supervisor reads to here
        end_of_call(policy)
        request = next_call(sock)
        pristine.reset_torch()  # the full restore follows the module's import (answer)


def _oom_first() -> None:
    """Make this process the memory cgroup's first choice when it runs out (its supervisor is the last)."""
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


def end_of_call(policy: sandbox.Policy) -> None:
    """Kill whatever the call started (an honest courtesy: the supervisor checks, and ends this runner
    if anything is left). In its supervisor's namespace every process it may signal is the call's; without
    namespaces (L1) the processes of this process group are."""
    if policy.namespaces:
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


def next_call(sock: socket.socket) -> dict:
    """Wait for the supervisor's next call: a message on the runner's socket carrying the request pipe, a
    fresh answer pipe and the output pipe (placed at REQUEST_FD, ANSWER_FD, and stdout and stderr), then
    the request read from its pipe. Exits when the supervisor hangs up."""
    try:
        message, fds, _, _ = socket.recv_fds(sock, 16, 3)
    except OSError:
        message, fds = b"", []
    if message != protocol.CALL or len(fds) != 3:
        os._exit(0)
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, protocol.RUNNER_FD + 1) for fd in fds]  # out of the way first
    for fd in fds:
        os.close(fd)
    for fd, targets in zip(high, ((protocol.REQUEST_FD,), (protocol.ANSWER_FD,), (1, 2))):
        for target in targets:
            os.dup2(fd, target)
        os.close(fd)
    try:
        frame = protocol.read_frame(protocol.REQUEST_FD)
    except protocol.ProtocolError:
        frame = None
    os.close(protocol.REQUEST_FD)
    if frame is None:
        os._exit(0)
    return wire.loads(frame)


def answer(request: dict, pristine: Pristine) -> dict:
    """Load the submitted module from its bytes, undo what it did to the grader's code, and run the probe:
    {"value": ...} or {"error": ...}."""
    filename = request["filename"]
    probe = probes.PROBES[request["probe"]]
    try:
        module = probes.load_module(request["module"], filename, request["source"])
    except BaseException as e:
        return {"error": feedback.describe_error(e, "import", filename)}
    pristine.restore()
    try:
        return {"value": probe(module, *request["args"])}
    except BaseException as e:
        return {"error": feedback.describe_error(e, "call", filename)}
