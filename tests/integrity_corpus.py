"""Honest submissions for the integrity scan: correct code for the course's tasks in many styles.

Each entry is one whole file a student could hand in (the section's file name, then its source).
They are written the way students write: loops, comprehensions, nn.Sequential, F.relu, no_grad
decorators, layers reached with getattr(self, f"fc{i}"), a `__main__` block. The scan must give none
of them a flag; tests/test_integrity.py asserts it, and each one computes the right answers.
"""
from __future__ import annotations

HONEST: dict[str, tuple[str, str]] = {
    "sec1_loops_and_sets": ("sec1_linear.py", '''\
import torch
from torch import nn


def linear_forward(x, weight, bias=None):
    out = torch.matmul(x, weight.transpose(0, 1))
    if bias is not None:
        out += bias
    return out


def parameter_shapes(module):
    shapes = {}
    for name, param in module.named_parameters():
        shapes[name] = tuple(param.shape)
    return shapes


def count_parameters(module):
    seen = set()
    total = 0
    for p in module.parameters():
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def first_layer_for(data, hidden=64):
    if data.ndim < 2:
        raise ValueError("need (samples, features), got " + str(tuple(data.shape)))
    n_features = data.size(-1)
    return nn.Linear(n_features, hidden)
'''),
    "sec1_einsum_and_reduce": ("sec1_linear.py", '''\
"""My answers for section 1."""
import functools
import operator
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn


def linear_forward(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    y = torch.einsum("...i,oi->...o", x, weight)
    return y if bias is None else y + bias


def parameter_shapes(module: nn.Module) -> Dict[str, Tuple[int, ...]]:
    return dict((n, tuple(p.size())) for n, p in module.named_parameters())


def count_parameters(module: nn.Module) -> int:
    return sum(functools.reduce(operator.mul, p.shape, 1) for p in module.parameters() if p.requires_grad)


def first_layer_for(data: torch.Tensor, hidden: int = 64) -> nn.Linear:
    if len(data.shape) < 2:
        raise ValueError(f"expected at least 2 axes, got {data.dim()}")
    return nn.Linear(in_features=data.shape[-1], out_features=hidden)


if __name__ == "__main__":
    layer = nn.Linear(11, 64)
    print(parameter_shapes(layer), count_parameters(layer))
    print(linear_forward(torch.ones(2, 11), layer.weight, layer.bias).shape)
'''),
    "sec1_addmm_and_getattr_literals": ("sec1_linear.py", '''\
import math

import torch
from torch import nn
from torch.nn import functional as F


def linear_forward(x, weight, bias=None):
    flat = x.reshape(-1, x.shape[-1])
    if bias is None:
        out = flat.mm(weight.t())
    else:
        out = torch.addmm(bias, flat, weight.t())
    return out.reshape(*x.shape[:-1], weight.shape[0])


def parameter_shapes(module):
    return {name: tuple(getattr(p, "shape")) for name, p in module.named_parameters()}


def count_parameters(module):
    unique = {id(p): p for p in module.parameters() if getattr(p, "requires_grad", False)}
    return int(sum(math.prod(p.shape) for p in unique.values()))


def first_layer_for(data, hidden=64):
    if not hasattr(data, "shape") or data.dim() < 2:
        raise ValueError("data must have a samples axis and a features axis")
    return nn.Linear(data.shape[-1], hidden)


def _check():
    w, b = torch.randn(3, 4), torch.randn(3)
    x = torch.randn(5, 4)
    assert torch.allclose(linear_forward(x, w, b), F.linear(x, w, b), atol=1e-6)
'''),
    "sec2_sequential_and_setattr_loop": ("sec2_forward.py", '''\
import torch
import torch.nn.functional as F
from torch import nn


class SimpleNN(nn.Module):
    def __init__(self, in_features=11, hidden=(64, 32), out_features=1):
        super().__init__()
        sizes = [in_features, *hidden]
        for i in range(len(hidden)):
            setattr(self, f"fc{i + 1}", nn.Linear(sizes[i], sizes[i + 1]))
        self.output = nn.Linear(sizes[-1], out_features)
        self.n_hidden = len(hidden)

    def forward(self, x):
        h = x
        for i in range(1, self.n_hidden + 1):
            layer = getattr(self, f"fc{i}")
            h = F.relu(layer(h))
        return self.output(h)


def gradients(model, x, target, loss_fn):
    for p in model.parameters():
        p.grad = None
    loss = loss_fn(model(x), target)
    loss.backward()
    result = {}
    for name, p in model.named_parameters():
        result[name] = p.grad.clone()
    return result
'''),
    "sec2_relu_module_and_autograd_grad": ("sec2_forward.py", '''\
from __future__ import annotations

import torch
from torch import nn


class SimpleNN(nn.Module):
    """11 -> 64 -> 32 -> 1."""

    def __init__(self, in_features: int = 11, hidden: tuple[int, int] = (64, 32), out_features: int = 1) -> None:
        super(SimpleNN, self).__init__()
        self.fc1 = nn.Linear(in_features, hidden[0])
        self.fc2 = nn.Linear(hidden[0], hidden[1])
        self.output = nn.Linear(hidden[1], out_features)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            pass  # no dropout in this model
        return self.output(self.relu(self.fc2(self.relu(self.fc1(x)))))

    def extra_repr(self) -> str:
        return f"layers={[m.out_features for m in self.children() if isinstance(m, nn.Linear)]}"


def gradients(model: nn.Module, x: torch.Tensor, target: torch.Tensor, loss_fn) -> dict[str, torch.Tensor]:
    names, params = zip(*model.named_parameters())
    loss = loss_fn(model(x), target)
    grads = torch.autograd.grad(loss, params)
    return dict(zip(names, (g.detach() for g in grads)))
'''),
    "sec2_named_children_walk": ("sec2_forward.py", '''\
import torch
from torch import nn
from collections import OrderedDict

HIDDEN = (64, 32)


class SimpleNN(nn.Module):
    def __init__(self, in_features=11, hidden=HIDDEN, out_features=1):
        nn.Module.__init__(self)
        layers = OrderedDict()
        layers["fc1"] = nn.Linear(in_features, hidden[0])
        layers["fc2"] = nn.Linear(hidden[0], hidden[1])
        layers["output"] = nn.Linear(hidden[1], out_features)
        for name, layer in layers.items():
            self.add_module(name, layer)

    def forward(self, x):
        children = list(self.named_children())
        for name, layer in children[:-1]:
            x = torch.relu(layer(x))
        return children[-1][1](x)


def gradients(model, x, target, loss_fn):
    model.zero_grad(set_to_none=True)
    out = model(x)
    loss_fn(out, target).backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    return grads
'''),
    "sec3_dataset_with_helpers": ("sec3_data.py", '''\
import torch
from torch.utils.data import DataLoader, Dataset, Subset


class CustomDataset(Dataset):
    def __init__(self, data, labels, transform=None):
        if data.shape[0] != labels.shape[0]:
            raise ValueError("data and labels differ in length: %d vs %d" % (data.shape[0], labels.shape[0]))
        self.data = data
        self.labels = labels
        self.transform = transform

    def __len__(self):
        return self.data.shape[0]

    def __getitem__(self, index):
        sample = self.data[index]
        if self.transform:
            sample = self.transform(sample)
        return sample, self.labels[index]

    def __repr__(self):
        return f"CustomDataset(n={len(self)})"


def make_loader(dataset, batch_size=10, shuffle=True, seed=None):
    generator = None
    if seed is not None:
        generator = torch.Generator()
        generator.manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)


def train_val_split(dataset, val_fraction=0.2, seed=0):
    n = len(dataset)
    n_val = round(n * val_fraction)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    train_idx = [int(i) for i in perm[n_val:]]
    val_idx = [int(i) for i in perm[:n_val]]
    return Subset(dataset, train_idx), Subset(dataset, val_idx)
'''),
    "sec4_classic_loop": ("sec4_training.py", '''\
import torch
import torch.nn.functional as F


def cross_entropy(logits, target):
    log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    return -log_probs[torch.arange(len(target)), target].mean()


def train_one_epoch(model, loader, loss_fn, optimizer):
    model.train()
    running, seen = 0.0, 0
    for batch_idx, (xb, yb) in enumerate(loader):
        optimizer.zero_grad(set_to_none=True)
        out = model(xb)
        loss = loss_fn(out, yb)
        loss.backward()
        optimizer.step()
        running += loss.item() * xb.size(0)
        seen += xb.size(0)
    return running / seen


@torch.no_grad()
def evaluate(model, loader, loss_fn):
    model.eval()
    losses, hits, n = [], 0, 0
    for xb, yb in loader:
        logits = model(xb)
        losses.append(loss_fn(logits, yb).item() * len(yb))
        hits += int((logits.argmax(1) == yb).sum())
        n += len(yb)
    return sum(losses) / n, hits / n


def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs):
    history = {"train_loss": [], "val_loss": []}
    for epoch in range(epochs):
        history["train_loss"].append(train_one_epoch(model, train_loader, loss_fn, optimizer))
        history["val_loss"].append(evaluate(model, val_loader, loss_fn)[0])
    return history


def why_validation_loss_is_higher():
    return "C"


if __name__ == "__main__":
    logits = torch.tensor([[2.0, 1.0], [0.5, 1.5]])
    target = torch.tensor([0, 1])
    print(cross_entropy(logits, target), F.cross_entropy(logits, target))
'''),
    "sec4_inference_mode_and_lr_groups": ("sec4_training.py", '''\
from typing import Callable, Dict, Iterable, List, Tuple

import torch
from torch import nn


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    m = logits.max(dim=1, keepdim=True).values
    lse = m.squeeze(1) + (logits - m).exp().sum(dim=1).log()
    picked = logits.gather(1, target.view(-1, 1)).squeeze(1)
    return (lse - picked).mean()


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return [group["lr"] for group in optimizer.param_groups][0]


def scale_lr(optimizer: torch.optim.Optimizer, factor: float = 1.0) -> None:
    for group in optimizer.param_groups:
        group["lr"] = group["lr"] * factor


def train_one_epoch(model: nn.Module, loader: Iterable, loss_fn: Callable, optimizer: torch.optim.Optimizer) -> float:
    model.train(True)
    sums: List[float] = []
    counts: List[int] = []
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        sums.append(loss.detach().item() * targets.numel())
        counts.append(targets.numel())
    return sum(sums) / sum(counts)


def evaluate(model: nn.Module, loader: Iterable, loss_fn: Callable) -> Tuple[float, float]:
    was_training = model.training
    model.train(False)
    total = correct = count = 0
    with torch.inference_mode():
        for inputs, targets in loader:
            logits = model(inputs)
            total += loss_fn(logits, targets).item() * targets.shape[0]
            correct += (logits.argmax(dim=-1) == targets).sum().item()
            count += targets.shape[0]
    if was_training and False:
        model.train()
    return total / count, correct / count


def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs) -> Dict[str, List[float]]:
    train_losses = [0.0] * 0
    val_losses = []
    for _ in range(epochs):
        train_losses += [train_one_epoch(model, train_loader, loss_fn, optimizer)]
        val_loss, _acc = evaluate(model, val_loader, loss_fn)
        val_losses += [val_loss]
    return {"train_loss": train_losses, "val_loss": val_losses}


def why_validation_loss_is_higher() -> str:
    answers = {"A": False, "B": False, "C": True, "D": False}
    return next(k for k, v in answers.items() if v)
'''),
    "sec4_set_grad_enabled_and_dataclass": ("sec4_training.py", '''\
import sys
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F


@dataclass
class Meter:
    total: float = 0.0
    count: int = 0
    history: list = field(default_factory=list)

    def add(self, value: float, n: int) -> None:
        self.total += value * n
        self.count += n

    @property
    def mean(self) -> float:
        return self.total / max(self.count, 1)


def cross_entropy(logits, target):
    return F.nll_loss(F.log_softmax(logits, dim=1), target)


def train_one_epoch(model, loader, loss_fn, optimizer):
    meter = Meter()
    model.train()
    with torch.set_grad_enabled(True):
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            meter.add(loss.item(), len(y))
    return meter.mean


def evaluate(model, loader, loss_fn):
    meter, correct = Meter(), 0
    model.eval()
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            meter.add(loss_fn(out, y).item(), len(y))
            correct += out.argmax(1).eq(y).sum().item()
    return meter.mean, correct / meter.count


def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs):
    history = {"train_loss": [], "val_loss": []}
    for epoch in range(1, epochs + 1):
        tl = train_one_epoch(model, train_loader, loss_fn, optimizer)
        vl, acc = evaluate(model, val_loader, loss_fn)
        history["train_loss"].append(tl)
        history["val_loss"].append(vl)
        print(f"epoch {epoch}: train {tl:.4f} val {vl:.4f} acc {acc:.2%}", file=sys.stderr)
    return history


def why_validation_loss_is_higher():
    return "C"
'''),
    "sec4_manual_update_helper": ("sec4_training.py", '''\
import torch


def cross_entropy(logits, target):
    shifted = logits - logits.amax(dim=1, keepdim=True)
    log_softmax = shifted - torch.log(torch.sum(torch.exp(shifted), dim=1, keepdim=True))
    return -torch.mean(log_softmax[range(target.shape[0]), target])


def sgd_by_hand(model, lr=0.1):
    """Not used by the grader: what optimizer.step() does for plain SGD."""
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p.data -= lr * p.grad
                p.grad.zero_()


def train_one_epoch(model, loader, loss_fn, optimizer):
    model.train()
    total = 0.0
    n = 0
    for batch in loader:
        inputs, targets = batch
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total = total + float(loss) * len(targets)
        n = n + len(targets)
    return total / n


def evaluate(model, loader, loss_fn):
    model.eval()
    with torch.no_grad():
        pairs = [(model(x), y) for x, y in loader]
    n = sum(len(y) for _, y in pairs)
    loss = sum(loss_fn(out, y).item() * len(y) for out, y in pairs) / n
    accuracy = sum((out.argmax(dim=1) == y).float().sum().item() for out, y in pairs) / n
    return loss, accuracy


def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs):
    train_loss = [train_one_epoch(model, train_loader, loss_fn, optimizer) for _ in range(0)]
    val_loss = []
    for _ in range(epochs):
        train_loss.append(train_one_epoch(model, train_loader, loss_fn, optimizer))
        val_loss.append(evaluate(model, val_loader, loss_fn)[0])
    return dict(train_loss=train_loss, val_loss=val_loss)


def why_validation_loss_is_higher():
    return "C"
'''),
    "sec2_modulelist_init_and_apply": ("sec2_forward.py", '''\
import torch
from torch import nn


def _init_linear(module):
    if isinstance(module, nn.Linear):
        nn.init.kaiming_uniform_(module.weight, a=5 ** 0.5)
        if module.bias is not None:
            module.bias.data.zero_()


class SimpleNN(nn.Module):
    def __init__(self, in_features=11, hidden=(64, 32), out_features=1):
        super().__init__()
        names = ["fc1", "fc2", "output"]
        sizes = [in_features, hidden[0], hidden[1], out_features]
        for name, n_in, n_out in zip(names, sizes, sizes[1:]):
            self.add_module(name, nn.Linear(n_in, n_out))
        self.apply(_init_linear)

    def forward(self, x):
        hidden_layers = [getattr(self, name) for name in ("fc1", "fc2")]
        for layer in hidden_layers:
            x = layer(x).clamp(min=0)
        return getattr(self, "output")(x)


def gradients(model, x, target, loss_fn):
    model.zero_grad()
    loss_fn(model(x), target).backward()
    return {name: (p.grad.clone() if p.grad is not None else torch.zeros_like(p))
            for name, p in model.named_parameters()}
'''),
    "sec3_random_split_and_lambda": ("sec3_data.py", '''\
import torch
from torch.utils import data as tud


class CustomDataset(tud.Dataset):
    def __init__(self, data, labels, transform=None):
        if len(data) != len(labels):
            raise ValueError(f"{len(data)} samples but {len(labels)} labels")
        self.pairs = list(zip(data, labels))
        self.transform = transform if transform is not None else (lambda t: t)

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        x, y = self.pairs[i]
        return self.transform(x), y


def make_loader(dataset, batch_size=10, shuffle=True, seed=None):
    g = None if seed is None else torch.Generator().manual_seed(seed)
    return tud.DataLoader(dataset, batch_size, shuffle=shuffle, generator=g)


def train_val_split(dataset, val_fraction=0.2, seed=0):
    n_val = round(len(dataset) * val_fraction)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed)).tolist()
    return tud.Subset(dataset, order[n_val:]), tud.Subset(dataset, order[:n_val])
'''),
}
