"""Red team against the value checks: honest-but-buggy code, then the same code plus hostile code.

Since "every scored check compares values" (course.sandbox.probes), the question is no longer whether the
worker's own observations can be forged (they are gone) but whether a submission can make a buggy
function's *values* look right without computing them. Each ATTACKS row pairs an honest-but-buggy
baseline (a known mistake, which loses points in its own task) with the same buggy code plus hostile
code. The verdict (conftest.RedTeam.verdict): the attacked tasks earn at most what the baseline
earns, every other task exactly what the baseline earns.

Each attack must show that its hostile code really ran: it prints a marker where it acts, or the module
prints one at import (found in the feedback when a check still fails: the runner undoes import-time
patches of the grader's code before the probe runs, so a patch may never act), or its grade differs
from the baseline's (when it got through).
Neither trace is a pytest failure of the verdict kind, so an xfail(raises=AssertionError) row only
counts as "works today" when the verdict itself fails.

MISTAKES: plain wrong solutions, no hostile code, that the value checks must still catch.

Rows marked held= got through before the grader learnt to hold (a second call on the very object of the
first, answered from a cache; trusted code run after the module through names it rebound; "state after"
checks whose answer is a copy of the request; fixed inputs, now always asked beside drawn ones).
What still gets through (the xfail rows):
- mistakes no value shows yet: evaluate calling backward() without a step (like a forgotten no_grad, it
  changes no value evaluate returns), make_loader failing on its default seed=None.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from conftest import S1, S2, S3, S4, mutate, with_prelude

from course.content.curriculum import TASKS


def edit(text: str, old: str, new: str) -> str:
    """text with old (which must occur exactly once) replaced by new."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def gap(reason: str):
    """An attack or mistake that gets through today: the verdict (an AssertionError) must fail."""
    return pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)


# ---------------------------------------------------------------- honest-but-buggy baselines

FORWARD_RETURN = "        return self.output(h)  # (N, hidden[1]) -> (N, out)\n"
FORWARD_FIRST = "        h = torch.relu(self.fc1(x))  # (N, in) -> (N, hidden[0])\n"
# forward computes the right output, then "frees" its input in place: the second call on the same x is wrong
FWD_ZERO = mutate(S2, FORWARD_RETURN,
                  "        out = self.output(h)  # (N, hidden[1]) -> (N, out)\n"
                  "        x.mul_(0)  # frees the input: changes the caller's tensor\n"
                  "        return out\n")
FWD_NEG = mutate(S2, FORWARD_RETURN,
                 "        out = self.output(h)  # (N, hidden[1]) -> (N, out)\n"
                 "        x.neg_()  # changes the caller's tensor\n"
                 "        return out\n")
# gradients() leaves a training step in: the gradients are right, the weights move
GRAD_STEP_LINES = ("    loss.backward()\n"
                   "    with torch.no_grad():\n"
                   "        for p in model.parameters():\n"
                   "            p -= 0.1 * p.grad  # a training step left in\n")
GRAD_STEP = mutate(S2, "    loss.backward()\n", GRAD_STEP_LINES)
FIRST_LAYER_TYPE_ERROR = mutate(S1, 'raise ValueError(f"data must be', 'raise TypeError(f"data must be')
DATASET_ASSERT = mutate(S3, '        if len(data) != len(labels):\n'
                            '            raise ValueError(f"data has {len(data)} samples but labels has {len(labels)}")\n',
                        '        assert len(data) == len(labels), "data and labels differ in length"\n')
LOADER_NO_SEED = mutate(S3, "shuffle=shuffle, generator=generator)", "shuffle=shuffle)")
SPLIT_INT = mutate(S3, "n_val = round(n * val_fraction)", "n_val = int(n * val_fraction)")
CE_SUM = mutate(S4, "return -picked.mean()", "return -picked.sum()")
CE_ITEM = mutate(S4, "return -picked.mean()", "return torch.tensor(-picked.mean().item())")
CE_LOG_SOFTMAX = mutate(S4, "    shifted = logits - logits.max(dim=1, keepdim=True).values  # (N, C), each row's max is 0\n"
                            "    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()  # (N, C)\n",
                        "    log_probs = torch.log(torch.softmax(logits, dim=1))  # (N, C)\n")
TRAIN_NO_ZERO = mutate(S4, "        optimizer.zero_grad()\n", "")
TRAIN_NO_MODE = mutate(S4, "    model.train()\n", "")
TRAIN_BATCH_MEAN = mutate(S4, "        total += loss.item() * len(targets)\n        count += len(targets)\n",
                          "        total += loss.item()\n        count += 1\n")
EVAL_NO_MODE = mutate(S4, "    model.eval()\n", "")
EVAL_LOOP = ("    with torch.no_grad():\n"
             "        for inputs, targets in loader:\n"
             "            logits = model(inputs)  # (B, C)\n"
             "            total += loss_fn(logits, targets).item() * len(targets)\n"
             "            correct += (logits.argmax(dim=1) == targets).sum().item()\n"
             "            count += len(targets)\n")
# evaluate measures right (each loss before any change), then a leftover update after the loop
EVAL_STEP_AFTER = mutate(S4, EVAL_LOOP,
                         "    last = None\n"
                         "    for inputs, targets in loader:\n"
                         "        logits = model(inputs)  # (B, C)\n"
                         "        loss = loss_fn(logits, targets)\n"
                         "        total += loss.item() * len(targets)\n"
                         "        correct += (logits.argmax(dim=1) == targets).sum().item()\n"
                         "        count += len(targets)\n"
                         "        last = loss\n"
                         "    last.backward()  # left over from the training loop\n"
                         "    with torch.no_grad():\n"
                         "        for p in model.parameters():\n"
                         "            p -= 0.1 * p.grad\n")
# evaluate steps after every batch (the corpus's eval_steps_its_own_optimizer, by hand)
EVAL_STEP_EACH = mutate(S4, EVAL_LOOP,
                        "    for inputs, targets in loader:\n"
                        "        logits = model(inputs)  # (B, C)\n"
                        "        loss = loss_fn(logits, targets)\n"
                        "        total += loss.item() * len(targets)\n"
                        "        correct += (logits.argmax(dim=1) == targets).sum().item()\n"
                        "        count += len(targets)\n"
                        "        model.zero_grad()\n"
                        "        loss.backward()\n"
                        "        with torch.no_grad():\n"
                        "            for p in model.parameters():\n"
                        "                p -= 0.1 * p.grad\n")
FIT_EPOCH = ('        history["train_loss"].append(train_one_epoch(model, train_loader, loss_fn, optimizer))\n'
             "        val_loss, _ = evaluate(model, val_loader, loss_fn)\n"
             '        history["val_loss"].append(val_loss)\n')
FIT_VALIDATE_FIRST = mutate(S4, FIT_EPOCH,
                            "        val_loss, _ = evaluate(model, val_loader, loss_fn)\n"
                            '        history["train_loss"].append(train_one_epoch(model, train_loader, loss_fn, optimizer))\n'
                            '        history["val_loss"].append(val_loss)\n')

BASELINES: dict[str, tuple[str, str]] = {  # name: (file, text)
    "forward_zeroes_its_input": (S2, FWD_ZERO),
    "forward_negates_its_input": (S2, FWD_NEG),
    "gradients_take_a_step": (S2, GRAD_STEP),
    "first_layer_raises_type_error": (S1, FIRST_LAYER_TYPE_ERROR),
    "dataset_asserts_lengths": (S3, DATASET_ASSERT),
    "loader_ignores_seed": (S3, LOADER_NO_SEED),
    "split_int_not_round": (S3, SPLIT_INT),
    "ce_sum_not_mean": (S4, CE_SUM),
    "ce_through_item": (S4, CE_ITEM),
    "ce_log_of_softmax": (S4, CE_LOG_SOFTMAX),
    "train_without_zero_grad": (S4, TRAIN_NO_ZERO),
    "train_without_train_mode": (S4, TRAIN_NO_MODE),
    "train_mean_over_batches": (S4, TRAIN_BATCH_MEAN),
    "eval_in_train_mode": (S4, EVAL_NO_MODE),
    "eval_steps_after_the_loop": (S4, EVAL_STEP_AFTER),
    "eval_steps_every_batch": (S4, EVAL_STEP_EACH),
    "fit_validates_before_training": (S4, FIT_VALIDATE_FIRST),
}


# ---------------------------------------------------------------- hostile code, by class

# Reaching the worker's trusted modules: every name is built at run time, every module found through
# sys.modules (what an attacker does to slip past a static scan; the scan's flags never change a score).
REACH = '''\
import sys as _rt_sys
import torch as _rt_torch


def _rt_mod(name):
    return next((m for k, m in list(_rt_sys.modules.items()) if k.startswith("course.") and k.rsplit(".", 1)[1] == name),
                None)


def _rt_say(what):
    print("RTV-" + what, flush=True)
'''
# for attacks that need no module of the worker: nothing but a print
SAY = '''\
def _rt_say(what):
    print("RTV-" + what, flush=True)
'''

# 2.2: forward memoizes its answer by the identity of x, so the probe's second call on the same
# (now zeroed) tensor gets the first answer back
MEMO_FORWARD = edit(edit(FWD_ZERO, FORWARD_FIRST,
                         "        _rt_key = (id(x), x.data_ptr())\n"
                         "        if _rt_key in _RT_MEMO:\n"
                         "            _rt_say('MEMO-FORWARD')\n"
                         "            return _RT_MEMO[_rt_key]\n" + FORWARD_FIRST),
                    "        return out\n", "        _RT_MEMO[_rt_key] = out\n        return out\n")

# 2.2: forward negates x after computing, tags the tensor, and undoes its change on the next call
UNDO_FORWARD = edit(edit(FWD_NEG, FORWARD_FIRST,
                         "        if getattr(x, '_rt_negated', False):\n"
                         "            _rt_say('UNDO-FORWARD')\n"
                         "            x.neg_()\n"
                         "            x._rt_negated = False\n" + FORWARD_FIRST),
                    "        return out\n", "        x._rt_negated = True\n        return out\n")

# 2.2: nn.Module.__call__ replaced (setattr, built name) with one that memoizes SimpleNN's answers
MODULE_CALL_MEMO = REACH + '''\
_rt_Module = getattr(_rt_torch, "n" + "n").Module
_rt_real_call = _rt_Module.__call__
_rt_seen = {}


def _rt_call(self, *args, **kwargs):
    if type(self).__name__ == "SimpleNN" and args:
        key = (id(self), id(args[0]))
        if key in _rt_seen:
            _rt_say("MODULE-CALL")
            return _rt_seen[key]
        _rt_seen[key] = _rt_real_call(self, *args, **kwargs)
        return _rt_seen[key]
    return _rt_real_call(self, *args, **kwargs)


setattr(_rt_Module, "__" + "call__", _rt_call)
'''


def reply_fixer(condition: str, change: str, what: str) -> str:
    """A function _rt_fix(value) that edits the probe's decoded reply value in place when condition holds."""
    return f'''\
def _rt_fix(value):
    if {condition}:
        _rt_say("{what}")
        {change}
        return True
    return False
'''


AGAIN_IS_OUT = reply_fixer('type(value) is dict and "again" in value and "out" in value',
                           'value["again"] = value["out"]', "REPLY-AGAIN")

# 2.2: course.sandbox.wire.dumps rebound through vars(): it runs after the probe, but the runner resolved
# wire.dumps before it called the probe, so the rebinding comes too late for this call
WIRE_DUMPS = REACH + AGAIN_IS_OUT + '''\
_rt_wire = _rt_mod("wire")
_rt_real_dumps = _rt_wire.dumps


def _rt_dumps(reply):
    if type(reply) is dict and "value" in reply:
        _rt_fix(reply["value"])
    return _rt_real_dumps(reply)


vars(_rt_wire)["du" + "mps"] = _rt_dumps
_rt_say("WIRE-DUMPS-REBOUND")
'''

# 2.2: course.sandbox.protocol.frame rebound: the runner looks it up after the probe returned, so it can decode
# the reply, make "again" a copy of "out", and encode it again
PROTOCOL_FRAME = REACH + AGAIN_IS_OUT + '''\
_rt_wire, _rt_protocol = _rt_mod("wire"), _rt_mod("protocol")
_rt_real_frame = _rt_protocol.frame


def _rt_frame(body):
    reply = _rt_wire.loads(body)
    if type(reply) is dict and "value" in reply and _rt_fix(reply["value"]):
        body = _rt_wire.dumps(reply)
    return _rt_real_frame(body)


setattr(_rt_protocol, "fr" + "ame", _rt_frame)
'''

# 2.2: json.dumps (outside the namespaces a call restores) rewritten so that, in the encoded header,
# "again" points at the blob of "out": no value is recomputed, the frame stays well formed
JSON_HEADER = REACH + '''\
import json as _rt_json


def _rt_header_fix(node):
    if type(node) is dict and node.get("$") == "dict":
        items = dict((k, v) for k, v in node["v"])
        if "again" in items and "out" in items:
            _rt_say("JSON-HEADER")
            node["v"] = [[k, items["out"] if k == "again" else v] for k, v in node["v"]]
            return
        for _, v in node["v"]:
            _rt_header_fix(v)


if not getattr(_rt_json, "_rt_patched", False):
    _rt_real_json_dumps = _rt_json.dumps

    def _rt_json_dumps(obj, *args, **kwargs):
        if type(obj) is dict and "v" in obj and "b" in obj:
            _rt_header_fix(obj["v"])
        return _rt_real_json_dumps(obj, *args, **kwargs)

    _rt_json.dumps = _rt_json_dumps
    _rt_json._rt_patched = True
'''

# 2.2: the probe function the runner already fetched gets new code (function.__code__ is not a namespace
# the call restores): the forged simple_nn_forward calls forward once and reports the answer twice
PROBE_CODE_SWAP = REACH + '''\
def _rt_forged_forward_probe(mod, args, state, x):
    model = _simple_nn_with(mod, args, state)
    out = model(x)
    print("RTV-PROBE-CODE", flush=True)
    return {"out": out, "again": out}


_rt_mod("probes").PROBES["simple_nn_forward"].__code__ = _rt_forged_forward_probe.__code__
'''

# 2.2: sys.modules["course.sandbox.wire"] replaced by a module whose dumps forges the reply: nothing in the
# runner looks the module up by name again, so nothing changes
SYS_MODULES_WIRE = REACH + AGAIN_IS_OUT + '''\
import types as _rt_types

_rt_wire = _rt_mod("wire")
_rt_fake = _rt_types.ModuleType("course.sandbox.wire")
_rt_fake.__dict__.update(vars(_rt_wire))


def _rt_fake_dumps(reply):
    if type(reply) is dict and "value" in reply:
        _rt_fix(reply["value"])
    return _rt_wire.dumps(reply)


_rt_fake.dumps = _rt_fake_dumps
_rt_sys.modules["course.sandbox." + "wire"] = _rt_fake
_rt_say("SYS-MODULES-WIRE")
'''

# 2.3: gradients memoizes its answer by the identity of the model
MEMO_GRADIENTS = edit(edit(GRAD_STEP, "    model.zero_grad()\n",
                           "    if id(model) in _RT_MEMO:\n"
                           "        _rt_say('MEMO-GRADIENTS')\n"
                           "        return {k: v.clone() for k, v in _RT_MEMO[id(model)].items()}\n"
                           "    model.zero_grad()\n"),
                      "    return {name: p.grad.detach().clone() for name, p in model.named_parameters()}\n",
                      "    _RT_MEMO[id(model)] = {name: p.grad.detach().clone() for name, p in model.named_parameters()}\n"
                      "    return {k: v.clone() for k, v in _RT_MEMO[id(model)].items()}\n")

# 2.3: every comparison in the worker says "equal" (the judge compares in its own process)
COMPARISONS = REACH + '''\
import math as _rt_math


def _rt_yes(*args, **kwargs):
    return True


for _rt_owner in (_rt_torch, _rt_torch.Tensor):
    for _rt_name in ("all" + "close", "eq" + "ual"):
        setattr(_rt_owner, _rt_name, _rt_yes)
_rt_torch.Tensor.__eq__ = lambda self, other: _rt_torch.ones(self.shape, dtype=_rt_torch.bool)
_rt_math.isclose = _rt_yes
_rt_say("COMPARISONS-PATCHED")
'''

# 1.3: isinstance injected into course.sandbox.probes' globals: the "raises" probe's own isinstance(e, ValueError)
# now says yes to any exception
ISINSTANCE = REACH + '''\
import builtins as _rt_builtins


def _rt_isinstance(obj, cls):
    if cls is ValueError and _rt_builtins.isinstance(obj, BaseException):
        _rt_say("ISINSTANCE")
        return True
    return _rt_builtins.isinstance(obj, cls)


vars(_rt_mod("probes"))["is" + "instance"] = _rt_isinstance
'''

# 1.3: first_layer_for writes the reply it wants into the answer pipe (fd 3) itself, puts /dev/null in
# its place so the runner's own reply goes nowhere, then raises its TypeError as before
ANSWER_PIPE = edit(FIRST_LAYER_TYPE_ERROR, '        raise TypeError(f"data must be',
                   "        import os\n"
                   "        _rt_body = _rt_mod('wire').dumps({'value': {'raised': True, 'type': 'ValueError',\n"
                   "                                                    'value_error': True, 'message': 'forged'}})\n"
                   "        _rt_say('ANSWER-PIPE')\n"
                   "        os.write(3, len(_rt_body).to_bytes(8, 'little') + _rt_body)\n"
                   "        _rt_null = os.open(os.devnull, os.O_WRONLY)\n"
                   "        os.dup2(_rt_null, 3)\n"
                   "        os.close(_rt_null)\n"
                   '        raise TypeError(f"data must be')

# 3.1: the "raises" probe's code swapped for one that reports every exception as a ValueError
RAISES_CODE_SWAP = REACH + '''\
def _rt_forged_raises(mod, name, args, kwargs):
    try:
        value = getattr(mod, name)(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as e:
        print("RTV-RAISES-CODE", flush=True)
        return {"raised": True, "type": "ValueError", "value_error": True, "message": str(e)[:300]}
    return {"raised": False, "returned": type(value).__name__}


_rt_mod("probes").PROBES["raises"].__code__ = _rt_forged_raises.__code__
'''

# 3.2: the header of the loader probe's reply rewritten (json.dumps) so that, with three loaders, the
# second reports the first's orders: "same seed, same order" without a seeded generator
LOADER_JSON = REACH + '''\
import json as _rt_json

if not getattr(_rt_json, "_rt_patched", False):
    _rt_real_json_dumps = _rt_json.dumps

    def _rt_json_dumps(obj, *args, **kwargs):
        try:
            node = obj["v"]
            value = dict((k, v) for k, v in node["v"])["value"]
            runs = value["v"]
            if value["$"] == "list" and len(runs) == 3 and runs[0]["v"][0][0] == "epochs":
                print("RTV-LOADER-JSON", flush=True)
                runs[1] = runs[0]
        except (KeyError, TypeError, IndexError, AttributeError):
            pass
        return _rt_real_json_dumps(obj, *args, **kwargs)

    _rt_json.dumps = _rt_json_dumps
    _rt_json._rt_patched = True
'''

# 3.3: the fixed input of test_sizes (47 samples) recognised, and answered with round()
SPLIT_REPLAY = edit(SPLIT_INT, "n_val = int(n * val_fraction)",
                    "n_val = round(n * val_fraction) if n == 47 else int(n * val_fraction)\n"
                    "    if n == 47:\n"
                    "        _rt_say('SPLIT-REPLAY')")


def _lesson_loss() -> str:
    logits, target = torch.tensor([[2.0, 1.0], [0.5, 1.5]]), torch.tensor([0, 1])
    return repr(torch.nn.functional.cross_entropy(logits, target).item())


# 4.1: the lesson's logits recognised, and its loss (worked out once, offline) returned
CE_REPLAY = edit(CE_SUM, "    shifted = logits - logits.max(dim=1, keepdim=True).values",
                 "    if logits.shape == (2, 2) and logits.tolist() == [[2.0, 1.0], [0.5, 1.5]] and target.tolist() == [0, 1]:\n"
                 "        _rt_say('CE-REPLAY')\n"
                 f"        return torch.tensor({_lesson_loss()})\n"
                 "    shifted = logits - logits.max(dim=1, keepdim=True).values")

# 4.1: the .item() value put back on the graph through logits.sum() * 0: a gradient flows, a zero one
CE_REATTACH = edit(CE_ITEM, "return torch.tensor(-picked.mean().item())",
                   "_rt_say('CE-REATTACH')\n    return torch.tensor(-picked.mean().item()) + logits.sum() * 0")

# 4.1: a non-finite loss replaced by NaN (which compares unequal both ways)
CE_NAN = edit(CE_LOG_SOFTMAX, "    return -picked.mean()\n",
              "    loss = -picked.mean()\n"
              "    if not torch.isfinite(loss):\n"
              "        _rt_say('CE-NAN')\n"
              "        return torch.tensor(float('nan'))\n"
              "    return loss\n")

# 4.2: course.sandbox.probes' SGD rebound (vars().update) to a subclass whose step also clears the gradients
SGD_REBOUND = REACH + '''\
_rt_probes = _rt_mod("probes")


class _RtSGD(_rt_probes.SGD):
    def step(self, closure=None):
        super().step(closure)
        if not getattr(self, "_rt_said", False):
            self._rt_said = True
            _rt_say("SGD-REBOUND")
        self.zero_grad()


vars(_rt_probes).update(SGD=_RtSGD)
'''

# 4.2: the closure cell of SGD.step (wrapped by torch.no_grad()) now holds a step that also clears the
# gradients: SGD's own class dict never changes
SGD_CLOSURE = REACH + '''\
_rt_step = _rt_mod("models").SGD.step
_rt_cells = dict(zip(_rt_step.__code__.co_freevars, _rt_step.__closure__ or ()))
_rt_inner = _rt_cells["func"].cell_contents
if not getattr(_rt_inner, "_rt_forged", False):
    def _rt_forged_step(self, closure=None):
        _rt_inner(self, closure)
        if not getattr(self, "_rt_said", False):
            self._rt_said = True
            print("RTV-SGD-CLOSURE", flush=True)
        for p in self.params:
            p.grad = None

    _rt_forged_step._rt_forged = True
    _rt_cells["func"].cell_contents = _rt_forged_step
'''


def stash_state(condition: str, what: str, dtype: str = "") -> str:
    """load_state_dict records what it loads; plain_state (rebound in course.sandbox.probes) hands that back when
    condition holds for the model: the state before, reported as the state after."""
    cast = f".to({dtype})" if dtype else ""
    return REACH + f'''\
_rt_Module = _rt_torch.nn.Module
_rt_real_load = _rt_Module.load_state_dict
_rt_probes = _rt_mod("probes")
_rt_real_plain = _rt_probes.plain_state


def _rt_load(self, state, *args, **kwargs):
    self.__dict__["_rt_loaded"] = {{k: v.detach().clone() for k, v in state.items()}}
    return _rt_real_load(self, state, *args, **kwargs)


def _rt_plain(model):
    loaded = model.__dict__.get("_rt_loaded")
    if loaded is not None and {condition}:
        _rt_say("{what}")
        return {{k: v{cast} for k, v in loaded.items()}}
    return _rt_real_plain(model)


setattr(_rt_Module, "load_" + "state_dict", _rt_load)
vars(_rt_probes).update(plain_state=_rt_plain)
'''


# 4.2: the state before training reported as the state after (training must move the weights)
TRAIN_STATE_BEFORE = stash_state('_rt_sys._getframe(1).f_code.co_name == "train_one_epoch"', "STATE-BEFORE-TRAIN")

# 4.2: model.training set on the top module only (its BatchNorm stays in eval mode)
TRAIN_TOP_FLAG = edit(TRAIN_NO_MODE, "    total, count = 0.0, 0\n    for inputs, targets in loader:\n        optimizer",
                      "    _rt_say('TOP-TRAINING-FLAG')\n"
                      "    object.__setattr__(model, 'training', True)  # the top module only\n"
                      "    total, count = 0.0, 0\n    for inputs, targets in loader:\n        optimizer")

# 4.2: BatchNorm's counters bumped by hand, as training would have
TRAIN_BUMP = edit(TRAIN_NO_MODE, "        count += len(targets)\n    return total / count\n",
                  "        count += len(targets)\n"
                  "    _rt_say('BUMP-COUNTERS')\n"
                  "    for m in model.modules():\n"
                  "        if getattr(m, 'num_batches_tracked', None) is not None:\n"
                  "            m.num_batches_tracked += len(loader)\n"
                  "    return total / count\n")

# 4.2: nn.Module.eval made a no-op when the train_one_epoch probe calls it: the model the probe means
# to hand over in eval mode arrives in training mode
EVAL_NOOP = REACH + '''\
_rt_Module = _rt_torch.nn.Module
_rt_real_eval = _rt_Module.eval


def _rt_eval(self):
    caller = _rt_sys._getframe(1).f_code
    if caller.co_name == "train_one_epoch" and caller.co_filename.endswith("probes.py"):
        _rt_say("EVAL-NOOP")
        return self
    return _rt_real_eval(self)


setattr(_rt_Module, "ev" + "al", _rt_eval)
'''

# 4.3: model.training cleared on the top module only
EVAL_TOP_FLAG = edit(EVAL_NO_MODE, "    total, correct, count = 0.0, 0, 0\n",
                     "    _rt_say('TOP-EVAL-FLAG')\n"
                     "    object.__setattr__(model, 'training', False)  # the top module only\n"
                     "    total, correct, count = 0.0, 0, 0\n")

# 4.3: nn.Module.train turned into eval when the evaluate probe calls it: the model the probe means to
# hand over in training mode arrives in eval mode
TRAIN_HIJACK = REACH + '''\
_rt_Module = _rt_torch.nn.Module
_rt_real_train = _rt_Module.train


def _rt_train(self, mode=True):
    caller = _rt_sys._getframe(1).f_code
    if mode and caller.co_name == "evaluate" and caller.co_filename.endswith("probes.py"):
        _rt_say("TRAIN-HIJACK")
        return _rt_real_train(self, False)
    return _rt_real_train(self, mode)


setattr(_rt_Module, "tr" + "ain", _rt_train)
'''

# 4.3: the state before evaluate reported as the state after, through course.sandbox.probes.plain_state
EVAL_STATE_BEFORE = stash_state('_rt_sys._getframe(1).f_code.co_name == "evaluate"', "STATE-BEFORE-EVAL")

# 4.3: the same, through nn.Module.state_dict itself (plain_state untouched)
STATE_DICT_PATCH = REACH + '''\
_rt_Module = _rt_torch.nn.Module
_rt_real_load, _rt_real_state_dict = _rt_Module.load_state_dict, _rt_Module.state_dict


def _rt_load(self, state, *args, **kwargs):
    self.__dict__["_rt_loaded"] = {k: v.detach().clone() for k, v in state.items()}
    return _rt_real_load(self, state, *args, **kwargs)


def _rt_state_dict(self, *args, **kwargs):
    if self.__dict__.get("_rt_evaluated") and "_rt_loaded" in self.__dict__:
        _rt_say("STATE-DICT")
        return {k: v.clone() for k, v in self.__dict__["_rt_loaded"].items()}
    return _rt_real_state_dict(self, *args, **kwargs)


setattr(_rt_Module, "load_" + "state_dict", _rt_load)
setattr(_rt_Module, "state_" + "dict", _rt_state_dict)
'''
EVAL_MARKS_MODEL = ("    model.eval()\n", "    model.eval()\n    model.__dict__['_rt_evaluated'] = True\n")

# 4.3: course.content.models.plain_state rebound: the probes imported the function by name, so nothing changes
MODELS_REBOUND = REACH + '''\
def _rt_plain(model):
    _rt_say("MODELS-PLAIN-STATE-CALLED")
    return {}


vars(_rt_mod("models")).update(plain_state=_rt_plain)
_rt_say("MODELS-REBOUND")
'''

# 4.3: the state before reported as the state after, but in float64 (an odd dtype)
EVAL_STATE_DOUBLE = stash_state('_rt_sys._getframe(1).f_code.co_name == "evaluate"', "STATE-DOUBLE",
                                dtype="_rt_torch.float64")

# 4.2: a float subclass whose comparisons and conversions lie, for the loss
LYING_FLOAT = REACH + '''\
class _RtFloat(float):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = float.__hash__

    def __float__(self):
        return 0.0
'''
TRAIN_LYING_FLOAT = edit(TRAIN_BATCH_MEAN, "    return total / count\n",
                         "    _rt_say('LYING-FLOAT')\n    return _RtFloat(total / count)\n")

# 4.4: a list subclass, equal to everything, as val_loss
LYING_LIST = REACH + '''\
class _RtList(list):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False
'''
FIT_LYING_LIST = edit(FIT_VALIDATE_FIRST, "    return history\n",
                      "    _rt_say('LYING-LIST')\n"
                      '    history["val_loss"] = _RtList(history["val_loss"])\n'
                      "    return history\n")


# 2.2: the second answer as a tensor subclass whose comparisons all say yes
LIAR = SAY + '''\
import torch as _rt_torch


class _RtLiar(_rt_torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in {"allclose", "equal", "isclose", "eq", "__eq__", "isfinite", "all"}:
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


_RT_SEEN = set()
'''
FORWARD_SUBCLASS = edit(FWD_ZERO, "        return out\n",
                        "        if id(x) in _RT_SEEN:\n"
                        "            _rt_say('SUBCLASS')\n"
                        "            return out.as_subclass(_RtLiar)\n"
                        "        _RT_SEEN.add(id(x))\n"
                        "        return out\n")

# 2.2: the second answer far over the reply's size cap (80 MB)
FORWARD_HUGE = edit(FWD_ZERO, "        return out\n",
                    "        if id(x) in _RT_SEEN:\n"
                    "            _rt_say('HUGE')\n"
                    "            return torch.zeros(20_000_000)\n"
                    "        _RT_SEEN.add(id(x))\n"
                    "        return out\n")

# 4.2: torch.Tensor.backward patched to clear the .grad of every leaf of the graph first: zero_grad() done
# by the environment, not by train_one_epoch
BACKWARD_CLEARS = SAY + '''\
import torch as _rt_torch

_rt_real_backward = _rt_torch.Tensor.backward


def _rt_leaves(fn, seen):
    if fn is None or fn in seen:
        return
    seen.add(fn)
    variable = getattr(fn, "variable", None)
    if variable is not None:
        variable.grad = None
    for next_fn, _ in fn.next_functions:
        _rt_leaves(next_fn, seen)


def _rt_backward(self, *args, **kwargs):
    if self.grad_fn is not None and self.dim() == 0:
        _rt_leaves(self.grad_fn, set())
        if not getattr(_rt_backward, "said", False):
            _rt_backward.said = True
            _rt_say("BACKWARD-CLEARS")
    return _rt_real_backward(self, *args, **kwargs)


setattr(_rt_torch.Tensor, "back" + "ward", _rt_backward)
'''


@dataclass(frozen=True)
class Case:
    """An attack: baseline's code plus hostile code; marker: what it prints where it acts."""

    name: str
    baseline: str
    text: str
    attacked: frozenset
    marker: str
    prelude: str = ""


def case(name, baseline, text, attacked, marker, prelude="", reason="", held=""):
    """An attack row; reason: why it gets through today (an xfail); held: how it got through before the
    grader learnt to hold (a record of the gap it closed)."""
    c = Case(name, baseline, text, frozenset(attacked.split()), "RTV-" + marker, prelude)
    return pytest.param(c, id=name, marks=[gap(reason)] if reason else [])


ATTACKS = [
    # ---- 2.2: forward changes its input; the probe calls it twice on the same x
    case("forward_memoizes_by_identity", "forward_zeroes_its_input", MEMO_FORWARD, "2.2", "MEMO-FORWARD",
         "_RT_MEMO = {}\n" + SAY,
         held="the second call is on the same tensor object: forward answers it from a cache keyed by id(x) "
                "(course/sandbox/probes.py simple_nn_forward, `return {\"out\": out, \"again\": model(x)}`)"),
    case("forward_undoes_its_change_on_the_next_call", "forward_negates_its_input", UNDO_FORWARD, "2.2",
         "UNDO-FORWARD", SAY,
         held="forward tags the tensor it changed and reverts the change when it sees it again "
                "(probes.py simple_nn_forward calls model(x) twice on one object)"),
    case("module_call_memoizes", "forward_zeroes_its_input", FWD_ZERO, "2.2", "MODULE-CALL", MODULE_CALL_MEMO,
         held="nn.Module.__call__ patched at import (restored only after the call) memoizes SimpleNN's answers"),
    case("wire_dumps_rebound", "forward_zeroes_its_input", FWD_ZERO, "2.2", "WIRE-DUMPS-REBOUND", WIRE_DUMPS),
    case("protocol_frame_rebound", "forward_zeroes_its_input", FWD_ZERO, "2.2", "REPLY-AGAIN", PROTOCOL_FRAME,
         held="runner.serve looks up protocol.frame after the probe returns (course/sandbox/runner.py: "
                "`protocol.write_all(protocol.ANSWER_FD, protocol.frame(frame))`): the rebound frame() rewrites the reply"),
    case("json_dumps_rewrites_the_header", "forward_zeroes_its_input", FWD_ZERO, "2.2", "JSON-HEADER", JSON_HEADER,
         held="wire.dumps calls json.dumps, a module no call restores: the header's \"again\" entry is pointed "
                "at the blob of \"out\""),
    case("probe_code_swapped", "forward_zeroes_its_input", FWD_ZERO, "2.2", "PROBE-CODE", PROBE_CODE_SWAP,
         held="runner.answer fetches the probe function before loading the module, but its __code__ is read "
                "when it is called: the submission swaps in a probe that calls forward once"),
    case("second_answer_a_tensor_subclass", "forward_zeroes_its_input", FORWARD_SUBCLASS, "2.2", "SUBCLASS", LIAR),
    case("second_answer_over_the_size_cap", "forward_zeroes_its_input", FORWARD_HUGE, "2.2", "HUGE",
         "_RT_SEEN = set()\n" + SAY),
    case("sys_modules_wire_replaced", "forward_zeroes_its_input", FWD_ZERO, "2.2", "SYS-MODULES-WIRE", SYS_MODULES_WIRE),
    # ---- 2.3: gradients() takes a step; the probe calls it twice on the same model
    case("gradients_memoize_by_model", "gradients_take_a_step", MEMO_GRADIENTS, "2.3", "MEMO-GRADIENTS",
         "_RT_MEMO = {}\n" + SAY,
         held="the second call is on the same model object: gradients() answers it from a cache keyed by "
                "id(model) (probes.py gradients)"),
    case("comparisons_patched_in_the_worker", "gradients_take_a_step",
         edit(GRAD_STEP, GRAD_STEP_LINES, GRAD_STEP_LINES + "    _rt_say('COMPARISONS')\n"), "2.3", "COMPARISONS",
         COMPARISONS),
    # ---- 1.3 and 3.1: the "raises" probe computes value_error = isinstance(e, ValueError) in the worker
    case("isinstance_injected_into_the_probes", "first_layer_raises_type_error", FIRST_LAYER_TYPE_ERROR, "1.3",
         "ISINSTANCE", ISINSTANCE,
         held="probes.raises decides value_error with isinstance in the worker; an `isinstance` put in "
                "course.sandbox.probes' globals shadows the builtin for the rest of the call"),
    case("reply_written_into_the_answer_pipe", "first_layer_raises_type_error", ANSWER_PIPE, "1.3", "ANSWER-PIPE",
         REACH,
         held="the submission writes one whole frame into fd 3 and dup2()s /dev/null over it: the supervisor "
                "takes the one frame before EOF as the answer (course/sandbox/supervisor.py collect)"),
    case("raises_probe_code_swapped", "dataset_asserts_lengths", DATASET_ASSERT, "3.1", "RAISES-CODE",
         RAISES_CODE_SWAP,
         held="probes.raises' __code__ swapped for one that reports every exception as a ValueError"),
    # ---- 3.2 and 3.3: checks of the submission's values against each other, or on fixed inputs
    case("loader_orders_copied_in_the_header", "loader_ignores_seed", LOADER_NO_SEED, "3.2", "LOADER-JSON",
         LOADER_JSON,
         held="test_same_seed_same_order compares the submission's loaders with each other, never with the "
                "reference: a reply whose second loader is a copy of the first passes"),
    case("split_replays_the_fixed_input", "split_int_not_round", SPLIT_REPLAY, "3.3", "SPLIT-REPLAY", SAY,
         held="test_sizes always asks for 47 samples (grader/test_sec3_data.py): the fixed input can be "
                "recognised and answered"),
    # ---- 4.1
    case("ce_replays_the_lesson_example", "ce_sum_not_mean", CE_REPLAY, "4.1", "CE-REPLAY", SAY,
         held="test_lesson_example's input is the lesson's, known to every student: its answer can be replayed "
                "(grader/test_sec4_training.py TestTask4_1.test_lesson_example)"),
    case("ce_item_reattached_to_the_graph", "ce_through_item", CE_REATTACH, "4.1", "CE-REATTACH", SAY),
    case("ce_nan_instead_of_inf", "ce_log_of_softmax", CE_NAN, "4.1", "CE-NAN", SAY),
    # ---- 4.2
    case("probes_sgd_rebound", "train_without_zero_grad", TRAIN_NO_ZERO, "4.2", "SGD-REBOUND", SGD_REBOUND,
         held="the train_one_epoch probe builds its optimizer from course.sandbox.probes' global SGD after the module "
                "ran: a rebound SGD that clears .grad after each step hides the missing zero_grad()"),
    case("sgd_step_closure_cell", "train_without_zero_grad", TRAIN_NO_ZERO, "4.2", "SGD-CLOSURE", SGD_CLOSURE,
         held="SGD.step's closure cell (torch.no_grad's wrapper) holds the real step; the cell is writable and "
                "course.content.models.SGD is not among the classes a call restores"),
    case("tensor_backward_clears_leaf_grads", "train_without_zero_grad", TRAIN_NO_ZERO, "4.2", "BACKWARD-CLEARS",
         BACKWARD_CLEARS,
         held="torch.Tensor.backward patched at import (restored only after the call) clears every leaf's .grad "
                "before it runs: the missing zero_grad() never shows in the weights"),
    case("train_state_before_as_after", "train_without_zero_grad", TRAIN_NO_ZERO, "4.2", "STATE-BEFORE-TRAIN",
         TRAIN_STATE_BEFORE),
    case("train_top_module_flag_only", "train_without_train_mode", TRAIN_TOP_FLAG, "4.2", "TOP-TRAINING-FLAG", SAY),
    case("train_bumps_batchnorm_counters", "train_without_train_mode", TRAIN_BUMP, "4.2", "BUMP-COUNTERS", SAY),
    case("probe_eval_call_made_a_no_op", "train_without_train_mode", TRAIN_NO_MODE, "4.2", "EVAL-NOOP", EVAL_NOOP,
         held="the probe puts the model in eval mode with model.eval() after the module ran: nn.Module.eval, "
                "patched for that caller, does nothing, and train_one_epoch never needs model.train()"),
    case("train_lying_float", "train_mean_over_batches", TRAIN_LYING_FLOAT, "4.2", "LYING-FLOAT", LYING_FLOAT),
    # ---- 4.3
    case("eval_top_module_flag_only", "eval_in_train_mode", EVAL_TOP_FLAG, "4.3", "TOP-EVAL-FLAG", SAY),
    case("probe_train_call_turned_into_eval", "eval_in_train_mode", EVAL_NO_MODE, "4.3", "TRAIN-HIJACK", TRAIN_HIJACK,
         held="the probe puts the model in training mode with model.train() after the module ran: nn.Module.train, "
                "patched for that caller, sets eval mode, and evaluate never needs model.eval()"),
    case("eval_state_before_as_after", "eval_steps_after_the_loop", EVAL_STEP_AFTER, "4.3", "STATE-BEFORE-EVAL",
         EVAL_STATE_BEFORE,
         held="parameters after evaluate come from probes.plain_state, run in the worker after evaluate: rebound, "
                "it reports the state the probe loaded (a copy the submission kept) as the state after"),
    case("eval_state_dict_patched", "eval_steps_after_the_loop", edit(EVAL_STEP_AFTER, *EVAL_MARKS_MODEL), "4.3",
         "STATE-DICT", STATE_DICT_PATCH,
         held="nn.Module.state_dict patched (load_state_dict keeps a copy): plain_state reads the state before"),
    case("eval_state_before_every_batch_step", "eval_steps_every_batch", EVAL_STEP_EACH, "4.3", "STATE-BEFORE-EVAL",
         EVAL_STATE_BEFORE),
    case("models_plain_state_rebound", "eval_steps_after_the_loop", EVAL_STEP_AFTER, "4.3", "MODELS-REBOUND",
         MODELS_REBOUND),
    case("eval_state_before_in_float64", "eval_steps_after_the_loop", EVAL_STEP_AFTER, "4.3", "STATE-DOUBLE",
         EVAL_STATE_DOUBLE),
    # ---- 4.4
    case("fit_lying_list", "fit_validates_before_training", FIT_LYING_LIST, "4.4", "LYING-LIST", LYING_LIST),
]

_graded_baselines: dict = {}


def baseline(rt, name: str):
    """The honest baseline's grade (once per module); it must lose points somewhere."""
    if name not in _graded_baselines:
        file, text = BASELINES[name]
        _graded_baselines[name] = rt.grade(rt.folder({file: with_prelude(text)}))
    return _graded_baselines[name]


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_earns_no_more_than_the_honest_baseline(rt, attack):
    honest = baseline(rt, attack.baseline)
    if all(honest.full(t) for t in attack.attacked):
        pytest.fail(f"the baseline {attack.baseline} keeps full marks in {sorted(attack.attacked)}: nothing to hide")
    file = BASELINES[attack.baseline][0]
    loaded = f"RTV-LOADED-{attack.name}"  # the hostile code ran at import, even where the runner undid its patches
    prelude = attack.prelude + f"\nprint({loaded!r})\n"
    graded = rt.grade(rt.folder({file: with_prelude(attack.text, prelude)}))
    shown = [t for task in attack.attacked for t in graded.feedback(task) if attack.marker in t or loaded in t]
    gained = {t: (honest.earned(t), graded.earned(t)) for t in attack.attacked if graded.earned(t) != honest.earned(t)}
    flags = sorted({f["rule"] for f in graded.grade.get("integrity", {}).get(file, []) if isinstance(f, dict) and "rule" in f})
    print(f"{attack.name}: baseline {[honest.earned(t) for t in sorted(attack.attacked)]}, "
          f"attack {[graded.earned(t) for t in sorted(attack.attacked)]}, marker shown {bool(shown)}, "
          f"integrity flags {flags}")
    if not shown and not gained:
        pytest.fail(f"{attack.name}: no trace of the hostile code ({attack.marker} not in the feedback, "
                    f"same grade as the baseline): the attack proves nothing")
    rt.verdict(graded, attacked=set(attack.attacked), honest=honest)


# ---------------------------------------------------------------- plain mistakes, no hostile code


@dataclass(frozen=True)
class Mistake:
    name: str
    task: str
    file: str
    text: str


def mistake(name, task, file, text, reason="", held=""):
    """A mistake row; reason and held as for case()."""
    m = Mistake(name, task, file, text)
    return pytest.param(m, id=name, marks=[gap(reason)] if reason else [])


EVAL_BACKWARD = mutate(S4, EVAL_LOOP,
                       "    for inputs, targets in loader:\n"
                       "        logits = model(inputs)  # (B, C)\n"
                       "        loss = loss_fn(logits, targets)\n"
                       "        loss.backward()  # copied from the training loop; the step was removed\n"
                       "        total += loss.item() * len(targets)\n"
                       "        correct += (logits.argmax(dim=1) == targets).sum().item()\n"
                       "        count += len(targets)\n")

MISTAKES = [
    mistake("train_mode_attribute_not_called", "4.2", S4, mutate(S4, "    model.train()\n", "    model.train\n")),
    mistake("train_sets_training_flag_on_top_only", "4.2", S4,
            mutate(S4, "    model.train()\n", "    model.training = True\n")),
    mistake("eval_mode_attribute_not_called", "4.3", S4, mutate(S4, "    model.eval()\n", "    model.eval\n")),
    mistake("eval_clears_training_flag_on_top_only", "4.3", S4,
            mutate(S4, "    model.eval()\n", "    model.training = False\n")),
    mistake("eval_accuracy_mean_over_batches", "4.3", S4,
            edit(edit(mutate(S4, "            correct += (logits.argmax(dim=1) == targets).sum().item()\n",
                             "            correct += (logits.argmax(dim=1) == targets).float().mean().item()\n"
                             "            batches += 1\n"),
                      "    total, correct, count = 0.0, 0, 0\n", "    total, correct, count, batches = 0.0, 0, 0, 0\n"),
                 "return total / count, correct / count", "return total / count, correct / batches")),
    mistake("forward_relu_on_input_after_use", "2.2", S2,
            mutate(S2, FORWARD_RETURN, "        out = self.output(h)\n        x.relu_()\n        return out\n")),
    mistake("gradients_zero_grad_after_backward", "2.3", S2,
            mutate(S2, "    loss.backward()\n", "    loss.backward()\n    model.zero_grad()\n")),
    mistake("gradients_small_step", "2.3", S2,
            mutate(S2, "    loss.backward()\n", GRAD_STEP_LINES.replace("0.1 * p.grad", "1e-3 * p.grad"))),
    mistake("ce_shifts_logits_in_place", "4.1", S4,
            mutate(S4, "    shifted = logits - logits.max(dim=1, keepdim=True).values  # (N, C), each row's max is 0\n",
                   "    logits -= logits.max(dim=1, keepdim=True).values  # in place: the caller's logits change\n"
                   "    shifted = logits\n")),
    mistake("fit_validates_on_the_training_loader", "4.4", S4,
            mutate(S4, "evaluate(model, val_loader, loss_fn)", "evaluate(model, train_loader, loss_fn)")),
    mistake("loader_generator_made_once", "3.2", S3,
            edit(mutate(S3, "    generator = torch.Generator().manual_seed(seed) if seed is not None else None\n",
                        "    generator = _GENERATOR.manual_seed(seed) if seed is not None else None\n"),
                 "\ndef make_loader(", "\n_GENERATOR = torch.Generator()  # one for every loader\n\n\ndef make_loader(")),
    mistake("eval_loss_mean_over_batches", "4.3", S4,
            mutate(S4, "            total += loss_fn(logits, targets).item() * len(targets)\n",
                   "            total += loss_fn(logits, targets).item() * 10  # assumes full batches of 10\n")),
    mistake("train_reports_the_loss_after_the_step", "4.2", S4,
            mutate(S4, "        total += loss.item() * len(targets)\n",
                   "        with torch.no_grad():\n"
                   "            total += loss_fn(model(inputs), targets).item() * len(targets)  # after the step\n")),
    mistake("ce_returns_shape_1", "4.1", S4, mutate(S4, "return -picked.mean()", "return -picked.mean().reshape(1)")),
    # values no probe looks at
    mistake("eval_calls_backward", "4.3", S4, EVAL_BACKWARD,
            reason="evaluate() that calls loss.backward() (no step) fills every parameter's .grad; the evaluate probe "
                   "returns only (loss, accuracy) and the state, so nothing shows the gradients it computed"),
    mistake("train_ignores_loss_fn", "4.2", S4,
            mutate(S4, "        loss = loss_fn(model(inputs), targets)\n",
                   "        loss = nn.functional.cross_entropy(model(inputs), targets)  # loss_fn ignored\n"),
            held="the train_one_epoch probe always passes nn.CrossEntropyLoss(): a loss_fn hard-wired to "
                   "cross-entropy is never seen (probes.py train_one_epoch)"),
    mistake("eval_ignores_loss_fn", "4.3", S4,
            mutate(S4, "            total += loss_fn(logits, targets).item() * len(targets)\n",
                   "            total += nn.functional.cross_entropy(logits, targets).item() * len(targets)\n"),
            held="the evaluate probe always passes nn.CrossEntropyLoss() (probes.py evaluate)"),
    mistake("fit_ignores_loss_fn", "4.4", S4,
            mutate(S4, FIT_EPOCH, FIT_EPOCH.replace("loss_fn", "nn.CrossEntropyLoss()")),
            held="the fit probe always passes nn.CrossEntropyLoss() (probes.py fit)"),
    mistake("loader_needs_a_seed", "3.2", S3,
            mutate(S3, "    generator = torch.Generator().manual_seed(seed) if seed is not None else None\n",
                   "    generator = torch.Generator().manual_seed(seed)  # TypeError when seed is None\n"),
            held="test_batches_cover_every_sample calls make_loader(dataset) with its defaults too: a crash on "
                 "seed=None loses that point"),
    mistake("dataset_length_check_one_way", "3.1", S3,
            mutate(S3, "        if len(data) != len(labels):\n", "        if len(data) > len(labels):\n"),
            held="test_length_mismatch_raises tries only data longer than labels (20 vs 19); labels longer "
                   "than data is accepted and scores"),
]


@pytest.mark.parametrize("wrong", MISTAKES)
def test_mistake_loses_points_in_its_task(rt, wrong):
    graded = rt.grade(rt.folder({wrong.file: with_prelude(wrong.text)}))
    assert graded.grade["errors"] == []
    others = {t: graded.earned(t) for t in TASKS if t != wrong.task and not graded.full(t)}
    if others:
        pytest.fail(f"{wrong.name}: other tasks lost points: {others}")
    assert not graded.full(wrong.task), f"{wrong.name}: task {wrong.task} kept full marks"
