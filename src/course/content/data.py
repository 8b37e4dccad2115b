"""A small seeded synthetic data set with real signal, shaped like the lesson's (100, 11) example.

Labels follow a fixed rule of the features (linear plus a bend), with a fraction flipped at
random, so training lowers the loss while a network fitted to few samples shows a gap between
training and validation loss.
"""
from __future__ import annotations

import torch


def make_classification(n: int = 100, n_features: int = 11, seed: int = 0,
                        label_noise: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """(data (n, n_features) in [0, 1), labels (n,) int64 in {0, 1}), the same for the same seed."""
    g = torch.Generator().manual_seed(seed)
    rule = torch.randn(n_features, generator=torch.Generator().manual_seed(12345))  # the same rule for every seed
    data = torch.rand(n, n_features, generator=g)  # (n, F), like torch.rand(100, 11)
    score = (data - 0.5) @ rule + 0.5 * torch.sin(6.0 * data[:, 0])  # (n,)
    labels = (score > 0).long()
    flip = torch.rand(n, generator=g) < label_noise
    labels[flip] = 1 - labels[flip]
    return data, labels
