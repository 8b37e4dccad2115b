"""Public checks for sec2_forward.py (Tasks 2.1 to 2.3): layers, output shape, gradient contract.

Run `pytest` in the bundle folder. Passing these does not mean full marks: the grader tries more cases.
"""
import pytest
import torch
from torch import nn


@pytest.fixture
def sec2():
    """Your sec2_forward.py, imported here so that a mistake in it fails only its own checks."""
    import sec2_forward

    return sec2_forward


@pytest.mark.task("2.1")
def test_simple_nn_has_the_three_layers(sec2):
    """Task 2.1: SimpleNN() holds fc1 (11 -> 64), fc2 (64 -> 32) and output (32 -> 1)."""
    model = sec2.SimpleNN()
    shapes = {name: tuple(p.shape) for name, p in model.state_dict().items()}
    want = {"fc1.weight": (64, 11), "fc1.bias": (64,), "fc2.weight": (32, 64), "fc2.bias": (32,),
            "output.weight": (1, 32), "output.bias": (1,)}
    assert shapes == want, f"Task 2.1: expected the parameters {want}, got {shapes}"


@pytest.mark.task("2.1")
def test_simple_nn_has_2881_parameters(sec2):
    """Task 2.1: 768 + 2080 + 33 = 2881 trainable numbers."""
    total = sum(p.numel() for p in sec2.SimpleNN().parameters())
    assert total == 2881, f"Task 2.1: SimpleNN() should have 2881 parameters, got {total}"


@pytest.mark.task("2.2")
def test_forward_gives_one_output_per_sample(sec2):
    """Task 2.2: the lesson's torch.rand(5, 11) batch gives an output of shape (5, 1)."""
    y = sec2.SimpleNN()(torch.rand(5, 11))
    assert isinstance(y, torch.Tensor), f"Task 2.2: expected a tensor, got {type(y).__name__}"
    assert y.shape == (5, 1), f"Task 2.2: (5, 11) in should give (5, 1) out, got {tuple(y.shape)}"


@pytest.mark.task("2.2")
def test_forward_leaves_its_input_alone(sec2):
    """Task 2.2: forward must not modify x."""
    x = torch.randn(8, 11)
    before = x.clone()
    sec2.SimpleNN()(x)
    assert torch.equal(x, before), "Task 2.2: forward changed its input x"


@pytest.mark.task("2.2")
def test_forward_can_give_negative_scores(sec2):
    """Task 2.2: no activation after the output layer, so a raw score can be negative."""
    torch.manual_seed(0)
    model = sec2.SimpleNN()
    nn.init.constant_(model.output.bias, -100.0)
    y = model(torch.rand(4, 11))
    assert (y < 0).all(), "Task 2.2: with a very negative output bias every score should be negative; " \
                          "is there a ReLU after the output layer?"


@pytest.mark.task("2.3")
def test_gradients_has_one_per_parameter(sec2):
    """Task 2.3: one gradient per parameter name, each shaped like its parameter; the weights stay put."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(11, 4), nn.ReLU(), nn.Linear(4, 1))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    grads = sec2.gradients(model, torch.rand(6, 11), torch.rand(6, 1), nn.MSELoss())
    assert set(grads) == set(before), f"Task 2.3: expected keys {sorted(before)}, got {sorted(grads)}"
    for name, p in model.named_parameters():
        assert grads[name].shape == p.shape, \
            f"Task 2.3: gradient of {name} has shape {tuple(grads[name].shape)}, expected {tuple(p.shape)}"
        assert torch.equal(p.detach(), before[name]), f"Task 2.3: parameter {name} changed; this is not a training step"
