"""Section 3: Dataset and DataLoader.

A Dataset says how many samples there are (__len__) and how to fetch one (__getitem__).
A DataLoader groups samples into batches, reshuffled each epoch when shuffle=True, so the
model never learns the order of the data.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch.utils.data import DataLoader, Dataset, Subset


class CustomDataset(Dataset):
    """Task 3.1: pairs of (sample, label) held in two tensors of the same length."""

    def __init__(
        self,
        data: torch.Tensor,
        labels: torch.Tensor,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        """Task 3.1: keep the data, the labels and an optional transform.

        Args:
            data: (N, num_features).
            labels: (N,).
            transform: applied to each sample (never to the label) when it is fetched.

        Raises:
            ValueError: data and labels hold different numbers of samples.
        """
        raise NotImplementedError("not implemented yet (Task 3.1)")

    def __len__(self) -> int:
        """Task 3.1: the number of samples, N."""
        raise NotImplementedError("not implemented yet (Task 3.1)")

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, Any]:
        """Task 3.1: the pair (data[idx], labels[idx]), with transform applied to the sample.

        Returns:
            (sample of shape (num_features,), label).
        """
        raise NotImplementedError("not implemented yet (Task 3.1)")


def make_loader(dataset: Dataset, batch_size: int = 10, shuffle: bool = True, seed: int | None = None) -> DataLoader:
    """Task 3.2: a DataLoader over dataset.

    With shuffle=True every epoch visits every sample exactly once, in a new order each epoch.
    With a seed, the orders are reproducible: two loaders made with the same seed give the
    same sequence of epochs (use a torch.Generator, not the global random state).
    With shuffle=False samples come in dataset order.

    Returns:
        A DataLoader whose batches are (data (batch_size, num_features), labels (batch_size,));
        the last batch is smaller when batch_size does not divide len(dataset).
    """
    raise NotImplementedError("not implemented yet (Task 3.2)")


def train_val_split(dataset: Dataset, val_fraction: float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Task 3.3: split a data set at random into a training part and a validation part.

    The validation part has round(len(dataset) * val_fraction) samples, the training part the rest.
    Every sample lands in exactly one part. Which samples go where is random but fixed by seed:
    the same seed gives the same split, another seed a different one.

    Returns:
        (train, val), two Datasets (torch.utils.data.Subset is a good choice).
    """
    raise NotImplementedError("not implemented yet (Task 3.3)")
