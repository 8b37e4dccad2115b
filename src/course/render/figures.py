"""Draw the lesson's four illustrations from the reference solutions, as 1024x1024 PNG and SVG.

Every number on a figure comes from running code: the forward figure's shapes from hooks on the
real SimpleNN, the DataLoader figure's order from a real seeded loader, the loss curves from a
seeded reference training run on course.content.data. The files are byte-stable: no dates, no versions,
a fixed SVG hash salt and fonts that ship with matplotlib.

    python -m course.render.figures                 # write docs/figures/
    python -m course.render.figures --check         # exit 1 when docs/figures/ is stale
"""
from __future__ import annotations

import argparse
import io
import sys
import types
from pathlib import Path

import matplotlib
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle
from torch import nn
from torch.overrides import TorchFunctionMode

from course.content import data
from course.sandbox import probes

NAMES = ("sec1_linear", "sec2_forward", "sec3_dataloader", "sec4_training")
SEED = 0
SIZE_IN, DPI = 8.0, 128  # 8 in x 128 dpi = 1024 px
STYLE = {
    "font.family": "DejaVu Sans",
    "font.monospace": ["DejaVu Sans Mono"],
    "mathtext.fontset": "dejavusans",
    "svg.fonttype": "path",
    "svg.hashsalt": "pytorch-basics-course",
    "svg.id": None,
    "axes.unicode_minus": True,
}
PNG_META = {"Software": None}
SVG_META = {"Date": None, "Creator": None, "Format": None, "Type": None}

INK, MUTED, LINE, PAPER = "#1f2937", "#6b7280", "#d1d5db", "#ffffff"
DATA, LAYER, ACT, OUT, VAL = "#2563eb", "#7c3aed", "#d97706", "#059669", "#e11d48"
TINT = {DATA: "#dbeafe", LAYER: "#ede9fe", ACT: "#fef3c7", OUT: "#d1fae5", VAL: "#ffe4e6", MUTED: "#f3f4f6"}


def load_reference(solutions: Path, stem: str) -> types.ModuleType:
    """A fresh copy of a reference solution file (instructor side: the grader loads its references the same way)."""
    path = solutions / f"{stem}.py"
    return probes.load_module(f"figures_{stem}", str(path), path.read_bytes(), register=False)


class _DataPath(TorchFunctionMode):
    """Records the steps the batch takes: each Linear layer (from its hooks) and each torch function
    applied to the layer outputs between them (torch.relu, F.relu, a sigmoid...)."""

    def __init__(self, x: torch.Tensor) -> None:
        super().__init__()
        self.current, self.layer = x, None  # the tensor on the data path; the Linear layer running now
        self.steps = [_step("input", "a batch x", x)]

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self.layer is None and isinstance(out, torch.Tensor) and any(a is self.current for a in args):
            name = getattr(func, "__name__", str(func))
            relu = name in ("relu", "relu_")
            self.steps.append(_step("ReLU" if relu else name, "max(0, v) per value" if relu else f"torch.{name}", out))
            self.current = out
        return out

    def enter_layer(self, name: str) -> None:
        """A Linear layer starts: what runs inside it is its own business, not a step."""
        self.layer = name

    def leave_layer(self, layer: nn.Linear, out: torch.Tensor) -> None:
        """The layer is done: its output is the next step and the tensor the path follows."""
        self.steps.append(_step(self.layer, f"nn.Linear({layer.in_features}, {layer.out_features})", out))
        self.current, self.layer = out, None


def _step(name: str, detail: str, t: torch.Tensor) -> dict:
    """One step of the data path: its name, a detail line, the tensor's shape and its first sample's values."""
    return {"name": name, "detail": detail, "shape": tuple(t.shape), "values": t.detach()[0].tolist()}


def forward_steps(model: nn.Module, x: torch.Tensor) -> list[dict]:
    """Run x through model and list the steps of the data's path, read from what the forward really did.

    Forward hooks on the Linear layers give their names and outputs; a torch function mode sees the
    functions applied between them (torch.relu shows as "ReLU"). Each step is a dict with name,
    detail, shape (a tuple) and values (the first sample's, a list).
    """
    path = _DataPath(x)
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            hooks.append(m.register_forward_pre_hook(lambda m, i, n=name: path.enter_layer(n)))
            hooks.append(m.register_forward_hook(lambda m, i, o: path.leave_layer(m, o)))
    try:
        with torch.no_grad(), path:
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return path.steps


def loader_batches(sec3: types.ModuleType, seed: int = SEED, epochs: int = 2) -> list[list[list[int]]]:
    """Dataset indices of every batch, per epoch, from the reference make_loader over course.content.data's 100 samples."""
    x, y = data.make_classification(100, 11, seed=seed)  # (100, 11), (100,)
    loader = sec3.make_loader(sec3.CustomDataset(x, y), batch_size=10, shuffle=True, seed=seed)
    epochs_out = []
    for _ in range(epochs):
        batches = []
        for batch_x, _ in loader:  # (10, 11): find each row's place in x
            batches.append((batch_x[:, None, :] == x[None]).all(-1).nonzero()[:, 1].tolist())
        epochs_out.append(batches)
    return epochs_out


def reference_run(sec2: types.ModuleType, sec3: types.ModuleType, sec4: types.ModuleType,
                  seed: int = SEED, epochs: int = 40) -> dict:
    """Train a SimpleNN(11, (64, 32), 2) with the reference fit on course.content.data; losses rounded to 3 places
    (far below a pixel), so a CPU that rounds the last bits of a float differently draws the same curve.

    Also measures what the figure claims: optimizer steps per epoch, and whether evaluate changed a weight.
    One thread: for a model this small it is faster, and it does not fight a busy machine for cores.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(sec2, sec3, sec4, seed, epochs)
    finally:
        torch.set_num_threads(threads)


def _run(sec2: types.ModuleType, sec3: types.ModuleType, sec4: types.ModuleType, seed: int, epochs: int) -> dict:
    """reference_run's body."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        x, y = data.make_classification(100, 11, seed=seed)
        train, val = sec3.train_val_split(sec3.CustomDataset(x, y), val_fraction=0.2, seed=seed)
        train_loader = sec3.make_loader(train, batch_size=10, shuffle=True, seed=seed)
        val_loader = sec3.make_loader(val, batch_size=10, shuffle=False)
        model = sec2.SimpleNN(11, (64, 32), 2)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        history = sec4.fit(model, train_loader, val_loader, nn.CrossEntropyLoss(), optimizer, epochs)
        before = [p.detach().clone() for p in model.parameters()]
        sec4.evaluate(model, val_loader, nn.CrossEntropyLoss())
        unchanged = all(torch.equal(a, p) for a, p in zip(before, model.parameters()))
    return {"train": [round(v, 3) for v in history["train_loss"]], "val": [round(v, 3) for v in history["val_loss"]],
            "n_train": len(train), "n_val": len(val), "steps": len(train_loader), "eval_unchanged": unchanged,
            "seed": seed}


def _canvas() -> tuple[Figure, "matplotlib.axes.Axes"]:
    """A 1024x1024 figure with one invisible 100x100 drawing area (1 unit = 10.24 px)."""
    fig = Figure(figsize=(SIZE_IN, SIZE_IN), dpi=DPI, facecolor=PAPER)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.axis("off")
    return fig, ax


def _title(ax, title: str, subtitle: str) -> None:
    """The figure's title and a one-line subtitle at the top."""
    ax.text(50, 95, title, ha="center", va="center", fontsize=24, weight="bold", color=INK)
    ax.text(50, 90.3, subtitle, ha="center", va="center", fontsize=13, color=MUTED)


def _box(ax, x: float, y: float, w: float, h: float, color: str, fill: str | None = None, lw: float = 2.0) -> None:
    """A rounded box with its lower left corner at (x, y)."""
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=1.2", linewidth=lw,
                                edgecolor=color, facecolor=fill or TINT.get(color, PAPER)))


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], color: str = MUTED, lw: float = 2.5, **kw) -> None:
    """A filled arrow from start to end."""
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>,head_length=0.9,head_width=0.5", mutation_scale=12,
                                 linewidth=lw, color=color, shrinkA=0, shrinkB=0, **kw))


def draw_linear(seed: int = SEED) -> Figure:
    """Figure 1: nn.Linear(11, 64) as a flowchart, W drawn cell by cell from a real layer."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = nn.Linear(11, 64)
    weight, bias = layer.weight.detach(), layer.bias.detach()  # (64, 11), (64,)
    scale = float(weight.abs().max())
    cmap = matplotlib.colormaps["PuOr_r"]
    fig, ax = _canvas()
    _title(ax, "nn.Linear(11, 64)", "a fully connected layer: each of the 64 outputs sees all 11 inputs")
    top, bottom = 80.0, 24.0
    row = (top - bottom) / 64
    ys = [top - (i + 0.5) * row for i in range(64)]

    ax.text(9, 84, "input x", ha="center", fontsize=15, weight="bold", color=DATA)
    ax.text(9, 81.3, "11 features", ha="center", fontsize=12, color=DATA)
    for j in range(11):
        cy = 76 - j * 4.8
        ax.add_patch(matplotlib.patches.Circle((9, cy), 2.0, facecolor=TINT[DATA], edgecolor=DATA, linewidth=2))
        ax.text(9, cy, f"$x_{{{j + 1}}}$", ha="center", va="center", fontsize=12, color=INK)
    _arrow(ax, (13, 52), (19.5, 52), color=DATA)

    _box(ax, 20.5, 16.5, 34, 71.5, LAYER)
    ax.text(37.5, 84.5, "nn.Linear(11, 64)", ha="center", fontsize=15, weight="bold", color=LAYER)
    wx, cw = 26.0, 1.6
    ax.text(wx + 5.5 * cw, 81.3, "W  (64, 11)", ha="center", fontsize=13, color=INK)
    ax.text(49.8, 81.3, "b  (64,)", ha="center", fontsize=13, color=INK)
    for i in range(64):
        for j in range(11):
            ax.add_patch(Rectangle((wx + j * cw, ys[i] - row / 2), cw, row, linewidth=0.3, edgecolor=PAPER,
                                   facecolor=cmap(0.5 + 0.5 * float(weight[i, j]) / scale)))
        ax.add_patch(Rectangle((49.0, ys[i] - row / 2), cw, row, linewidth=0.3, edgecolor=PAPER,
                               facecolor=cmap(0.5 + 0.5 * float(bias[i]) / scale)))
    ax.add_patch(Rectangle((wx, top - row), 11 * cw, row, fill=False, edgecolor=OUT, linewidth=2.2))
    ax.add_patch(Rectangle((49.0, top - row), cw, row, fill=False, edgecolor=OUT, linewidth=2.2))
    ax.text(wx - 1.2, (top + bottom) / 2, "64 rows: one per output", rotation=90, ha="center", va="center",
            fontsize=11, color=MUTED)
    ax.text(wx + 5.5 * cw, bottom - 2.2, "11 columns: one per input", ha="center", fontsize=11, color=MUTED)
    ax.text(37.5, 18.3, f"colours: a fresh layer's values, seed {seed}", ha="center", fontsize=10, color=MUTED)

    _arrow(ax, (55.5, 52), (62, 52), color=OUT)
    ax.text(67, 84, "output y", ha="center", fontsize=15, weight="bold", color=OUT)
    ax.text(67, 81.3, "64 features", ha="center", fontsize=12, color=OUT)
    for i, cy in enumerate(ys):
        ax.add_patch(matplotlib.patches.Circle((67, cy), 0.36, facecolor=OUT if i else PAPER, edgecolor=OUT,
                                               linewidth=1.2))
    ax.text(69, ys[0], "$y_{1}$", va="center", fontsize=12, color=INK)
    ax.text(69, ys[-1], "$y_{64}$", va="center", fontsize=12, color=INK)

    ax.plot([50.6, 66.6], [ys[0], ys[0]], color=OUT, linewidth=1.5, linestyle=(0, (2, 2)))
    ax.text(73, 70, "one output, e.g. $y_{1}$:", fontsize=13, weight="bold", color=OUT)
    for k, line in enumerate(["the 11 inputs times", "row 1 of W, summed,", "plus $b_{1}$"]):
        ax.text(73, 66.2 - 3.6 * k, line, fontsize=13, color=INK)
    ax.text(73, 46, "parameters", fontsize=13, weight="bold", color=LAYER)
    total = sum(p.numel() for p in layer.parameters())
    for k, line in enumerate([f"W: 64 × 11 = {weight.numel()}", f"b: {bias.numel()}", f"total: {total}"]):
        ax.text(73, 42.2 - 3.6 * k, line, fontsize=13, color=INK)

    ax.text(50, 9.5, r"$y = x\,W^{T} + b$", ha="center", va="center", fontsize=24, color=INK)
    ax.text(50, 3.8, "(N, 11) @ (11, 64) + (64,)  →  (N, 64)", ha="center", va="center", fontsize=15,
            family="monospace", color=INK)
    return fig


def draw_forward(steps: list[dict]) -> Figure:
    """Figure 2: the data's path through SimpleNN.forward, one row per step, shapes as measured."""
    n = steps[0]["shape"][0]
    fig, ax = _canvas()
    _title(ax, "SimpleNN.forward, step by step", f"shapes read from the real module as a batch of N = {n} runs through it")
    widest = max(s["shape"][-1] for s in steps)
    top, gap = 80.0, 68.0 / max(len(steps) - 1, 1)
    for k, step in enumerate(steps):
        last, layer = k == len(steps) - 1, step["detail"].startswith("nn.Linear")
        colour = (OUT if last else LAYER) if layer else {"input": DATA, "ReLU": ACT}.get(step["name"], VAL)
        cy = top - k * gap
        _box(ax, 5, cy - 4.3, 36, 8.6, colour)
        ax.text(8, cy + 1.5, step["name"], va="center", fontsize=17, weight="bold", color=colour)
        ax.text(8, cy - 2.0, step["detail"], va="center", fontsize=13, color=INK,
                family="monospace" if step["detail"].startswith(("nn.", "torch.")) else None)
        ax.text(45, cy, str(step["shape"]), va="center", fontsize=17, family="monospace", color=INK)
        width = 34.0 * step["shape"][-1] / widest
        cell = width / step["shape"][-1]
        for j, v in enumerate(step["values"]):
            face = LINE if step["name"] == "ReLU" and v == 0.0 else TINT[colour] if v < 0 else colour
            ax.add_patch(Rectangle((62 + j * cell, cy - 1.6), cell, 3.2, linewidth=0.4, edgecolor=PAPER if v >= 0
                                   else colour, facecolor=face))
        if k < len(steps) - 1:
            _arrow(ax, (23, cy - 4.5), (23, cy - gap + 4.5))
        elif len(step["values"]) == 1 and layer:
            ax.text(62 + width + 1.5, cy, f"{step['values'][0]:+.2f}: raw score, no activation", va="center",
                    fontsize=12, color=MUTED)
    ax.text(62, top + 6.2, "sample 1's values", fontsize=12, color=MUTED)
    ax.text(45, top + 6.2, "shape", fontsize=12, color=MUTED)
    ax.text(5, 5.4, "one cell per feature:", va="center", fontsize=12, color=MUTED)
    ax.add_patch(Rectangle((29, 4.2), 2.4, 2.4, facecolor=LAYER, edgecolor=PAPER))
    ax.text(32.3, 5.4, "positive", va="center", fontsize=12, color=MUTED)
    ax.add_patch(Rectangle((44, 4.2), 2.4, 2.4, facecolor=TINT[LAYER], edgecolor=LAYER, linewidth=0.4))
    ax.text(47.3, 5.4, "negative", va="center", fontsize=12, color=MUTED)
    if any(s["name"] == "ReLU" for s in steps):
        ax.add_patch(Rectangle((59, 4.2), 2.4, 2.4, facecolor=LINE, edgecolor=PAPER))
        ax.text(62.3, 5.4, "set to 0 by ReLU", va="center", fontsize=12, color=MUTED)
    return fig


def draw_dataloader(epochs: list[list[list[int]]], seed: int = SEED) -> Figure:
    """Figure 3: 100 samples in order, and the 10 shuffled batches of 10 a seeded DataLoader made of them."""
    batches = epochs[0]
    palette = [matplotlib.colormaps["Spectral"](0.05 + 0.9 * k / 9) for k in range(10)]
    fig, ax = _canvas()
    _title(ax, "DataLoader: shuffled batches of 10",
           f"DataLoader(dataset, batch_size=10, shuffle=True), seed {seed}: the real index order")
    cw, ch, top = 3.6, 5.0, 79.0

    def cell(x: float, y: float, index: int) -> None:
        colour = palette[index // 10]
        dark = 0.2126 * colour[0] + 0.7152 * colour[1] + 0.0722 * colour[2] < 0.45
        ax.add_patch(FancyBboxPatch((x + 0.25, y + 0.25), cw - 0.5, ch - 0.5, boxstyle="round,pad=0,rounding_size=0.6",
                                    linewidth=0, facecolor=colour))
        ax.text(x + cw / 2, y + ch / 2, str(index), ha="center", va="center", fontsize=11,
                color=PAPER if dark else INK)

    left, right = 3.0, 61.0
    ax.text(left + 5 * cw, top + 3.2, "100 samples, in order", ha="center", fontsize=14, weight="bold",
            color=DATA)
    for i in range(100):
        cell(left + (i % 10) * cw, top - ch * (i // 10 + 1), i)
    _arrow(ax, (40.5, top - 5 * ch), (48.5, top - 5 * ch), color=INK, lw=3)
    ax.text(44.5, top - 5 * ch + 2.2, "shuffle", ha="center", fontsize=12, color=INK)
    ax.text(right + 5 * cw, top + 3.2, "10 batches of 10", ha="center", fontsize=14, weight="bold", color=OUT)
    for b, batch in enumerate(batches):
        y = top - ch * (b + 1)
        ax.text(right - 1.0, y + ch / 2, f"batch {b + 1}", ha="right", va="center", fontsize=11, color=MUTED)
        for j, index in enumerate(batch):
            cell(right + j * cw, y, index)
    ax.text(50, 20.5, "each sample keeps its colour: every batch mixes the whole data set",
            ha="center", fontsize=13, color=INK)
    ax.text(50, 15.0, "each batch: data (10, 11), labels (10,)", ha="center", fontsize=15,
            family="monospace", color=INK)
    second = ", ".join(str(i) for i in epochs[1][0])
    ax.text(50, 8.5, "every epoch draws a new order; epoch 2's batch 1:", ha="center", fontsize=13, color=MUTED)
    ax.text(50, 4.5, f"[{second}]", ha="center", fontsize=13, family="monospace", color=MUTED)
    return fig


def _flow(ax, x: float, colour: str, header: str, lines: list[tuple[str, str]], footer: str) -> None:
    """One column of the training figure: a header, a chain of code boxes, and what happens to the weights."""
    _box(ax, x, 46, 45, 41, colour, fill=PAPER)
    ax.text(x + 22.5, 83.3, header, ha="center", va="center", fontsize=16, weight="bold", color=colour)
    for k, (code, note) in enumerate(lines):
        y = 75.5 - 9.0 * k
        _box(ax, x + 2.5, y - 2.9, 40, 5.8, colour, lw=1.5)
        ax.text(x + 4.5, y + 1.0, code, va="center", fontsize=12, family="monospace", color=INK)
        ax.text(x + 4.5, y - 1.5, note, va="center", fontsize=10.5, color=MUTED)
        if k < len(lines) - 1:
            _arrow(ax, (x + 22.5, y - 3.1), (x + 22.5, y - 5.8), color=colour, lw=2)
    ax.text(x + 22.5, 49.5, footer, ha="center", va="center", fontsize=13, weight="bold", color=colour)


def draw_training(run: dict) -> Figure:
    """Figure 4: what training and validation do to the weights, and the real loss curves of a reference run."""
    train, val = run["train"], run["val"]
    fig, ax = _canvas()
    _title(ax, "Training vs validation", "training updates the weights; validation only measures")
    _flow(ax, 3.5, DATA, "training: model.train()", [
        ("loss = loss_fn(model(x), y)", "forward, the graph is recorded"),
        ("loss.backward()", "a gradient for every weight"),
        ("optimizer.step()", "the weights change"),
    ], f"weights updated {run['steps']} times an epoch")
    _flow(ax, 51.5, VAL, "validation: model.eval()", [
        ("with torch.no_grad():", "no graph, no gradients"),
        ("loss = loss_fn(model(x), y)", "forward only"),
        ("no backward, no step", "nothing to update with"),
    ], "weights unchanged" + (" (checked)" if run["eval_unchanged"] else ": NOT in this run"))

    plot = fig.add_axes((0.1, 0.075, 0.86, 0.295))
    epochs = range(1, len(train) + 1)
    plot.plot(epochs, train, color=DATA, linewidth=3, label="training loss")
    plot.plot(epochs, val, color=VAL, linewidth=3, label="validation loss")
    best = min(range(len(val)), key=val.__getitem__)
    plot.plot([best + 1], [val[best]], "o", color=VAL, markersize=8)
    plot.fill_between(epochs, train, val, where=[v > t for t, v in zip(train, val)], color=VAL, alpha=0.08,
                      linewidth=0)
    plot.annotate(f"lowest validation loss\nepoch {best + 1}: {val[best]:.2f}", (best + 1, val[best]),
                  xytext=(min(best + 9, len(val) * 0.5), max(val) * 0.97), ha="center", va="top", fontsize=11,
                  color=VAL, arrowprops={"arrowstyle": "-", "color": VAL, "linewidth": 1.2})
    end = len(train)
    if val[-1] > train[-1]:
        plot.annotate("", (end, train[-1]), xytext=(end, val[-1]),
                      arrowprops={"arrowstyle": "<->", "color": INK, "linewidth": 1.5})
        plot.text(end - 0.8, (train[-1] + val[-1]) / 2,
                  f"epoch {end}: validation {val[-1]:.2f}\nhigher than training {train[-1]:.2f}",
                  ha="right", va="center", fontsize=11, color=INK)
    else:
        plot.text(end, max(val), f"epoch {end}: validation {val[-1]:.2f} is not above training {train[-1]:.2f}",
                  ha="right", va="top", fontsize=11, color=INK)
    plot.set_xlim(0, end + 1)
    plot.set_ylim(0, max(max(train), max(val)) * 1.08)
    plot.set_xlabel("epoch", fontsize=12, color=INK)
    plot.set_ylabel("cross-entropy loss", fontsize=12, color=INK)
    plot.tick_params(labelsize=11, colors=MUTED)
    for side in ("top", "right"):
        plot.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        plot.spines[side].set_color(LINE)
    plot.grid(axis="y", color="#f3f4f6", linewidth=1)
    plot.legend(loc="upper left", fontsize=12, frameon=False)
    ax.text(50, 42.6, f"the real loss curves of a reference run, seed {run['seed']}", ha="center", va="center",
            fontsize=13, weight="bold", color=INK)
    ax.text(50, 39.6, f"SimpleNN 11 → 64 → 32 → 2, Adam lr 0.01, {run['n_train']} training / {run['n_val']} "
            "validation samples", ha="center", va="center", fontsize=11, color=MUTED)
    return fig


def render(fig: Figure) -> dict[str, bytes]:
    """The figure as PNG and SVG bytes, with no date or software version written into either."""
    out = {}
    for ext, meta in (("png", PNG_META), ("svg", SVG_META)):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=ext, dpi=DPI, metadata=meta, facecolor=fig.get_facecolor())
        out[ext] = buffer.getvalue()
    return out


def build(solutions: Path) -> dict[str, bytes]:
    """File name -> bytes of every figure, drawn from the reference solutions in solutions/."""
    sec2, sec3, sec4 = (load_reference(solutions, s) for s in ("sec2_forward", "sec3_data", "sec4_training"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = sec2.SimpleNN()
        x, _ = data.make_classification(8, 11, seed=SEED)  # (8, 11)
    files = {}
    with matplotlib.rc_context(STYLE):
        figures = {"sec1_linear": draw_linear(), "sec2_forward": draw_forward(forward_steps(model, x)),
                   "sec3_dataloader": draw_dataloader(loader_batches(sec3)),
                   "sec4_training": draw_training(reference_run(sec2, sec3, sec4))}
        for name in NAMES:
            for ext, content in render(figures[name]).items():
                files[f"{name}.{ext}"] = content
    return files


def stale_files(files: dict[str, bytes], out: Path) -> list[str]:
    """Names of the figures whose file in out is missing or holds other bytes."""
    return [n for n, content in files.items() if not (out / n).is_file() or (out / n).read_bytes() != content]


def main(argv: list[str] | None = None) -> int:
    """Write the figures into --out, or with --check only list the stale ones (exit 1 if any)."""
    parser = argparse.ArgumentParser(prog="python -m course.render.figures", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    parser.add_argument("--solutions", type=Path, default=Path("solutions"))
    parser.add_argument("--check", action="store_true", help="only report stale figures; exit 1 if any")
    args = parser.parse_args(argv)
    if not (args.solutions / "sec2_forward.py").is_file():
        parser.error(f"{args.solutions}/ holds no reference solutions; run this in the course's own checkout")
    files = build(args.solutions)
    stale = stale_files(files, args.out)
    if args.check:
        for name in stale:
            print(f"stale: {args.out / name}")
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (args.out / name).write_bytes(files[name])
    print(f"wrote {args.out}/ ({len(stale)} of {len(files)} file(s) changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
