"""Section 3: Dataset and DataLoader.

A Dataset says how many samples there are (__len__) and how to fetch one (__getitem__).
A DataLoader groups samples into batches, reshuffled each epoch when shuffle=True, so the
model never learns the order of the data.

Dataset은 샘플이 몇 개인지(__len__)와 샘플 하나를 어떻게 꺼내는지(__getitem__)를 알려 줍니다.
DataLoader는 샘플을 배치로 묶고, shuffle=True이면 에폭마다 다시 섞으므로 모델이 데이터의 순서를
배우지 못합니다.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch.utils.data import DataLoader, Dataset, Subset


class CustomDataset(Dataset):
    """Task 3.1: pairs of (sample, label) held in two tensors of the same length.

    길이가 같은 두 텐서에 담긴 (샘플, 레이블) 쌍.
    """

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

        data (N, num_features), labels (N,), 그리고 선택적인 transform을 저장합니다. transform은
        샘플을 꺼낼 때 샘플에만 적용하고 레이블에는 적용하지 않습니다. data와 labels의 샘플 수가
        다르면 ValueError를 일으킵니다.
        """
        raise NotImplementedError("not implemented yet (Task 3.1)")

    def __len__(self) -> int:
        """Task 3.1: the number of samples, N.

        샘플 수 N을 돌려줍니다.
        """
        raise NotImplementedError("not implemented yet (Task 3.1)")

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, Any]:
        """Task 3.1: the pair (data[idx], labels[idx]), with transform applied to the sample.

        Returns:
            (sample of shape (num_features,), label).

        (data[idx], labels[idx]) 쌍을 돌려주되, 샘플에는 transform을 적용합니다.
        결과는 (모양이 (num_features,)인 샘플, 레이블)입니다.
        """
        raise NotImplementedError("not implemented yet (Task 3.1)")


def make_loader(dataset: Dataset, batch_size: int = 10, shuffle: bool = True, seed: int | None = None) -> DataLoader:
    """Task 3.2: a DataLoader over dataset.

    With shuffle=True every epoch visits every sample exactly once, in a new order each epoch.
    With a seed, the orders are reproducible: two loaders made with the same seed give the
    same sequence of epochs (use a torch.Generator, not the global random state).
    With shuffle=False samples come in dataset order. seed=None (the default) gives an order that
    is not fixed, and must work too. Other DataLoader options are yours to choose: the grader loads
    a DataLoader(num_workers=...) in its own process, with the same batches in the same order.

    Returns:
        A DataLoader whose batches are (data (batch_size, num_features), labels (batch_size,));
        the last batch is smaller when batch_size does not divide len(dataset).

    dataset을 읽는 DataLoader를 만듭니다. shuffle=True이면 에폭마다 모든 샘플을 정확히 한 번씩,
    에폭마다 새로운 순서로 거칩니다. seed가 있으면 순서를 재현할 수 있어야 합니다. 같은 seed로 만든
    두 로더는 같은 에폭 순서를 냅니다(전역 난수 상태가 아니라 torch.Generator를 쓰세요).
    shuffle=False이면 샘플이 데이터셋 순서대로 나옵니다. seed=None(기본값)이면 순서가 고정되지 않으며,
    이 경우에도 동작해야 합니다. 다른 DataLoader 옵션은 자유입니다. 채점기는 DataLoader(num_workers=...)를
    자기 프로세스에서 읽으며, 배치와 순서는 같습니다. 배치는 (data (batch_size, num_features),
    labels (batch_size,))이고, batch_size가 len(dataset)을 나누어떨어지게 하지 않으면 마지막 배치가 더 작습니다.
    """
    raise NotImplementedError("not implemented yet (Task 3.2)")


def train_val_split(dataset: Dataset, val_fraction: float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Task 3.3: split a data set at random into a training part and a validation part.

    The validation part has round(len(dataset) * val_fraction) samples, the training part the rest.
    Every sample lands in exactly one part. Which samples go where is random but fixed by seed:
    the same seed gives the same split, another seed a different one.

    Returns:
        (train, val), two Datasets (torch.utils.data.Subset is a good choice).

    데이터셋을 무작위로 학습 부분과 검증 부분으로 나눕니다. 검증 부분은
    round(len(dataset) * val_fraction)개 샘플, 학습 부분은 나머지입니다. 모든 샘플은 정확히 한
    부분에만 들어갑니다. 어느 샘플이 어디로 갈지는 무작위이지만 seed로 정해집니다. 같은 seed면 같은
    분할, 다른 seed면 다른 분할이 나옵니다. 결과는 Dataset 두 개 (train, val)입니다
    (torch.utils.data.Subset이 알맞습니다).
    """
    raise NotImplementedError("not implemented yet (Task 3.3)")
