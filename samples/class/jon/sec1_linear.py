# jon
"""Section 1: what nn.Linear(11, 64) means.

A fully connected layer maps each sample's in_features numbers to out_features numbers:
y = x @ W.T + b, with W of shape (out_features, in_features) and b of shape (out_features,).
nn.Linear(11, 64) takes samples with 11 features (the data decides the 11) and gives 64 outputs.
"""
from __future__ import annotations

import torch
from torch import nn


def linear_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Task 1.1: compute a fully connected layer by hand, y = x W^T + b.

    Args:
        x: (..., in_features), any number of leading axes (a batch (N, 11), or one sample (11,)).
        weight: (out_features, in_features), laid out like nn.Linear.weight.
        bias: (out_features,), or None for no bias.

    Returns:
        (..., out_features), the same values as torch.nn.functional.linear(x, weight, bias).
    """
    y = x @ weight.T
    if bias is not None:
        y = y + bias
    return y


def parameter_shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    """Task 1.2: the shape of every parameter of a module, by name.

    Example: nn.Linear(11, 64) gives {"weight": (64, 11), "bias": (64,)}.
    Nested modules use dotted names, as module.named_parameters() does ("0.weight", "fc1.bias").

    Returns:
        A dict from parameter name to a tuple of ints.
    """
    return {name: tuple(p.shape) for name, p in module.named_parameters()}


def count_parameters(module: nn.Module) -> int:
    """Task 1.2: the number of trainable numbers (scalars) in a module.

    Only parameters with requires_grad=True count; a parameter shared by two layers counts once.
    nn.Linear(11, 64) has 11 * 64 + 64 = 768; the SimpleNN of section 2 has 2881.

    Returns:
        An int.
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def first_layer_for(data: torch.Tensor, hidden: int = 64) -> nn.Linear:
    """Task 1.3: build the first layer of a network for this data set.

    Args:
        data: (num_samples, num_features); the last axis holds the features.
        hidden: number of outputs of the layer.

    Returns:
        An nn.Linear with in_features = num_features and out_features = hidden.

    Raises:
        ValueError: data has fewer than 2 axes, so no axis of features can be told apart
            from the axis of samples.
    """
    if data.dim() < 2:
        raise ValueError(f"data must be (num_samples, num_features), got shape {tuple(data.shape)}")
    return nn.Linear(data.shape[-1], hidden)
