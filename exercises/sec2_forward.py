"""Section 2: the forward function.

forward says how data flows through the layers. PyTorch records every operation as it runs
(a dynamic graph), so loss.backward() can compute gradients without a hand-written backward.

forward는 데이터가 레이어들을 어떻게 지나가는지 정합니다. PyTorch는 실행되는 연산을 모두
기록하므로(동적 그래프), 역전파를 손으로 쓰지 않아도 loss.backward()가 기울기를 계산합니다.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


class SimpleNN(nn.Module):
    """The lesson's network: 11 features -> 64 -> 32 -> 1 output, ReLU between layers.

    수업의 신경망: 특성 11개 -> 64 -> 32 -> 출력 1개, 레이어 사이에 ReLU.
    """

    def __init__(self, in_features: int = 11, hidden: tuple[int, int] = (64, 32), out_features: int = 1) -> None:
        """Task 2.1: create the three layers.

        Layers (names matter: state_dict keys must be fc1.*, fc2.*, output.*):
            fc1:    nn.Linear(in_features, hidden[0])
            fc2:    nn.Linear(hidden[0], hidden[1])
            output: nn.Linear(hidden[1], out_features)

        레이어 세 개를 만듭니다. state_dict의 키가 fc1.*, fc2.*, output.*이어야 하므로 이름이 중요합니다.
        """
        super().__init__()
        raise NotImplementedError("not implemented yet (Task 2.1)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Task 2.2: relu(fc1) -> relu(fc2) -> output.

        Args:
            x: (N, in_features). Must not be modified.

        Returns:
            (N, out_features) raw scores: no activation after the output layer.

        fc1 뒤에 relu, fc2 뒤에 relu, 그리고 output을 차례로 적용합니다. x는 (N, in_features)이며
        바꾸면 안 됩니다. 결과는 (N, out_features)의 가공하지 않은 점수로, 출력 레이어 뒤에는
        활성화 함수가 없습니다.
        """
        raise NotImplementedError("not implemented yet (Task 2.2)")


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

    순전파와 역전파를 한 번씩 하고 파라미터마다 기울기를 돌려줍니다. 이전 계산에서 남은 기울기가
    섞이면 안 되므로 기울기를 0으로 만든 상태에서 시작합니다. 학습 스텝이 아니므로 파라미터 자체는
    바뀌면 안 됩니다. model은 아무 nn.Module, x는 모델에 넣을 입력 배치, target은 loss_fn이 모델의
    출력과 비교할 정답, loss_fn은 스칼라 손실을 돌려주는 함수(예: nn.MSELoss())입니다.
    결과는 model.named_parameters()의 모든 파라미터에 대한 {이름: 기울기}이고, 기울기마다 모양이
    해당 파라미터와 같습니다.
    """
    raise NotImplementedError("not implemented yet (Task 2.3)")
