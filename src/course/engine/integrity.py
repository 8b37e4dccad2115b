"""Integrity scan: flag constructs in a submission that a correct solution never needs.

The scan is static: it parses the submitted bytes with `ast` (honouring a PEP 263 coding line, as
Python would when running them) and never executes them. A source that does not parse, is not valid
in its encoding, or is too deep for the parser gets a coarser plain-text scan line by line instead
(comments dropped, a bare word counted only when called), so a scan never raises.

It informs the instructor, it never changes a score: containment and the judge-side checks keep a
hostile submission from earning points; the flags only say who tried, where, and with what.

Indirection is followed as a class, not as a list of spellings:
- names are followed through imports, aliases (`import os as o`, `m = sys.modules`, `a, b = os, sys`,
  `def f(o=os)`), `getattr(x, "name")`, `vars(x)`, `x.__dict__["k"]`, `sys.modules["k"]`,
  `globals()["k"]`, `__builtins__["k"]`, `__import__("k")` and `importlib.import_module("k")`;
- an attribute or module name built from constants (`"_" + "exit"`, `"".join([...])`, f-strings,
  `str.format`, `%`, `[::-1]`, `chr`, `bytes([...]).decode()`, base64, `codecs.decode(s, "rot13")`, and
  names bound once to such an expression) is folded to its value and checked like a literal;
- a risky module reached through another module (`torch.serialization.os`, `np.os`,
  `sys.modules["os"]`, `from torch.serialization import pickle`) is flagged (module-reach) and
  checked as the module it is (`torch.serialization.os._exit` is os-exit).

Each flag has a stable rule id (see RULES). Judgment calls, chosen to stay silent on normal code:
- a module import is flagged only when the module itself is (`import ctypes`); `import os` and
  `import sys` are not, but each risky use is (`os._exit`, `os.environ`, `sys.modules`, ...);
- builtins such as `eval`, `open`, `exit` count only as bare names (or via `builtins.`) that the
  source does not bind itself: `model.eval()` and a parameter named `open` are fine;
- `os.path.join` and friends are string operations; `os.path.exists` and the like touch the disk;
- every object gets an origin: the submission's own (`self`, anything it builds: `nn.Linear(...)`,
  literals, its classes), a module (imported names, builtins such as `object`, `sys.modules[k]`), or
  the grader's (a function's parameters other than `self`/`cls`, and what is reached or iterated
  from them: `model.fc1`, `for p in model.parameters()`); a parameter named like an optimizer
  (`opt`, `optimizer`, ...) or annotated with an Optimizer is the grader's optimizer;
- getattr/setattr/delattr/hasattr (and `__getattribute__`, `attrgetter`) with a name that is not a
  plain string literal are dynamic-attr on a module or a grader's object; on the submission's own
  objects they are fine (`getattr(self, f"fc{i}")` walks a model's layers);
- storing an attribute on an imported module or class is flagged (torch-patch for torch, else
  monkey-patch); on the submission's own objects (`self.fc1 = ...`, `self.__dict__`) it is not, nor
  on `torch.backends.*`, whose switches are meant to be set; `torch.__dict__`/`vars(torch)` are;
- on the grader's objects, storing attributes is normal (a model's layers), except: `.training`
  anywhere (training-flag: `.train()`/`.eval()` set it), any attribute of the optimizer, replacing a
  method (`model.forward = ...`), bumping an attribute (`opt.steps += 1`; `p.data -= ...` is a
  manual update and fine), and their `__dict__`/`vars()` (grader-object);
- writes into a namespace (`globals()`, `locals()`, `vars(x)`, `x.__dict__`) are flagged unless they
  go into `self` or set a module-level name the submission defines itself (namespace);
- a thread or process started while the file is imported (module level and class bodies, but not
  under `if __name__ == "__main__":`) is at-import; hooks that run later (`atexit.register`,
  `sys.settrace`, `weakref.finalize`, ...) are callbacks wherever they are;
- `__len__`/`__getitem__` are part of the Dataset contract; comparison, truth, conversion and
  torch-hook dunders (`__eq__`, `__bool__`, `__torch_function__`, `__del__`, ...) are flagged.
"""
from __future__ import annotations

import ast
import base64
import binascii
import codecs
import gc
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable

_OS_FILES = ("open fdopen read write pread pwrite close closerange dup dup2 pipe remove unlink rename renames replace "
             "rmdir removedirs mkdir makedirs listdir scandir walk fwalk stat lstat chmod chown link symlink readlink "
             "truncate ftruncate utime access chdir getcwd mkfifo mknod sendfile memfd_create path.exists path.lexists "
             "path.isfile path.isdir path.islink path.ismount path.getsize path.getmtime path.getatime path.getctime "
             "path.samefile path.realpath").split()
_OS_FDS = ("dup dup2 fdopen write read pread pwrite readv writev close closerange pipe pipe2 set_inheritable "
           "set_blocking get_inheritable lseek sendfile splice openpty login_tty memfd_create pidfd_open eventfd "
           "fstat fsync ftruncate fchmod fchown fchdir isatty ttyname").split()
RULES = {  # rule id: (why it matters, the dotted names it covers; a name covers everything under it)
    "sys-modules": ("the table of loaded modules", "sys.modules"),
    "import-hook": ("changes how modules are found", "sys.meta_path sys.path sys.path_hooks sys.path_importer_cache "
                    "site zipimport pkgutil"),
    "builtins": ("the interpreter's built-in namespace", "builtins __builtin__ __builtins__"),
    "gc": ("the garbage collector reaches every live object", "gc"),
    "inspect-frames": ("reaches into call frames, function internals or interpreter internals",
                       "inspect sys._getframe sys._current_frames sys._getframemodulename sys.settrace sys.setprofile "
                       "traceback.walk_stack traceback.extract_stack"),
    "ctypes": ("native code and raw memory", "ctypes _ctypes cffi torch.utils.cpp_extension torch.ops.load_library"),
    "os-exit": ("ends the process early", "os._exit os.abort sys.exit exit quit SystemExit atexit"),
    "signals": ("sends or handles signals", "signal os.kill os.killpg"),
    "subprocess": ("runs other programs", "subprocess _posixsubprocess pty os.system os.popen"),
    "threads-processes": ("starts threads or processes", "threading _thread multiprocessing concurrent asyncio "
                          "os.fork os.forkpty os.setsid os.setpgrp torch.multiprocessing"),
    "process-control": ("changes the process's session, group, limits or privileges",
                        "os.setpgid os.setsid os.setpgrp os.tcsetpgrp os.setns os.unshare os.setuid os.setgid "
                        "os.seteuid os.setegid os.setreuid os.setregid os.setresuid os.setresgid os.setgroups "
                        "os.initgroups os.chroot os.prlimit os.nice os.setpriority os.sched_setaffinity "
                        "os.sched_setscheduler resource"),
    "descriptors": ("works on raw file descriptors, such as the pipe the grader reads results from",
                    "fcntl termios tty _socket socket.fromfd socket.fromshare socket.recv_fds socket.send_fds "
                    "socket.socketpair socket.dup multiprocessing.reduction signal.set_wakeup_fd sys.__stdout__ "
                    "sys.__stderr__ sys.__stdin__ " + " ".join("os." + name for name in _OS_FDS)),
    "socket": ("network access", "socket _socket ssl select selectors socketserver urllib urllib3 http requests httpx "
               "aiohttp ftplib smtplib xmlrpc websocket websockets torch.hub torch.distributed"),
    "file-access": ("file system access", "open builtins.open pathlib shutil tempfile glob fileinput mmap zipfile "
                    "tarfile sqlite3 io.open io.FileIO io.open_code codecs.open torch.save torch.from_file numpy.load "
                    "numpy.save numpy.savez numpy.loadtxt numpy.savetxt numpy.fromfile numpy.memmap numpy.genfromtxt "
                    + " ".join("os." + name for name in _OS_FILES)),
    "torch-patch": ("changes torch itself", "torch._C torch.library"),
    "monkey-patch": ("changes another module's code", "unittest.mock mock pytest _pytest"),
    "magic-methods": ("can make an object lie in comparisons or conversions", ""),
    "dynamic-code": ("runs or imports code chosen at run time", "exec eval compile __import__ importlib runpy "
                     "types.CodeType types.FunctionType types.LambdaType types.CellType code codeop "
                     "builtins.exec builtins.eval builtins.compile builtins.__import__"),
    "pickle": ("loading serialized objects can run code",
               "pickle _pickle cPickle marshal dill cloudpickle shelve copyreg joblib torch.load"),
    "env": ("environment variables", "os.environ os.environb os.getenv os.putenv os.unsetenv"),
    "dynamic-attr": ("looks up an attribute whose name is built at run time, on a module or the grader's object", ""),
    "namespace": ("rewrites a namespace that other code looks its names up in",
                  "importlib.reload imp.reload object.__setattr__ object.__delattr__ type.__setattr__ "
                  "type.__delattr__"),
    "module-reach": ("reaches a risky module by another name or through another module's attributes",
                     "posix nt _signal _io"),
    "at-import": ("starts a thread or process while the file is imported, outside any call", ""),
    "callbacks": ("registers code that runs later, outside the grader's calls",
                  "atexit.register sys.settrace sys.setprofile sys.addaudithook sys.excepthook sys.unraisablehook "
                  "sys.monitoring threading.settrace threading.setprofile threading.settrace_all_threads "
                  "threading.setprofile_all_threads threading.excepthook weakref.finalize signal.signal "
                  "os.register_at_fork faulthandler"),
    "training-flag": ("sets the training flag by hand instead of calling .train() or .eval()", ""),
    "grader-object": ("changes an object the grader passed in beyond its normal use", ""),
}
NAMES: dict[str, tuple[str, ...]] = {}
for _rule, (_, _names) in RULES.items():
    for _name in _names.split():
        NAMES[_name] = (*NAMES.get(_name, ()), _rule)
PREFIXES = {"os.exec": "subprocess", "os.spawn": "subprocess", "os.posix_spawn": "subprocess"}
_FIRSTS = {name.split(".")[0] for name in NAMES} | {prefix.split(".")[0] for prefix in PREFIXES}
ATTRS = {  # attribute names that are risky on any object, even one the scan cannot name
    "__builtins__": "builtins", "as_subclass": "torch-patch", "_make_subclass": "torch-patch",
    **{name: "inspect-frames" for name in "f_back f_globals f_locals f_builtins f_code tb_frame tb_next gi_frame "
       "cr_frame ag_frame __globals__ __code__ __closure__ __subclasses__ cell_contents __defaults__ __kwdefaults__ "
       "co_code co_consts _getframe __self__".split()},
    **{name: "descriptors" for name in "fileno fromfd recv_fds send_fds set_inheritable dup2 dup3 fdopen "
       "memfd_create pidfd_open".split()},
    **{name: "process-control" for name in "prctl syscall ptrace setsid setpgid setpgrp unshare setns".split()},
    **{name: "threads-processes" for name in "fork vfork forkpty start_new_thread".split()},
    **{name: "subprocess" for name in "execv execve execvp execvpe execl execle execlp posix_spawn posix_spawnp "
       "popen".split()},
    **{name: "callbacks" for name in "settrace setprofile addaudithook".split()},
    "_exit": "os-exit",
}
MAGIC = set("__eq__ __ne__ __lt__ __le__ __gt__ __ge__ __hash__ __bool__ __float__ __int__ __index__ __complex__ "
            "__round__ __abs__ __sub__ __rsub__ __torch_function__ __torch_dispatch__ __getattr__ __getattribute__ "
            "__instancecheck__ __subclasscheck__ __array__ __array_function__ __array_ufunc__ __del__ __reduce__ "
            "__reduce_ex__ __setstate__".split())
TENSOR_BASES = {"torch.Tensor", "torch._C.TensorBase", "torch._C._TensorBase", "torch.nn.Parameter",
                "torch.nn.parameter.Parameter", "torch.nn.Buffer"}
SETATTRS = {"setattr", "delattr", "builtins.setattr", "builtins.delattr", "object.__setattr__", "object.__delattr__",
            "type.__setattr__", "type.__delattr__"}
GETATTRS = {"getattr", "hasattr", "builtins.getattr", "builtins.hasattr", "object.__getattribute__",
            "type.__getattribute__", "inspect.getattr_static", *SETATTRS}
IMPORTERS = {"__import__", "builtins.__import__", "importlib.import_module", "importlib.__import__"}
NAMESPACES = {"globals", "locals", "vars", "builtins.globals", "builtins.locals", "builtins.vars"}
MUTATORS = {"update", "setdefault", "pop", "popitem", "clear", "__setitem__", "__delitem__"}
OPENERS = {"open", "builtins.open", "io.open", "io.FileIO", "io.open_code", "os.fdopen", "_io.open", "_io.FileIO"}
PROBED = {"equal", "allclose", "isclose", "assert_close", "clone", "is_grad_enabled", "set_grad_enabled", "no_grad",
          "enable_grad", "inference_mode", "is_inference_mode_enabled"}  # what the grader's checks call
GRADER_METHODS = {"train", "eval", "forward", "__call__", "zero_grad", "step", "backward", "item", "parameters",
                  "named_parameters", "state_dict", "load_state_dict", "modules", "children", "apply", "to"}
REACH = {  # a module's names, as it may be reached: name -> the module it is
    **{name: name for name in "os sys subprocess _posixsubprocess socket _socket ssl ctypes _ctypes signal threading "
       "_thread multiprocessing fcntl resource mmap pty termios gc inspect builtins importlib pickle _pickle "
       "marshal atexit faulthandler shutil tempfile pathlib glob runpy site asyncio concurrent selectors weakref "
       "socketserver urllib http".split()},
    "posix": "os", "nt": "os", "_signal": "signal", "__builtins__": "builtins", "__builtin__": "builtins",
    "mp": "multiprocessing", "python_multiprocessing": "multiprocessing",
}
STARTERS = ("threading.Thread", "threading.Timer", "_thread.start_new", "multiprocessing", "concurrent.futures",
            "torch.multiprocessing", "os.fork", "os.forkpty", "os.system", "os.popen", "os.exec", "os.spawn",
            "os.posix_spawn", "subprocess", "_posixsubprocess", "pty", "asyncio.run", "asyncio.create_subprocess")
GENUINE = {"torch.signal", "torch.multiprocessing", "scipy.signal", "torch.distributed.elastic.multiprocessing"}
_ORDER = {"own": 0, "self": 1, "module": 2, "grader": 3, "optimizer": 4}
_OPTIMIZER = re.compile(r"(opt|optim|optimizer|optimiser)s?(_\w*)?|\w*optimi[sz]er\w*", re.IGNORECASE)
_FOLD_MAX = 4096  # longest string, bytes or list a constant expression may fold to
_CODECS = {"rot13", "rot_13", "hex", "hex_codec", "base64", "base64_codec", "utf-8", "utf8", "ascii", "latin-1",
           "latin1", "utf-16", "utf-32"}
_DECODERS = {"base64.b64decode": base64.b64decode, "base64.standard_b64decode": base64.standard_b64decode,
             "base64.urlsafe_b64decode": base64.urlsafe_b64decode, "base64.b32decode": base64.b32decode,
             "base64.b16decode": base64.b16decode, "base64.b85decode": base64.b85decode,
             "base64.a85decode": base64.a85decode, "base64.decodebytes": base64.decodebytes,
             "binascii.unhexlify": binascii.unhexlify, "binascii.a2b_hex": binascii.a2b_hex,
             "binascii.a2b_base64": binascii.a2b_base64, "bytes.fromhex": bytes.fromhex}
_STR_METHODS = {"lower", "upper", "strip", "lstrip", "rstrip", "title", "capitalize", "swapcase", "casefold",
                "removeprefix", "removesuffix", "replace", "split", "encode", "decode"}


@dataclass(frozen=True)
class Flag:
    """One finding: a rule id, the 1-based line it is on, and one sentence naming the construct."""

    rule: str
    line: int
    detail: str

    def as_dict(self) -> dict[str, str | int]:
        """The flag as a plain JSON-serializable dict."""
        return {"rule": self.rule, "line": self.line, "detail": self.detail}


def as_dicts(flags: list[Flag]) -> list[dict[str, str | int]]:
    """Flags as plain JSON-serializable dicts, for a report or gradebook."""
    return [flag.as_dict() for flag in flags]


def lookup(name: str) -> list[tuple[str, str]]:
    """Every (matched name, rule) for a dotted name such as "os._exit" or "ctypes.CDLL", most specific first,
    one per rule ("socket.fromfd" is both socket and descriptors)."""
    parts = name.split(".", 6)[:6]  # no rule names more than four parts: a 60,000-part chain costs nothing
    if parts[0] not in _FIRSTS:
        return []
    hits: list[tuple[str, str]] = []
    for i in range(len(parts), 0, -1):
        key = ".".join(parts[:i])
        for rule in NAMES.get(key, ()):
            if all(rule != seen for _, seen in hits):
                hits.append((key, rule))
    hits += [(name, rule) for prefix, rule in PREFIXES.items()
             if name.startswith(prefix) and all(rule != seen for _, seen in hits)]
    return hits


def canonical(name: str) -> tuple[str, str | None]:
    """(the name as the module it reaches, the path it was reached by or None): "torch.serialization.os.system"
    is ("os.system", "torch.serialization.os"); "posix.system" is ("os.system", None)."""
    parts = name.split(".")
    if len(parts) > 16:
        return name, None
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] not in REACH:
            continue
        path = ".".join(parts[: i + 1])
        if i and (path in GENUINE or path == REACH[parts[i]] or parts[i] == parts[i - 1]):
            continue  # torch.signal, multiprocessing.reduction and socket.socket are what they say
        return ".".join([REACH[parts[i]], *parts[i + 1:]]), (path if i else None)
    return name, None


def scan(source: bytes, filename: str) -> list[Flag]:
    """Flag the constructs in one submitted file's source, sorted by line. Never runs it, never raises."""
    collecting = gc.isenabled()
    gc.disable()  # a tree makes no cycles; collecting while it is built costs more than the scan itself
    try:
        tree = ast.parse(source, filename)  # bytes: decoded as Python would, coding line included
        found = _Scan(tree).found
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        found = _fallback(source)
    except Exception:  # noqa: BLE001 - a tree the scan cannot follow still gets the text scan
        found = _fallback(source)
    finally:
        if collecting:
            gc.enable()
    flags = {(line, rule, key): Flag(rule, line, detail) for (line, rule, key), detail in found}
    return sorted(flags.values(), key=lambda f: (f.line, f.rule, f.detail))


def _fallback(source: bytes) -> list[tuple[tuple[int, str, str], str]]:
    """The text scan of a source the tree scan could not handle; nothing at all if even that fails."""
    try:
        text = source.decode("utf-8", errors="replace") if isinstance(source, (bytes, bytearray)) else str(source)
        return _scan_text(text)
    except Exception:  # noqa: BLE001 - the scan informs; it must never stop a grading run
        return []


def _sentence(verb: str, what: str, rule: str, note: str = "") -> str:
    """One line for a flag: what the source does and why it matters."""
    what = what if len(what) <= 160 else what[:157] + "..."
    return f"{verb} {what} ({note or RULES[rule][0]})."


class _Scope:
    """A function, class, comprehension or the module: its parameters (by origin) and what each local name
    is bound to (an expression, or None for a def, class or except name)."""

    __slots__ = ("parent", "kind", "params", "values", "declared")

    def __init__(self, parent: _Scope | None, kind: str) -> None:
        self.parent = parent
        self.kind = kind
        self.params: dict[str, str] = {}
        self.values: dict[str, list[tuple[ast.expr | None, _Scope]]] = {}
        self.declared: set[str] = set()  # global / nonlocal names: looked up outside


class _Scan:
    """One parsed module; `found` lists ((line, rule, key), detail), the outermost construct's detail last.

    Three passes: a walk that records every node with its scope and whether it runs at import, the
    aliases in line order, then every node children first (so each node's dotted name is built from
    its children's, with no recursion over long chains) and its checks."""

    def __init__(self, tree: ast.AST) -> None:
        self.found: list[tuple[tuple[int, str, str], str]] = []
        self.names: dict[int, str | None] = {}  # id(node) -> its dotted name (the tree outlives the scan)
        self.alias: dict[str, str] = {}  # name -> the dotted name it stands for
        self.star: list[str] = []  # modules imported with *
        self.modules = {"torch", "sys", "os"}  # top-level modules it imports (attributes stored on them patch them)
        self.bound: set[str] = set()  # names the source binds itself (variables, parameters, defs)
        self.binds: dict[str, int] = defaultdict(int)  # how often each name is bound
        self.consts: dict[str, ast.expr] = {}  # name -> the expression of its one plain assignment
        self.folded: dict[str, object] = {}
        self.origins: dict[tuple[int, str], str] = {}
        self.assigns: list[tuple[int, str, ast.expr]] = []  # alias candidates: (line, name, value)
        self.classes: list[ast.ClassDef] = []
        self.thread_classes: set[str] = set()
        self.callees: set[int] = set()  # id of every node that is called: getattr anywhere else is passed around
        self.module_scope = _Scope(None, "module")
        order = self._walk(tree)
        self.consts = {name: value for name, value in self.consts.items() if self.binds[name] == 1}
        self.modules.update(name.split(".")[0] for name in self.alias.values())
        for _, name, value in sorted(self.assigns, key=lambda a: a[0]):
            target = self._resolve(value, 0)
            if target:
                self.alias[name] = target  # m = sys.modules; t = torch
        self.folded.clear()  # folded while the aliases were still being found
        for node in self.classes:  # class Worker(threading.Thread): started at import, it is a thread
            if any(rule == "threads-processes" for base in filter(None, map(self.dotted, node.bases))
                   for _, rule in lookup(base)):
                self.thread_classes.add(node.name)
        for node, scope, live in reversed(order):
            kind = type(node)
            if kind in _DOTTABLE:
                raw = self._dotted(node, self._cached)
                name, reached = canonical(raw) if raw else (None, None)
                self.names[id(node)] = name
                if reached:
                    self.add(node, "module-reach", reached,
                             _sentence("Reaches", f"{name} as {reached}", "module-reach"))
                if name and kind in (ast.Call, ast.Subscript):  # getattr(os, "_exit"), sys.modules["os"]
                    for key, rule in lookup(name):
                        self.add(node, rule, key, _sentence("Reaches", name, rule))
            visit = _VISITS.get(kind)
            if visit:
                visit(self, node, scope, live)

    def add(self, node: ast.AST, rule: str, key: str, detail: str) -> None:
        """Record one finding at the node's line."""
        self.found.append(((getattr(node, "lineno", 0), rule, key), detail))

    def _walk(self, tree: ast.AST) -> list[tuple[ast.AST, _Scope, bool]]:
        """Every node in source order (parents first) with its scope and whether it runs at import;
        records imports, bindings and alias candidates on the way."""
        order: list[tuple[ast.AST, _Scope, bool]] = []
        stack: list[tuple[ast.AST, _Scope, bool]] = [(tree, self.module_scope, True)]
        pop, push, keep = stack.pop, stack.append, order.append
        while stack:
            item = pop()
            keep(item)
            node, scope, live = item
            kind = node.__class__
            if kind in _SCOPES or (kind is ast.If and live and scope is self.module_scope
                                   and _is_main_guard(node.test)):
                stack += reversed(self._enter(node, kind, scope, live))
                continue
            fields = _FIELDS.get(kind)
            if fields is None:
                fields = _fields(kind)
            for field in fields:  # last field first: the stack gives them back in source order
                value = getattr(node, field)
                if value.__class__ is list:
                    for child in reversed(value):
                        if child is not None and child.__class__ is not ast.Constant:
                            push((child, scope, live))
                elif value is not None and value.__class__ is not ast.Constant:
                    push((value, scope, live))
            if kind in _RECORDS:
                self._record(node, kind, scope)
            elif kind is ast.Call:
                self.callees.add(id(node.func))
        return order

    def _enter(self, node: ast.AST, kind: type, scope: _Scope, live: bool) -> list[tuple[ast.AST, _Scope, bool]]:
        """The children of a node that opens a scope (def, lambda, class, comprehension) or a
        `if __name__ == "__main__":` block, each with the scope it runs in and whether it runs at import."""
        if kind is ast.If:
            return [(node.test, scope, live), *((child, scope, False) for child in node.body),
                    *((child, scope, live) for child in node.orelse)]
        if kind is ast.ClassDef:
            self._bind_name(node.name, None, scope)
            self.classes.append(node)
            inner, inner_live = _Scope(scope, "class"), live
        elif kind in _COMPREHENSIONS:
            return [(child, _Scope(scope, "comprehension"), live) for child in _children(node)]
        else:
            inner, inner_live = self._function(node, scope), False
        body = set(map(id, node.body if isinstance(node.body, list) else [node.body]))
        return [(child, inner, inner_live) if id(child) in body else (child, scope, live) for child in _children(node)]

    def _record(self, node: ast.AST, kind: type, scope: _Scope) -> None:
        """Bindings, imports and alias candidates of one node."""
        if kind is ast.Name:
            if not isinstance(node.ctx, ast.Load):
                self.bound.add(node.id)
        elif kind is ast.Assign:
            for target in node.targets:
                self._bind(target, node.value, scope)
            if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                self.consts.setdefault(node.targets[0].id, node.value)
        elif kind is ast.AnnAssign:
            if node.value is not None:
                self._bind(node.target, node.value, scope)
                if isinstance(node.target, ast.Name):
                    self.consts.setdefault(node.target.id, node.value)
        elif kind is ast.NamedExpr:
            self._bind(node.target, node.value, scope)
        elif kind in (ast.For, ast.AsyncFor, ast.comprehension):
            self._bind(node.target, node.iter, scope, alias=False)
        elif kind is ast.withitem:
            if node.optional_vars is not None:
                self._bind(node.optional_vars, node.context_expr, scope, alias=False)
        elif kind is ast.Import:
            for a in node.names:
                name = a.asname or a.name.split(".")[0]
                self.alias[name] = canonical(a.name if a.asname else a.name.split(".")[0])[0]
                self.binds[name] += 1
        elif kind is ast.ImportFrom:
            if node.module and not node.level:
                for a in node.names:
                    if a.name == "*":
                        self.star.append(node.module)
                    else:
                        self.alias[a.asname or a.name] = canonical(f"{node.module}.{a.name}")[0]
                        self.binds[a.asname or a.name] += 1
        elif kind in (ast.Global, ast.Nonlocal):
            scope.declared.update(node.names)
        elif kind is ast.ExceptHandler or kind is ast.MatchAs or kind is ast.MatchStar:
            if node.name:
                self._bind_name(node.name, None, scope)
        elif kind is ast.arg:
            self.bound.add(node.arg)

    def _bind(self, target: ast.AST, value: ast.expr, scope: _Scope, alias: bool = True) -> None:
        """Bind the names in an assignment target to what they get (pairwise for `a, b = x, y`)."""
        kind = type(target)
        if kind is ast.Name:
            self._bind_name(target.id, value, scope)
            if alias:
                self.assigns.append((target.lineno, target.id, value))
        elif kind in (ast.Tuple, ast.List):
            pairs = isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts) and not any(
                isinstance(e, ast.Starred) for e in (*value.elts, *target.elts))
            for i, element in enumerate(target.elts):
                self._bind(element, value.elts[i] if pairs else value, scope, alias and pairs)
        elif kind is ast.Starred:
            self._bind(target.value, value, scope, False)

    def _bind_name(self, name: str, value: ast.expr | None, scope: _Scope) -> None:
        """One binding of a name in a scope."""
        self.bound.add(name)
        self.binds[name] += 1
        scope.values.setdefault(name, []).append((value, scope))

    def _function(self, node: ast.AST, scope: _Scope) -> _Scope:
        """A function's (or lambda's) own scope: its parameters, each with the origin of what it receives."""
        parent = scope
        while parent.kind == "class" and parent.parent is not None:
            parent = parent.parent  # a method does not see its class body's names
        inner = _Scope(parent, "function")
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        method = scope.kind == "class" and not isinstance(node, ast.Lambda) and not any(
            getattr(d, "id", None) == "staticmethod" or getattr(d, "attr", None) == "staticmethod"
            for d in node.decorator_list)
        for i, a in enumerate([*positional, args.vararg, *args.kwonlyargs, args.kwarg]):
            if a is None:
                continue
            if method and i == 0 and positional:
                inner.params[a.arg] = "self"
            else:
                inner.params[a.arg] = "optimizer" if _optimizer_like(a) else "grader"
            self.binds[a.arg] += 1
        for a, default in [*zip(positional[len(positional) - len(args.defaults):], args.defaults),
                           *zip(args.kwonlyargs, args.kw_defaults)]:
            if default is not None:
                self.assigns.append((default.lineno, a.arg, default))  # def f(o=os)
        if not isinstance(node, ast.Lambda):
            self._bind_name(node.name, None, scope)
        return inner

    def _cached(self, node: ast.AST) -> str | None:
        """A child's dotted name, already worked out (children come first in the last pass)."""
        return self.names.get(id(node))

    def dotted(self, node: ast.AST) -> str | None:
        """The dotted name an expression stands for ("os._exit"), or None for anything else."""
        key = id(node)
        if key in self.names:
            return self.names[key]
        return self._resolve(node, 0)

    def _resolve(self, node: ast.AST, depth: int) -> str | None:
        """The dotted name of a node not worked out yet (aliases, origins): followed to a bounded depth."""
        if depth > 24 or type(node) not in _DOTTABLE:
            return None
        key = id(node)
        if key in self.names:
            return self.names[key]
        raw = self._dotted(node, lambda child: self._resolve(child, depth + 1))
        return canonical(raw)[0] if raw else None

    def _dotted(self, node: ast.AST, child: Callable[[ast.AST], str | None]) -> str | None:
        """A node's dotted name from its children's (`child` gives them), before canonical()."""
        kind = type(node)
        if kind is ast.Name:
            return self._name(node.id)
        if kind is ast.Attribute:
            base = child(node.value)
            return f"{base}.{node.attr}" if base and base.count(".") < 16 else None
        if kind is ast.Subscript:
            base = child(node.value)
            if base is None:
                value = node.value
                if (type(value) is ast.Call and not value.args and child(value.func) in NAMESPACES
                        and isinstance(key := self.fold(node.slice), str)):
                    return self._name(key)  # globals()["os"]
                return None
            return self._item(base, node.slice)
        if kind is ast.Call and node.args:
            func, args = child(node.func), node.args
            if func is None and type(node.func) is ast.Call and child(node.func.func) == "operator.attrgetter":
                base, name = child(args[0]), node.func.args and self.fold(node.func.args[0])
                return f"{base}.{name}" if base and isinstance(name, str) and name else None  # attrgetter("x")(os)
            if func in IMPORTERS:
                name = self.fold(args[0])
                return name if isinstance(name, str) and name else None  # __import__("os")
            if func in GETATTRS and len(args) >= 2:
                base, name = child(args[0]), self.fold(args[1])
                return f"{base}.{name}" if base and isinstance(name, str) and name else None  # getattr(os, "_exit")
            if func in ("vars", "builtins.vars") and len(args) == 1:
                base = child(args[0])
                return base and f"{base}.__dict__"
            if func is None and type(node.func) is ast.Attribute and node.func.attr == "get":
                base = child(node.func.value)
                return self._item(base, args[0]) if base else None  # sys.modules.get("os")
        return None

    def _name(self, name: str) -> str | None:
        """What a bare name stands for: an alias, nothing (a name the source binds), or itself."""
        if name in self.alias or name in self.bound:
            return self.alias.get(name)
        return next((f"{m}.{name}" for m in self.star if lookup(f"{m}.{name}")), name)

    def _item(self, base: str, key_node: ast.AST) -> str | None:
        """The dotted name of base[key] when base is a namespace: sys.modules, a __dict__, the builtins."""
        key = self.fold(key_node)
        if not isinstance(key, str) or not key:
            return None
        if base == "sys.modules":
            return key
        if base.endswith(".__dict__"):
            return f"{base[:-9]}.{key}"
        if base in ("builtins", "__builtins__"):
            return f"builtins.{key}"
        return None

    def fold(self, node: ast.AST, depth: int = 0) -> object:
        """The value of a constant expression (str, bytes, int or a list of them), or None: `"_" + "exit"`,
        `"".join([...])`, f-strings, `.format`, `%`, slices, chr, bytes([...]).decode(), base64, rot13,
        and names bound once to such an expression. Sizes stay bounded; nothing is executed."""
        if depth > 32:
            return None
        try:
            value = self._fold(node, depth + 1)
        except (ValueError, TypeError, KeyError, IndexError, OverflowError, LookupError, binascii.Error,
                UnicodeError, AttributeError, MemoryError, RecursionError):
            return None
        if isinstance(value, (str, bytes, list)) and len(value) > _FOLD_MAX:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**6:
            return None
        return value

    def _fold(self, node: ast.AST, depth: int) -> object:
        """fold() without its guards."""
        kind = type(node)
        if kind is ast.Constant:
            return node.value if type(node.value) in (str, bytes, int) else None
        if kind is ast.Name:
            if node.id not in self.folded:
                self.folded[node.id] = None  # a name bound to itself folds to nothing
                if node.id in self.consts:
                    self.folded[node.id] = self.fold(self.consts[node.id], depth)
            return self.folded[node.id]
        if kind in (ast.List, ast.Tuple):
            items = [self.fold(e, depth) for e in node.elts]
            return None if any(i is None for i in items) else items
        if kind is ast.BinOp:
            return _binop(node.op, self.fold(node.left, depth), self.fold(node.right, depth))
        if kind is ast.JoinedStr:
            parts = [self.fold(v, depth) for v in node.values]
            return "".join(parts) if all(isinstance(p, str) for p in parts) else None
        if kind is ast.FormattedValue:
            value = self.fold(node.value, depth)
            spec = self.fold(node.format_spec, depth) if node.format_spec else ""
            if value is None or not isinstance(spec, str) or not _safe_template(spec):
                return None
            value = {115: str, 114: repr, 97: ascii}.get(node.conversion, lambda v: v)(value)
            return format(value, spec)
        if kind is ast.Subscript:
            value = self.fold(node.value, depth)
            if not isinstance(value, (str, bytes, list)):
                return None
            index = node.slice
            if type(index) is ast.Slice:
                bounds = [None if b is None else self.fold(b, depth) for b in (index.lower, index.upper, index.step)]
                if any(b is not None and type(b) is not int for b in bounds):
                    return None
                return value[slice(*bounds)]
            position = self.fold(index, depth)
            return value[position] if type(position) is int else None
        if kind is ast.Call and not node.keywords:
            return self._fold_call(node, depth)
        return None

    def _fold_call(self, node: ast.Call, depth: int) -> object:
        """A call fold() knows: str methods on a folded receiver, chr, str, bytes, reversed, decoders."""
        func = node.func
        if len(node.args) == 2 and self.dotted(func) == "map" and self.dotted(node.args[0]) in ("chr", "str"):
            items = self.fold(node.args[1], depth)  # "".join(map(chr, [95, 101]))
            convert = chr if self.dotted(node.args[0]) == "chr" else str
            return [convert(i) for i in items] if isinstance(items, list) else None
        args = [self.fold(a, depth) for a in node.args]
        if any(a is None for a in args):
            return None
        if type(func) is ast.Attribute:
            receiver = self.fold(func.value, depth)
            if isinstance(receiver, (str, bytes)):
                method = func.attr
                if method == "join" and len(args) == 1 and isinstance(args[0], list):
                    return receiver.join(args[0])
                if method == "format" and isinstance(receiver, str) and _safe_template(receiver):
                    return receiver.format(*args) if all(isinstance(a, (str, int)) for a in args) else None
                if method == "decode" and isinstance(receiver, bytes):
                    return receiver.decode(*args) if all(a in _CODECS for a in args) else None
                if method == "encode" and isinstance(receiver, str):
                    return receiver.encode(*args) if all(a in _CODECS for a in args) else None
                if method in _STR_METHODS and all(isinstance(a, (str, bytes)) for a in args):
                    return getattr(receiver, method)(*args)
                return None
        name = self.dotted(func)
        if name == "chr" and len(args) == 1 and type(args[0]) is int:
            return chr(args[0])
        if name == "ord" and len(args) == 1 and isinstance(args[0], str):
            return ord(args[0])
        if name == "str" and len(args) == 1 and isinstance(args[0], (str, int)):
            return str(args[0])
        if name in ("bytes", "bytearray") and len(args) == 1 and isinstance(args[0], (list, bytes)):
            return bytes(args[0])
        if name in ("list", "tuple", "reversed", "sorted") and len(args) == 1 and isinstance(args[0], (list, str)):
            items = list(args[0])
            return items[::-1] if name == "reversed" else sorted(items) if name == "sorted" else items
        if name in _DECODERS and len(args) == 1 and isinstance(args[0], (str, bytes)):
            return _DECODERS[name](args[0])
        if name in ("codecs.decode", "codecs.encode") and len(args) == 2 and args[1] in _CODECS:
            return (codecs.decode if name == "codecs.decode" else codecs.encode)(args[0], args[1])
        return None

    def origin(self, node: ast.AST, scope: _Scope, depth: int = 0) -> str:
        """Whose object an expression is: "self", "own" (the submission built it), "module" (an imported
        module or a builtin), "grader" (a parameter, or reached from one) or "optimizer"."""
        if depth > 20:
            return "own"
        kind = type(node)
        if kind in _DOTTABLE and self.dotted(node):
            return "module"
        if kind is ast.Name:
            return self._name_origin(node.id, scope, depth)
        if kind in (ast.Attribute, ast.Subscript, ast.Starred):
            base = self.origin(node.value, scope, depth + 1)
            return {"optimizer": "grader", "self": "own"}.get(base, base)
        if kind is ast.Call:
            func = self.dotted(node.func)
            if func in NAMESPACES or func in IMPORTERS:
                return "own" if node.args and self.origin(node.args[0], scope, depth + 1) == "self" else "module"
            if func in ("type", "builtins.type", "super") and node.args:
                return self.origin(node.args[0], scope, depth + 1)
            if func in GETATTRS and node.args:
                base = self.origin(node.args[0], scope, depth + 1)
                return {"optimizer": "grader", "self": "own"}.get(base, base)
            if type(node.func) is ast.Attribute and func is None:
                base = self.origin(node.func.value, scope, depth + 1)
                return "grader" if base in ("grader", "optimizer") else "own"  # model.parameters()
            return "own"
        if kind is ast.NamedExpr:
            return self.origin(node.value, scope, depth + 1)
        if kind is ast.IfExp:
            return _strongest(self.origin(n, scope, depth + 1) for n in (node.body, node.orelse))
        if kind is ast.BoolOp:
            return _strongest(self.origin(n, scope, depth + 1) for n in node.values)
        return "own"

    def _name_origin(self, name: str, scope: _Scope, depth: int) -> str:
        """The origin of a bare name, looked up from the innermost scope out."""
        s: _Scope | None = scope
        while s is not None:
            if name in s.declared and s is not self.module_scope:
                s = self.module_scope
                continue
            if name in s.params:
                return s.params[name]
            if name in s.values:
                key = (id(s), name)
                if key not in self.origins:
                    self.origins[key] = "own"  # while working it out: x = x + 1
                    self.origins[key] = _strongest(self.origin(v, vs, depth + 1) for v, vs in s.values[name]
                                                   if v is not None)
                return self.origins[key]
            s = s.parent
        return "own"

    def visit_import(self, node: ast.Import | ast.ImportFrom, scope: _Scope, live: bool) -> None:
        """Flag a module or name that is itself risky, or reached through another module."""
        if isinstance(node, ast.ImportFrom) and (node.level or not node.module):
            return
        module = getattr(node, "module", None)
        for a in node.names:
            name = a.name if module is None else module if a.name == "*" else f"{module}.{a.name}"
            reached_as, reached = canonical(name)
            for key, rule in lookup(name) + (lookup(reached_as) if reached_as != name else []):
                self.add(node, rule, key, _sentence("Imports", name, rule))
            if reached:
                self.add(node, "module-reach", reached, _sentence("Imports", f"{reached_as} as {reached}",
                                                                  "module-reach"))

    def visit_call(self, node: ast.Call, scope: _Scope, live: bool) -> None:
        """Flag a risky function, dynamic attribute access, a namespace write, or a thread started at import."""
        func, args = self.dotted(node.func), node.args
        arg = _literal(args[:1])
        hits = lookup(func) if func else []
        for key, rule in hits:
            self.add(node, rule, key, _sentence("Calls", f"{func}({arg!r})" if arg else func, rule))
        first = self.fold(args[0]) if func in OPENERS and args else ""
        if isinstance(first, int) or (first is None and not _is_path(args[0])):
            self.add(node, "descriptors", func, _sentence("Calls", f"{func} on a descriptor", "descriptors"))
        if func in ("socket.socket", "socket.SocketType") and (
                len(args) >= 4 or any(k.arg == "fileno" for k in node.keywords)):
            self.add(node, "descriptors", func, _sentence("Calls", f"{func} on a descriptor", "descriptors"))
        if func in SETATTRS and args and (target := self.dotted(args[0])):
            self.patch(node, target, f"Calls {func} on")
        self._attribute_call(node, func, scope)
        if func in ("type", "builtins.type", "types.new_class") and len(args) == 3:
            self._made_class(node, args[1], args[2])
        if func in ("vars", "builtins.vars") and len(args) == 1:
            self._dict_access(node, args[0], scope)
        callee = node.func
        if type(callee) is ast.Attribute and callee.attr in MUTATORS and self._is_namespace(callee.value, scope):
            keyed = args and callee.attr in ("setdefault", "pop", "__setitem__", "__delitem__")
            key = self.fold(args[0]) if keyed else None
            if not self._own_global(callee.value, key):
                self.add(node, "namespace", callee.attr, _sentence("Calls", f"{_render(callee)}", "namespace"))
            if key == "training":
                self.add(node, "training-flag", "training", _sentence("Writes", "training", "training-flag"))
        if live:
            self._at_import(node, func)

    def _attribute_call(self, node: ast.Call, func: str | None, scope: _Scope) -> None:
        """getattr and its kin: a name not written as a literal is dynamic-attr unless on the submission's own
        object; a name it can tell (literal or folded) is checked like an attribute store."""
        args, callee = node.args, node.func
        if func in GETATTRS and len(args) >= 2:
            target, name_node = args[0], args[1]
        elif func in ("operator.attrgetter", "operator.methodcaller") and args:
            target, name_node = None, args[0]
        elif (type(callee) is ast.Attribute and callee.attr in ("__getattribute__", "__getattr__", "__setattr__",
                                                                 "__delattr__") and func not in GETATTRS and args):
            target, name_node = callee.value, args[0]
        else:
            return
        name = self.fold(name_node)
        name = name if isinstance(name, str) else None
        literal = name is not None and self._plain(name_node)
        if name in ATTRS and not self.dotted(node):
            self.add(node, ATTRS[name], name,
                     _sentence("Calls", f"{func or _render(callee)} for {name!r}", ATTRS[name]))
        owner = self.origin(target, scope) if target is not None else "module"
        what = func or _render(callee)
        if not literal and owner not in ("own", "self"):
            on = f" on {_render(target)}" if target is not None else ""
            built = f"with a name built from constants, {name!r}" if name else "with a name computed at run time"
            self.add(node, "dynamic-attr", f"{what}:{name}", _sentence("Calls", f"{what}{on} {built}", "dynamic-attr"))
        if name and target is not None and (func in SETATTRS or getattr(callee, "attr", "") in ("__setattr__",
                                                                                                 "__delattr__")):
            self._store(node, target, name, scope)

    def _made_class(self, node: ast.Call, bases: ast.AST, namespace: ast.AST) -> None:
        """type(name, bases, namespace): a class made by a call gets the checks a class statement gets."""
        for base in filter(TENSOR_BASES.__contains__, map(self.dotted, getattr(bases, "elts", ()))):
            self.add(node, "torch-patch", base,
                     _sentence("Subclasses", base, "torch-patch", "a tensor subclass can lie about its values"))
        for key in getattr(namespace, "keys", ()):
            if key is not None and isinstance(name := self.fold(key), str) and name in MAGIC:
                self.add(node, "magic-methods", name, _sentence("Defines", name, "magic-methods"))

    def _plain(self, node: ast.AST) -> bool:
        """Whether a name argument is written as a plain string: a literal, or a name bound once to one
        (`ACT = "relu"`), rather than built by an operation on constants."""
        for _ in range(8):
            if type(node) is ast.Constant:
                return isinstance(node.value, str)
            if type(node) is not ast.Name or node.id not in self.consts:
                return False
            node = self.consts[node.id]
        return False

    def _at_import(self, node: ast.Call, func: str | None) -> None:
        """Flag a call made while the file is imported that starts a thread or a process."""
        if func and func.startswith(STARTERS):
            self.add(node, "at-import", func, _sentence("Calls", f"{func} at import", "at-import"))
            return
        callee = node.func
        if type(callee) is ast.Attribute and callee.attr in ("start", "run", "submit", "apply_async", "map_async"):
            maker = self._maker(callee.value)
            if maker and (maker in self.thread_classes or any(r == "threads-processes" for _, r in lookup(maker))):
                self.add(node, "at-import", maker, _sentence("Calls", f"{maker}(...).{callee.attr}() at import",
                                                             "at-import"))

    def _maker(self, node: ast.AST) -> str | None:
        """The dotted name of the callable that built an object: `threading.Thread` for `Thread(...)` or for a
        module-level name bound to it."""
        values = [node] if type(node) is ast.Call else [
            value for value, _ in self.module_scope.values.get(node.id, ())] if type(node) is ast.Name else []
        for value in values:
            if type(value) is ast.Call:
                func = value.func
                if type(func) is ast.Name and func.id in self.thread_classes:
                    return func.id
                if maker := self.dotted(func):
                    return maker
        return None

    def visit_name(self, node: ast.Name | ast.Attribute, scope: _Scope, live: bool) -> None:
        """Flag a risky name, a risky attribute, a __dict__ reached, and stores into others' objects."""
        name = self.names.get(id(node))
        hits = lookup(name) if name else []
        for key, rule in hits:
            self.add(node, rule, key, _sentence("Uses", name, rule))
        if not hits and name and name.endswith(".__dict__") and _is_torch(name):
            self.add(node, "torch-patch", name, _sentence("Uses", name, "torch-patch"))
        if name in GETATTRS and id(node) not in self.callees:
            self.add(node, "dynamic-attr", name, _sentence("Passes", f"{name} as a value", "dynamic-attr",
                                                           "looks up attributes whose names the scan cannot see"))
        if type(node) is not ast.Attribute:
            return
        attr = node.attr
        rule = ATTRS.get(attr)
        if rule and all(rule != r for _, r in hits):
            self.add(node, rule, attr, _sentence("Uses", "." + attr, rule))
        if attr == "__dict__" and not name:
            self._dict_access(node, node.value, scope)
        elif attr == "__dict__" and not _is_torch(name):
            self.add(node, "namespace", name, _sentence("Uses", name, "namespace"))
        if not isinstance(node.ctx, ast.Load):
            if attr == "__class__":
                self.add(node, "magic-methods", "__class__", _sentence("Assigns", "__class__", "magic-methods"))
            elif self.dotted(node.value) and not hits:
                self.patch(node, name, "Assigns")
            self._store(node, node.value, attr, scope)

    def _store(self, node: ast.AST, target: ast.AST, attr: str, scope: _Scope) -> None:
        """Checks for an attribute stored (or deleted) on target: the training flag, and the grader's objects."""
        if attr == "training":
            self.add(node, "training-flag", "training",
                     _sentence("Assigns", f"{_render(target)}.training", "training-flag"))
        owner = self.origin(target, scope)
        what = f"{_render(target)}.{attr}"
        if attr in MAGIC:
            self.add(node, "magic-methods", attr, _sentence("Assigns", what, "magic-methods"))
        if attr in PROBED and owner != "self" and not self.dotted(target):
            self.add(node, "monkey-patch", what, _sentence("Assigns", what, "monkey-patch"))
        if owner == "optimizer" or (owner == "grader" and attr in GRADER_METHODS):
            self.add(node, "grader-object", what, _sentence("Assigns", what, "grader-object"))
        elif (attr.startswith("__") and attr.endswith("__") and attr != "__class__" and owner != "own"
              and owner != "self" and not self.dotted(target)):
            self.add(node, "namespace", what, _sentence("Assigns", what, "namespace"))

    def _dict_access(self, node: ast.AST, target: ast.AST, scope: _Scope) -> None:
        """x.__dict__ or vars(x): flagged on a module or the grader's objects, fine on the submission's own."""
        owner = self.origin(target, scope)
        what = f"{_render(target)}.__dict__"
        if owner in ("grader", "optimizer"):
            self.add(node, "grader-object", what, _sentence("Uses", what, "grader-object"))
        elif owner == "module":
            name = self.dotted(target)
            rule = "torch-patch" if _is_torch(name) else "namespace"
            self.add(node, rule, f"{name}.__dict__" if name else what, _sentence("Uses", what, rule))

    def _is_namespace(self, node: ast.AST, scope: _Scope) -> bool:
        """Whether an expression is a namespace others look names up in: globals(), locals(), vars(x),
        x.__dict__ (`self`'s own excepted)."""
        kind = type(node)
        if kind is ast.Call:
            func = self.dotted(node.func)
            return func in NAMESPACES and not (node.args and self.origin(node.args[0], scope) == "self")
        if kind is ast.Attribute and node.attr == "__dict__":
            return self.origin(node.value, scope) != "self"
        name = self.dotted(node)
        return bool(name) and name.endswith(".__dict__")

    def _own_global(self, namespace: ast.AST, key: object) -> bool:
        """Whether a write goes into globals() under a module-level name the submission defines itself."""
        return (isinstance(key, str) and type(namespace) is ast.Call and not namespace.args
                and self.dotted(namespace.func) in ("globals", "vars") and key in self.module_scope.values)

    def visit_subscript(self, node: ast.Subscript, scope: _Scope, live: bool) -> None:
        """Flag a store into torch, into a namespace, or into the grader's optimizer."""
        if isinstance(node.ctx, ast.Load):
            return
        if _is_torch(base := self.dotted(node.value)):
            self.patch(node, base, "Assigns into")
        if self._is_namespace(node.value, scope):
            key = self.fold(node.slice)
            if not self._own_global(node.value, key):
                self.add(node, "namespace", _render(node.value),
                         _sentence("Writes into", _render(node.value), "namespace"))
            if key == "training":
                self.add(node, "training-flag", "training", _sentence("Writes", "training", "training-flag"))
        root, path = node.value, []
        while type(root) in (ast.Attribute, ast.Subscript):
            path.append(getattr(root, "attr", ""))
            root = root.value
        if type(root) is ast.Name and "param_groups" not in path and self.origin(root, scope) == "optimizer":
            self.add(node, "grader-object", _render(node.value), _sentence("Writes into", _render(node.value),
                                                                            "grader-object"))

    def visit_augassign(self, node: ast.AugAssign, scope: _Scope, live: bool) -> None:
        """Flag a counter bumped on an object the grader passed in (`opt.steps += 1`)."""
        target = node.target
        if type(target) is ast.Attribute and target.attr not in ("data", "grad"):
            owner = self.origin(target.value, scope)
            if owner in ("grader", "optimizer"):
                what = _render(target)
                self.add(node, "grader-object", what, _sentence("Bumps", what, "grader-object"))

    def visit_def(self, node: ast.FunctionDef | ast.AsyncFunctionDef, scope: _Scope, live: bool) -> None:
        """Flag a comparison, conversion or torch-hook dunder defined by the submission."""
        if node.name in MAGIC:
            self.add(node, "magic-methods", node.name, _sentence("Defines", node.name, "magic-methods"))

    def visit_class(self, node: ast.ClassDef, scope: _Scope, live: bool) -> None:
        """Flag a tensor subclass, and magic methods assigned in a class body."""
        for base in filter(TENSOR_BASES.__contains__, map(self.dotted, node.bases)):
            self.add(node, "torch-patch", base,
                     _sentence("Subclasses", base, "torch-patch", "a tensor subclass can lie about its values"))
        for item in node.body:  # class T: __eq__ = lambda self, other: True
            for target in item.targets if isinstance(item, ast.Assign) else ():
                if isinstance(target, ast.Name) and target.id in MAGIC:
                    self.add(item, "magic-methods", target.id, _sentence("Defines", target.id, "magic-methods"))

    def patch(self, node: ast.AST, target: str, verb: str) -> None:
        """Flag a change to an imported module or class (torch.backends.* are settings meant to be set)."""
        if target.split(".")[0] in self.modules and not target.startswith("torch.backends."):
            rule = "torch-patch" if _is_torch(target) else "monkey-patch"
            self.add(node, rule, target, _sentence(verb, target, rule))


_DOTTABLE = {ast.Name, ast.Attribute, ast.Call, ast.Subscript}
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_RECORDS = {ast.Name, ast.Assign, ast.AnnAssign, ast.NamedExpr, ast.For, ast.AsyncFor, ast.comprehension,
            ast.withitem, ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal, ast.ExceptHandler, ast.MatchAs,
            ast.MatchStar, ast.arg}
_LEAVES = {"ctx", "op", "ops", "id", "attr", "name", "names", "arg", "asname", "module", "level", "kind",
           "type_comment", "conversion", "is_async", "tag", "rest", "kwd_attrs"}  # fields that hold no node it reads
_FIELDS: dict[type, tuple[str, ...]] = {}  # node type -> the fields that hold child nodes, last first
_SCOPES = {ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, *_COMPREHENSIONS}


def _fields(kind: type) -> tuple[str, ...]:
    """The fields of a node type that can hold a child node the scan reads, last first."""
    if kind is ast.Constant or not issubclass(kind, ast.AST):
        fields: tuple[str, ...] = ()
    else:
        fields = tuple(f for f in reversed(kind._fields) if f not in _LEAVES)
    _FIELDS[kind] = fields
    return fields


def _children(node: ast.AST) -> list[ast.AST]:
    """A node's child nodes in source order, leaving out what no check reads (contexts, operators, constants)."""
    out: list[ast.AST] = []
    for field in reversed(_FIELDS.get(node.__class__) or _fields(node.__class__)):
        value = getattr(node, field)
        if value.__class__ is list:
            out += [item for item in value if item is not None and item.__class__ is not ast.Constant]
        elif value is not None and value.__class__ is not ast.Constant:
            out.append(value)
    return out


_VISITS: dict[type, Callable[[_Scan, ast.AST, _Scope, bool], None]] = {
    ast.Import: _Scan.visit_import, ast.ImportFrom: _Scan.visit_import, ast.Call: _Scan.visit_call,
    ast.Name: _Scan.visit_name, ast.Attribute: _Scan.visit_name, ast.Subscript: _Scan.visit_subscript,
    ast.AugAssign: _Scan.visit_augassign, ast.FunctionDef: _Scan.visit_def, ast.AsyncFunctionDef: _Scan.visit_def,
    ast.ClassDef: _Scan.visit_class,
}


def _strongest(origins: Iterable[str]) -> str:
    """The origin that matters most among several (the grader's over a module's over the submission's)."""
    return max(origins, key=_ORDER.__getitem__, default="own")


def _optimizer_like(arg: ast.arg) -> bool:
    """Whether a parameter is the grader's optimizer, by its name or its annotation."""
    if _OPTIMIZER.fullmatch(arg.arg):
        return True
    if arg.annotation is None:
        return False
    for node in ast.walk(arg.annotation):
        text = getattr(node, "id", None) or getattr(node, "attr", None) or getattr(node, "value", None)
        if isinstance(text, str) and "optim" in text.lower():
            return True
    return False


def _is_main_guard(test: ast.AST) -> bool:
    """`__name__ == "__main__"`: a block that does not run when the grader imports the file."""
    return (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
            and {_literal([test.left]) or getattr(test.left, "id", None),
                 _literal(test.comparators) or getattr(test.comparators[0], "id", None)} == {"__name__", "__main__"})


def _is_path(node: ast.AST) -> bool:
    """Whether open()'s first argument looks like a path rather than a descriptor: a name, an f-string,
    a path expression; only an int, `x.fileno()` or arithmetic counts as a descriptor."""
    if type(node) is ast.Constant:
        return not isinstance(node.value, int)
    if type(node) is ast.Call:
        return not (type(node.func) is ast.Attribute and node.func.attr == "fileno")
    return type(node) not in (ast.BinOp, ast.UnaryOp)


def _binop(op: ast.operator, left: object, right: object) -> object:
    """A folded binary operation, refusing anything that could grow past the fold limit."""
    kind = type(op)
    if left is None or right is None:
        return None
    if kind is ast.Add and type(left) is type(right) and type(left) in (str, bytes, int, list):
        return left + right
    if kind is ast.Sub and type(left) is int and type(right) is int:
        return left - right
    if kind is ast.Mult:
        if type(left) is int and type(right) is not int:
            left, right = right, left
        if type(right) is int and type(left) is int:
            return left * right
        if type(right) is int and isinstance(left, (str, bytes, list)) and len(left) * max(right, 0) <= _FOLD_MAX:
            return left * right
    if kind is ast.Mod and isinstance(left, str) and _safe_template(left) and "*" not in left:
        values = tuple(right) if isinstance(right, list) else right
        if all(isinstance(v, (str, int)) for v in (values if isinstance(values, tuple) else (values,))):
            return left % values
    return None


def _safe_template(text: str) -> bool:
    """A format string whose widths cannot blow up (no width or precision of four digits or more)."""
    return len(text) <= _FOLD_MAX and not re.search(r"\d{4,}", text)


def _literal(args: list[ast.expr]) -> str | None:
    """The string value of the first argument when it is a plain string literal."""
    return args[0].value if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str) else None


def _is_torch(name: str | None) -> bool:
    """Whether a dotted name is torch or inside it."""
    return bool(name) and (name == "torch" or name.startswith("torch."))


def _render(node: ast.AST, depth: int = 0) -> str:
    """A short, one-line spelling of an expression for a flag's sentence."""
    kind = type(node)
    if depth > 6:
        return "..."
    if kind is ast.Name:
        return node.id
    if kind is ast.Attribute:
        return f"{_render(node.value, depth + 1)}.{node.attr}"
    if kind is ast.Call:
        return f"{_render(node.func, depth + 1)}(...)"
    if kind is ast.Subscript:
        return f"{_render(node.value, depth + 1)}[...]"
    if kind is ast.Constant:
        return repr(node.value)[:40]
    return "(...)"


_IMPORT = re.compile(r"\s*(?:from\s+([\w.]+)\s+)?import\s+(.+)")
_DOTTED = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*(\(?)")
_DEF = re.compile(r"\bdef\s+(__\w+__)|\bclass\s+\w+\s*\([^)]*\btorch\s*\.\s*Tensor\b|^\s*(torch(?:\.\w+)+)\s*=[^=]")
_GETATTR = re.compile(r"\b((?:get|set|del|has)attr)\s*\(\s*([A-Za-z_][\w.]*)\s*,(?!\s*[rRbBuU]?(['\"])[\w.]*\3\s*[,)])")
_TRAINING = re.compile(r"\.\s*training\s*=(?!=)")


def _scan_text(text: str) -> list[tuple[tuple[int, str, str], str]]:
    """The fallback for a source that does not parse: the same names, matched line by line."""
    found = []
    note = "; found by a text scan"
    for line, code in enumerate(re.split(r"\r\n|\r|\n", text), 1):  # line ends as Python counts them
        code = code.split("#", 1)[0]
        names = []
        for m in filter(None, map(_IMPORT.match, code.split(";"))):
            for part in m[2].replace("(", " ").replace(")", " ").split(","):
                name = part.split()[0] if part.split() else ""
                names.append(f"{m[1]}.{name}" if m[1] and name != "*" else m[1] or name)
        for m in _DOTTED.finditer(code):
            name = m[1]
            if "." in name or m[2]:  # one bare word counts only when called or used as a module
                names.append(name)
        for name in names:
            reached_as, reached = canonical(name)
            for key, rule in lookup(name) + (lookup(reached_as) if reached_as != name else []):
                found.append(((line, rule, key), _sentence("Mentions", key, rule, RULES[rule][0] + note)))
            if reached:
                found.append(((line, "module-reach", reached),
                              _sentence("Mentions", reached, "module-reach", RULES["module-reach"][0] + note)))
        for m in _GETATTR.finditer(code):
            if m[2] not in ("self", "cls"):
                found.append(((line, "dynamic-attr", m[1]), _sentence("Mentions", f"{m[1]} on {m[2]}", "dynamic-attr",
                                                                      RULES["dynamic-attr"][0] + note)))
        if _TRAINING.search(code):
            found.append(((line, "training-flag", "training"), _sentence("Mentions", ".training =", "training-flag",
                                                                         RULES["training-flag"][0] + note)))
        for m in _DEF.finditer(code):
            if m[1] in MAGIC:
                found.append(((line, "magic-methods", m[1]), _sentence("Defines", m[1], "magic-methods")))
            elif m[1] is None:
                found.append(((line, "torch-patch", m[2] or "torch.Tensor"),
                              _sentence("Assigns" if m[2] else "Subclasses", m[2] or "torch.Tensor", "torch-patch")))
    return found
