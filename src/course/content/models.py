"""Small trusted building blocks shared by the judge and the probes: models, states, an optimizer.

Both sides build the same model from the same spec and load the same state, so the judge can
recompute with the reference exactly what the worker computed with the submission.
"""
from __future__ import annotations

import copy
import functools
from typing import Any, Callable, Iterable

import torch
from torch import nn

def drawn_once(build: Callable[..., Any]) -> Callable[..., Any]:
    """A builder of test inputs, build(gen, *args), that does its work once per generator state and
    arguments: a batch asks every student the same questions, and some inputs take a training run to
    find. A repeated call leaves gen where the first one left it and returns a fresh copy of what it built."""
    built: dict[tuple, tuple[Any, torch.Tensor]] = {}

    @functools.wraps(build)
    def once(gen: torch.Generator, *args: Any) -> Any:
        key = (gen.get_state().numpy().tobytes(), repr(args))
        if key not in built:
            value = build(gen, *args)
            built[key] = (copy.deepcopy(value), gen.get_state())
        value, state = built[key]
        gen.set_state(state)
        return copy.deepcopy(value)

    return once


def mlp(sizes: list[int], batchnorm: bool = False, frozen: Iterable[int] = ()) -> nn.Sequential:
    """Linear layers of the given widths with ReLU (and optional BatchNorm1d) between them.

    frozen lists the indices of Linear layers whose parameters get requires_grad=False.
    """
    frozen = set(frozen)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        linear = nn.Linear(a, b)
        if i in frozen:
            linear.requires_grad_(False)
        layers.append(linear)
        if i < len(sizes) - 2:
            if batchnorm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def random_state(model: nn.Module, generator: torch.Generator, scale: float = 0.5) -> dict[str, torch.Tensor]:
    """A state_dict for model with every float entry drawn from generator (running variances positive)."""
    state = {}
    for name, value in model.state_dict().items():
        if not value.is_floating_point():
            state[name] = value.clone()
        elif name.endswith("running_var"):
            state[name] = torch.rand(value.shape, generator=generator) + 0.5
        else:
            state[name] = torch.randn(value.shape, generator=generator) * scale
    return state


def plain_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of model.state_dict()."""
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


class SGD:
    """Plain SGD (p -= lr * p.grad); the optimizer train_one_epoch and fit are handed.

    It avoids torch.optim, whose first use costs about a second of imports in every process.
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float) -> None:
        self.params = [p for p in params]
        self.param_groups = [{"params": self.params, "lr": lr}]
        self.lr = lr

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.zero_()

    @torch.no_grad()
    def step(self, closure: object = None) -> None:
        for p in self.params:
            if p.grad is not None:
                p.add_(p.grad, alpha=-self.lr)
