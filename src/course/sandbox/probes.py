"""Trusted drivers that run one task's code and return plain data.

A probe takes the module under test plus plain-data arguments. The worker runs it on the
submission; the judge runs the very same probe on a fresh copy of the reference solution, and
compares the two results. Probes build every model, data set and optimizer themselves, from
specs and states the judge sends, so both sides start from identical objects.

A probe observes nothing on the judge's behalf. It runs in the student's process, where code can rewrite
it, so all it returns is what the submission's code computed; every check compares such values with the
reference's. Where a rule is about how a result is computed (forward leaves its input alone, evaluate
takes no optimizer step, fit trains before it validates), the probe makes the rule show in values: it
runs a trusted network on the tensor forward was given, calls gradients() and evaluate again on the same
model with other data, hands fit stand-ins whose results depend on what was called, in which order and on
what. No expected value is a copy of an input, of a constant or of another answer in the same reply, so a
reply that is right had to be computed.
"""
from __future__ import annotations

import functools
import linecache
import sys
import types
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course.content.models import SGD, mlp, plain_state
from course.feedback import describe_error

PROBES: dict[str, Callable[..., Any]] = {}


def probe(fn: Callable[..., Any]) -> Callable[..., Any]:
    PROBES[fn.__name__] = fn
    return fn


def load_module(name: str, filename: str, source: bytes, register: bool = True) -> types.ModuleType:
    """Execute exactly these source bytes as a new module (never a cached .pyc, never sys.path).

    register puts it in sys.modules (the worker does, so classes defined in it behave normally);
    linecache gets the source so error reports can quote the failing line.
    """
    text = source.decode("utf-8", "replace")
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    if register:
        sys.modules[name] = module
    exec(_compiled(source, filename), module.__dict__)
    return module


@functools.lru_cache(maxsize=32)
def _compiled(source: bytes, filename: str) -> types.CodeType:
    """The code object of a source (the judge runs each reference many times; a child, once)."""
    return compile(source, filename, "exec", dont_inherit=True)


def _state_of(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    model.load_state_dict(state)
    return model


@probe
def call(mod, name: str, args: list, kwargs: dict) -> Any:
    """Return mod.name(*args, **kwargs) as it is."""
    return getattr(mod, name)(*args, **kwargs)


@probe
def each(mod, name: str, cases: list) -> list:
    """The probe name on each case's arguments, in one child: [{"value": ...}, ...], up to the first
    {"error": ...} (the cases after it are not run)."""
    out = []
    for args in cases:
        try:
            out.append({"value": PROBES[name](mod, *args)})
        except Exception as e:
            out.append({"error": describe_error(e, "call", mod.__file__)})
            break
    return out


@probe
def raises(mod, name: str, args: list, kwargs: dict) -> dict:
    """Call mod.name and describe the exception it raises (NotImplementedError passes through): its type's
    name and the names of the classes it derives from, for the judge to judge."""
    try:
        value = getattr(mod, name)(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as e:  # the exception is the result here
        return {"raised": True, "type": type(e).__name__, "bases": [c.__name__ for c in type(e).__mro__],
                "message": str(e)[:300]}
    return {"raised": False, "returned": type(value).__name__}


def _counting_model(spec: dict) -> nn.Module:
    """A bare nn.Linear for two sizes, else an MLP; "shared" ties its second Linear's weight to the first's."""
    sizes = spec["sizes"]
    if len(sizes) == 2 and not spec.get("frozen"):
        return nn.Linear(*sizes)
    model = mlp(sizes, frozen=spec.get("frozen", ()))
    if spec.get("shared"):  # needs sizes like [n, n, n, ...]: two layers, one weight tensor
        model[2].weight = model[0].weight
    return model


@probe
def count_parameters(mod, spec: dict) -> Any:
    """count_parameters on a model built from spec: {"sizes": [...], "frozen": [...], "shared": bool}."""
    return mod.count_parameters(_counting_model(spec))


@probe
def parameter_shapes(mod, spec: dict) -> Any:
    """parameter_shapes on a model built from spec."""
    return mod.parameter_shapes(_counting_model(spec))


def _describe_layer(layer: object) -> dict:
    weight = getattr(layer, "weight", None)
    bias = getattr(layer, "bias", None)
    return {
        "type": type(layer).__name__,
        "is_linear": isinstance(layer, nn.Linear),
        "in_features": getattr(layer, "in_features", None),
        "out_features": getattr(layer, "out_features", None),
        "weight_shape": tuple(weight.shape) if isinstance(weight, torch.Tensor) else None,
        "bias_shape": tuple(bias.shape) if isinstance(bias, torch.Tensor) else None,
    }


@probe
def first_layer(mod, data: torch.Tensor, hidden: int | None) -> dict:
    """Describe the layer first_layer_for builds for data (hidden=None keeps the default)."""
    layer = mod.first_layer_for(data) if hidden is None else mod.first_layer_for(data, hidden=hidden)
    return _describe_layer(layer)


@probe
def simple_nn_init(mod, args: list) -> dict:
    """Build SimpleNN(*args) and describe its state_dict and layers."""
    model = mod.SimpleNN(*args)
    return {
        "is_module": isinstance(model, nn.Module),
        "state": {k: tuple(v.shape) for k, v in model.state_dict().items()},
        "layers": {name: _describe_layer(getattr(model, name, None)) for name in ("fc1", "fc2", "output")},
    }


def _simple_nn_with(mod, args: list, state: dict[str, torch.Tensor]) -> nn.Module:
    """A SimpleNN whose three Linear layers are trusted ones holding state, whatever __init__ did.

    Each layer goes under its contract name and under the name of the student's Linear attribute
    in the same position, so forward is graded on known weights even when 2.1 got names or sizes wrong.
    """
    try:
        model = mod.SimpleNN(*args)
    except Exception:  # __init__ not written yet, or broken (that is 2.1's loss): forward can still be graded
        model = mod.SimpleNN.__new__(mod.SimpleNN)
        nn.Module.__init__(model)
    slots = ("fc1", "fc2", "output")
    names = [name for name, m in model.named_children() if isinstance(m, nn.Linear)]
    if set(slots) <= set(names) or len(names) != 3:  # by name; by position only when the names differ
        names = list(slots)
    for slot, name in zip(slots, names):
        weight = state[f"{slot}.weight"]
        layer = nn.Linear(weight.shape[1], weight.shape[0])
        layer.load_state_dict({"weight": weight, "bias": state[f"{slot}.bias"]})
        setattr(model, slot, layer)
        setattr(model, name, layer)
    return model


@probe
def simple_nn_forward(mod, args: list, state: dict, x: torch.Tensor, state2: dict | None = None) -> dict:
    """Run SimpleNN.forward with known weights on x; with state2, then run the same tensor x through a
    trusted network of SimpleNN's layout holding those other weights (not the submission's forward, which
    could undo its own change when it meets x again): a forward that changed x in place shows there."""
    out = _simple_nn_with(mod, args, state)(x)
    if state2 is None:
        return {"out": out}
    return {"out": out, "again": _layout_net(state2)(x)}


def _layout_net(state: dict) -> nn.Module:
    """An MLP (Linear, ReLU, Linear, ReLU, Linear) holding a SimpleNN state dict (fc1, fc2, output)."""
    sizes = [state["fc1.weight"].shape[1], state["fc1.weight"].shape[0], state["fc2.weight"].shape[0],
             state["output.weight"].shape[0]]
    names = {"fc1": 0, "fc2": 2, "output": 4}
    return _state_of(mlp(sizes), {f"{names[k.split('.')[0]]}.{k.split('.')[1]}": v for k, v in state.items()})


LOSSES = {"mse": nn.MSELoss, "cross_entropy": nn.CrossEntropyLoss,
          "smoothed": lambda: nn.CrossEntropyLoss(label_smoothing=0.1)}  # shows a loss_fn that is not the one given


@probe
def gradients(mod, sizes: list, state: dict, x: torch.Tensor, target: torch.Tensor, stale: bool, loss: str,
              again: list | None = None) -> dict:
    """gradients() on an MLP with known weights and a named loss, optionally with junk left in every .grad;
    with again = [x2, target2], once more on the same model (its .grad cleared) for that other batch: a
    gradients() that changed the weights gives wrong gradients then."""
    model = _state_of(mlp(sizes), state)
    if stale:
        for p in model.parameters():
            p.grad = torch.full_like(p, 3.0)
    grads = mod.gradients(model, x, target, LOSSES[loss]())
    if again is None:
        return {"grads": grads}
    grads = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in grads.items()} if isinstance(grads, dict) else grads
    for p in model.parameters():
        p.grad = None
    return {"grads": grads, "again": mod.gradients(model, *again, LOSSES[loss]())}


class Center:
    """The transform handed to CustomDataset: each sample minus its own mean (so it must see one sample)."""

    def __call__(self, sample: torch.Tensor) -> torch.Tensor:
        return sample - sample.mean()


@probe
def dataset(mod, data: torch.Tensor, labels: torch.Tensor, indices: list, transform: bool) -> dict:
    """Build CustomDataset and fetch some items."""
    ds = mod.CustomDataset(data, labels, transform=Center()) if transform else mod.CustomDataset(data, labels)
    return {"len": len(ds), "items": [ds[i] for i in indices]}


def _epoch_ids(loader: Any) -> tuple[list[int], list[list[list[int]]]]:
    ids, shapes = [], []
    for xb, yb in loader:
        ids += [int(i) for i in yb]
        shapes.append([list(xb.shape), list(yb.shape)])
    return ids, shapes


@probe
def loader(mod, data: torch.Tensor, configs: list, epochs: int) -> list:
    """For each config of make_loader kwargs: the sample ids of each epoch and the batch shapes."""
    ds = TensorDataset(data, torch.arange(len(data)))
    loaders = [mod.make_loader(ds, **kwargs) for kwargs in configs]  # all made before any is used
    out = []
    for dl in loaders:
        runs = [_epoch_ids(dl) for _ in range(epochs)]
        out.append({"epochs": [ids for ids, _ in runs], "shapes": runs[0][1]})
    return out


@probe
def split(mod, n: int, configs: list) -> list:
    """For each config of train_val_split kwargs: the sample ids in train and in val."""
    ds = TensorDataset(torch.zeros(n, 1), torch.arange(n))
    out = []
    for kwargs in configs:
        train, val = mod.train_val_split(ds, **kwargs)
        out.append({
            "train": [int(train[i][1]) for i in range(len(train))],
            "val": [int(val[i][1]) for i in range(len(val))],
        })
    return out


@probe
def cross_entropy_grad(mod, logits: torch.Tensor, target: torch.Tensor) -> dict:
    """cross_entropy's value and its gradient with respect to the logits."""
    logits = logits.clone().requires_grad_(True)
    loss = mod.cross_entropy(logits, target)
    if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
        return {"loss": loss, "grad": None}
    loss.backward()
    return {"loss": loss, "grad": logits.grad}


def _loader_of(data: torch.Tensor, labels: torch.Tensor, batch_size: int) -> DataLoader:
    return DataLoader(TensorDataset(data, labels), batch_size=batch_size, shuffle=False)


@probe
def train_one_epoch(mod, spec: dict, state: dict, data, labels, batch_size: int, lr: float, start_eval: bool,
                    loss: str = "cross_entropy") -> dict:
    """One epoch of train_one_epoch on a known model (handed over in eval mode when start_eval): the loss
    and the weights and BatchNorm statistics after, which show every step and the mode it ran in."""
    model = _state_of(mlp(spec["sizes"], batchnorm=spec.get("batchnorm", False)), state)
    if start_eval:
        model.eval()
    result = mod.train_one_epoch(model, _loader_of(data, labels, batch_size), LOSSES[loss](), SGD(model.parameters(), lr))
    return {"loss": result, "state": plain_state(model)}


@probe
def evaluate(mod, spec: dict, state: dict, data, labels, batch_size: int, again: list | None = None,
             loss: str = "cross_entropy") -> dict:
    """evaluate on a known model that starts in training mode: the result, which shows the mode it ran in
    (BatchNorm) and any update within the loop (the judge picks cases where a step moves the later batches'
    losses), and the state after. With again = [data2, labels2], evaluate once more on the same model, put
    back in training mode, for that other data: an update made anywhere in the first call shows there."""
    model = _state_of(mlp(spec["sizes"], batchnorm=spec.get("batchnorm", False)), state)
    model.train()
    result = mod.evaluate(model, _loader_of(data, labels, batch_size), LOSSES[loss]())
    if again is None:
        return {"result": result, "state": plain_state(model)}
    model.train()
    return {"result": result, "again": mod.evaluate(model, _loader_of(*again, batch_size), LOSSES[loss]())}


FIT_SIZES = [3, 2]


@probe
def fit(mod, epochs: int, state: dict, train: list, val: list, loss: str = "cross_entropy") -> dict:
    """fit with train_one_epoch and evaluate replaced by stand-ins whose results depend on what they are
    given: the stand-in train_one_epoch takes one SGD step on its loader's batch and returns the loss
    after it, the stand-in evaluate returns (loss on its loader's batch, a quarter). The history and the
    weights after fit then show which functions ran, how often, in which order and on which loader.
    state: the weights of a Linear(3, 2); train, val: [inputs (N, 3), class labels (N,)], one batch each."""
    model, loss_fn = _state_of(mlp(FIT_SIZES), state), LOSSES[loss]()
    optimizer = SGD(model.parameters(), 0.5)
    train_loader, val_loader = [tuple(train)], [tuple(val)]

    def train_stand_in(m, loader, fn, opt):
        inputs, targets = loader[0]
        opt.zero_grad()
        fn(m(inputs), targets).backward()
        opt.step()
        with torch.no_grad():
            return fn(m(inputs), targets).item()

    def evaluate_stand_in(m, loader, fn):
        inputs, targets = loader[0]
        with torch.no_grad():
            return fn(m(inputs), targets).item(), 0.25

    mod.train_one_epoch, mod.evaluate = train_stand_in, evaluate_stand_in
    history = mod.fit(model, train_loader, val_loader, loss_fn, optimizer, epochs)
    return {"history": history, "state": plain_state(model)}


CURVE_SIZES = [11, 64, 32, 2]  # SimpleNN's widths, with two classes
CURVE_EPOCHS, CURVE_TRAIN = 15, 60  # epochs; samples of 100 that train (the other 40 validate)


def curves_case(seed: int) -> list:
    """The judge's arguments for fit_curves: the course's synthetic data and starting weights for a seed."""
    from course.content.data import make_classification
    from course.content.models import random_state

    data, labels = make_classification(100, CURVE_SIZES[0], seed=seed)  # (100, 11), (100,)
    state = random_state(mlp(CURVE_SIZES), torch.Generator().manual_seed(seed), scale=0.2)
    return [state, data, labels, seed]


@probe
def fit_curves(mod, state: dict, data: torch.Tensor, labels: torch.Tensor, seed: int) -> dict:
    """The module's own fit (with its own train_one_epoch and evaluate) training an MLP for CURVE_EPOCHS
    epochs: {"train": [...], "val": [...]}, one float per epoch. Draws a report's curves; never scores."""
    model = _state_of(mlp(CURVE_SIZES), state)
    train = DataLoader(TensorDataset(data[:CURVE_TRAIN], labels[:CURVE_TRAIN]), batch_size=15, shuffle=True,
                       generator=torch.Generator().manual_seed(seed))
    val = _loader_of(data[CURVE_TRAIN:], labels[CURVE_TRAIN:], 40)
    history = mod.fit(model, train, val, nn.CrossEntropyLoss(), SGD(model.parameters(), 0.2), CURVE_EPOCHS)
    if not isinstance(history, dict):
        raise TypeError(f"fit returned a {type(history).__name__}, not a dict with train_loss and val_loss")
    curves = {}
    for key, name in (("train", "train_loss"), ("val", "val_loss")):
        values = history.get(name)
        if not isinstance(values, list) or len(values) != CURVE_EPOCHS:
            raise ValueError(f"fit's {name} is not a list of {CURVE_EPOCHS} values for {CURVE_EPOCHS} epochs")
        curves[key] = [float(v) for v in values]
    return curves


def warm_up() -> None:
    """Run each kind of operation the probes use once, so forked children skip torch's lazy set-up."""
    g = torch.Generator().manual_seed(0)
    model = mlp([4, 3, 2], batchnorm=True)
    data, labels = torch.randn(6, 4, generator=g), torch.tensor([0, 1, 0, 1, 1, 0])
    opt = SGD(model.parameters(), 0.1)
    for xb, yb in DataLoader(TensorDataset(data, labels), batch_size=4, shuffle=True, generator=g):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        logits = model(data)
        torch.log_softmax(logits, 1).gather(1, labels.unsqueeze(1)).mean()
        (logits.argmax(1) == labels).sum().item()
    nn.MSELoss()(mlp([4, 1])(data), torch.zeros(6, 1)).backward()
    torch.randperm(5, generator=g)
