"""Hints chosen by what student code raised (course.feedback.ERROR_HINTS): one planted mistake per kind of error,
graded; the failure says the hint for that error in that task, and the student keeps the points of every task
that works. A table of real messages proves each row of ERROR_HINTS is reachable and quotes what it quotes safely.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import pytest
import torch
from conftest import GRADER, ROOT, S1, S2, S3, S4, SOLUTIONS, mutate, submission_from_solutions

from course import feedback, i18n
from course.content.curriculum import TASKS

SEED = "20240611"


@dataclass(frozen=True)
class Planted:
    """The reference with old replaced by new in file; the task it breaks must say the hint HINTS[key] (and says,
    the part of it quoted from the message, when given)."""

    name: str
    file: str
    old: str
    new: str
    task: str
    key: str
    says: str = ""
    lang: str = "en"


PLANTED = [
    Planted("x_at_weight", S1, "y = x @ weight.T", "y = x @ weight", "1.1", "matmul-weight",
            "x @ weight multiplies (5, 11) by (64, 11): the inner sizes 11 and 64 differ"),
    Planted("bias_without_default", S1, "bias: torch.Tensor | None = None)", "bias: torch.Tensor | None)", "1.1",
            "signature", "the grader calls linear_forward as the stub declares it"),
    Planted("bias_renamed", S1, "def linear_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None)",
            "def linear_forward(x: torch.Tensor, weight: torch.Tensor, b: torch.Tensor | None = None)", "1.1", "name",
            "bias is used but never defined: a variable or parameter"),
    Planted("refuses_valid_data", S1, "if data.dim() < 2:", "if data.dim() >= 2:", "1.3", "own-raise-layer"),
    Planted("fc1_skipped", S2, "h = torch.relu(self.fc1(x))  #", "h = x  #", "2.2", "matmul-forward",
            "a (6, 11) tensor went into a layer made for 64 features, nn.Linear(64, 32)"),
    Planted("fc1_skipped_ko", S2, "h = torch.relu(self.fc1(x))  #", "h = x  #", "2.2", "matmul-forward",
            "(6, 11) 텐서가 특징 64개용 레이어 nn.Linear(64, 32)에 들어갔습니다", lang="ko"),
    Planted("layer_typo", S2, "h = torch.relu(self.fc2(h))  #", "h = torch.relu(self.hidden2(h))  #", "2.2", "layer-name",
            "forward uses self.hidden2"),
    Planted("forward_misspelt", S2, "def forward(self, x: torch.Tensor)", "def foward(self, x: torch.Tensor)", "2.2",
            "no-forward"),
    Planted("forward_calls_itself", S2, "return self.output(h)  #", "return self(x)  #", "2.2", "recursion-forward"),
    Planted("no_super_init", S2, "        super().__init__()\n", "", "2.1", "no-super"),
    Planted("loss_under_no_grad", S2, "    loss = loss_fn(model(x), target)\n",
            "    with torch.no_grad():\n        loss = loss_fn(model(x), target)\n", "2.3", "no-graph-gradients"),
    Planted("gradients_on_cuda", S2, "    model.zero_grad()\n", "    model.cuda()\n    model.zero_grad()\n", "2.3", "cuda"),
    Planted("getitem_past_the_end", S3, "return sample, self.labels[idx]", "return sample, self.labels[idx + 1]", "3.1",
            "index-dataset", "index 23 is past the end of 23 samples"),
    Planted("len_calls_itself", S3, "return len(self.data)", "return len(self)", "3.1", "recursion-dataset"),
    Planted("length_check_inverted", S3, "if len(data) != len(labels):", "if len(data) == len(labels):", "3.1",
            "own-raise-dataset"),
    Planted("seed_none_seeded", S3, "torch.Generator().manual_seed(seed) if seed is not None else None",
            "torch.Generator().manual_seed(seed)", "3.2", "seed-none"),
    Planted("ce_without_import", S4, "    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()  # (N, C)\n",
            "    log_probs = F.log_softmax(shifted, dim=1)\n", "4.1", "import-F"),
    Planted("ce_shift_in_place", S4, "    shifted = logits - logits.max(dim=1, keepdim=True).values  #",
            "    logits -= logits.max(dim=1, keepdim=True).values\n    shifted = logits  #", "4.1", "leaf-inplace-logits"),
    Planted("float_targets", S4, "loss = loss_fn(model(inputs), targets)", "loss = loss_fn(model(inputs), targets.float())",
            "4.2", "target-dtype"),
    Planted("float_targets_ko", S4, "loss = loss_fn(model(inputs), targets)", "loss = loss_fn(model(inputs), targets.float())",
            "4.2", "target-dtype", "dtype long(int64)의 클래스 인덱스", lang="ko"),
    Planted("backward_twice", S4, "        loss.backward()\n        optimizer.step()\n",
            "        loss.backward()\n        loss.backward()\n        optimizer.step()\n", "4.2", "backward-twice-epoch"),
    Planted("count_never_grows", S4, "        total += loss.item() * len(targets)\n        count += len(targets)\n",
            "        total += loss.item() * len(targets)\n", "4.2", "zero-count"),
    Planted("backward_in_evaluate", S4, "            total += loss_fn(logits, targets).item() * len(targets)\n",
            "            loss = loss_fn(logits, targets)\n            loss.backward()\n"
            "            total += loss.item() * len(targets)\n", "4.3", "no-graph-evaluate"),
    Planted("total_never_set", S4, "    total, correct, count = 0.0, 0, 0\n", "    correct, count = 0, 0\n", "4.3", "unbound",
            "total gets a value somewhere in this function"),
    Planted("mean_of_longs", S4, "correct += (logits.argmax(dim=1) == targets).sum().item()",
            "correct += (logits.argmax(dim=1) == targets).long().mean().item() * len(targets)", "4.3", "mean-int-accuracy"),
    Planted("unpacks_three", S4, "val_loss, _ = evaluate(model, val_loader, loss_fn)",
            "val_loss, _, _ = evaluate(model, val_loader, loss_fn)", "4.4", "unpack-fit", "fit unpacks a result into 3 names"),
    Planted("history_without_val", S4, '{"train_loss": [], "val_loss": []}', '{"train_loss": []}', "4.4", "key-history",
            "history has no key val_loss yet"),
    Planted("item_of_a_float", S4, "train_one_epoch(model, train_loader, loss_fn, optimizer))",
            "train_one_epoch(model, train_loader, loss_fn, optimizer).item())", "4.4", "float-item-fit"),
]


def hint_line(key: str, lang: str) -> str:
    """How the hint's line begins in the feedback: "  hint: " and the hint's text up to its first placeholder."""
    with i18n.using(lang):
        return "  " + i18n._("hint: {hint}").format(hint=i18n._(feedback.HINTS[key]).split("{")[0])


@pytest.mark.parametrize("case", PLANTED, ids=lambda c: c.name)
def test_a_raised_error_gets_its_hint_and_the_working_tasks_keep_their_points(case, grade, tmp_path):
    folder = submission_from_solutions(tmp_path / case.name, {case.file: mutate(case.file, case.old, case.new)})
    graded = grade(folder, "--grader-seed", SEED, "--lang", case.lang)
    assert graded.grade["errors"] == []
    lost = [t for t in TASKS if not graded.full(t)]
    assert lost == [case.task], f"{case.name}: lost points in {lost}"
    blocks = graded.feedback(case.task)
    raised = [b for b in blocks if "RuntimeError" in b or "Error:" in b]
    assert raised, "\n".join(blocks)
    first = raised[0].splitlines()
    start = hint_line(case.key, case.lang)
    assert any(line.startswith(start) for line in first), f"{case.name}: no line starts with {start!r}:\n{raised[0]}"
    assert case.says in raised[0], raised[0]
    assert "Traceback" not in raised[0] and "grader/" not in raised[0]


def test_the_checks_own_hint_follows_where_it_still_fits(grade, tmp_path):
    """fit unpacking a third value: the hint for the unpacking, then the check's own hint about the stand-ins."""
    case = next(c for c in PLANTED if c.name == "unpacks_three")
    folder = submission_from_solutions(tmp_path / case.name, {case.file: mutate(case.file, case.old, case.new)})
    block = grade(folder, "--grader-seed", SEED).feedback("4.4")[0].splitlines()
    at = next(i for i, line in enumerate(block) if line.startswith("  hint: "))
    assert block[at + 1].startswith("  also: fit is graded with stand-ins"), "\n".join(block)


def message_of(call) -> str:
    try:
        call()
    except BaseException as e:  # noqa: B036  the message torch gives, whatever it is
        return str(e)
    raise AssertionError("no error")


x11 = torch.rand(4, 11)
EXAMPLES = [  # (row key, exception type, message, task, the line of student code): each row of ERROR_HINTS once
    ("matmul-weight", "RuntimeError", message_of(lambda: x11 @ torch.rand(64, 11)), "1.1", ""),
    ("matmul-forward", "RuntimeError", message_of(lambda: torch.nn.Linear(64, 32)(x11)), "2.2", ""),
    ("matmul", "RuntimeError", "size mismatch, m1: [4 x 11], m2: [64 x 32] at ../aten/src/TH/generic/THTensorMath.cpp", "4.2", ""),
    ("matmul-dtype", "RuntimeError", message_of(lambda: torch.nn.Linear(11, 3)(x11.double())), "2.2", ""),
    ("state-size", "RuntimeError", message_of(lambda: torch.nn.Linear(5, 3).load_state_dict(torch.nn.Linear(11, 3).state_dict())),
     "2.2", ""),
    ("broadcast-bias", "RuntimeError", message_of(lambda: torch.rand(4, 64) + torch.rand(11)), "1.1", ""),
    ("broadcast", "RuntimeError", message_of(lambda: torch.rand(4, 64) + torch.rand(11)), "4.1", ""),
    ("reshape", "RuntimeError", message_of(lambda: torch.rand(3, 11).view(4, 11)), "2.2", ""),
    ("view-stride", "RuntimeError", message_of(lambda: torch.rand(3, 4).T.view(12)), "2.2", ""),
    ("stack", "RuntimeError", message_of(lambda: torch.stack([torch.rand(11), torch.rand(1, 11)])), "3.2", ""),
    ("target-dtype", "RuntimeError", message_of(lambda: torch.nn.functional.cross_entropy(torch.rand(4, 3), torch.zeros(4))),
     "4.2", ""),
    ("target-shape", "RuntimeError", message_of(lambda: torch.nn.functional.cross_entropy(
        torch.rand(4, 3), torch.zeros(4, 1, dtype=torch.long))), "4.2", ""),
    ("gather-dtype", "RuntimeError", message_of(lambda: torch.rand(4, 3).gather(1, torch.zeros(4, 1))), "4.1", ""),
    ("dtype", "RuntimeError", "Found dtype Double but expected Float", "4.2", ""),
    ("cast", "RuntimeError", message_of(lambda: torch.zeros(2, dtype=torch.long).__iadd__(0.5)), "4.3", ""),
    ("mean-int-accuracy", "RuntimeError", message_of(lambda: torch.tensor([1, 2]).mean()), "4.3", ""),
    ("mean-int", "RuntimeError", message_of(lambda: torch.tensor([1, 2]).mean()), "3.1", ""),
    ("no-graph-gradients", "RuntimeError", message_of(lambda: torch.rand(3).sum().backward()), "2.3", ""),
    ("no-graph-evaluate", "RuntimeError", message_of(lambda: torch.rand(3).sum().backward()), "4.3", ""),
    ("no-graph-loss", "RuntimeError", message_of(lambda: torch.rand(3).sum().backward()), "4.1", ""),
    ("no-graph", "RuntimeError", message_of(lambda: torch.rand(3).sum().backward()), "4.2", ""),
    ("backward-twice-epoch", "RuntimeError", "Trying to backward through the graph a second time (or directly ...", "4.2", ""),
    ("backward-twice", "RuntimeError", "Trying to backward through the graph a second time (or directly ...", "2.3", ""),
    ("inplace", "RuntimeError", "one of the variables needed for gradient computation has been modified by an inplace "
     "operation: [torch.FloatTensor [3]], which is output 0 of ExpBackward0", "2.3", ""),
    ("leaf-inplace-logits", "RuntimeError", "a leaf Variable that requires grad is being used in an in-place operation.",
     "4.1", ""),
    ("leaf-inplace", "RuntimeError", "a leaf Variable that requires grad is being used in an in-place operation.", "4.2", ""),
    ("not-scalar", "RuntimeError", message_of(lambda: torch.rand(3, requires_grad=True).mul(2).backward()), "2.3", ""),
    ("item", "RuntimeError", message_of(lambda: torch.rand(3).item()), "4.3", ""),
    ("item-many", "ValueError", "only one element tensors can be converted to Python scalars", "4.3", ""),
    ("truth", "RuntimeError", message_of(lambda: bool(torch.rand(3) > 0)), "4.3", ""),
    ("seed-none", "RuntimeError", message_of(lambda: torch.Generator().manual_seed(None)), "3.2", ""),
    ("cuda", "AssertionError", "Torch not compiled with CUDA enabled", "2.3", ""),
    ("memory", "RuntimeError", "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you "
     "tried to allocate 40000000000 bytes.", "4.1", ""),
    ("memory", "MemoryError", "", "4.1", ""),
    ("index-dataset", "IndexError", message_of(lambda: torch.rand(23, 11)[23]), "3.1", ""),
    ("index", "IndexError", message_of(lambda: torch.rand(23, 11)[23]), "4.1", ""),
    ("target-range", "IndexError", "Target 5 is out of bounds.", "4.2", ""),
    ("dim-linear", "IndexError", message_of(lambda: torch.rand(11).max(dim=1)), "1.1", ""),
    ("dim", "IndexError", message_of(lambda: torch.rand(11).max(dim=1)), "4.1", ""),
    ("too-many-indices", "IndexError", message_of(lambda: torch.rand(11)[0, 1]), "4.1", ""),
    ("unpack-fit", "ValueError", "too many values to unpack (expected 2)", "4.4", ""),
    ("unpack-batch", "ValueError", "not enough values to unpack (expected 3, got 2)", "4.3", ""),
    ("unpack", "ValueError", "too many values to unpack (expected 2)", "3.3", ""),
    ("unpack-one-fit", "TypeError", "cannot unpack non-iterable float object", "4.4", ""),
    ("unpack-one", "TypeError", "cannot unpack non-iterable NoneType object", "3.3", ""),
    ("signature", "TypeError", "SimpleNN.__init__() takes from 1 to 3 positional arguments but 4 were given", "2.1", ""),
    ("none-value", "TypeError", "'NoneType' object is not iterable", "3.1", ""),
    ("not-callable", "TypeError", "'Tensor' object is not callable", "4.2", ""),
    ("no-len", "TypeError", "object of type 'CustomDataset' has no len()", "3.1", ""),
    ("not-int", "TypeError", "'float' object cannot be interpreted as an integer", "3.3", ""),
    ("not-int", "TypeError", "randperm(): argument 'n' (position 1) must be int, not float", "3.3", ""),
    ("not-tensor", "TypeError", "linear(): argument 'input' (position 1) must be Tensor, not list", "1.1", ""),
    ("collate", "TypeError", "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found "
     "<class 'object'>", "3.2", ""),
    ("no-super", "AttributeError", "cannot assign module before Module.__init__() call", "2.1", ""),
    ("none-grad", "AttributeError", "'NoneType' object has no attribute 'clone'", "2.3", ""),
    ("none", "AttributeError", "'NoneType' object has no attribute 'shape'", "1.1", ""),
    ("float-item-fit", "AttributeError", "'float' object has no attribute 'item'", "4.4", ""),
    ("number-attr", "AttributeError", "'float' object has no attribute 'item'", "4.2", ""),
    ("list-attr", "AttributeError", "'list' object has no attribute 'shape'", "3.3", ""),
    ("list-attr-fit", "AttributeError", "'list' object has no attribute 'dataset'", "4.4", ""),
    ("layer-name", "AttributeError", "'SimpleNN' object has no attribute 'fc3'", "2.2", ""),
    ("module-attr", "AttributeError", "module 'torch.nn' has no attribute 'Relu'", "2.1", ""),
    ("attr", "AttributeError", "'CustomDataset' object has no attribute 'data'", "3.1", ""),
    ("import-F", "NameError", "name 'F' is not defined", "2.2", ""),
    ("name", "NameError", "name 'np' is not defined", "1.2", ""),
    ("unbound", "UnboundLocalError", "cannot access local variable 'total' where it is not associated with a value", "4.2", ""),
    ("recursion-forward", "RecursionError", "maximum recursion depth exceeded", "2.2", ""),
    ("recursion-dataset", "RecursionError", "maximum recursion depth exceeded while calling a Python object", "3.1", ""),
    ("recursion", "RecursionError", "maximum recursion depth exceeded", "4.4", ""),
    ("key-history", "KeyError", "'val_loss'", "4.4", ""),
    ("key", "KeyError", "'fc1.weight'", "2.3", ""),
    ("batch-size", "ValueError", "Expected input batch_size (4) to match target batch_size (5).", "4.2", ""),
    ("split-sizes", "ValueError", "Sum of input lengths does not equal the length of the input dataset!", "3.3", ""),
    ("sampler", "ValueError", "sampler option is mutually exclusive with shuffle", "3.2", ""),
    ("own-raise-layer", "ValueError", "bad data", "1.3", 'raise ValueError("bad data")'),
    ("own-raise-dataset", "ValueError", "lengths", "3.1", "raise ValueError(f'{len(data)}')"),
    ("own-raise", "AssertionError", "", "4.2", "assert len(loader) > 3"),
    ("zero-count", "ZeroDivisionError", "division by zero", "4.3", ""),
    ("zero", "ZeroDivisionError", "float division by zero", "3.3", ""),
    ("no-forward", "NotImplementedError", 'Module [SimpleNN] is missing the required "forward" function', "2.2", ""),
    ("no-getitem", "NotImplementedError", "Subclasses of Dataset should implement __getitem__.", "3.1", ""),
]


@pytest.mark.parametrize("key, kind, message, task, code", EXAMPLES, ids=[f"{e[0]}-{i}" for i, e in enumerate(EXAMPLES)])
def test_each_row_is_chosen_by_a_real_message(key, kind, message, task, code):
    error = {"type": kind, "message": message, "where": {"line": 1, "code": code} if code else None}
    with i18n.using("en"):
        said, _keep = feedback.error_hint(error, task)
    assert said.startswith(feedback.HINTS[key].split("{")[0]), said
    assert "{" not in said


def test_every_row_has_an_example_and_the_table_its_texts():
    """No row is shadowed by one above it, and every hint text is some row's."""
    assert {key for key, *_ in EXAMPLES} == set().union(*(row.all_keys() for row in feedback.ERROR_HINTS)) == set(feedback.HINTS)


def test_what_a_hint_quotes_of_a_message_is_made_safe():
    """The student's code chose the message: a KeyError whose key holds escape sequences is quoted escaped."""
    error = {"type": "KeyError", "message": "'\x1b[2J\x1b]52;c;cHduZWQ=\x07'", "where": None}
    said, _keep = feedback.error_hint(error, "4.2")
    assert "\x1b" not in said and "\x07" not in said and "\\x1b" in said


def test_an_untouched_stub_gets_no_hint_and_a_missing_method_is_not_taken_for_one():
    stub = feedback.describe_error(NotImplementedError("not implemented yet (Task 2.2)"), "call", "sec2_forward.py")
    assert stub["not_implemented"] and feedback.hint_for(stub, "2.2", "the check's hint") is None
    missing = feedback.describe_error(NotImplementedError('Module [SimpleNN] is missing the required "forward" function'),
                                      "call", "sec2_forward.py")
    assert not missing["not_implemented"]
    assert feedback.hint_for(missing, "2.2", "the check's hint").startswith("SimpleNN has no method forward")
    other = {"type": "OSError", "message": "no hint for this", "where": None}
    assert feedback.hint_for(other, "3.2", "the check's hint") == "the check's hint"


def test_no_hint_quotes_a_statement_of_the_reference():
    """A hint may name the student's own API (self.output, model.eval(), torch.no_grad()), never hand over a line of
    the reference solution: no statement of solutions/ (an assignment, return, if, for or raise) appears in a
    message of the catalog's sources, a string of the grader's or the public checks, or a hint of ERROR_HINTS."""
    statement = re.compile(r"^(return |if |for |raise )|[^=!<>]=[^=]|\+=")
    lines = {line.split("  #")[0].strip() for path in SOLUTIONS.glob("sec*.py")
             for line in path.read_text(encoding="utf-8").splitlines()}
    lines = {line for line in lines if len(line) >= 10 and statement.search(line) and not line.startswith(("def ", "#"))}
    texts = set(i18n.messages()) | set(feedback.HINTS.values())
    for path in [*GRADER.glob("test_*.py"), *(ROOT / "public").glob("test_*.py")]:
        texts |= {n.value for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                  if isinstance(n, ast.Constant) and isinstance(n.value, str) and not n.value.startswith(("sec", "Section"))}
    quoted = sorted((line, text[:80]) for text in texts for line in lines if line in text)
    assert quoted == []
