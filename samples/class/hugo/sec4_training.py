"""Section 4: training loss and validation loss.

Training updates the weights: forward, loss, backward, optimizer step. Validation only
measures: the model in eval mode, no gradients (torch.no_grad()), no optimizer. The weights
were fitted to the training samples, so the loss on unseen validation samples is often higher.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Task 4.1: the mean cross-entropy loss, as nn.CrossEntropyLoss() computes it.

    loss = mean over samples of -log_softmax(logits)[i, target[i]].
    It must stay finite and correct for large logits (values like 1e4): never take the log
    of a softmax that has underflowed to 0. Gradients must flow back to logits.

    Args:
        logits: (N, C) raw scores.
        target: (N,) class indices in [0, C), int64.

    Returns:
        A 0-dim tensor. For logits [[2.0, 1.0], [0.5, 1.5]] and target [0, 1] it is about 0.3133.
    """
    raise NotImplementedError("not implemented yet (Task 4.1)")


def train_one_epoch(model: nn.Module, loader: Iterable, loss_fn: LossFn, optimizer: torch.optim.Optimizer) -> float:
    """Task 4.2: one pass over the training data, updating the weights after every batch.

    Put the model in training mode. For each batch: zero the gradients, forward, loss,
    backward, optimizer step. loss_fn returns the mean loss of a batch.

    Returns:
        The mean loss per sample over the epoch, as a float: a last batch that is smaller
        than the others weighs less.
    """
    raise NotImplementedError("not implemented yet (Task 4.2)")


def evaluate(model: nn.Module, loader: Iterable, loss_fn: LossFn) -> tuple[float, float]:
    """Task 4.3: measure the model on a data set without changing it.

    Put the model in eval mode and compute under torch.no_grad(): no gradients, no optimizer,
    no parameter changes.

    Returns:
        (mean loss per sample, accuracy), both floats; accuracy is the fraction of samples whose
        largest logit is at the target class.
    """
    raise NotImplementedError("not implemented yet (Task 4.3)")


def fit(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    epochs: int,
) -> dict[str, list[float]]:
    """Task 4.4: train for some epochs, validating after each one.

    Each epoch calls this module's train_one_epoch on train_loader, then its evaluate on val_loader.

    Returns:
        {"train_loss": [...], "val_loss": [...]}, one float per epoch in each list.
    """
    raise NotImplementedError("not implemented yet (Task 4.4)")


def why_validation_loss_is_higher() -> str:
    """Task 4.5: a concept check. Return the letter of the best answer: "A", "B", "C" or "D".

    After some epochs the validation loss is higher than the training loss. Why?
      A. Validation uses a different loss function from training.
      B. torch.no_grad() makes the loss come out larger.
      C. The weights were fitted to the training samples; the validation samples never updated
         them, so their loss shows how well the model does on data it has not seen.
      D. Validation batches are bigger, and a bigger batch has a bigger mean loss.
    """
    raise NotImplementedError("not implemented yet (Task 4.5)")
