# ines
"""Section 2: the forward function.

forward says how data flows through the layers. PyTorch records every operation as it runs
(a dynamic graph), so loss.backward() can compute gradients without a hand-written backward.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


class SimpleNN(nn.Module):
    """The lesson's network: 11 features -> 64 -> 32 -> 1 output, ReLU between layers."""

    def __init__(self, in_features: int = 11, hidden: tuple[int, int] = (64, 32), out_features: int = 1) -> None:
        """Task 2.1: create the three layers.

        Layers (names matter: state_dict keys must be fc1.*, fc2.*, output.*):
            fc1:    nn.Linear(in_features, hidden[0])
            fc2:    nn.Linear(hidden[0], hidden[1])
            output: nn.Linear(hidden[1], out_features)
        """
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden[0])
        self.fc2 = nn.Linear(hidden[0], hidden[1])
        self.output = nn.Linear(hidden[1], out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Task 2.2: relu(fc1) -> relu(fc2) -> output.

        Args:
            x: (N, in_features). Must not be modified.

        Returns:
            (N, out_features) raw scores: no activation after the output layer.
        """
        h = torch.relu(self.fc1(x))
        h = torch.relu(self.fc2(h))
        return self.output(h)


def gradients(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> dict[str, torch.Tensor]:
    """Task 2.3: one forward and backward pass; return the gradient of every parameter.

    Gradients left over from earlier passes must not leak in: start from zeroed grads.
    The parameters themselves must not change (this is not a training step).

    Args:
        model: any nn.Module.
        x: a batch of inputs for the model.
        target: the targets loss_fn compares the model's output with.
        loss_fn: returns a scalar loss, e.g. nn.MSELoss().

    Returns:
        {name: gradient} for every parameter in model.named_parameters(),
        each gradient with the same shape as its parameter.
    """
    model.zero_grad()
    loss = loss_fn(model(x), target)
    loss.backward()
    return {name: p.grad.detach().clone() for name, p in model.named_parameters()}
