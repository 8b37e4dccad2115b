"""A class for proving the similarity detector (course.engine.similarity): independent solutions and planted copies.

STYLES: per task long enough to compare (3.1, 3.3, 4.1 to 4.4), correct solutions written independently in
different styles (loops or vectorised, helpers or inline, early returns, other APIs); the reference is style 0.
Independent student i hands in style i of every such task, and the reference for the rest, where the lesson's
short bodies (a three-line forward) are the same for everyone.
PLANTED: copies of one student's code for one task (the rest of the file left a stub), disguised by renaming, reformatting, other or no comments,
and reordering independent statements. Each must be found; no pair of independent students may be.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from conftest import EXERCISES, S3, S4, SOLUTIONS, replace_definition

from course.engine.submission import Entry

STYLES: dict[str, list[str]] = {
    "3.1": [
        '''
class CustomDataset(Dataset):
    def __init__(self, data, labels, transform=None):
        n_data, n_labels = data.shape[0], labels.shape[0]
        if n_data != n_labels:
            raise ValueError("length mismatch: %d vs %d" % (n_data, n_labels))
        self.x, self.y, self.tf = data, labels, transform

    def __len__(self):
        return self.x.shape[0]

    def __getitem__(self, i):
        item = self.x[i] if self.tf is None else self.tf(self.x[i])
        return item, self.y[i]
''',
        '''
class CustomDataset(Dataset):
    def __init__(self, data, labels, transform=None):
        self.pairs = list(zip(data, labels)) if len(data) == len(labels) else None
        if self.pairs is None:
            raise ValueError("data and labels differ in length")
        self.transform = transform or (lambda sample: sample)

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, index):
        features, target = self.pairs[index]
        return self.transform(features), target
''',
        '''
class CustomDataset(Dataset):
    def __init__(self, data, labels, transform=None):
        try:
            assert data.size(0) == labels.size(0)
        except AssertionError:
            raise ValueError(f"{data.size(0)} samples, {labels.size(0)} labels") from None
        self._store = {"data": data, "labels": labels}
        self._transform = transform

    def __len__(self):
        return int(self._store["labels"].numel() and self._store["labels"].shape[0])

    def __getitem__(self, k):
        out = self._store["data"][k]
        if callable(self._transform):
            out = self._transform(out)
        label = self._store["labels"][k]
        return (out, label)
''',
        '''
class CustomDataset(Dataset):
    def __init__(self, data, labels, transform=None):
        super().__init__()
        sizes = {len(data), len(labels)}
        if len(sizes) > 1:
            raise ValueError("sizes differ: " + ", ".join(str(s) for s in sorted(sizes)))
        vars(self).update(data=data, labels=labels, transform=transform)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        return tuple([self.transform(self.data[idx]) if self.transform else self.data[idx], self.labels[idx]])
''',
        '''
class CustomDataset(Dataset):
    def __init__(self, data, labels, transform=None):
        if data.shape[:1] == labels.shape[:1]:
            self.samples = data
            self.targets = labels
            self.fn = transform
            return
        raise ValueError("every sample needs exactly one label")

    def __getitem__(self, position):
        sample = self.samples[position]
        for step in [self.fn] if self.fn is not None else []:
            sample = step(sample)
        return sample, self.targets[position]

    def __len__(self):
        count = 0
        for _ in range(self.samples.shape[0]):
            count += 1
        return count
''',
    ],
    "3.3": [
        '''
def train_val_split(dataset, val_fraction=0.2, seed=0):
    g = torch.Generator()
    g.manual_seed(seed)
    indices = torch.randperm(len(dataset), generator=g)
    cut = int(round(val_fraction * len(dataset)))
    val_idx, train_idx = indices[:cut], indices[cut:]
    return Subset(dataset, train_idx.tolist()), Subset(dataset, val_idx.tolist())
''',
        '''
def train_val_split(dataset, val_fraction=0.2, seed=0):
    total = len(dataset)
    how_many_val = round(total * val_fraction)
    lengths = [total - how_many_val, how_many_val]
    rng = torch.Generator().manual_seed(seed)
    parts = torch.utils.data.random_split(dataset, lengths, generator=rng)
    return parts[0], parts[1]
''',
        '''
def train_val_split(dataset, val_fraction=0.2, seed=0):
    size = len(dataset)
    shuffled = torch.randperm(size, generator=torch.Generator().manual_seed(seed))
    chosen = set(shuffled[: round(size * val_fraction)].tolist())
    training = [i for i in range(size) if i not in chosen]
    validation = sorted(chosen)
    return Subset(dataset, training), Subset(dataset, validation)
''',
        '''
def train_val_split(dataset, val_fraction=0.2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(dataset), generator=gen).tolist()
    boundary = len(perm) - round(len(perm) * val_fraction)
    train_part = Subset(dataset, perm[:boundary])
    val_part = Subset(dataset, perm[boundary:])
    return train_part, val_part
''',
        '''
def train_val_split(dataset, val_fraction=0.2, seed=0):
    n = len(dataset)
    keys = torch.rand(n, generator=torch.Generator().manual_seed(seed))
    ranked = keys.argsort(descending=True)
    n_val = round(n * val_fraction)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[ranked[:n_val]] = True
    return Subset(dataset, torch.nonzero(~mask).flatten().tolist()), Subset(dataset, ranked[:n_val].tolist())
''',
    ],
    "4.1": [
        '''
def cross_entropy(logits, target):
    probs = torch.softmax(logits.double(), dim=1)
    right = probs[range(logits.shape[0]), target]
    losses = -torch.log(right)
    return losses.mean().to(logits.dtype)
''',
        '''
def cross_entropy(logits, target):
    n_classes = logits.shape[1]
    one_hot = torch.nn.functional.one_hot(target, n_classes).to(logits.dtype)
    log_sm = torch.log_softmax(logits, dim=1)
    per_sample = -(one_hot * log_sm).sum(dim=1)
    return per_sample.sum() / len(target)
''',
        '''
def cross_entropy(logits, target):
    losses = []
    for row, label in zip(logits, target):
        top = row.max()
        log_norm = top + torch.log(torch.sum(torch.exp(row - top)))
        losses.append(log_norm - row[label])
    return torch.stack(losses).mean()
''',
        '''
def cross_entropy(logits, target):
    m = logits.amax(dim=-1, keepdim=True)
    lse = (logits - m).exp().sum(-1).log() + m.squeeze(-1)
    chosen = torch.take_along_dim(logits, target[:, None], dim=-1)[:, 0]
    return torch.mean(lse - chosen)
''',
        '''
def cross_entropy(logits, target):
    criterion = nn.CrossEntropyLoss(reduction="none")
    each = criterion(logits, target)
    if each.numel() == 0:
        return each.sum()
    return each.sum() / each.numel()
''',
    ],
    "4.2": [
        '''
def train_one_epoch(model, loader, loss_fn, optimizer):
    model.train()
    seen, running = 0, 0.0
    for batch in loader:
        xb, yb = batch
        preds = model(xb)
        batch_loss = loss_fn(preds, yb)
        optimizer.zero_grad()
        batch_loss.backward()
        optimizer.step()
        running = running + batch_loss.detach().item() * xb.shape[0]
        seen = seen + xb.shape[0]
    return running / seen
''',
        '''
def train_one_epoch(model, loader, loss_fn, optimizer):
    model.train(True)
    weighted = []
    for features, labels in iter(loader):
        for p in model.parameters():
            p.grad = None
        objective = loss_fn(model(features), labels)
        objective.backward()
        optimizer.step()
        weighted.append((float(objective), labels.numel()))
    return sum(l * n for l, n in weighted) / sum(n for _, n in weighted)
''',
        '''
def train_one_epoch(model, loader, loss_fn, optimizer):
    def step(inputs, targets):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        return loss.item(), len(inputs)

    model.train()
    results = [step(a, b) for a, b in loader]
    return sum(loss * size for loss, size in results) / sum(size for _, size in results)
''',
        '''
def train_one_epoch(model, loader, loss_fn, optimizer):
    model.train()
    sums = torch.zeros(2, dtype=torch.float64)
    batches = enumerate(loader)
    while True:
        try:
            _, (x, y) = next(batches)
        except StopIteration:
            break
        optimizer.zero_grad()
        out = loss_fn(model(x), y)
        out.backward()
        optimizer.step()
        sums += torch.tensor([out.item() * y.size(0), y.size(0)], dtype=torch.float64)
    return (sums[0] / sums[1]).item()
''',
        '''
def train_one_epoch(model, loader, loss_fn, optimizer):
    if not model.training:
        model.train()
    loss_sum = 0.0
    sample_count = 0
    for data, label in loader:
        model.zero_grad()
        prediction = model(data)
        error = loss_fn(prediction, label)
        error.backward()
        optimizer.step()
        with torch.no_grad():
            loss_sum += error.item() * label.shape[0]
        sample_count += label.shape[0]
    return loss_sum / max(sample_count, 1)
''',
    ],
    "4.3": [
        '''
def evaluate(model, loader, loss_fn):
    model.eval()
    losses, hits, n = [], 0, 0
    with torch.inference_mode():
        for xb, yb in loader:
            out = model(xb)
            losses.append(loss_fn(out, yb).item() * len(yb))
            hits += int((out.argmax(1) == yb).sum())
            n += len(yb)
    return sum(losses) / n, hits / n
''',
        '''
@torch.no_grad()
def evaluate(model, loader, loss_fn):
    model.train(False)
    all_logits, all_targets = [], []
    for inputs, targets in loader:
        all_logits.append(model(inputs))
        all_targets.append(targets)
    logits = torch.cat(all_logits)
    targets = torch.cat(all_targets)
    per_batch = [loss_fn(l, t) * len(t) for l, t in zip(all_logits, all_targets)]
    mean_loss = float(sum(per_batch) / len(targets))
    accuracy = (logits.argmax(dim=-1) == targets).float().mean().item()
    return mean_loss, accuracy
''',
        '''
def evaluate(model, loader, loss_fn):
    was = torch.is_grad_enabled()
    torch.set_grad_enabled(False)
    try:
        model.eval()
        stats = {"loss": 0.0, "right": 0, "seen": 0}
        for batch_x, batch_y in loader:
            scores = model(batch_x)
            stats["loss"] += float(loss_fn(scores, batch_y)) * batch_y.shape[0]
            stats["right"] += (scores.max(dim=1).indices == batch_y).sum().item()
            stats["seen"] += batch_y.shape[0]
    finally:
        torch.set_grad_enabled(was)
    return stats["loss"] / stats["seen"], stats["right"] / stats["seen"]
''',
        '''
def evaluate(model, loader, loss_fn):
    model.eval()
    def one(batch):
        x, y = batch
        with torch.no_grad():
            pred = model(x)
            return loss_fn(pred, y).item() * y.numel(), (pred.argmax(-1) == y).sum().item(), y.numel()
    loss_total, correct_total, size_total = map(sum, zip(*[one(b) for b in loader]))
    return loss_total / size_total, correct_total / size_total
''',
        '''
def evaluate(model, loader, loss_fn):
    model.eval()
    numerator = 0.0
    good = 0
    samples = 0
    for k, (features, labels) in enumerate(loader):
        with torch.no_grad():
            guess = model(features)
        numerator = numerator + loss_fn(guess, labels).item() * labels.size(0)
        good = good + torch.eq(torch.argmax(guess, dim=1), labels).sum().item()
        samples = samples + labels.size(0)
    if samples == 0:
        return 0.0, 0.0
    return numerator / samples, good / samples
''',
    ],
    "4.4": [
        '''
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs):
    train_hist = []
    val_hist = []
    epoch = 0
    while epoch < epochs:
        train_hist.append(train_one_epoch(model, train_loader, loss_fn, optimizer))
        v, _acc = evaluate(model, val_loader, loss_fn)
        val_hist.append(v)
        epoch += 1
    return dict(train_loss=train_hist, val_loss=val_hist)
''',
        '''
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs):
    def one_epoch(_):
        tr = train_one_epoch(model, train_loader, loss_fn, optimizer)
        va = evaluate(model, val_loader, loss_fn)[0]
        return tr, va
    pairs = [one_epoch(e) for e in range(epochs)]
    return {"train_loss": [p[0] for p in pairs], "val_loss": [p[1] for p in pairs]}
''',
        '''
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs):
    log = {"train_loss": [], "val_loss": []}
    for epoch_number in range(1, epochs + 1):
        log["train_loss"] += [train_one_epoch(model, train_loader, loss_fn, optimizer)]
        loss_on_val = evaluate(model, val_loader, loss_fn)
        log["val_loss"] += [loss_on_val[0]]
    return log
''',
        '''
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs):
    import collections
    record = collections.defaultdict(list)
    for _ in range(epochs):
        record["train_loss"].append(float(train_one_epoch(model, train_loader, loss_fn, optimizer)))
        record["val_loss"].append(float(evaluate(model, val_loader, loss_fn)[0]))
    return {"train_loss": record["train_loss"], "val_loss": record["val_loss"]}
''',
        '''
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs):
    history = {key: [0.0] * epochs for key in ("train_loss", "val_loss")}
    for i in range(epochs):
        history["train_loss"][i] = train_one_epoch(model, train_loader, loss_fn, optimizer)
        history["val_loss"][i], _ = evaluate(model, val_loader, loss_fn)
    return history
''',
    ],
}

FILE_OF = {"3.1": S3, "3.3": S3, "4.1": S4, "4.2": S4, "4.3": S4, "4.4": S4}
NAME_OF = {"3.1": "CustomDataset", "3.3": "train_val_split", "4.1": "cross_entropy", "4.2": "train_one_epoch",
           "4.3": "evaluate", "4.4": "fit"}


@dataclass(frozen=True)
class Planted:
    """A copy of independent student `source`'s code for `task`, disguised as `how` says."""

    name: str
    task: str
    source: int
    how: str
    code: str


PLANTED = [
    Planted("dataset_renamed_reformatted", "3.1", 1, "names, layout, comments", '''
class CustomDataset(Dataset):
    # my dataset
    def __init__(self, d, l, t=None):
        a, b = d.shape[0], l.shape[0]   # sizes
        if a != b:
            raise ValueError(
                "sizes do not agree: %d / %d" % (a, b)
            )
        self.x, self.y, self.tf = d, l, t

    def __len__(self):
        return self.x.shape[0]

    def __getitem__(self, j):
        # apply the transform
        value = self.x[j] if self.tf is None else self.tf(self.x[j])
        return value, self.y[j]
'''),
    Planted("split_reordered", "3.3", 1, "independent statements reordered, names, comments", '''
def train_val_split(dataset, val_fraction=0.2, seed=0):
    generator = torch.Generator()
    size_of_val = int(round(val_fraction * len(dataset)))  # how many for validation
    generator.manual_seed(seed)
    order = torch.randperm(len(dataset), generator=generator)
    training, held_out = order[size_of_val:], order[:size_of_val]
    return Subset(dataset, training.tolist()), Subset(dataset, held_out.tolist())
'''),
    Planted("ce_renamed", "4.1", 2, "names and layout", '''
def cross_entropy(logits, target):
    k = logits.shape[1]
    encoded = torch.nn.functional.one_hot(target,
                                          k).to(logits.dtype)
    lsm = torch.log_softmax(logits, dim=1)
    each = -(encoded * lsm).sum(dim=1)
    return each.sum() / len(target)
'''),
    Planted("train_reordered", "4.2", 1, "independent statements reordered, names, comments", '''
def train_one_epoch(model, loader, loss_fn, optimizer):
    count, acc = 0, 0.0
    model.train()  # training mode
    for b in loader:
        inp, tgt = b
        optimizer.zero_grad()
        output = model(inp)
        l = loss_fn(output, tgt)
        l.backward()
        optimizer.step()
        count = count + inp.shape[0]
        acc = acc + l.detach().item() * inp.shape[0]
    return acc / count
'''),
    Planted("train_helper_copied", "4.2", 3, "names, comments removed, blank lines", '''
def train_one_epoch(model, loader, loss_fn, optimizer):

    def do_batch(features, labels):
        optimizer.zero_grad(set_to_none=True)
        value = loss_fn(model(features), labels)
        value.backward()
        optimizer.step()
        return value.item(), len(features)


    model.train()
    out = [do_batch(p, q) for p, q in loader]
    return sum(v * s for v, s in out) / sum(s for _, s in out)
'''),
    Planted("eval_reordered_renamed", "4.3", 3, "independent statements reordered, names, dict keys kept", '''
def evaluate(model, loader, loss_fn):
    previous = torch.is_grad_enabled()
    torch.set_grad_enabled(False)
    try:
        model.eval()
        stats = {"loss": 0.0, "right": 0, "seen": 0}
        for inputs, labels in loader:
            logits = model(inputs)
            stats["seen"] += labels.shape[0]
            stats["right"] += (logits.max(dim=1).indices == labels).sum().item()
            stats["loss"] += float(loss_fn(logits, labels)) * labels.shape[0]
    finally:
        torch.set_grad_enabled(previous)
    return stats["loss"] / stats["seen"], stats["right"] / stats["seen"]
'''),
    Planted("eval_loop_comments", "4.3", 5, "comments everywhere, names, layout", '''
def evaluate(model, loader, loss_fn):
    # evaluation mode first
    model.eval()
    s = 0.0  # loss sum
    c = 0    # correct
    m = 0    # samples
    for step, (X, Y) in enumerate(loader):
        with torch.no_grad():   # no gradients here
            P = model(X)
        s = s + loss_fn(P, Y).item() * Y.size(0)
        c = c + torch.eq(torch.argmax(P, dim=1), Y).sum().item()
        m = m + Y.size(0)
    if m == 0:
        return 0.0, 0.0
    return s / m, c / m
'''),
    Planted("fit_renamed_reformatted", "4.4", 1, "names and layout", '''
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs):
    a = []; b = []
    e = 0
    while e < epochs:
        a.append(train_one_epoch(model, train_loader,
                                 loss_fn, optimizer))
        vl, _ = evaluate(model, val_loader, loss_fn)
        b.append(vl)
        e += 1
    return dict(train_loss=a, val_loss=b)
'''),
    Planted("fit_reordered", "4.4", 3, "independent statements reordered, names", '''
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs):
    h = {"train_loss": [], "val_loss": []}
    for ep in range(1, epochs + 1):
        h["train_loss"] += [train_one_epoch(model, train_loader, loss_fn, optimizer)]
        v = evaluate(model, val_loader, loss_fn)
        h["val_loss"] += [v[0]]
    return h
'''),
]


def independent(i: int) -> dict[str, str]:
    """Independent student i's sec3_data.py and sec4_training.py: style i of each long task (style 0: the reference)."""
    files = {S3: (SOLUTIONS / S3).read_text(encoding="utf-8"), S4: (SOLUTIONS / S4).read_text(encoding="utf-8")}
    if i == 0:
        return files
    for task, styles in STYLES.items():
        files[FILE_OF[task]] = replace_definition(FILE_OF[task], NAME_OF[task], styles[i - 1], files[FILE_OF[task]])
    return files


def copier(planted: Planted) -> dict[str, str]:
    """The files of a student who copied one task's code (disguised) and left the rest of the file a stub."""
    files = {name: (EXERCISES / name).read_text(encoding="utf-8") for name in (S3, S4)}
    files[FILE_OF[planted.task]] = replace_definition(FILE_OF[planted.task], NAME_OF[planted.task], planted.code,
                                                      files[FILE_OF[planted.task]])
    return files


def independent_ids() -> list[str]:
    return [f"ind{i}" for i in range(len(STYLES["4.4"]) + 1)]


def entry(student: str, files: dict[str, str]) -> Entry:
    """A class entry as the batch reads it, its files in memory."""
    return Entry(student, student, "folder", Path(student), sources={k: v.encode() for k, v in files.items()})


def test_class() -> list[Entry]:
    """The independent students (style i of every long task) and one copier per planted copy."""
    return [entry(sid, independent(i)) for i, sid in enumerate(independent_ids())] + \
        [entry(p.name, copier(p)) for p in PLANTED]


test_class.__test__ = False  # a builder, not a test
