"""A student's section 1: right on 1.1, two slips on 1.2 and 1.3."""
import torch
from torch import nn


def linear_forward(x, weight, bias=None):
    out = torch.matmul(x, weight.t())
    if bias is not None:
        out += bias
    return out


def parameter_shapes(module):
    shapes = {}
    for name, param in module.named_parameters():
        shapes[name] = tuple(param.size())
    return shapes


def count_parameters(module):
    total = 0
    for param in module.parameters():
        total += param.numel()  # forgot: only trainable ones count
    return total


def first_layer_for(data, hidden=64):
    if data.dim() == 0:
        raise ValueError("need a feature axis")
    return nn.Linear(data.shape[1], hidden)
