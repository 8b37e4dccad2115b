"""The integrity scan: silent on correct code, a flag with the right rule and line on every attack."""
from __future__ import annotations

import gc
import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import CLASS, EXERCISES, ROOT, SOLUTIONS
from corpus import VARIANTS
from corpus import Case as Variant
from integrity_corpus import HONEST

from course.engine.integrity import RULES, Flag, as_dicts, scan

SAMPLES = ROOT / "samples"
CLEAN_FILES = sorted([*SOLUTIONS.glob("*.py"), *EXERCISES.glob("*.py"), *SAMPLES.glob("*/*.py"),
                      *SAMPLES.glob("*/*/*.py")])  # every submission in samples/ (make_class.py is a build tool)


def zipped(member: str | None = None) -> list[str] | bytes:
    """The names in the zipped sample submission, or one member's bytes."""
    with zipfile.ZipFile(CLASS / "gia.zip") as archive:
        return sorted(archive.namelist()) if member is None else archive.read(member)


@pytest.mark.parametrize("path", CLEAN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_course_files_give_no_flags(path: Path):
    """References, stubs and every sample submission are what students hand in honestly."""
    assert scan(path.read_bytes(), path.name) == []


@pytest.mark.parametrize("path", sorted(SOLUTIONS.glob("sec*.py")), ids=lambda p: p.name)
def test_text_fallback_is_silent_on_a_broken_reference(path: Path):
    """A syntax error sends the reference (docstrings, model.eval(), torch.no_grad()) to the text scan."""
    assert scan(path.read_bytes() + b"\ndef broken(:\n", path.name) == []


@pytest.mark.parametrize("member", zipped())
def test_zipped_sample_submission_gives_no_flags(member: str):
    """The sample class's zipped entry is as silent as the folders."""
    assert scan(zipped(member), member) == []


@pytest.mark.parametrize("case", [getattr(v, "values", (v,))[0] for v in VARIANTS], ids=lambda c: c.name)
def test_equivalent_variants_give_no_flags(case: Variant):
    """The grader's corpus of correct rewrites of the reference raises nothing."""
    assert scan(case.text().encode("utf-8"), case.file) == []


@dataclass(frozen=True)
class Case:
    """One row of the scan's table: a source, and the rule it must raise on a line ("" for an honest source,
    which must raise nothing at all)."""

    name: str
    source: str
    rule: str = ""
    line: int = 0


HONEST_SNIPPETS = [
    Case("eval_and_train_methods", "model.eval()\nmodel.train()"),
    Case("functional_calls",
         "import torch\nfrom torch import nn\ny = torch.nn.functional.relu(nn.functional.linear(x, w))"),
    Case("grad_contexts", "import torch\nwith torch.no_grad():\n    pass\nwith torch.inference_mode():\n    pass"),
    Case("seeded_generator", "import torch\ng = torch.Generator().manual_seed(0)\ntorch.manual_seed(0)"),
    Case("data_utilities", "from torch.utils.data import DataLoader, random_split\nimport torch.utils.data as tud\n"
         "tud.Subset(d, [0])"),
    Case("dataset_dunders_and_own_dict", "from torch import nn\nclass M(nn.Module):\n    def __init__(self):\n"
         "        super().__init__()\n        self.__dict__.update({})\n    def __len__(self):\n        return 1\n"
         "    def __getitem__(self, i):\n        return i\n    def __repr__(self):\n        return 'M'"),
    Case("evaluate_returns_eval", "def evaluate(model, loader, loss_fn):\n    return model.eval()"),
    Case("parameters_named_like_builtins", "def f(open=None, compile=False, exit=0):\n    return open, compile, exit"),
    Case("re_and_torch_compile", "import re\npattern = re.compile('x')\nimport torch\nfast = torch.compile"),
    Case("os_path_strings", "import os\npath = os.path.join('a', os.path.basename('b'))"),
    Case("print_to_stderr", "import sys\nprint(sys.version, file=sys.stderr)"),
    Case("ordinary_imports", "import math, random, itertools, functools, collections, dataclasses, typing\n"
         "import numpy as np\nnp.zeros(3)"),
    Case("names_in_strings_and_comments", "text = 'sys.modules open(\"/etc/passwd\") import ctypes'\n"
         "# import ctypes; os._exit(0)"),
    Case("parameter_grad_and_data", "p = torch.nn.Parameter(torch.zeros(3))\np.grad = None\nx.data = y"),
    Case("training_loop", "for inputs, targets in loader:\n    optimizer.zero_grad()\n"
         "    loss_fn(model(inputs), targets).backward()"),
    Case("backend_switches", "import torch\ntorch.backends.cudnn.deterministic = True\ntorch.set_num_threads(1)"),
    Case("own_class_and_parameter_attributes", "class Box:\n    pass\nBox.size = 3\ndef f(obj):\n"
         "    setattr(obj, 'x', 1)\n    obj.y = 2"),
    Case("getattr_on_self_in_forward", "from torch import nn\nclass Net(nn.Module):\n    def forward(self, x):\n"
         "        for i in range(1, 3):\n            x = getattr(self, f'fc{i}')(x).relu()\n        return x"),
    Case("setattr_on_self_in_init", "from torch import nn\nclass Net(nn.Module):\n    def __init__(self, sizes):\n"
         "        super().__init__()\n        for i, (a, b) in enumerate(zip(sizes, sizes[1:]), 1):\n"
         "            setattr(self, 'fc' + str(i), nn.Linear(a, b))"),
    Case("getattr_on_a_local_object", "def f(names):\n    row = type('Row', (), {})()\n    for n in names:\n"
         "        setattr(row, n, 0)\n    return [getattr(row, n) for n in names]"),
    Case("module_constant_as_a_name", "import torch.nn.functional as F\nACTIVATION = 'relu'\n"
         "def act(x):\n    return getattr(F, ACTIVATION)(x)"),
    Case("getattr_literals_on_the_graders_objects",
         "def f(model, loader):\n    n = len(getattr(loader, 'dataset', []))\n"
         "    return hasattr(model, 'fc1'), n"),
    Case("learning_rate_by_param_groups", "def decay(optimizer):\n    for group in optimizer.param_groups:\n"
         "        group['lr'] *= 0.5"),
    Case("manual_sgd_step", "import torch\ndef sgd(model, lr):\n    with torch.no_grad():\n"
         "        for p in model.parameters():\n            p.data -= lr * p.grad\n            p.grad = None"),
    Case("training_flag_read_and_train_false", "def evaluate(model):\n    was_training = model.training\n"
         "    model.train(False)\n    return was_training"),
    Case("global_write_of_an_own_name", "def helper():\n    return 1\nglobals()['helper'] = helper"),
    Case("vars_of_parsed_arguments", "import argparse\nif __name__ == '__main__':\n"
         "    args = vars(argparse.ArgumentParser().parse_args())\n    print(args)"),
    Case("torch_submodules_named_like_stdlib", "import torch\nw = torch.signal.windows.hann(8)\n"
         "torch.random.manual_seed(0)\ny = torch.select(w, 0, 1)"),
    Case("type_name_and_class_name", "def describe(model):\n    return type(model).__name__, model.__class__.__name__"),
    Case("init_function_applied", "from torch import nn\ndef init(m):\n    if isinstance(m, nn.Linear):\n"
         "        nn.init.zeros_(m.bias)\n        m.weight.data.fill_(0.01)\ndef setup(model):\n    model.apply(init)"),
]

HONEST_FILES = [Case(name, source) for name, (_, source) in HONEST.items()]

HOSTILE = [
    Case("sys_modules_plant", 'import sys; sys.modules["x"] = 1', "sys-modules", 1),
    Case("sys_modules_alias", "import sys\nmods = sys.modules\nmods['torch'] = None", "sys-modules", 3),
    Case("sys_modules_from", "from sys import modules", "sys-modules", 1),
    Case("meta_path", "import sys\n\nsys.meta_path.insert(0, Finder())", "import-hook", 3),
    Case("sys_path", 'import sys\nsys.path.insert(0, "/work/main/solutions")', "import-hook", 2),
    Case("builtins_patch", "import builtins\nbuiltins.print = None", "builtins", 1),
    Case("dunder_builtins", '__builtins__["len"] = lambda x: 0', "builtins", 1),
    Case("gc_hunt", "import torch\n\nrefs = gc.get_objects()", "gc", 3),
    Case("inspect_frame", "import inspect\nframe = inspect.currentframe()", "inspect-frames", 2),
    Case("getframe", "sys._getframe(1)", "inspect-frames", 1),
    Case("frame_walk", "def f():\n    try:\n        1 / 0\n    except Exception as e:\n"
         "        return e.__traceback__.tb_frame.f_back.f_globals", "inspect-frames", 5),
    Case("func_globals", "def f():\n    pass\nf.__globals__['torch'] = None", "inspect-frames", 3),
    Case("subclasses_escape", "x = ().__class__.__base__.__subclasses__()", "inspect-frames", 1),
    Case("ctypes", "import ctypes", "ctypes", 1),
    Case("cffi", "\nfrom cffi import FFI", "ctypes", 2),
    Case("os_exit", "import os\nos._exit(0)", "os-exit", 2),
    Case("os_exit_alias", "import os as o\no._exit(3)", "os-exit", 2),
    Case("os_exit_from", "from os import _exit as done\ndone(0)", "os-exit", 1),
    Case("os_exit_getattr", 'getattr(__import__("os"), "_exit")(0)', "os-exit", 1),
    Case("sys_exit", "import sys\n\n\nsys.exit(0)", "os-exit", 4),
    Case("raise_system_exit", "def f():\n    raise SystemExit(0)", "os-exit", 2),
    Case("atexit", "import atexit", "os-exit", 1),
    Case("sigstop_self", "import os\nos.kill(os.getpid(), 19)", "signals", 2),
    Case("signal_module", "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)", "signals", 1),
    Case("subprocess", "import subprocess\nsubprocess.run(['ls'])", "subprocess", 1),
    Case("os_system", "import os\nos.system('rm -rf /tmp/x')", "subprocess", 2),
    Case("os_exec", "import os\nos.execv('/bin/sh', ['sh'])", "subprocess", 2),
    Case("star_import", "from os import *\nsystem('id')", "subprocess", 2),
    Case("fork", "import os\nif os.fork() == 0:\n    pass", "threads-processes", 2),
    Case("fork_bare", "os.fork()", "threads-processes", 1),
    Case("daemon_thread", "import threading", "threads-processes", 1),
    Case("multiprocessing", "x = 1\nfrom multiprocessing import Process", "threads-processes", 2),
    Case("socket", "import socket\nsocket.create_connection(('example.com', 80))", "socket", 2),
    Case("urllib", "import urllib.request\nurllib.request.urlopen('http://x')", "socket", 1),
    Case("requests", "import requests", "socket", 1),
    Case("read_solution", 'open("/work/main/solutions/sec1_linear.py").read()', "file-access", 1),
    Case("pathlib_read", "from pathlib import Path\n\nt = Path('/work/main/grader/test_sec1_linear.py').read_text()",
         "file-access", 3),
    Case("listdir", "import os\nnames = os.listdir('/work/main/solutions')", "file-access", 2),
    Case("write_fd1", "import os\nos.write(1, b'CGW1')", "file-access", 2),
    Case("mmap", "import mmap", "file-access", 1),
    Case("numpy_save", "import numpy as np\nnp.save('/tmp/x.npy', a)", "file-access", 2),
    Case("patch_allclose", "import torch\ntorch.allclose = lambda *a, **k: True", "torch-patch", 2),
    Case("patch_assert_close", "import torch\ntorch.testing.assert_close = lambda *a, **k: None", "torch-patch", 2),
    Case("patch_tensor_eq", "import torch\ntorch.Tensor.__eq__ = lambda s, o: True", "torch-patch", 2),
    Case("setattr_equal", 'import torch\nsetattr(torch, "equal", lambda a, b: True)', "torch-patch", 2),
    Case("patch_from_alias", "from torch import nn\nnn.functional.relu = abs", "torch-patch", 2),
    Case("patch_via_variable", "import torch\nt = torch\nt.equal = max", "torch-patch", 3),
    Case("patch_vars", "import torch\nvars(torch)['allclose'] = max", "torch-patch", 2),
    Case("tensor_subclass", "import torch\nclass T(torch.Tensor):\n    pass", "torch-patch", 2),
    Case("tensor_subclass_from", "from torch import Tensor\n\nclass T(Tensor):\n    pass", "torch-patch", 3),
    Case("mock_patch", "from unittest import mock\nmock.patch('torch.allclose', max).start()", "monkey-patch", 1),
    Case("patch_numpy", "import numpy as np\nnp.allclose = lambda *a, **k: True", "monkey-patch", 2),
    Case("patch_test_report", "import _pytest.reports\n_pytest.reports.TestReport.outcome = \"passed\"",
         "monkey-patch", 2),
    Case("setattr_math", "import math\nsetattr(math, \"isclose\", max)", "monkey-patch", 2),
    Case("always_equal", "class AlwaysEqual:\n    def __eq__(self, other):\n        return True", "magic-methods", 2),
    Case("torch_function", "class T:\n    @classmethod\n    def __torch_function__(cls, f, t, a=(), k=None):\n"
         "        return True", "magic-methods", 3),
    Case("bool_in_class_body", "class T:\n    __bool__ = lambda self: True", "magic-methods", 2),
    Case("class_swap", "x.__class__ = Liar", "magic-methods", 1),
    Case("dunder_import", '__import__("os")._exit(0)', "dynamic-code", 1),
    Case("exec", 'exec("print(1)")', "dynamic-code", 1),
    Case("eval", 'y = 2\nx = eval("1 + 1")', "dynamic-code", 2),
    Case("builtins_eval", 'import builtins\nbuiltins.eval("1")', "dynamic-code", 2),
    Case("compile", 'code = compile("x = 1", "f", "exec")', "dynamic-code", 1),
    Case("importlib", 'import importlib\nm = importlib.import_module("solutions.sec1_linear")', "dynamic-code", 1),
    Case("pickle", "import pickle\n\npickle.loads(b'')", "pickle", 3),
    Case("marshal", "import marshal", "pickle", 1),
    Case("torch_load", "import torch\nstate = torch.load('/work/main/solutions/w.pt')", "pickle", 2),
    Case("environ", "import os\ntoken = os.environ.get('TOKEN')", "env", 2),
    Case("getenv", "import os\nhome = os.getenv('HOME')", "env", 2),
    # attribute names built at run time: flagged on modules and the grader's objects, and folded to be checked
    Case("getattr_concatenated", 'import torch\nf = getattr(torch, "_" + "equal")', "dynamic-attr", 2),
    Case("getattr_joined", 'import torch\n\nf = getattr(torch, "".join(["_", "eq", "ual"]))', "dynamic-attr", 3),
    Case("getattr_base64", 'import base64, torch\nf = getattr(torch, base64.b64decode("X2VxdWFs").decode())',
         "dynamic-attr", 2),
    Case("getattr_bytes_list", 'import torch\nf = getattr(torch, bytes([95, 101, 113, 117, 97, 108]).decode())',
         "dynamic-attr", 2),
    Case("getattr_chr", 'import torch\nf = getattr(torch, chr(95) + "equal")', "dynamic-attr", 2),
    Case("getattr_fstring", 'import torch\nstem = "equal"\nf = getattr(torch, f"_{stem}")', "dynamic-attr", 3),
    Case("getattr_str_format", 'import torch\nf = getattr(torch, "{}{}".format("_", "equal"))', "dynamic-attr", 2),
    Case("getattr_reversed", 'import torch\nf = getattr(torch, "lauqe_"[::-1])', "dynamic-attr", 2),
    Case("getattr_rot13", 'import codecs, torch\nf = getattr(torch, codecs.decode("_rdhny", "rot13"))',
         "dynamic-attr", 2),
    Case("getattr_map_chr_folds_to_exit", 'import os\ngetattr(os, "".join(map(chr, [95, 101, 120, 105, 116])))(0)',
         "os-exit", 2),
    Case("getattr_runtime_name_on_a_parameter", "def check(model, name):\n    return getattr(model, name)",
         "dynamic-attr", 2),
    Case("getattr_runtime_name_on_a_module", "import torch\ndef pick(name):\n    return getattr(torch.testing, name)",
         "dynamic-attr", 3),
    Case("hasattr_runtime_name_on_sys", "import sys\nkey = input()\nfound = hasattr(sys, key)", "dynamic-attr", 3),
    Case("getattr_passed_to_reduce",
         'import functools, torch\nm = functools.reduce(getattr, ["serialization", "os"], torch)',
         "dynamic-attr", 2),
    Case("attrgetter_runtime_name", "import operator\nget = operator.attrgetter(name)", "dynamic-attr", 2),
    Case("getattribute_runtime_name", "import torch\nf = torch.__getattribute__(name)", "dynamic-attr", 2),
    Case("setattr_runtime_name_on_torch", "import torch\ndef plant(name, fn):\n    setattr(torch, name, fn)",
         "torch-patch", 3),
    # namespaces rewritten
    Case("module_dict_update", "import torch.testing\ntorch.testing.__dict__.update(assert_close=print)",
         "torch-patch", 2),
    Case("numpy_dict_update", "import numpy\nvars(numpy).update(allclose=max)", "namespace", 2),
    Case("vars_item_store", "def plant(x, key, value):\n    vars(x)[key] = value", "namespace", 2),
    Case("globals_rebinds_an_import", "import torch\nglobals()['torch'] = None", "namespace", 2),
    Case("globals_update", "globals().update(linear_forward=print)", "namespace", 1),
    Case("object_setattr_on_a_module", "import torch\nobject.__setattr__(torch, 'equal', max)", "namespace", 2),
    Case("type_setattr_on_tensor", "import torch\ntype.__setattr__(torch.Tensor, '__eq__', max)", "namespace", 2),
    Case("sys_modules_entry_dict", "import sys\n\nsys.modules['course.sandbox.probes'].__dict__['PROBES'] = {}",
         "namespace", 3),
    Case("module_reloaded", "import importlib, torch\nimportlib.reload(torch)", "namespace", 2),
    Case("function_defaults_rewritten", "def f(g):\n    g.__defaults__ = (1,)", "inspect-frames", 2),
    Case("closure_cell_read", "def f(g):\n    return g.__closure__[0].cell_contents", "inspect-frames", 2),
    Case("code_object_built", "import types\ng = types.FunctionType(f.__code__, {})", "dynamic-code", 2),
    Case("caller_locals_written", "import sys\nsys._getframe(1).f_locals['x'] = 1", "inspect-frames", 2),
    Case("builtins_through_a_builtin", "b = print.__self__\nb.__import__('os')", "inspect-frames", 1),
    # risky modules reached through other modules
    Case("os_through_torch_serialization", "import torch\ntorch.serialization.os._exit(0)", "module-reach", 2),
    Case("os_exit_through_torch_serialization", "import torch\ntorch.serialization.os._exit(0)", "os-exit", 2),
    Case("os_through_torch_utils_data", "import torch\ntorch.utils.data.os.system('id')", "subprocess", 2),
    Case("os_through_numpy", "import numpy as np\nnp.os.environ['X'] = '1'", "env", 2),
    Case("os_imported_from_torch", "from torch.serialization import os as o\no.dup2(3, 1)", "module-reach", 1),
    Case("multiprocessing_imported_from_the_dataloader",
         "from torch.utils.data.dataloader import python_multiprocessing as mp\n\np = mp.Process()", "module-reach", 1),
    Case("os_through_a_folded_getattr",
         'import codecs, torch\ngetattr(torch.serialization, codecs.decode("bf", "rot13"))',
         "module-reach", 2),
    Case("posix_for_os", "import posix\nposix.write(1, b'x')", "module-reach", 1),
    Case("os_from_sys_modules", "import sys\nsys.modules['os']._exit(0)", "os-exit", 2),
    Case("dunder_import_folded", '__import__("o" + "s").system("id")', "subprocess", 1),
    Case("import_module_subprocess", "import importlib\n\nimportlib.import_module('subprocess').run(['id'])",
         "subprocess", 3),
    Case("import_from_builtins_dict", "__builtins__['__import__']('os')", "dynamic-code", 1),
    Case("torch_multiprocessing", "import torch\n\ntorch.multiprocessing.Process(target=print)",
         "threads-processes", 3),
    # descriptors
    Case("dup2_over_stdout", "import os\nos.dup2(3, 1)", "descriptors", 2),
    Case("write_to_descriptor_3", "import os\nos.write(3, b'frame')", "descriptors", 2),
    Case("fdopen", "import os\nf = os.fdopen(3, 'wb')", "descriptors", 2),
    Case("open_an_int", "f = open(3, 'wb')", "descriptors", 1),
    Case("open_a_fileno", "import sys\nf = open(sys.stdout.fileno(), 'wb', closefd=False)", "descriptors", 2),
    Case("socket_on_a_descriptor", "import socket\ns = socket.socket(fileno=3)", "descriptors", 2),
    Case("socket_fromfd", "import socket\ns = socket.fromfd(3, socket.AF_UNIX, socket.SOCK_STREAM)", "descriptors", 2),
    Case("socket_recv_fds", "import socket\nmsg = socket.recv_fds(s, 1, 1)", "descriptors", 2),
    Case("set_inheritable", "import os\nos.set_inheritable(3, True)", "descriptors", 2),
    Case("fcntl", "import fcntl", "descriptors", 1),
    Case("raw_socket_module", "import _socket", "descriptors", 1),
    Case("memfd_create", "import os\nfd = os.memfd_create('x')", "descriptors", 2),
    Case("pidfd_open", "import os\nfd = os.pidfd_open(1)", "descriptors", 2),
    Case("killpg", "import os\nos.killpg(0, 9)", "signals", 2),
    # process and session control
    Case("setpgid", "import os\nos.setpgid(0, 0)", "process-control", 2),
    Case("setsid", "import os\nos.setsid()", "process-control", 2),
    Case("forkpty", "import os\npid, fd = os.forkpty()", "threads-processes", 2),
    Case("posix_spawn", "import os\nos.posix_spawn('/bin/sh', ['sh'], {})", "subprocess", 2),
    Case("execl", "import os\nos.execl('/bin/sh', 'sh')", "subprocess", 2),
    Case("spawnv", "import os\nos.spawnv(os.P_NOWAIT, '/bin/sh', ['sh'])", "subprocess", 2),
    Case("pty_spawn", "import pty\npty.spawn('sh')", "subprocess", 1),
    Case("pthread_kill", "import signal, threading\nsignal.pthread_kill(threading.main_thread().ident, 9)",
         "signals", 2),
    Case("prctl_through_ctypes", "import ctypes\nlibc = ctypes.CDLL(None)\nlibc.prctl(1, 9)", "process-control", 3),
    # started while the file is imported, or run later
    Case("thread_started_at_import", "import threading\nthreading.Thread(target=print, daemon=True).start()",
         "at-import", 2),
    Case("thread_bound_then_started", "import threading\nt = threading.Thread(target=print)\nt.start()",
         "at-import", 3),
    Case("thread_subclass_started", "import threading\nclass W(threading.Thread):\n    pass\nW().start()",
         "at-import", 4),
    Case("start_new_thread", "import _thread\n_thread.start_new_thread(print, ())", "at-import", 2),
    Case("fork_at_import", "import os\npid = os.fork()", "at-import", 2),
    Case("process_in_a_class_body", "import multiprocessing\nclass C:\n    p = multiprocessing.Process(target=print)",
         "at-import", 3),
    Case("atexit_register", "import atexit\natexit.register(print)", "callbacks", 2),
    Case("settrace", "import sys\nsys.settrace(lambda *a: None)", "callbacks", 2),
    Case("threading_settrace", "import threading\nthreading.settrace(lambda *a: None)", "callbacks", 2),
    Case("audit_hook", "import sys\nsys.addaudithook(lambda *a: None)", "callbacks", 2),
    Case("weakref_finalize", "import weakref\nweakref.finalize(object(), print)", "callbacks", 2),
    Case("finalizer_method", "class A:\n    def __del__(self):\n        pass", "magic-methods", 2),
    # the grader's objects
    Case("training_flag_by_hand", "def evaluate(model, loader, loss_fn):\n    model.training = False",
         "training-flag", 2),
    Case("training_flag_on_every_module",
         "def evaluate(model):\n    for m in model.modules():\n        m.training = False",
         "training-flag", 3),
    Case("training_flag_through_object_setattr",
         "def evaluate(model):\n    object.__setattr__(model, 'training', False)",
         "training-flag", 2),
    Case("training_flag_through_dict", "def evaluate(model):\n    model.__dict__['training'] = False",
         "training-flag", 2),
    Case("training_flag_folded_name", "def evaluate(model):\n    setattr(model, 'train' + 'ing', False)",
         "training-flag", 2),
    Case("optimizer_attribute_set", "def train_one_epoch(model, loader, loss_fn, optimizer):\n    optimizer.steps = 5",
         "grader-object", 2),
    Case("optimizer_counter_bumped", "def train_one_epoch(model, loader, loss_fn, opt):\n    opt.steps += 1",
         "grader-object", 2),
    Case("optimizer_dict_written", "def train_one_epoch(model, loader, loss_fn, optimizer):\n"
         "    optimizer.__dict__['calls'] = 3", "grader-object", 2),
    Case("optimizer_vars_updated", "def fit(model, loader, loss_fn, optimizer):\n    vars(optimizer).update(calls=2)",
         "grader-object", 2),
    Case("optimizer_step_replaced", "def fit(model, loader, loss_fn, optimizer):\n    optimizer.step = lambda: None",
         "grader-object", 2),
    Case("optimizer_by_annotation", "import torch\ndef f(model, o: torch.optim.Optimizer):\n    o.count = 1",
         "grader-object", 3),
    Case("optimizer_state_written", "def f(model, optimizer):\n    optimizer.state['step'] = 9", "grader-object", 2),
    Case("model_forward_replaced", "def gradients(model, x, target, loss_fn):\n    model.forward = lambda x: x",
         "grader-object", 2),
    Case("model_counter_bumped", "def f(model, x):\n    model.calls += 1", "grader-object", 2),
    Case("train_replaced_on_the_class", "def f(model):\n    type(model).train = lambda self, mode=True: self",
         "grader-object", 2),
    # magic methods and patches the scan cannot name the target of
    Case("magic_method_assigned_to_own_class", "class Liar:\n    pass\nLiar.__eq__ = lambda s, o: True",
         "magic-methods", 3),
    Case("magic_method_set_with_setattr", "class Liar:\n    pass\nsetattr(Liar, '__eq__', lambda s, o: True)",
         "magic-methods", 3),
    Case("class_made_by_type", "Liar = type('Liar', (), {'__eq__': lambda s, o: True})", "magic-methods", 1),
    Case("tensor_subclass_made_by_type", "import torch\nT = type('T', (torch.Tensor,), {})", "torch-patch", 2),
    Case("probe_patched_through_a_function", "import torch\ndef m():\n    return torch\nm().equal = max",
         "monkey-patch", 4),
    Case("os_exit_through_a_container", "import os\nd = {'o': os}\nd['o']._exit(0)", "os-exit", 3),
]

CASES = [*HONEST_SNIPPETS, *HONEST_FILES, *HOSTILE]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_scan_table(case: Case):
    """An honest row raises nothing; a hostile row raises its rule on its line, in well-formed sentences."""
    flags = scan(case.source.encode(), "submission.py")
    if not case.rule:
        assert flags == [], flags
        return
    assert (case.rule, case.line) in {(f.rule, f.line) for f in flags}, flags
    assert all(f.rule in RULES for f in flags)
    assert flags == sorted(flags, key=lambda f: f.line)
    for flag in flags:
        assert flag.detail[0].isupper() and flag.detail.endswith(".") and "\n" not in flag.detail


def test_the_table_is_sound():
    """Row names are unique, every rule has a hostile row, and there are plenty of honest ones."""
    assert len({case.name for case in CASES}) == len(CASES)
    assert {case.rule for case in HOSTILE} == set(RULES)
    assert len(HONEST_FILES) >= 10 and len(HONEST_SNIPPETS) >= 10

def test_file_access_names_the_path():
    """The flag's sentence quotes the path a file is opened at."""
    [flag] = scan(b'x = 1\nopen("/work/main/solutions/sec1_linear.py").read()\n', "s.py")
    assert (flag.rule, flag.line) == ("file-access", 2)
    assert "/work/main/solutions/sec1_linear.py" in flag.detail


def test_a_hostile_line_inside_a_correct_file_is_flagged_on_its_line():
    """One hostile line in the reference gives exactly one flag, on that line."""
    text = (SOLUTIONS / "sec4_training.py").read_text(encoding="utf-8")
    old = "    model.eval()\n"
    line = text[: text.index(old)].count("\n") + 2
    source = text.replace(old, old + "    import os; os._exit(0)\n")
    flags = scan(source.encode(), "sec4_training.py")
    assert [(f.rule, f.line) for f in flags] == [("os-exit", line)]


def test_flags_are_sorted_by_line():
    """Flags come back in line order."""
    source = b"import torch\ntorch.equal = max\nimport ctypes\nimport gc\nimport os\nos._exit(0)\n"
    assert [(f.line, f.rule) for f in scan(source, "s.py")] == [
        (2, "torch-patch"), (3, "ctypes"), (4, "gc"), (6, "os-exit")]


def test_syntax_error_falls_back_to_text():
    """A source that does not parse is scanned line by line, with line numbers as Python counts them."""
    source = b"import torch\nimport ctypes\ndef broken(:\n    os._exit(0)\nx = eval('1')\nmodel.eval()\n"
    flags = scan(source, "broken.py")
    assert [(f.rule, f.line) for f in flags] == [("ctypes", 2), ("os-exit", 4), ("dynamic-code", 5)]
    assert all("text scan" in f.detail for f in flags)
    crlf = scan(source.replace(b"\n", b"\r\n").replace(b"import torch", b"import torch\x0c"), "crlf.py")
    assert [(f.rule, f.line) for f in crlf] == [("ctypes", 2), ("os-exit", 4), ("dynamic-code", 5)]


def test_non_utf8_source_falls_back_to_text():
    """Bytes that are not valid UTF-8 (and no coding line) get the text scan; garbage and empty files get nothing."""
    source = "# café\nimport ctypes\nfrom os import _exit\n".encode("latin-1")
    flags = scan(source, "latin.py")
    assert [(f.rule, f.line) for f in flags] == [("ctypes", 2), ("os-exit", 3)]
    assert scan(b"\x00\xff\xfe garbage\n", "bin.py") == []
    assert scan(b"", "empty.py") == []


def test_coding_line_is_honoured_like_python_does():
    """A PEP 263 coding line is decoded as Python would, so the tree scan runs."""
    source = "# -*- coding: latin-1 -*-\nimport ctypes\ns = 'é'\n".encode("latin-1")
    flags = scan(source, "latin.py")
    assert [(f.rule, f.line) for f in flags] == [("ctypes", 2)]
    assert "text scan" not in flags[0].detail  # parsed, not guessed


def test_scan_never_executes_the_source(tmp_path):
    """Scanning a file that would write a marker leaves no marker."""
    marker = tmp_path / "ran"
    scan(f"open({str(marker)!r}, 'w').write('x')\n".encode(), "s.py")
    assert not marker.exists()


def test_as_dict_is_json_serializable():
    """Flags are frozen and turn into plain JSON for the gradebook."""
    flags = scan(b"import ctypes\nopen('/etc/passwd')\n", "s.py")
    assert flags and all(isinstance(f, Flag) for f in flags)
    dicts = json.loads(json.dumps(as_dicts(flags)))
    assert dicts == [f.as_dict() for f in flags]
    assert dicts[0] == {"rule": "ctypes", "line": 1, "detail": flags[0].detail}
    with pytest.raises(AttributeError):
        flags[0].rule = "other"  # frozen


def test_text_fallback_sees_dynamic_names_reached_modules_and_the_training_flag():
    """A source that does not parse still shows a runtime getattr name, a module reached through torch and a
    hand-set training flag; literal names and getattr on self stay silent."""
    source = (b"import torch\ndef broken(:\n    pass\nf = getattr(torch, name)\nmodel.training = False\n"
              b"torch.serialization.os.system('id')\ng = getattr(self, f'fc{i}')\nh = getattr(torch, 'relu')\n"
              b"same = model.training == False\n")
    flags = scan(source, "broken.py")
    assert [(f.rule, f.line) for f in flags] == [
        ("dynamic-attr", 4), ("training-flag", 5), ("module-reach", 6), ("subprocess", 6)]
    assert all("text scan" in f.detail for f in flags)


BULK = (SOLUTIONS / "sec4_training.py").read_bytes()
NASTY = {
    "attribute_chain_past_the_parser": b"y = x" + b".a" * 60_000 + b"\n",
    "attribute_chain_the_parser_takes": b"import os\ny = os" + b".a" * 900 + b"\n",
    "nested_getattr": b"import torch\ny = " + b"getattr(" * 150 + b"torch" + b", 'a')" * 150 + b"\n",
    "string_sum": b"import torch\ny = getattr(torch, " + b" + ".join([b"'a'"] * 800) + b")\n",
    "doubling_constants": b"import torch\nA0 = 'ab'\n"
    + b"".join(b"A%d = A%d + A%d\n" % (i + 1, i, i) for i in range(64)) + b"getattr(torch, A64)\n",
    "width_bomb": b"import torch\ngetattr(torch, '{:>999999999}'.format('x'))\ngetattr(torch, f'{1:>99999999}')\n",
    "alias_chain": b"import os\na0 = os\n" + b"".join(b"a%d = a%d\n" % (i + 1, i) for i in range(5000))
    + b"a5000._exit(0)\n",
    "nested_functions": b"".join(b" " * (4 * i) + b"def f%d(opt):\n" % i for i in range(90)) + b" " * 360
    + b"opt.steps += 1\n",
    "null_bytes": b"import os\x00\nos._exit(0)\n",
    "not_utf8": b"\xff\xfe\x00garbage\nimport ctypes\n",
    "one_mebibyte_of_course_code": BULK * (1_048_576 // len(BULK)),
}


@pytest.mark.parametrize("source", NASTY.values(), ids=NASTY.keys())
def test_scan_never_raises_and_stays_fast(source: bytes):
    """Sources shaped to break or stall a scanner get a list of flags, in bounded time (the bound is loose:
    the test machine's CPU is shared; a typical run is several times faster), with the GC left as it was."""
    started = time.process_time()
    flags = scan(source, "nasty.py")
    assert time.process_time() - started < 2.5
    assert isinstance(flags, list) and all(isinstance(f, Flag) for f in flags)
    assert gc.isenabled()
