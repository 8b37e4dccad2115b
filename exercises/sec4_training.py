"""Section 4: training loss and validation loss.

Training updates the weights: forward, loss, backward, optimizer step. Validation only
measures: the model in eval mode, no gradients (torch.no_grad()), no optimizer. The weights
were fitted to the training samples, so the loss on unseen validation samples is often higher.

학습은 가중치를 갱신합니다: 순전파, 손실, 역전파, 옵티마이저 스텝. 검증은 측정만 합니다: 모델은
eval 모드, 기울기 없음(torch.no_grad()), 옵티마이저 없음. 가중치가 학습 샘플에 맞춰졌으므로,
모델이 본 적 없는 검증 샘플의 손실이 더 높게 나오는 경우가 많습니다.
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

    nn.CrossEntropyLoss()와 똑같이 평균 교차 엔트로피 손실을 계산합니다. 손실은
    -log_softmax(logits)[i, target[i]]의 샘플 평균입니다. 로짓이 1e4처럼 커도 유한하고 정확해야
    하므로, 0으로 언더플로된 softmax에 로그를 취하면 안 됩니다. 기울기가 logits까지 거꾸로 전달되어야
    합니다. logits는 가공하지 않은 점수 (N, C), target은 [0, C) 범위의 클래스 번호 (N,) int64입니다.
    결과는 0차원 텐서이며, 로짓 [[2.0, 1.0], [0.5, 1.5]]와 정답 [0, 1]이면 약 0.3133입니다.
    """
    raise NotImplementedError("not implemented yet (Task 4.1)")


def train_one_epoch(model: nn.Module, loader: Iterable, loss_fn: LossFn, optimizer: torch.optim.Optimizer) -> float:
    """Task 4.2: one pass over the training data, updating the weights after every batch.

    Put the model in training mode. For each batch: zero the gradients, forward, loss,
    backward, optimizer step. loss_fn returns the mean loss of a batch.

    Returns:
        The mean loss per sample over the epoch, as a float (a numpy float or a one-element tensor
        is accepted too): a last batch that is smaller than the others weighs less.

    학습 데이터를 한 바퀴 돌며 배치마다 가중치를 갱신합니다. 모델을 학습 모드로 두고, 배치마다
    기울기를 0으로 만들고, 순전파, 손실, 역전파, 옵티마이저 스텝을 차례로 합니다. loss_fn은 배치의
    평균 손실을 돌려줍니다. 결과는 에폭 전체의 샘플당 평균 손실(float; numpy 실수나 원소가 하나인 텐서도
    받습니다)이며, 다른 배치보다 작은
    마지막 배치는 그만큼 비중이 작습니다.
    """
    raise NotImplementedError("not implemented yet (Task 4.2)")


def evaluate(model: nn.Module, loader: Iterable, loss_fn: LossFn) -> tuple[float, float]:
    """Task 4.3: measure the model on a data set without changing it.

    Put the model in eval mode and compute under torch.no_grad(): no gradients, no optimizer,
    no parameter changes.

    Returns:
        (mean loss per sample, accuracy), both floats (numpy floats or one-element tensors are
        accepted too, and a list of the two as well as a tuple); accuracy is the fraction of samples
        whose largest logit is at the target class, in [0, 1], not a percentage.

    모델을 바꾸지 않고 데이터셋에서 측정합니다. 모델을 eval 모드로 두고 torch.no_grad() 안에서
    계산합니다. 기울기도, 옵티마이저도, 파라미터 변경도 없습니다. 결과는 (샘플당 평균 손실, 정확도)로
    둘 다 float이고(numpy 실수나 원소가 하나인 텐서, 튜플 대신 두 값의 리스트도 받습니다), 정확도는 가장
    큰 로짓이 정답 클래스에 있는 샘플의 비율로 백분율이 아니라 [0, 1] 사이의 값입니다.
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

    여러 에폭 동안 학습하고, 에폭마다 검증합니다. 에폭마다 이 모듈의 train_one_epoch를
    train_loader로 호출한 다음, evaluate를 val_loader로 호출합니다. 결과는
    {"train_loss": [...], "val_loss": [...]}이며 리스트마다 에폭당 float 하나가 들어갑니다.
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

    개념 확인 문제입니다. 가장 알맞은 답의 글자 "A", "B", "C", "D" 중 하나를 돌려주세요.
    몇 에폭이 지나자 검증 손실이 학습 손실보다 높습니다. 왜일까요?
      A. 검증에는 학습과 다른 손실 함수를 쓰기 때문이다.
      B. torch.no_grad()가 손실을 더 크게 만들기 때문이다.
      C. 가중치는 학습 샘플에 맞춰졌고 검증 샘플은 가중치를 한 번도 갱신하지 않았으므로, 검증 손실은
         모델이 본 적 없는 데이터에서 얼마나 잘하는지를 보여 주기 때문이다.
      D. 검증 배치가 더 크고, 배치가 클수록 평균 손실도 크기 때문이다.
    """
    raise NotImplementedError("not implemented yet (Task 4.5)")
