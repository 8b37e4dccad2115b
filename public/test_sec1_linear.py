"""Public checks for sec1_linear.py (Tasks 1.1 to 1.3): shapes, the lesson's known numbers, contracts.

Run `pytest` in the bundle folder. Passing these does not mean full marks: the grader tries more cases.
"""
import pytest
import torch
from torch import nn


@pytest.fixture
def sec1():
    """Your sec1_linear.py, imported here so that a mistake in it fails only its own checks."""
    import sec1_linear

    return sec1_linear


@pytest.mark.task("1.1")
def test_linear_forward_shape_of_a_batch(sec1):
    """Task 1.1: a batch (N, 11) through weight (64, 11) and bias (64,) gives (N, 64)."""
    x, weight, bias = torch.rand(5, 11), torch.rand(64, 11), torch.rand(64)
    y = sec1.linear_forward(x, weight, bias)
    assert isinstance(y, torch.Tensor), f"Task 1.1: expected a tensor, got {type(y).__name__}"
    assert y.shape == (5, 64), f"Task 1.1: (5, 11) with weight (64, 11) should give (5, 64), got {tuple(y.shape)}"


@pytest.mark.task("1.1")
def test_linear_forward_one_sample_without_bias(sec1):
    """Task 1.1: one sample (11,) with bias=None gives (64,)."""
    y = sec1.linear_forward(torch.rand(11), torch.rand(64, 11), None)
    assert tuple(y.shape) == (64,), f"Task 1.1: a single sample (11,) should give (64,), got {tuple(y.shape)}"


@pytest.mark.task("1.1")
def test_linear_forward_small_example(sec1):
    """Task 1.1: a 2-feature, 3-output example worked out by hand."""
    x = torch.tensor([[1.0, 2.0]])  # (1, 2)
    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # (3, 2)
    bias = torch.tensor([0.5, 0.0, -1.0])  # (3,)
    y = sec1.linear_forward(x, weight, bias)
    want = torch.tensor([[1.5, 2.0, 2.0]])
    assert torch.allclose(y, want), f"Task 1.1: expected {want.tolist()}, got {y.tolist()}"


@pytest.mark.task("1.2")
def test_parameter_shapes_of_linear_11_64(sec1):
    """Task 1.2: nn.Linear(11, 64) has weight (64, 11) and bias (64,)."""
    shapes = sec1.parameter_shapes(nn.Linear(11, 64))
    want = {"weight": (64, 11), "bias": (64,)}
    assert shapes == want, f"Task 1.2: expected {want}, got {shapes}"


@pytest.mark.task("1.2")
def test_count_parameters_of_linear_11_64(sec1):
    """Task 1.2: nn.Linear(11, 64) holds 11 * 64 + 64 = 768 numbers."""
    count = sec1.count_parameters(nn.Linear(11, 64))
    assert count == 768, f"Task 1.2: nn.Linear(11, 64) has 768 parameters, got {count}"


@pytest.mark.task("1.2")
def test_count_parameters_skips_frozen(sec1):
    """Task 1.2: a frozen parameter (requires_grad=False) is not trainable, so it does not count."""
    layer = nn.Linear(11, 64)
    layer.bias.requires_grad_(False)
    count = sec1.count_parameters(layer)
    assert count == 704, f"Task 1.2: with the bias frozen only the 704 weights count, got {count}"


@pytest.mark.task("1.3")
def test_first_layer_takes_in_features_from_the_data(sec1):
    """Task 1.3: data of 100 samples with 11 features gives nn.Linear(11, 64)."""
    layer = sec1.first_layer_for(torch.rand(100, 11))
    assert isinstance(layer, nn.Linear), f"Task 1.3: expected an nn.Linear, got {type(layer).__name__}"
    got = (layer.in_features, layer.out_features)
    assert got == (11, 64), f"Task 1.3: expected in_features=11, out_features=64, got {got}"


@pytest.mark.task("1.3")
def test_first_layer_refuses_one_axis(sec1):
    """Task 1.3: data with a single axis has no feature axis: ValueError."""
    with pytest.raises(ValueError):
        sec1.first_layer_for(torch.rand(11))
