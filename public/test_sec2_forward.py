"""Public checks for sec2_forward.py (Tasks 2.1 to 2.3): layers, output shape, gradient contract.

Run `pytest` in the bundle folder. Passing these does not mean full marks: the grader tries more cases.
A failed check says what it checked, what it expected and what came back, with a hint, in the grader's
words. The fixture sec2 (public/conftest.py) is your sec2_forward.py, loaded afresh for each check.
"""
import pytest
import torch
from torch import nn

from course.engine import checks
from course.i18n import _

LAYERS = "fc1 = nn.Linear(in_features, hidden[0]), fc2 = nn.Linear(hidden[0], hidden[1]), output = nn.Linear(hidden[1], out_features)"
FORWARD = "relu(fc1(x)) -> relu(fc2(.)) -> output(.)"
KEEP_X = _("do not modify x (x.relu_(), x += ...): give each intermediate result a new name")
RAW_SCORES = _("a raw score can be negative: no ReLU, sigmoid or softmax after the output layer; forward returns what "
               "self.output gives, unchanged, and the loss function applies what it needs")
ONLY_GRADIENTS = _("only compute gradients: no optimizer step and no in-place change of the weights")


def tensor_shape(got, shape, what, hint):
    """got must be a tensor of the given shape (its values are another check's)."""
    checks.that(isinstance(got, torch.Tensor), _("{what}: expected a tensor of shape {shape}, got {got}").format(
        what=what, shape=shape, got=checks.describe(got)), hint)
    checks.that(tuple(got.shape) == shape, _("{what}: expected shape {want}, got {got}").format(
        what=what, want=shape, got=tuple(got.shape)), hint)


def few(t: torch.Tensor, n: int = 4) -> str:
    """The first n values of t, as the grader shows them."""
    values = t.detach().reshape(-1)[:n].tolist()
    return "[" + ", ".join(f"{v:.4g}" for v in values) + (", ..." if t.numel() > n else "") + "]"


@pytest.mark.task("2.1")
def test_simple_nn_has_the_three_layers(sec2):
    """SimpleNN() holds fc1 (11 -> 64), fc2 (64 -> 32) and output (32 -> 1)"""
    model = sec2.SimpleNN()
    shapes = {name: tuple(p.shape) for name, p in model.state_dict().items()}
    want = {"fc1.weight": (64, 11), "fc1.bias": (64,), "fc2.weight": (32, 64), "fc2.bias": (32,),
            "output.weight": (1, 32), "output.bias": (1,)}
    checks.equal(shapes, want, _("SimpleNN().state_dict() shapes"), LAYERS)


@pytest.mark.task("2.1")
def test_simple_nn_has_2881_parameters(sec2):
    """768 + 2080 + 33 = 2881 trainable numbers"""
    total = sum(p.numel() for p in sec2.SimpleNN().parameters())
    checks.number(total, 2881, _("the number of parameters of SimpleNN()"), LAYERS)


@pytest.mark.task("2.2")
def test_forward_gives_one_output_per_sample(sec2):
    """the lesson's torch.rand(5, 11) batch gives an output of shape (5, 1)"""
    y = sec2.SimpleNN()(torch.rand(5, 11))
    tensor_shape(y, (5, 1), "SimpleNN()(x (5, 11))", FORWARD)


@pytest.mark.task("2.2")
def test_forward_leaves_its_input_alone(sec2):
    """forward must not modify x"""
    x = torch.randn(8, 11)
    before = x.clone()
    sec2.SimpleNN()(x)
    checks.tensor(x, before, _("x after SimpleNN()(x)"), KEEP_X)


@pytest.mark.task("2.2")
def test_forward_can_give_negative_scores(sec2):
    """no activation after the output layer, so a raw score can be negative"""
    torch.manual_seed(0)
    model = sec2.SimpleNN()
    nn.init.constant_(model.output.bias, -10.0)  # far below any score the layers before it give
    y = model(torch.rand(4, 11))
    what = _("forward(x (4, 11)) with output.bias set to -10")
    tensor_shape(y, (4, 1), what, FORWARD)
    checks.that(bool((y < 0).all()), _("{what}: expected every score below 0, got {got}").format(what=what, got=few(y)),
                RAW_SCORES)


@pytest.mark.task("2.3")
def test_gradients_has_one_per_parameter(sec2):
    """one gradient per parameter name, each shaped like its parameter; the weights stay put"""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(11, 4), nn.ReLU(), nn.Linear(4, 1))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    grads = sec2.gradients(model, torch.rand(6, 11), torch.rand(6, 1), nn.MSELoss())
    what = "gradients(model, x (6, 11), target (6, 1), nn.MSELoss())"
    collect = _("compute loss_fn of model(x) and target, call backward() on it once, then collect p.grad for each name in "
                "model.named_parameters()")
    checks.that(isinstance(grads, dict), _("{what}: expected a dict of tensors, got {got}").format(
        what=what, got=checks.describe(grads)), collect)
    missing, extra = sorted(set(before) - set(grads)), sorted(set(grads) - set(before))
    checks.that(not missing and not extra, _("{what}: expected keys {keys}; missing {missing}, unexpected {extra}").format(
        what=what, keys=sorted(before), missing=missing, extra=extra), collect)
    for name, p in model.named_parameters():
        tensor_shape(grads[name], tuple(p.shape), f"{what}[{name!r}]", collect)
    for name, p in model.named_parameters():
        checks.tensor(p.detach(), before[name], _("the parameter {name} after {what}").format(name=name, what=what),
                      ONLY_GRADIENTS)
