"""Section 1: what nn.Linear(11, 64) means.

A fully connected layer maps each sample's in_features numbers to out_features numbers:
y = x @ W.T + b, with W of shape (out_features, in_features) and b of shape (out_features,).
nn.Linear(11, 64) takes samples with 11 features (the data decides the 11) and gives 64 outputs.

완전 연결 레이어는 샘플마다 in_features개의 숫자를 out_features개의 숫자로 바꿉니다.
W의 모양이 (out_features, in_features), b의 모양이 (out_features,)일 때 y = x @ W.T + b입니다.
nn.Linear(11, 64)는 입력 특성이 11개인 샘플을 받아(11은 데이터가 정합니다) 출력 64개를 냅니다.
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

    완전 연결 레이어 y = x W^T + b를 직접 계산합니다. x는 앞쪽 축이 몇 개든 되는 (..., in_features)
    (배치 (N, 11)이나 샘플 하나 (11,)), weight는 nn.Linear.weight와 같은 배열의 (out_features, in_features),
    bias는 (out_features,)이거나 편향이 없으면 None입니다. 결과는 (..., out_features)이고,
    torch.nn.functional.linear(x, weight, bias)와 값이 같아야 합니다.
    """
    ### BEGIN SOLUTION (Task 1.1)
    y = x @ weight.T  # (..., in) @ (in, out) -> (..., out)
    if bias is not None:
        y = y + bias  # (out,) broadcasts over the leading axes
    return y
    ### END SOLUTION


def parameter_shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    """Task 1.2: the shape of every parameter of a module, by name.

    Example: nn.Linear(11, 64) gives {"weight": (64, 11), "bias": (64,)}.
    Nested modules use dotted names, as module.named_parameters() does ("0.weight", "fc1.bias").

    Returns:
        A dict from parameter name to a tuple of ints.

    모듈의 파라미터마다 이름과 모양을 돌려줍니다. 예를 들어 nn.Linear(11, 64)이면
    {"weight": (64, 11), "bias": (64,)}입니다. 중첩된 모듈은 module.named_parameters()처럼
    점으로 이은 이름("0.weight", "fc1.bias")을 씁니다. 결과는 파라미터 이름에서 int 튜플로 가는 dict입니다.
    """
    ### BEGIN SOLUTION (Task 1.2)
    return {name: tuple(p.shape) for name, p in module.named_parameters()}
    ### END SOLUTION


def count_parameters(module: nn.Module) -> int:
    """Task 1.2: the number of trainable numbers (scalars) in a module.

    Only parameters with requires_grad=True count; a parameter shared by two layers counts once.
    nn.Linear(11, 64) has 11 * 64 + 64 = 768; the SimpleNN of section 2 has 2881.

    Returns:
        An int (a numpy integer, such as np.prod of a shape, or a one-element tensor is accepted too).

    모듈이 학습하는 숫자(스칼라)의 개수를 int로 돌려줍니다(np.prod로 만든 numpy 정수나 원소가 하나인
    텐서도 받습니다). requires_grad=True인 파라미터만 세고,
    두 레이어가 공유하는 파라미터는 한 번만 셉니다. nn.Linear(11, 64)는 11 * 64 + 64 = 768개,
    2절의 SimpleNN은 2881개입니다.
    """
    ### BEGIN SOLUTION (Task 1.2)
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
    ### END SOLUTION


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

    이 데이터셋을 위한 신경망의 첫 레이어를 만듭니다. data는 (num_samples, num_features)이고
    마지막 축에 특성이 있습니다. hidden은 레이어의 출력 수입니다. in_features = num_features,
    out_features = hidden인 nn.Linear를 돌려줍니다. data의 축이 2개보다 적으면 특성 축과 샘플 축을
    구별할 수 없으므로 ValueError를 일으킵니다.
    """
    ### BEGIN SOLUTION (Task 1.3)
    if data.dim() < 2:
        raise ValueError(f"data must be (num_samples, num_features), got shape {tuple(data.shape)}")
    return nn.Linear(data.shape[-1], hidden)
    ### END SOLUTION
