"""What a student reads about a failed check, built one way for the grader and for the public checks alike:
the exception a failed check raises (Mismatch), plain data about an exception the student's code raised
(describe_error), the sentence that says it (raised), the hint that fits what it raised (hint_for, from the
table ERROR_HINTS), and the block that heads it with its task (block).
Kept free of torch, so the plugin can load before it and the public checks can ship it."""
from __future__ import annotations

import re
import traceback
from dataclasses import dataclass

from course import untrusted
from course.i18n import N_, _


class Mismatch(Exception):
    """A check failed: message says what, hint (optional) says what to look at.

    brief is the message without the expected values (what failed, not what was wanted), shown before the due
    date under the course's visibility policy; by default the message itself.

    Both often quote what the submission returned, raised or printed, so both are made safe here
    (course.untrusted.text: newlines kept, control and invisible characters escaped, length capped):
    every check's feedback passes through this class on its way to the student and the instructor.
    """

    def __init__(self, message: str, hint: str | None = None, brief: str | None = None) -> None:
        message = untrusted.text(message)
        super().__init__(message)
        self.message = message
        self.hint = None if hint is None else untrusted.text(hint)
        # the message without the expected values, for a check whose details a policy withholds (course.policy)
        self.brief = message if brief is None else untrusted.text(brief)


def describe_error(e: BaseException, stage: str, filename: str) -> dict:
    """Plain data about an exception: its type, message and the last line of submitted code it passed."""
    try:
        message = str(e)[:500]
    except Exception:
        message = "<unprintable message>"
    where = None
    for frame in traceback.extract_tb(e.__traceback__):
        if frame.filename == filename:
            where = {"line": frame.lineno, "function": frame.name, "code": (frame.line or "")[:200]}
    if isinstance(e, SyntaxError) and e.filename == filename:
        where = {"line": e.lineno, "function": "<module>", "code": (e.text or "").strip()[:200]}
    return {"stage": stage, "type": type(e).__name__, "message": message, "where": where,
            "not_implemented": isinstance(e, NotImplementedError) and not TORCH_NOT_IMPLEMENTED.search(message)}


# What torch raises as NotImplementedError for a method the class lacks (a misspelt forward or __getitem__):
# a mistake to point at (ERROR_HINTS), not a task left as the stub.
TORCH_NOT_IMPLEMENTED = re.compile(r'is missing the required "\w+" function|^Subclasses of \w+ should implement')


def raised(error: dict, file: str, task: str) -> str:
    """What the student reads about an exception of their code (describe_error's data, untrusted): not
    implemented yet, could not import the file, a name the file lacks, or what it raised and where."""
    if error.get("not_implemented"):
        named = re.search(r"Task (\d+\.\d+)", str(error.get("message")))
        return _("not implemented yet (Task {task})").format(task=named[1] if named else task)
    where = error.get("where") if isinstance(error.get("where"), dict) else {}
    at = _(" at {file} line {line}").format(file=file, line=where["line"]) if where.get("line") else ""
    code = f": {untrusted.line(where['code'])}" if where.get("code") else ""
    said = f"{untrusted.line(error.get('type'), 120)}: {error.get('message')}{at}{code}"
    if error.get("stage") == "import":
        sibling = re.fullmatch(r"No module named '(exercises|solutions|sec\d\w*)\b.*", str(error.get("message")))
        alone = _(" (each exercise file must stand alone: copy what you need instead of importing another)") if sibling else ""
        return _("could not import {file}: {error}").format(file=file, error=said) + alone
    missing = re.fullmatch(r"module '[\w.]+' has no attribute '(\w+)'", str(error.get("message")))
    if error.get("type") == "AttributeError" and missing and not where:
        return _("{file} defines no {name} (was it renamed or deleted?)").format(file=file, name=missing[1])
    return _("raised {error}").format(error=said)


@dataclass(frozen=True)
class ErrorHint:
    """One row of ERROR_HINTS: an exception of one of the types whose message matches pattern (searched; and whose
    line of student code matches code, when given) gets the hint HINTS[key], key being keys itself or keys[task]
    (keys[""] for a task the row does not name). The hint's {placeholders} are the pattern's named groups, quoted
    from the message and made safe."""

    types: str  # exception class names, space-separated
    pattern: str
    keys: str | dict[str, str]
    code: str = ""

    def key_for(self, task: str) -> str | None:
        return self.keys if isinstance(self.keys, str) else self.keys.get(task, self.keys.get(""))

    def all_keys(self) -> set[str]:
        return {self.keys} if isinstance(self.keys, str) else set(self.keys.values())


# what a matrix product says about the shapes it was given: (n x k) @ (rows x cols), in old torch and new
_MATMUL = (r"(?:shapes cannot be multiplied \(|size mismatch, m1: \[)(?P<n>\d+) ?x ?(?P<k>\d+)"
           r"(?: and |\], m2: \[)(?P<rows>\d+) ?x ?(?P<cols>\d+)")
_CONTRACT = (r"(?:\w+\.)?(?P<func>linear_forward|parameter_shapes|count_parameters|first_layer_for|__init__|forward|"
             r"gradients|__len__|__getitem__|make_loader|train_val_split|cross_entropy|train_one_epoch|evaluate|fit)\(\) "
             r"(?:takes|missing|got an unexpected)")

HINTS = {  # key -> English hint; its {names} come from the pattern of the row that chose it
    "matmul-weight": N_("x @ weight multiplies ({n}, {k}) by ({rows}, {cols}): the inner sizes {k} and {rows} differ; weight "
                        "is (out_features, in_features), so multiply by its transpose, ({cols}, {rows})"),
    "matmul-forward": N_("a ({n}, {k}) tensor went into a layer made for {rows} features, nn.Linear({rows}, {cols}): each "
                         "layer takes the output of the one before it (fc1, then fc2, then output); check which tensor "
                         "goes into which layer"),
    "matmul": N_("a ({n}, {k}) tensor went into a layer (or @) that expects {rows} features: the last axis of a Linear's "
                 "input must equal its in_features; print the shapes before this line"),
    "matmul-dtype": N_("the input is {a} and the weights are {b}: keep one floating dtype, float32 (data from numpy is "
                       "float64; .float() converts it)"),
    "state-size": N_("{name} should have shape ({want}) but your layer makes ({got}): size each layer from the arguments"),
    "broadcast-bias": N_("an elementwise operation met sizes {a} and {b} on axis {dim}: the bias has out_features entries "
                         "and goes onto x @ weight.T, whose last axis is out_features"),
    "broadcast": N_("an elementwise operation (+, -, *, /) met sizes {a} and {b} on axis {dim}: there the shapes must "
                    "match or one must be 1; print both shapes (keepdim=True keeps a reduced axis)"),
    "reshape": N_("a view or reshape to [{shape}] needs exactly {size} elements: let -1 stand for the axis that follows "
                  "from the others, and keep the batch axis as it is"),
    "view-stride": N_("this tensor is not contiguous in memory: use .reshape(...) instead of .view(...)"),
    "stack": N_("the DataLoader stacks the samples of a batch, and two had shapes [{a}] and [{b}]: __getitem__ must "
                "give every sample the same shape"),
    "target-dtype": N_("cross-entropy takes the targets as class indices of dtype long (int64), as the loader gives "
                       "them: do not convert them with .float()"),
    "target-shape": N_("cross-entropy takes targets of shape (N,), one class index per sample: do not unsqueeze them "
                       "or one-hot them"),
    "gather-dtype": N_("gather takes an integer index: target holds class indices of dtype long; keep it so"),
    "dtype": N_("a {got} tensor met a {want} one: keep one dtype, float32 for data and outputs (data from numpy is "
                "float64; .float() converts it)"),
    "cast": N_("an in-place update (+=, -=) would store a {got} value in a {want} tensor: start a running total as a "
               "Python number (0.0) and add .item() values"),
    "mean-int-accuracy": N_("mean() of a {got} tensor: turn the comparisons that count correct predictions into "
                            "floats first (.float())"),
    "mean-int": N_("mean() of a {got} tensor, which holds integers: did labels or counts reach this line? .float() "
                   "converts a tensor that is meant to be averaged"),
    "no-graph-gradients": N_("backward() found no graph: compute the loss from model(x), outside torch.no_grad(), and "
                             "keep it a tensor (no .item() or .detach() before backward())"),
    "no-graph-evaluate": N_("evaluate needs no backward(): under torch.no_grad() nothing has a gradient; remove "
                            "backward() and any optimizer step from evaluate"),
    "no-graph-loss": N_("the loss must stay connected to logits: build it from tensor operations only, without .item(), "
                        ".detach() or torch.tensor(...)"),
    "no-graph": N_("backward() was called on a value with no graph behind it: it was computed under torch.no_grad(), "
                   "or from .item(), .detach() or torch.tensor(...)"),
    "backward-twice-epoch": N_("each batch needs its own forward pass and one backward(): add loss.item(), a number, to "
                               "the running total (not the loss tensor) and call backward() on this batch's loss only"),
    "backward-twice": N_("backward() ran twice through one graph: make a fresh forward pass and loss for every "
                         "backward(), and keep running totals as numbers (loss.item())"),
    "inplace": N_("a tensor autograd still needed was changed in place (+=, -=, relu_(), x[...] = ...) before "
                  "backward(): write the result to a new tensor instead"),
    "leaf-inplace-logits": N_("logits carries a gradient, so it cannot be changed in place (logits -= ...): put the "
                              "result in a new tensor"),
    "leaf-inplace": N_("a tensor that requires grad (a parameter, or an input that carries a gradient) was changed in "
                       "place: put the result in a new tensor; change weights by hand only under torch.no_grad()"),
    "not-scalar": N_("backward() needs one number: reduce the loss to a scalar (.mean()) before calling it"),
    "none-grad": N_("a .grad is None: backward() fills it, so read p.grad after loss.backward(), and clear gradients "
                    "before backward(), not after it"),
    "none": N_("a value is None where your code uses .{attr}: a function that ends without return gives None"),
    "none-value": N_("a value is None where your code needs a real one: an argument left at its default None, or a "
                     "function that ends without return"),
    "item": N_("item() or float() needs a tensor of one element and this one holds {n}: reduce it first (.sum(), "
               ".mean())"),
    "item-many": N_("item() or float() needs a tensor of one element: reduce it first (.sum(), .mean())"),
    "truth": N_("if, and, or and not need one truth value and this tensor holds several: compare single numbers, "
                "or use .all() or .any()"),
    "index-dataset": N_("index {i} is past the end of {size} samples: __len__ must be the number of samples, and "
                        "__getitem__ must index data and labels with idx as it is"),
    "index": N_("index {i} on an axis of size {size}: valid indices run from 0 to one less than {size}; print the "
                "shape and the index"),
    "target-range": N_("target {t} is not a class of these logits: targets run from 0 to C - 1, C being the size of "
                       "the logits' last axis; give loss_fn the model's output first, the targets second"),
    "dim-linear": N_("x may have one axis or several: name the feature axis -1 (the last one), not a fixed number"),
    "dim": N_("this tensor has no dim {got} (valid: {lo} to {hi}): print its .shape; -1 is always the last axis"),
    "too-many-indices": N_("the tensor has {d} axes and is indexed with more: print its .shape"),
    "unpack-fit": N_("fit unpacks a result into {n} names: with the stand-ins train_one_epoch gives one number and "
                     "evaluate a pair (loss, accuracy)"),
    "unpack-batch": N_("each batch from the loader is a pair (inputs, targets): unpack it into exactly two names"),
    "unpack": N_("the left side names {n} values and the right side holds another number: print what you unpack "
                 "(its type and len())"),
    "unpack-one-fit": N_("a {kind} cannot be unpacked: with the stand-ins train_one_epoch gives one number; only "
                         "evaluate gives a pair"),
    "unpack-one": N_("a {kind} is one value and cannot be unpacked into several names (a function that ends without "
                     "return gives None)"),
    "signature": N_("the grader calls {func} as the stub declares it: keep its parameters (names, order and defaults) "
                    "as they are"),
    "not-callable": N_("a {kind} was called like a function: a name that held a function or a layer got another value "
                       "(e.g. loss = loss(...)); give the result a new name"),
    "no-len": N_("len() of a {kind} needs __len__: define __len__(self) in the class, with two underscores on each "
                 "side"),
    "not-int": N_("a {kind} where an int is needed (a size, a count or an index): convert it with round() or int()"),
    "not-tensor": N_("a torch function got a {kind} where it needs a tensor: check what you pass, or make a tensor "
                     "of it (torch.tensor, torch.stack)"),
    "collate": N_("the DataLoader cannot batch samples of type {kind}: __getitem__ must give tensors (or numbers)"),
    "no-super": N_("call super().__init__() first in __init__, before any layer is assigned"),
    "float-item-fit": N_("with the stand-ins train_one_epoch returns a float already: use it as it is, without .{attr}"),
    "number-attr": N_("a Python {kind} has no .{attr}: this value is already a plain number (.item() is for tensors "
                      "of one element)"),
    "list-attr-fit": N_("each loader here is a list of (inputs, targets) batches and has no .{attr}: leave the loaders "
                        "to train_one_epoch and evaluate"),
    "list-attr": N_("a {kind} has no .{attr}: make a tensor of it (torch.tensor, torch.stack), or work on the "
                    "tensors it holds"),
    "layer-name": N_("forward uses self.{attr}, which __init__ never sets: the layers are self.fc1, self.fc2 and "
                     "self.output"),
    "attr": N_("this {kind} has no attribute {attr}: check its spelling, that __init__ sets it (self.{attr} = ...), "
               "and that the value is of the type you expect"),
    "module-attr": N_("{module} has no {attr}: check its spelling and capitals (nn.ReLU, torch.relu, "
                      "nn.functional.relu)"),
    "import-F": N_("F is not defined: add import torch.nn.functional as F at the top of your file"),
    "name": N_("{name} is used but never defined: a variable or parameter, then check its spelling against where it "
               "is set; a module, then import it at the top of your file (each exercise file stands alone)"),
    "unbound": N_("{name} gets a value somewhere in this function, so Python treats it as local throughout: give it "
                  "its first value before the line that reads it (a running total starts at 0.0 before the loop)"),
    "recursion-forward": N_("forward calls itself: self(x) or self.forward(x) inside forward runs forward again; "
                            "call the layers self.fc1, self.fc2 and self.output"),
    "recursion-dataset": N_("__len__ or __getitem__ calls itself: len(self) or self[idx] inside them runs them again; "
                            "use self.data and self.labels"),
    "recursion": N_("a function calls itself without end (self(...) inside forward, len(self) inside __len__, or a "
                    "function calling itself by name)"),
    "key-history": N_("history has no key {key} yet: make it a dict with the keys train_loss and val_loss, each an "
                      "empty list, before the first epoch"),
    "key": N_("a dict has no key {key}: print its keys() before this line"),
    "own-raise-layer": N_("your own check refused data the contract allows: raise ValueError only for data with fewer "
                          "than 2 axes"),
    "own-raise-dataset": N_("your own check refused data and labels of the same length: raise ValueError only when "
                            "their lengths differ"),
    "own-raise": N_("your own check refused an input the contract allows: compare its condition with the stub's "
                    "docstring"),
    "cuda": N_("the grader runs on the CPU only: leave tensors and the model where they are (no .cuda() or "
               ".to('cuda')), or choose cuda only when torch.cuda.is_available()"),
    "batch-size": N_("the loss got {a} predictions for {b} targets: give loss_fn the model's output for the same batch "
                     "as the targets, with the batch axis first"),
    "split-sizes": N_("the sizes given to random_split must add up to len(dataset): validation gets round(n * "
                      "val_fraction) samples, training the rest"),
    "sampler": N_("give DataLoader either shuffle or a sampler, not both"),
    "seed-none": N_("seed may be None (the default): seed a generator only when a seed is given"),
    "zero-count": N_("a count you divide by stayed 0: add the number of samples (len(targets)) for every batch of the "
                     "loop"),
    "zero": N_("a divisor was 0: print it before this line"),
    "memory": N_("your code asked for more memory than the grader allows: a broadcast such as (N,) against (N, 1) "
                 "makes (N, N); print the shapes"),
    "no-forward": N_("SimpleNN has no method forward: check its spelling, and that it is indented inside the class"),
    "no-getitem": N_("CustomDataset has no method __getitem__: check its spelling (two underscores on each side) and "
                     "its indentation"),
}

ERROR_HINTS = [  # the first row that fits wins; within a row, the task's own hint, else the hint for any task ("")
    ErrorHint("RuntimeError", _MATMUL, {"1.1": "matmul-weight", "2.2": "matmul-forward", "": "matmul"}),
    ErrorHint("RuntimeError", r"mat1 and mat2 must have the same dtype, but got (?P<a>\w+) and (?P<b>\w+)", "matmul-dtype"),
    ErrorHint("RuntimeError", r"size mismatch for (?P<name>[\w.]+): copying a param with shape torch\.Size\(\[(?P<want>[\d, ]+)\]\)"
              r" from checkpoint, the shape in current model is torch\.Size\(\[(?P<got>[\d, ]+)\]\)", "state-size"),
    ErrorHint("RuntimeError", r"The size of tensor a \((?P<a>\d+)\) must match the size of tensor b \((?P<b>\d+)\) at "
              r"non-singleton dimension (?P<dim>\d+)", {"1.1": "broadcast-bias", "": "broadcast"}),
    ErrorHint("RuntimeError", r"shape '\[(?P<shape>[-\d, ]+)\]' is invalid for input of size (?P<size>\d+)", "reshape"),
    ErrorHint("RuntimeError", r"view size is not compatible with input tensor's size and stride", "view-stride"),
    ErrorHint("RuntimeError", r"stack expects each tensor to be equal size, but got \[(?P<a>[\d, ]*)\] at entry \d+ and "
              r"\[(?P<b>[\d, ]*)\]", "stack"),
    ErrorHint("RuntimeError", r"expected target dtype to be Long|expected scalar type Long but found", "target-dtype"),
    ErrorHint("RuntimeError", r"0D or 1D target tensor expected|Expected floating point type for target with class "
              r"probabilities", "target-shape"),
    ErrorHint("RuntimeError", r"gather\(\): Expected dtype int(?:32/int)?64 for index", "gather-dtype"),
    ErrorHint("RuntimeError", r"Found dtype (?P<got>\w+) but expected (?P<want>\w+)", "dtype"),
    ErrorHint("RuntimeError", r"result type (?P<got>\w+) can't be cast to the desired output type (?P<want>\w+)", "cast"),
    ErrorHint("RuntimeError", r"mean\(\): could not infer output dtype.*Got: (?P<got>\w+)",
              {"4.3": "mean-int-accuracy", "": "mean-int"}),
    ErrorHint("RuntimeError", r"does not require grad and does not have a grad_fn",
              {"2.3": "no-graph-gradients", "4.3": "no-graph-evaluate", "4.1": "no-graph-loss", "": "no-graph"}),
    ErrorHint("RuntimeError", r"Trying to backward through the graph a second time",
              {"4.2": "backward-twice-epoch", "": "backward-twice"}),
    ErrorHint("RuntimeError", r"modified by an inplace operation", "inplace"),
    ErrorHint("RuntimeError", r"a leaf Variable that requires grad is being used in an in-place",
              {"4.1": "leaf-inplace-logits", "": "leaf-inplace"}),
    ErrorHint("RuntimeError", r"grad can be implicitly created only for scalar outputs", "not-scalar"),
    ErrorHint("RuntimeError", r"a Tensor with (?P<n>\d+) elements cannot be converted to Scalar", "item"),
    ErrorHint("ValueError", r"only one element tensors can be converted to Python scalars", "item-many"),
    ErrorHint("RuntimeError", r"Boolean value of Tensor with more than one value is ambiguous", "truth"),
    ErrorHint("RuntimeError", r"manual_seed expected a long, but got NoneType", "seed-none"),
    ErrorHint("AssertionError RuntimeError", r"Torch not compiled with CUDA|Found no NVIDIA driver|No CUDA GPUs", "cuda"),
    ErrorHint("RuntimeError OutOfMemoryError", r"can't allocate memory|not enough memory|out of memory", "memory"),
    ErrorHint("MemoryError", r"", "memory"),
    ErrorHint("IndexError RuntimeError", r"index (?P<i>-?\d+) is out of bounds for dimension \d+ with size (?P<size>\d+)",
              {"3.1": "index-dataset", "": "index"}),
    ErrorHint("IndexError", r"Target (?P<t>-?\d+) is out of bounds", "target-range"),
    ErrorHint("IndexError", r"Dimension out of range \(expected to be in range of \[(?P<lo>-?\d+), (?P<hi>-?\d+)\], but got "
              r"(?P<got>-?\d+)\)", {"1.1": "dim-linear", "": "dim"}),
    ErrorHint("IndexError", r"too many indices for tensor of dimension (?P<d>\d+)", "too-many-indices"),
    ErrorHint("ValueError", r"(?:too many|not enough) values to unpack \(expected (?P<n>\d+)",
              {"4.4": "unpack-fit", "4.2": "unpack-batch", "4.3": "unpack-batch", "": "unpack"}),
    ErrorHint("TypeError", r"cannot unpack non-iterable (?P<kind>\w+) object", {"4.4": "unpack-one-fit", "": "unpack-one"}),
    ErrorHint("TypeError", _CONTRACT, "signature"),
    ErrorHint("TypeError", r"'NoneType' object is not (?:iterable|subscriptable)|object of type 'NoneType' has no len|"
              r"unsupported operand type\(s\) for .*'NoneType'", "none-value"),
    ErrorHint("TypeError", r"^'(?P<kind>\w+)' object is not callable", "not-callable"),
    ErrorHint("TypeError", r"^object of type '(?P<kind>\w+)' has no len\(\)", "no-len"),
    ErrorHint("TypeError", r"^'(?P<kind>\w+)' object cannot be interpreted as an integer", "not-int"),
    ErrorHint("TypeError", r"must be int, not (?P<kind>\w+)", "not-int"),
    ErrorHint("TypeError", r"must be Tensor, not (?P<kind>\w+)", "not-tensor"),
    ErrorHint("TypeError", r"default_collate: batch must contain .*found <class '(?P<kind>[\w.]+)'>", "collate"),
    ErrorHint("AttributeError", r"cannot assign module before Module\.__init__\(\) call", "no-super"),
    ErrorHint("AttributeError", r"^'NoneType' object has no attribute '(?P<attr>\w+)'", {"2.3": "none-grad", "": "none"}),
    ErrorHint("AttributeError", r"^'(?P<kind>float|int)' object has no attribute '(?P<attr>\w+)'",
              {"4.4": "float-item-fit", "": "number-attr"}),
    ErrorHint("AttributeError", r"^'(?P<kind>list|tuple)' object has no attribute '(?P<attr>\w+)'", {"4.4": "list-attr-fit", "": "list-attr"}),
    ErrorHint("AttributeError", r"^'SimpleNN' object has no attribute '(?P<attr>\w+)'", {"2.2": "layer-name"}),
    ErrorHint("AttributeError", r"^module '(?P<module>[\w.]+)' has no attribute '(?P<attr>\w+)'", "module-attr"),
    ErrorHint("AttributeError", r"^'(?P<kind>\w+)' object has no attribute '(?P<attr>\w+)'", "attr"),
    ErrorHint("NameError", r"^name 'F' is not defined", "import-F"),
    ErrorHint("NameError", r"^name '(?P<name>\w+)' is not defined", "name"),
    ErrorHint("UnboundLocalError", r"local variable '(?P<name>\w+)'", "unbound"),
    ErrorHint("RecursionError", r"maximum recursion depth",
              {"2.2": "recursion-forward", "3.1": "recursion-dataset", "": "recursion"}),
    ErrorHint("KeyError", r"^'?(?P<key>[^']{1,60})'?$", {"4.4": "key-history", "": "key"}),
    ErrorHint("ValueError", r"Expected input batch_size \((?P<a>\d+)\) to match target batch_size \((?P<b>\d+)\)", "batch-size"),
    ErrorHint("ValueError", r"Sum of input lengths does not equal the length of the input dataset", "split-sizes"),
    ErrorHint("ValueError", r"sampler option is mutually exclusive with shuffle", "sampler"),
    ErrorHint("ValueError TypeError RuntimeError AssertionError", r"",
              {"1.3": "own-raise-layer", "3.1": "own-raise-dataset", "": "own-raise"}, code=r"^(?:raise|assert)\b"),
    ErrorHint("ZeroDivisionError", r"", {"4.2": "zero-count", "4.3": "zero-count", "": "zero"}),
    ErrorHint("NotImplementedError", r'is missing the required "forward" function', "no-forward"),
    ErrorHint("NotImplementedError", r"should implement __getitem__", "no-getitem"),
]
# hints after which the check's own hint still fits, as the next line: they say what went wrong where, and the
# check's hint what the task expects there (of the layers, the arguments, the stand-ins); the others say the fix
KEEPS_THE_CHECKS_HINT = {"matmul", "state-size", "broadcast", "mean-int", "none-value", "none", "number-attr", "list-attr",
                         "attr", "index", "dim", "too-many-indices", "unpack", "unpack-fit", "unpack-one", "unpack-one-fit",
                         "float-item-fit", "list-attr-fit", "key", "not-tensor", "not-int", "item", "item-many"}


def error_hint(error: dict, task: str) -> tuple[str, bool] | None:
    """(the hint of the first row of ERROR_HINTS that fits error, describe_error's data from student code, raised in
    task; whether the check's own hint still fits after it), or None. What it quotes of the message is made safe."""
    kind, message = str(error.get("type")), str(error.get("message"))[:500]
    where = error.get("where") if isinstance(error.get("where"), dict) else {}
    code = str(where.get("code") or "").strip()
    for row in ERROR_HINTS:
        key = row.key_for(task)
        if key is None or kind not in row.types.split():
            continue
        found = re.search(row.pattern, message)
        if found and (not row.code or re.search(row.code, code)):
            quoted = {name: untrusted.line(value, 60) for name, value in found.groupdict(default="").items()}
            return _(HINTS[key]).format(**quoted), key in KEEPS_THE_CHECKS_HINT
    return None


def hint_for(error: dict, task: str, hint: str | None = None) -> str | None:
    """The hint for a check whose call into student code raised error (describe_error's data): the hint for what
    it raised (error_hint), with the check's own hint on the next line where that still fits; the check's own
    hint alone when no row fits; none for a task not implemented yet."""
    if error.get("not_implemented"):
        return None
    found = error_hint(error, task)
    if found is None:
        return hint
    said, keep = found
    return f"{said}\n{hint}" if keep and hint else said


def printed(output: str) -> str:
    """The last lines the student's code printed during a check, to show under what went wrong ("" if none)."""
    lines = untrusted.text(output, None).strip().splitlines()[-5:]
    return ("  " + _("your code printed (last lines):") + "\n" + "\n".join(f"    | {line[:160]}" for line in lines)
            if lines else "")


def block(task: str, function: str, title: str, message: str, hint: str | None = None, printed: str = "",
          points: float | None = None) -> str:
    """A failed check as the student reads it: "Task 2.2 (SimpleNN.forward), 2 pt: <what was checked>", then
    what went wrong, what the code printed and the hint, made safe to show anywhere."""
    named = f"Task {task}{f' ({function})' if function else ''}"
    head = (_("{task}, {points} pt: {title}").format(task=named, points=f"{points:g}", title=title) if points is not None
            else _("{task}: {title}").format(task=named, title=title))
    body = f"  {message}"
    if printed and printed not in message:
        body += "\n" + printed
    if hint:  # a second line of the hint (hint_for: the check's own, after the one for what was raised)
        first, *more = hint.split("\n")
        body += "\n  " + _("hint: {hint}").format(hint=first)
        body += "".join("\n  " + _("also: {hint}").format(hint=line) for line in more if line.strip())
    return untrusted.text(f"{head}\n{body}")
