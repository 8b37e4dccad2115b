"""Integrity scan: flag constructs in a submission that a correct solution never needs.

The scan is static: it parses the submitted bytes with `ast` (honouring a PEP 263 coding line, as
Python would when running them) and never executes them. Names are followed through imports,
aliases (`import os as o`, `m = sys.modules`), `getattr(x, "name")`, `vars(x)` and
`__import__("name")`. A source that does not parse, or is not valid in its encoding, gets a coarser
plain-text scan line by line instead (comments dropped, a bare word counted only when called), so a
scan never raises.

It informs the instructor, it never changes a score: containment and the judge-side checks keep a
hostile submission from earning points; the flags only say who tried, where, and with what.

Each flag has a stable rule id (see RULES). Judgment calls, chosen to stay silent on normal code:
- a module import is flagged only when the module itself is (`import ctypes`); `import os` and
  `import sys` are not, but each risky use is (`os._exit`, `os.environ`, `sys.modules`, ...);
- builtins such as `eval`, `open`, `exit` count only as bare names (or via `builtins.`) that the
  source does not bind itself: `model.eval()` and a parameter named `open` are fine;
- `os.path.join` and friends are string operations; `os.path.exists` and the like touch the disk;
- storing an attribute on an imported module or class is flagged (torch-patch for torch, else
  monkey-patch); on the submission's own objects (`self.fc1 = ...`, `self.__dict__`) it is not, nor
  on `torch.backends.*`, whose switches are meant to be set; `torch.__dict__`/`vars(torch)` are;
- `__len__`/`__getitem__` are part of the Dataset contract; comparison, truth, conversion and
  torch-hook dunders (`__eq__`, `__bool__`, `__torch_function__`, ...) are flagged.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_OS_FILES = ("open fdopen read write pread pwrite close closerange dup dup2 pipe remove unlink rename renames replace "
             "rmdir removedirs mkdir makedirs listdir scandir walk fwalk stat lstat chmod chown link symlink readlink "
             "truncate ftruncate utime access chdir getcwd mkfifo mknod sendfile memfd_create path.exists path.lexists "
             "path.isfile path.isdir path.islink path.ismount path.getsize path.getmtime path.getatime path.getctime "
             "path.samefile path.realpath").split()
RULES = {  # rule id: (why it matters, the dotted names it covers; a name covers everything under it)
    "sys-modules": ("the table of loaded modules", "sys.modules"),
    "import-hook": ("changes how modules are found", "sys.meta_path sys.path sys.path_hooks sys.path_importer_cache "
                    "site zipimport pkgutil"),
    "builtins": ("the interpreter's built-in namespace", "builtins __builtin__ __builtins__"),
    "gc": ("the garbage collector reaches every live object", "gc"),
    "inspect-frames": ("reaches into call frames or interpreter internals",
                       "inspect sys._getframe sys._current_frames sys.settrace sys.setprofile"),
    "ctypes": ("native code and raw memory", "ctypes _ctypes cffi torch.utils.cpp_extension torch.ops.load_library"),
    "os-exit": ("ends the process early", "os._exit os.abort sys.exit exit quit SystemExit atexit"),
    "signals": ("sends or handles signals", "signal os.kill os.killpg"),
    "subprocess": ("runs other programs", "subprocess _posixsubprocess pty os.system os.popen"),
    "threads-processes": ("starts threads or processes", "threading _thread multiprocessing concurrent asyncio "
                          "os.fork os.forkpty os.setsid os.setpgrp torch.multiprocessing"),
    "socket": ("network access", "socket ssl select selectors socketserver urllib urllib3 http requests httpx "
               "aiohttp ftplib smtplib xmlrpc websocket websockets torch.hub torch.distributed"),
    "file-access": ("file system access", "open builtins.open pathlib shutil tempfile glob fileinput mmap zipfile "
                    "tarfile sqlite3 io.open io.FileIO io.open_code codecs.open torch.save torch.from_file numpy.load "
                    "numpy.save numpy.savez numpy.loadtxt numpy.savetxt numpy.fromfile numpy.memmap numpy.genfromtxt "
                    + " ".join("os." + name for name in _OS_FILES)),
    "torch-patch": ("changes torch itself", "torch._C torch.library"),
    "monkey-patch": ("changes another module's code", "unittest.mock mock pytest _pytest"),
    "magic-methods": ("can make an object lie in comparisons or conversions", ""),
    "dynamic-code": ("runs or imports code chosen at run time", "exec eval compile __import__ importlib runpy "
                     "types.CodeType types.FunctionType builtins.exec builtins.eval builtins.compile "
                     "builtins.__import__"),
    "pickle": ("loading serialized objects can run code",
               "pickle _pickle cPickle marshal dill cloudpickle shelve copyreg joblib torch.load"),
    "env": ("environment variables", "os.environ os.environb os.getenv os.putenv os.unsetenv"),
}
NAMES = {name: rule for rule, (_, names) in RULES.items() for name in names.split()}
PREFIXES = {"os.exec": "subprocess", "os.spawn": "subprocess", "os.posix_spawn": "subprocess"}
ATTRS = {"__builtins__": "builtins", "as_subclass": "torch-patch", "_make_subclass": "torch-patch", **{
    name: "inspect-frames" for name in "f_back f_globals f_locals f_builtins f_code tb_frame tb_next gi_frame "
    "cr_frame ag_frame __globals__ __code__ __closure__ __subclasses__".split()}}
MAGIC = set("__eq__ __ne__ __lt__ __le__ __gt__ __ge__ __hash__ __bool__ __float__ __int__ __index__ __complex__ "
            "__round__ __abs__ __sub__ __rsub__ __torch_function__ __torch_dispatch__ __getattr__ __getattribute__ "
            "__instancecheck__ __subclasscheck__ __array__ __array_function__ __array_ufunc__ __del__ __reduce__ "
            "__reduce_ex__ __setstate__".split())
TENSOR_BASES = {"torch.Tensor", "torch._C.TensorBase", "torch._C._TensorBase", "torch.nn.Parameter",
                "torch.nn.parameter.Parameter", "torch.nn.Buffer"}
SETATTRS = {"setattr", "delattr", "object.__setattr__", "object.__delattr__", "type.__setattr__"}
IMPORTERS = {"__import__", "builtins.__import__", "importlib.import_module"}


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


def lookup(name: str) -> tuple[str, str] | None:
    """(matched name, rule) for a dotted name such as "os._exit" or "ctypes.CDLL", or None."""
    parts = name.split(".", 6)[:6]  # no rule names more than four parts: a 60,000-part chain costs nothing
    for i in range(len(parts), 0, -1):
        key = ".".join(parts[:i])
        if key in NAMES:
            return key, NAMES[key]
    return next(((name, rule) for prefix, rule in PREFIXES.items() if name.startswith(prefix)), None)


def scan(source: bytes, filename: str) -> list[Flag]:
    """Flag the constructs in one submitted file's source, sorted by line. Never runs it, never raises."""
    try:
        tree = ast.parse(source, filename)  # bytes: decoded as Python would, coding line included
        found = _Scan(tree).found
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        found = _scan_text(source.decode("utf-8", errors="replace"))
    flags = {(line, rule, key): Flag(rule, line, detail) for (line, rule, key), detail in reversed(found)}
    return sorted(flags.values(), key=lambda f: (f.line, f.rule, f.detail))


def _sentence(verb: str, what: str, rule: str, note: str = "") -> str:
    return f"{verb} {what} ({note or RULES[rule][0]})."


class _Scan:
    """One pass over a parsed module; `found` lists ((line, rule, key), detail), first seen first."""

    def __init__(self, tree: ast.AST) -> None:
        self.found: list[tuple[tuple[int, str, str], str]] = []
        self.names: dict[int, str | None] = {}  # id(node) -> its dotted name (the tree outlives the scan)
        self.alias: dict[str, str] = {}  # local name -> the dotted name it stands for
        self.star: list[str] = []  # modules imported with *
        self.modules = {"torch", "sys", "os"}  # top-level modules it imports (attributes stored on them patch them)
        self.bound: set[str] = set()  # names the source binds itself (variables, parameters, defs)
        nodes = list(ast.walk(tree))  # parents before children
        for node in nodes:
            if isinstance(node, ast.Import):
                for a in node.names:
                    self.alias[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    if a.name == "*":
                        self.star.append(node.module)
                    else:
                        self.alias[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                self.bound.add(node.id)
            elif isinstance(node, ast.arg):
                self.bound.add(node.arg)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.bound.add(node.name)
            elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
                self.bound.add(node.name)
        self.modules.update(name.split(".")[0] for name in self.alias.values())
        for node in sorted((n for n in nodes if isinstance(n, ast.Assign)), key=lambda n: n.lineno):
            if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                target = self.dotted(node.value)
                if target:
                    self.alias[node.targets[0].id] = target  # m = sys.modules; t = torch
        self.names.clear()  # worked out before every alias was known
        for node in nodes:
            self.visit(node)

    def add(self, node: ast.AST, rule: str, key: str, detail: str) -> None:
        self.found.append(((getattr(node, "lineno", 0), rule, key), detail))

    def dotted(self, node: ast.AST) -> str | None:
        """The dotted name an expression stands for ("os._exit"), or None for anything else (each node
        worked out once: a chain a.b.c is asked about from every one of its links)."""
        key = id(node)
        if key not in self.names:
            self.names[key] = self._dotted(node)
        return self.names[key]

    def _dotted(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            if node.id in self.alias or node.id in self.bound:
                return self.alias.get(node.id)
            return next((f"{m}.{node.id}" for m in self.star if lookup(f"{m}.{node.id}")), node.id)
        if isinstance(node, ast.Attribute):
            base = self.dotted(node.value)
            return base and f"{base}.{node.attr}"
        if isinstance(node, ast.Call) and node.args:
            func, first, text = self.dotted(node.func), node.args[0], _literal(node.args[1:2])
            if func in IMPORTERS and _literal([first]):
                return _literal([first])  # __import__("os")
            if func == "getattr" and text:
                base = self.dotted(first)
                return base and f"{base}.{text}"  # getattr(os, "_exit")
            if func == "vars" and len(node.args) == 1:
                base = self.dotted(first)
                return base and f"{base}.__dict__"
        return None

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import) or isinstance(node, ast.ImportFrom) and node.module and not node.level:
            module = getattr(node, "module", None)
            for a in node.names:
                name = a.name if module is None else module if a.name == "*" else f"{module}.{a.name}"
                if hit := lookup(name):
                    self.add(node, hit[1], hit[0], _sentence("Imports", name, hit[1]))
        elif isinstance(node, ast.Call):
            func, arg = self.dotted(node.func), _literal(node.args[:1])
            if func and (hit := lookup(func)):
                self.add(node, hit[1], hit[0], _sentence("Calls", f"{func}({arg!r})" if arg else func, hit[1]))
            if func in SETATTRS and node.args and (target := self.dotted(node.args[0])):
                self.patch(node, target, f"Calls {func} on")
        elif isinstance(node, (ast.Name, ast.Attribute)):
            name = self.dotted(node)
            if hit := name and lookup(name):
                self.add(node, hit[1], hit[0], _sentence("Uses", name, hit[1]))
            elif _is_torch(name) and name.endswith(".__dict__"):
                self.add(node, "torch-patch", name, _sentence("Uses", name, "torch-patch"))
            if isinstance(node, ast.Attribute) and node.attr in ATTRS:
                self.add(node, ATTRS[node.attr], node.attr, _sentence("Uses", "." + node.attr, ATTRS[node.attr]))
            if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
                if node.attr == "__class__":
                    self.add(node, "magic-methods", "__class__", _sentence("Assigns", "__class__", "magic-methods"))
                elif self.dotted(node.value) and not hit:
                    self.patch(node, name, "Assigns")
        elif isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load):
            if _is_torch(base := self.dotted(node.value)):
                self.patch(node, base, "Assigns into")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in MAGIC:
            self.add(node, "magic-methods", node.name, _sentence("Defines", node.name, "magic-methods"))
        elif isinstance(node, ast.ClassDef):
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


def _literal(args: list[ast.expr]) -> str | None:
    return args[0].value if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str) else None


def _is_torch(name: str | None) -> bool:
    return bool(name) and (name == "torch" or name.startswith("torch."))


_IMPORT = re.compile(r"\s*(?:from\s+([\w.]+)\s+)?import\s+(.+)")
_DOTTED = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*(\(?)")
_DEF = re.compile(r"\bdef\s+(__\w+__)|\bclass\s+\w+\s*\([^)]*\btorch\s*\.\s*Tensor\b|^\s*(torch(?:\.\w+)+)\s*=[^=]")


def _scan_text(text: str) -> list[tuple[tuple[int, str, str], str]]:
    """The fallback for a source that does not parse: the same names, matched line by line."""
    found = []
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
            if hit := lookup(name):
                found.append(((line, hit[1], hit[0]), _sentence("Mentions", hit[0], hit[1],
                                                                RULES[hit[1]][0] + "; found by a text scan")))
        for m in _DEF.finditer(code):
            if m[1] in MAGIC:
                found.append(((line, "magic-methods", m[1]), _sentence("Defines", m[1], "magic-methods")))
            elif m[1] is None:
                found.append(((line, "torch-patch", m[2] or "torch.Tensor"),
                              _sentence("Assigns" if m[2] else "Subclasses", m[2] or "torch.Tensor", "torch-patch")))
    return found
