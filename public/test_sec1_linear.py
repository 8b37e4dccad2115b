"""Public checks for sec1_linear.py (Tasks 1.1 to 1.3): shapes, the lesson's known numbers, contracts.

Run `pytest` in the bundle folder. Passing these does not mean full marks: the grader tries more cases.
A failed check says what it checked, what it expected and what came back, with a hint, in the grader's
words. The fixture sec1 (public/conftest.py) is your sec1_linear.py, loaded afresh for each check.
"""
import pytest
import torch
from torch import nn

from course.engine import checks
from course.i18n import _

WEIGHT_LAYOUT = _("weight is (out_features, in_features): compute x @ weight.T, then add bias")
LAST_AXIS = _("use operations that act on the last axis (x @ weight.T broadcasts); do not assume x is 2-D")
SHAPES_HINT = _("a Linear's weight is (out_features, in_features); use module.named_parameters() and tuple(p.shape)")
COUNT_HINT = _("count every scalar: p.numel() of each weight and bias")
IN_FEATURES = _("in_features is the number of features, the size of data's last axis (not the number of samples)")
NO_FEATURE_AXIS = _("check data.dim() < 2 and raise ValueError with a message that says what shape was expected")


def plain(value):
    """value as the grader reads it: a torch.Size is the tuple of ints it is, a numpy number the plain
    number it holds (a dict of them, each one read so)."""
    if type(value) is dict:
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, torch.Size):
        return tuple(value)
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    return value


def tensor_shape(got, shape, what, hint):
    """got must be a tensor of the given shape (its values are another check's)."""
    checks.that(isinstance(got, torch.Tensor), _("{what}: expected a tensor of shape {shape}, got {got}").format(
        what=what, shape=shape, got=checks.describe(got)), hint)
    checks.that(tuple(got.shape) == shape, _("{what}: expected shape {want}, got {got}").format(
        what=what, want=shape, got=tuple(got.shape)), hint)


@pytest.mark.task("1.1")
def test_linear_forward_shape_of_a_batch(sec1):
    """a batch (N, 11) through weight (64, 11) and bias (64,) gives (N, 64)"""
    x, weight, bias = torch.rand(5, 11), torch.rand(64, 11), torch.rand(64)
    y = sec1.linear_forward(x, weight, bias)
    tensor_shape(y, (5, 64), "linear_forward(x (5, 11), weight (64, 11), bias (64,))", WEIGHT_LAYOUT)


@pytest.mark.task("1.1")
def test_linear_forward_one_sample_without_bias(sec1):
    """one sample (11,) with bias=None gives (64,)"""
    y = sec1.linear_forward(torch.rand(11), torch.rand(64, 11), None)
    tensor_shape(y, (64,), "linear_forward(x (11,), weight (64, 11), None)", LAST_AXIS)


@pytest.mark.task("1.1")
def test_linear_forward_small_example(sec1):
    """a 2-feature, 3-output example worked out by hand"""
    x = torch.tensor([[1.0, 2.0]])  # (1, 2)
    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # (3, 2)
    bias = torch.tensor([0.5, 0.0, -1.0])  # (3,)
    y = sec1.linear_forward(x, weight, bias)
    want = torch.tensor([[1.5, 2.0, 2.0]])
    checks.tensor(y, want, "linear_forward(x [[1.0, 2.0]], weight (3, 2), bias [0.5, 0.0, -1.0])", WEIGHT_LAYOUT,
                  mistakes=[(torch.tensor([[1.0, 2.0, 3.0]]), _("the bias was not added"))])


@pytest.mark.task("1.2")
def test_parameter_shapes_of_linear_11_64(sec1):
    """nn.Linear(11, 64) has weight (64, 11) and bias (64,)"""
    shapes = sec1.parameter_shapes(nn.Linear(11, 64))
    checks.equal(plain(shapes), {"weight": (64, 11), "bias": (64,)}, "parameter_shapes(nn.Linear(11, 64))", SHAPES_HINT)


@pytest.mark.task("1.2")
def test_count_parameters_of_linear_11_64(sec1):
    """nn.Linear(11, 64) holds 11 * 64 + 64 = 768 numbers"""
    count = sec1.count_parameters(nn.Linear(11, 64))
    checks.number(plain(count), 768, "count_parameters(nn.Linear(11, 64))", COUNT_HINT,
                  mistakes=[(704, _("the biases were not counted")),
                            (2, _("count numbers (p.numel()), not parameter tensors"))])


@pytest.mark.task("1.2")
def test_count_parameters_skips_frozen(sec1):
    """a frozen parameter (requires_grad=False) is not trainable, so it does not count"""
    layer = nn.Linear(11, 64)
    layer.bias.requires_grad_(False)
    count = sec1.count_parameters(layer)
    checks.number(plain(count), 704, _("count_parameters(nn.Linear(11, 64) with its bias frozen)"),
                  _("skip parameters whose requires_grad is False"),
                  mistakes=[(768, _("frozen parameters (requires_grad=False) were counted"))])


@pytest.mark.task("1.3")
def test_first_layer_takes_in_features_from_the_data(sec1):
    """data of 100 samples with 11 features gives nn.Linear(11, 64)"""
    layer = sec1.first_layer_for(torch.rand(100, 11))
    checks.that(isinstance(layer, nn.Linear), _("first_layer_for(data (100, 11)): expected an nn.Linear, got {got}").format(
        got=checks.describe(layer)), _("return nn.Linear(in_features, hidden)"))
    checks.equal(layer.in_features, 11, "first_layer_for(data (100, 11)).in_features", IN_FEATURES)
    checks.equal(layer.out_features, 64, "first_layer_for(data (100, 11)).out_features",
                 _("out_features is the argument hidden, 64 by default"))


@pytest.mark.task("1.3")
def test_first_layer_refuses_one_axis(sec1):
    """data with a single axis has no feature axis: ValueError"""
    data = torch.rand(11)
    try:
        with pytest.raises(ValueError):
            returned = sec1.first_layer_for(data)
    except pytest.fail.Exception:  # nothing was raised: first_layer_for returned
        checks.that(False, _("first_layer_for(data of shape {shape}): expected ValueError, it returned {value}").format(
            shape=tuple(data.shape), value=type(returned).__name__), NO_FEATURE_AXIS)
    except NotImplementedError:
        raise
    except Exception as error:  # another exception than ValueError
        checks.that(False, _("first_layer_for(data of shape {shape}): expected ValueError, got {error}").format(
            shape=tuple(data.shape), error=type(error).__name__), NO_FEATURE_AXIS)
