"""The integrity scan: silent on correct code, a flag with the right rule and line on every attack."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import EXERCISES, ROOT, SOLUTIONS
from test_corpus import VARIANTS, Case

from course.integrity import RULES, Flag, as_dicts, scan

CLEAN_FILES = sorted([*SOLUTIONS.glob("*.py"), *EXERCISES.glob("*.py"), *(ROOT / "samples" / "demo").glob("*.py")])


def rules(source: str | bytes) -> set[str]:
    data = source.encode() if isinstance(source, str) else source
    return {flag.rule for flag in scan(data, "submission.py")}


@pytest.mark.parametrize("path", CLEAN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_course_files_give_no_flags(path: Path):
    assert scan(path.read_bytes(), path.name) == []


@pytest.mark.parametrize("path", sorted(SOLUTIONS.glob("sec*.py")), ids=lambda p: p.name)
def test_text_fallback_is_silent_on_a_broken_reference(path: Path):
    """A syntax error sends the reference (docstrings, model.eval(), torch.no_grad()) to the text scan."""
    assert scan(path.read_bytes() + b"\ndef broken(:\n", path.name) == []


@pytest.mark.parametrize("case", [getattr(v, "values", (v,))[0] for v in VARIANTS], ids=lambda c: c.name)
def test_equivalent_variants_give_no_flags(case: Case):
    assert scan(case.text().encode("utf-8"), case.file) == []


BENIGN = [
    "model.eval()\nmodel.train()",
    "import torch\nfrom torch import nn\ny = torch.nn.functional.relu(nn.functional.linear(x, w))",
    "import torch\nwith torch.no_grad():\n    pass\nwith torch.inference_mode():\n    pass",
    "import torch\ng = torch.Generator().manual_seed(0)\ntorch.manual_seed(0)",
    "from torch.utils.data import DataLoader, random_split\nimport torch.utils.data as tud\ntud.Subset(d, [0])",
    "from torch import nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.__dict__.update({})\n    def __len__(self):\n        return 1\n"
    "    def __getitem__(self, i):\n        return i\n    def __repr__(self):\n        return 'M'",
    "def evaluate(model, loader, loss_fn):\n    return model.eval()",
    "def f(open=None, compile=False, exit=0):\n    return open, compile, exit",
    "import re\npattern = re.compile('x')\nimport torch\nfast = torch.compile",
    "import os\npath = os.path.join('a', os.path.basename('b'))",
    "import sys\nprint(sys.version, file=sys.stderr)",
    "import math, random, itertools, functools, collections, dataclasses, typing\nimport numpy as np\nnp.zeros(3)",
    "text = 'sys.modules open(\"/etc/passwd\") import ctypes'\n# import ctypes; os._exit(0)",
    "p = torch.nn.Parameter(torch.zeros(3))\np.grad = None\nx.data = y",
    "for inputs, targets in loader:\n    optimizer.zero_grad()\n    loss_fn(model(inputs), targets).backward()",
    "import torch\ntorch.backends.cudnn.deterministic = True\ntorch.set_num_threads(1)",
    "class Box:\n    pass\nBox.size = 3\ndef f(obj):\n    setattr(obj, 'x', 1)\n    obj.y = 2",
]


@pytest.mark.parametrize("source", BENIGN)
def test_normal_pytorch_code_gives_no_flags(source: str):
    assert scan(source.encode(), "ok.py") == []


HOSTILE = [  # (id, source, rule, line of the flag)
    ("sys_modules_plant", 'import sys; sys.modules["x"] = 1', "sys-modules", 1),
    ("sys_modules_alias", "import sys\nmods = sys.modules\nmods['torch'] = None", "sys-modules", 3),
    ("sys_modules_from", "from sys import modules", "sys-modules", 1),
    ("meta_path", "import sys\n\nsys.meta_path.insert(0, Finder())", "import-hook", 3),
    ("sys_path", 'import sys\nsys.path.insert(0, "/work/main/solutions")', "import-hook", 2),
    ("builtins_patch", "import builtins\nbuiltins.print = None", "builtins", 1),
    ("dunder_builtins", '__builtins__["len"] = lambda x: 0', "builtins", 1),
    ("gc_hunt", "import torch\n\nrefs = gc.get_objects()", "gc", 3),
    ("inspect_frame", "import inspect\nframe = inspect.currentframe()", "inspect-frames", 2),
    ("getframe", "sys._getframe(1)", "inspect-frames", 1),
    ("frame_walk", "def f():\n    try:\n        1 / 0\n    except Exception as e:\n"
                   "        return e.__traceback__.tb_frame.f_back.f_globals", "inspect-frames", 5),
    ("func_globals", "def f():\n    pass\nf.__globals__['torch'] = None", "inspect-frames", 3),
    ("subclasses_escape", "x = ().__class__.__base__.__subclasses__()", "inspect-frames", 1),
    ("ctypes", "import ctypes", "ctypes", 1),
    ("cffi", "\nfrom cffi import FFI", "ctypes", 2),
    ("os_exit", "import os\nos._exit(0)", "os-exit", 2),
    ("os_exit_alias", "import os as o\no._exit(3)", "os-exit", 2),
    ("os_exit_from", "from os import _exit as done\ndone(0)", "os-exit", 1),
    ("os_exit_getattr", 'getattr(__import__("os"), "_exit")(0)', "os-exit", 1),
    ("sys_exit", "import sys\n\n\nsys.exit(0)", "os-exit", 4),
    ("raise_system_exit", "def f():\n    raise SystemExit(0)", "os-exit", 2),
    ("atexit", "import atexit", "os-exit", 1),
    ("sigstop_self", "import os\nos.kill(os.getpid(), 19)", "signals", 2),
    ("signal_module", "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)", "signals", 1),
    ("subprocess", "import subprocess\nsubprocess.run(['ls'])", "subprocess", 1),
    ("os_system", "import os\nos.system('rm -rf /tmp/x')", "subprocess", 2),
    ("os_exec", "import os\nos.execv('/bin/sh', ['sh'])", "subprocess", 2),
    ("star_import", "from os import *\nsystem('id')", "subprocess", 2),
    ("fork", "import os\nif os.fork() == 0:\n    pass", "threads-processes", 2),
    ("fork_bare", "os.fork()", "threads-processes", 1),
    ("daemon_thread", "import threading", "threads-processes", 1),
    ("multiprocessing", "x = 1\nfrom multiprocessing import Process", "threads-processes", 2),
    ("socket", "import socket\nsocket.create_connection(('example.com', 80))", "socket", 2),
    ("urllib", "import urllib.request\nurllib.request.urlopen('http://x')", "socket", 1),
    ("requests", "import requests", "socket", 1),
    ("read_solution", 'open("/work/main/solutions/sec1_linear.py").read()', "file-access", 1),
    ("pathlib_read", "from pathlib import Path\n\nt = Path('/work/main/grader/test_sec1_linear.py').read_text()",
     "file-access", 3),
    ("listdir", "import os\nnames = os.listdir('/work/main/solutions')", "file-access", 2),
    ("write_fd1", "import os\nos.write(1, b'CGW1')", "file-access", 2),
    ("mmap", "import mmap", "file-access", 1),
    ("numpy_save", "import numpy as np\nnp.save('/tmp/x.npy', a)", "file-access", 2),
    ("patch_allclose", "import torch\ntorch.allclose = lambda *a, **k: True", "torch-patch", 2),
    ("patch_assert_close", "import torch\ntorch.testing.assert_close = lambda *a, **k: None", "torch-patch", 2),
    ("patch_tensor_eq", "import torch\ntorch.Tensor.__eq__ = lambda s, o: True", "torch-patch", 2),
    ("setattr_equal", 'import torch\nsetattr(torch, "equal", lambda a, b: True)', "torch-patch", 2),
    ("patch_from_alias", "from torch import nn\nnn.functional.relu = abs", "torch-patch", 2),
    ("patch_via_variable", "import torch\nt = torch\nt.equal = max", "torch-patch", 3),
    ("patch_vars", "import torch\nvars(torch)['allclose'] = max", "torch-patch", 2),
    ("tensor_subclass", "import torch\nclass T(torch.Tensor):\n    pass", "torch-patch", 2),
    ("tensor_subclass_from", "from torch import Tensor\n\nclass T(Tensor):\n    pass", "torch-patch", 3),
    ("mock_patch", "from unittest import mock\nmock.patch('torch.allclose', max).start()", "monkey-patch", 1),
    ("patch_numpy", "import numpy as np\nnp.allclose = lambda *a, **k: True", "monkey-patch", 2),
    ("patch_test_report", "import _pytest.reports\n_pytest.reports.TestReport.outcome = \"passed\"", "monkey-patch", 2),
    ("setattr_math", "import math\nsetattr(math, \"isclose\", max)", "monkey-patch", 2),
    ("always_equal", "class AlwaysEqual:\n    def __eq__(self, other):\n        return True", "magic-methods", 2),
    ("torch_function", "class T:\n    @classmethod\n    def __torch_function__(cls, f, t, a=(), k=None):\n"
                       "        return True", "magic-methods", 3),
    ("bool_in_class_body", "class T:\n    __bool__ = lambda self: True", "magic-methods", 2),
    ("class_swap", "x.__class__ = Liar", "magic-methods", 1),
    ("dunder_import", '__import__("os")._exit(0)', "dynamic-code", 1),
    ("exec", 'exec("print(1)")', "dynamic-code", 1),
    ("eval", 'y = 2\nx = eval("1 + 1")', "dynamic-code", 2),
    ("builtins_eval", 'import builtins\nbuiltins.eval("1")', "dynamic-code", 2),
    ("compile", 'code = compile("x = 1", "f", "exec")', "dynamic-code", 1),
    ("importlib", 'import importlib\nm = importlib.import_module("solutions.sec1_linear")', "dynamic-code", 1),
    ("pickle", "import pickle\n\npickle.loads(b'')", "pickle", 3),
    ("marshal", "import marshal", "pickle", 1),
    ("torch_load", "import torch\nstate = torch.load('/work/main/solutions/w.pt')", "pickle", 2),
    ("environ", "import os\ntoken = os.environ.get('TOKEN')", "env", 2),
    ("getenv", "import os\nhome = os.getenv('HOME')", "env", 2),
]


@pytest.mark.parametrize("source, rule, line", [pytest.param(*h[1:], id=h[0]) for h in HOSTILE])
def test_hostile_snippet_is_flagged(source: str, rule: str, line: int):
    flags = scan(source.encode(), "attack.py")
    assert (rule, line) in {(f.rule, f.line) for f in flags}, flags
    assert all(f.rule in RULES for f in flags)
    assert flags == sorted(flags, key=lambda f: f.line)
    for flag in flags:
        assert flag.detail[0].isupper() and flag.detail.endswith(".") and "\n" not in flag.detail


def test_file_access_names_the_path():
    [flag] = scan(b'x = 1\nopen("/work/main/solutions/sec1_linear.py").read()\n', "s.py")
    assert (flag.rule, flag.line) == ("file-access", 2)
    assert "/work/main/solutions/sec1_linear.py" in flag.detail


def test_a_hostile_line_inside_a_correct_file_is_flagged_on_its_line():
    text = (SOLUTIONS / "sec4_training.py").read_text(encoding="utf-8")
    old = "    model.eval()\n"
    line = text[: text.index(old)].count("\n") + 2
    source = text.replace(old, old + "    import os; os._exit(0)\n")
    flags = scan(source.encode(), "sec4_training.py")
    assert [(f.rule, f.line) for f in flags] == [("os-exit", line)]


def test_flags_are_sorted_by_line():
    source = b"import torch\ntorch.equal = max\nimport ctypes\nimport gc\nimport os\nos._exit(0)\n"
    assert [(f.line, f.rule) for f in scan(source, "s.py")] == [
        (2, "torch-patch"), (3, "ctypes"), (4, "gc"), (6, "os-exit")]


def test_syntax_error_falls_back_to_text():
    source = b"import torch\nimport ctypes\ndef broken(:\n    os._exit(0)\nx = eval('1')\nmodel.eval()\n"
    flags = scan(source, "broken.py")
    assert [(f.rule, f.line) for f in flags] == [("ctypes", 2), ("os-exit", 4), ("dynamic-code", 5)]
    assert all("text scan" in f.detail for f in flags)
    crlf = scan(source.replace(b"\n", b"\r\n").replace(b"import torch", b"import torch\x0c"), "crlf.py")
    assert [(f.rule, f.line) for f in crlf] == [("ctypes", 2), ("os-exit", 4), ("dynamic-code", 5)]


def test_non_utf8_source_falls_back_to_text():
    source = "# café\nimport ctypes\nfrom os import _exit\n".encode("latin-1")
    flags = scan(source, "latin.py")
    assert [(f.rule, f.line) for f in flags] == [("ctypes", 2), ("os-exit", 3)]
    assert scan(b"\x00\xff\xfe garbage\n", "bin.py") == []
    assert scan(b"", "empty.py") == []


def test_coding_line_is_honoured_like_python_does():
    source = "# -*- coding: latin-1 -*-\nimport ctypes\ns = 'é'\n".encode("latin-1")
    flags = scan(source, "latin.py")
    assert [(f.rule, f.line) for f in flags] == [("ctypes", 2)]
    assert "text scan" not in flags[0].detail  # parsed, not guessed


def test_scan_never_executes_the_source(tmp_path):
    marker = tmp_path / "ran"
    scan(f"open({str(marker)!r}, 'w').write('x')\n".encode(), "s.py")
    assert not marker.exists()


def test_as_dict_is_json_serializable():
    flags = scan(b"import ctypes\nopen('/etc/passwd')\n", "s.py")
    assert flags and all(isinstance(f, Flag) for f in flags)
    dicts = json.loads(json.dumps(as_dicts(flags)))
    assert dicts == [f.as_dict() for f in flags]
    assert dicts[0] == {"rule": "ctypes", "line": 1, "detail": flags[0].detail}
    with pytest.raises(AttributeError):
        flags[0].rule = "other"  # frozen
