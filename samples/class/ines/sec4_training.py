# ines
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
    shifted = logits - logits.max(dim=1, keepdim=True).values  # stability
    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    picked = log_probs.gather(1, target.unsqueeze(1))
    return -picked.mean()


def train_one_epoch(model: nn.Module, loader: Iterable, loss_fn: LossFn, optimizer: torch.optim.Optimizer) -> float:
    """Task 4.2: one pass over the training data, updating the weights after every batch.

    Put the model in training mode. For each batch: zero the gradients, forward, loss,
    backward, optimizer step. loss_fn returns the mean loss of a batch.

    Returns:
        The mean loss per sample over the epoch, as a float: a last batch that is smaller
        than the others weighs less.
    """
    model.train()
    total, count = 0.0, 0
    print("training...")
    for i, (inputs, targets) in enumerate(loader):
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(targets)
        count += len(targets)
        print(f"batch {i}: loss = {loss.item():.4f}, inputs {tuple(inputs.shape)}")
        print("running mean:", total / count)
    print("epoch done, mean loss", total / count)
    return total / count


def evaluate(model: nn.Module, loader: Iterable, loss_fn: LossFn) -> tuple[float, float]:
    """Task 4.3: measure the model on a data set without changing it.

    Put the model in eval mode and compute under torch.no_grad(): no gradients, no optimizer,
    no parameter changes.

    Returns:
        (mean loss per sample, accuracy), both floats; accuracy is the fraction of samples whose
        largest logit is at the target class.
    """
    model.eval()
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for inputs, targets in loader:
            logits = model(inputs)
            total += loss_fn(logits, targets).item() * len(targets)
            correct += (logits.argmax(dim=1) == targets).sum().item()
            count += len(targets)
    return total / count, correct / count


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
    history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}
    for _ in range(epochs):
        history["train_loss"].append(train_one_epoch(model, train_loader, loss_fn, optimizer))
        val_loss, _ = evaluate(model, val_loader, loss_fn)
        history["val_loss"].append(val_loss)
    return history


def why_validation_loss_is_higher() -> str:
    """Task 4.5: a concept check. Return the letter of the best answer: "A", "B", "C" or "D".

    After some epochs the validation loss is higher than the training loss. Why?
      A. Validation uses a different loss function from training.
      B. torch.no_grad() makes the loss come out larger.
      C. The weights were fitted to the training samples; the validation samples never updated
         them, so their loss shows how well the model does on data it has not seen.
      D. Validation batches are bigger, and a bigger batch has a bigger mean loss.
    """
    return "C"
