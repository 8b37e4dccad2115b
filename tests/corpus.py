"""The corpus of submissions the grader is proved accurate on, task by task (tests/test_corpus.py grades it;
tests/test_integrity.py, tests/test_release.py and tests/test_seed_robustness.py reuse it).

BUGS: realistic student mistakes, each a small textual change to the reference. A bug must cost
points in the task it breaks (and only there), with readable feedback.
VARIANTS: different but correct ways to meet the same contract. They must get full marks.

A case wrapped in gap() is a known grader gap, xfail(strict=True): its reason names the probe or test at fault.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from conftest import S1, S2, S3, S4, SOLUTIONS, mutate


@dataclass(frozen=True)
class Case:
    """One submission: the reference with `old` replaced by `new` in `file` (plus any `more` edits there).

    task: the task(s) the change breaks, space-separated when a broken file takes several down
    (for variants: the task whose code was rewritten). says: text the feedback must contain. charged: the
    names of the tests that must fail (one mistake costs points once, in the test about it), when given.
    """

    name: str
    task: str
    file: str
    old: str
    new: str
    note: str
    says: str = ""
    more: tuple[tuple[str, str], ...] = ()
    args: tuple[str, ...] = ()
    charged: tuple[str, ...] = ()

    def text(self) -> str:
        text = mutate(self.file, self.old, self.new)
        for old, new in self.more:
            mutate(self.file, old, new)  # old occurs exactly once in the reference ...
            assert text.count(old) == 1, f"{self.name}: {old!r} is not unique after the first edit"
            text = text.replace(old, new)  # ... and in the text edited so far
        assert text != (SOLUTIONS / self.file).read_text(encoding="utf-8"), f"{self.name} changes nothing"
        return text


def gap(case: Case, reason: str):
    """A case the grader gets wrong today: kept in the corpus, expected to fail until the grader is fixed."""
    return pytest.param(case, id=case.name, marks=pytest.mark.xfail(strict=True, reason=f"grader gap: {reason}"))


# Reference snippets used by several cases.
LINEAR_BODY = (
    "    y = x @ weight.T  # (..., in) @ (in, out) -> (..., out)\n"
    "    if bias is not None:\n"
    "        y = y + bias  # (out,) broadcasts over the leading axes\n"
    "    return y\n"
)
LAYERS = (
    "        self.fc1 = nn.Linear(in_features, hidden[0])\n"
    "        self.fc2 = nn.Linear(hidden[0], hidden[1])\n"
    "        self.output = nn.Linear(hidden[1], out_features)\n"
)
RELUS = (
    "        h = torch.relu(self.fc1(x))  # (N, in) -> (N, hidden[0])\n"
    "        h = torch.relu(self.fc2(h))  # (N, hidden[0]) -> (N, hidden[1])\n"
)
LOADER = "    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)\n"
SPLIT = (
    "    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()\n"
    "    return Subset(dataset, order[n_val:]), Subset(dataset, order[:n_val])\n"
)
CE_BODY = (
    "    shifted = logits - logits.max(dim=1, keepdim=True).values  # (N, C), each row's max is 0\n"
    "    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()  # (N, C)\n"
    "    picked = log_probs.gather(1, target.unsqueeze(1))  # (N, 1): log-prob of the right class\n"
    "    return -picked.mean()\n"
)
TRAIN_STEP = (
    "        optimizer.zero_grad()\n"
    "        loss = loss_fn(model(inputs), targets)\n"
    "        loss.backward()\n"
    "        optimizer.step()\n"
    "        total += loss.item() * len(targets)\n"
    "        count += len(targets)\n"
)
EVAL_LOOP = (
    "    with torch.no_grad():\n"
    "        for inputs, targets in loader:\n"
    "            logits = model(inputs)  # (B, C)\n"
    "            total += loss_fn(logits, targets).item() * len(targets)\n"
    "            correct += (logits.argmax(dim=1) == targets).sum().item()\n"
    "            count += len(targets)\n"
)
EVAL_LOOP_WITHOUT_NO_GRAD = (
    "    for inputs, targets in loader:\n"
    "        logits = model(inputs)  # (B, C)\n"
    "        total += loss_fn(logits, targets).item() * len(targets)\n"
    "        correct += (logits.argmax(dim=1) == targets).sum().item()\n"
    "        count += len(targets)\n"
)
FIT_EPOCH = (
    '        history["train_loss"].append(train_one_epoch(model, train_loader, loss_fn, optimizer))\n'
    "        val_loss, _ = evaluate(model, val_loader, loss_fn)\n"
    '        history["val_loss"].append(val_loss)\n'
)

BUGS = [
    # --- Section 1 ---
    Case("linear_untransposed_weight", "1.1", S1, "y = x @ weight.T", "y = x @ weight",
         "x @ weight: wrong for a square weight, a shape error otherwise", says="untransposed"),
    Case("linear_missing_bias", "1.1", S1, LINEAR_BODY, "    return x @ weight.T\n",
         "the bias is never added", says="the bias was not added"),
    Case("count_includes_frozen", "1.2", S1, " if p.requires_grad)", ")",
         "frozen parameters (requires_grad=False) are counted", says="frozen parameters"),
    Case("count_tensors_not_numel", "1.2", S1, "sum(p.numel() for p in", "sum(1 for p in",
         "counts parameter tensors instead of scalars", says="not parameter tensors"),
    Case("shapes_as_lists", "1.2", S1, "{name: tuple(p.shape)", "{name: list(p.shape)",
         "shapes as lists, not tuples", says="got [64, 11]"),
    Case("count_shared_twice", "1.2", S1,
             "    return sum(p.numel() for p in module.parameters() if p.requires_grad)\n",
             "    total = 0\n"
             "    for layer in module.modules():\n"
             "        total += sum(p.numel() for p in layer.parameters(recurse=False) if p.requires_grad)\n"
             "    return total\n",
             "a parameter shared by two layers (tied weights) is counted once per layer"),
    Case("shapes_only_for_a_linear", "1.2", S1,
         "    return {name: tuple(p.shape) for name, p in module.named_parameters()}\n",
         '    return {"weight": tuple(module.weight.shape), "bias": tuple(module.bias.shape)}\n',
         "parameter_shapes hard-wired to a single nn.Linear: no nested modules, no dotted names",
         says="has no attribute 'weight'"),
    Case("first_layer_samples_axis", "1.3", S1, "nn.Linear(data.shape[-1], hidden)", "nn.Linear(data.shape[0], hidden)",
         "in_features from the number of samples", says="not the number of samples"),
    Case("first_layer_type_error", "1.3", S1, "raise ValueError(f\"data must be", "raise TypeError(f\"data must be",
         "raises TypeError, not ValueError, for data without a feature axis", says="expected ValueError, got TypeError"),
    Case("first_layer_accepts_1d", "1.3", S1, "if data.dim() < 2:", "if data.dim() == 0:",
         "only a scalar is refused; 1-D data builds a layer", says="expected ValueError, it returned Linear"),
    # --- Section 2 ---
    Case("init_hard_coded_sizes", "2.1", S2, LAYERS,
         "        self.fc1 = nn.Linear(11, 64)\n        self.fc2 = nn.Linear(64, 32)\n        self.output = nn.Linear(32, 1)\n",
         "the lesson's 11/64/32/1 hard-coded instead of the arguments", says="not the numbers 11, 64, 32, 1"),
    Case("init_wrong_layer_name", "2.1", S2, "self.output = nn.Linear", "self.out = nn.Linear",
         "the last layer is named out, so state_dict keys are out.*", says="unexpected keys"),
    Case("wrong_layer_name_everywhere", "2.1", S2, "self.output = nn.Linear", "self.out = nn.Linear",
             "the last layer is named out in __init__ and in forward", says="unexpected keys",
             more=(("return self.output(h)", "return self.out(h)"),)),
    Case("relu_on_output", "2.2", S2, "return self.output(h)  #", "return torch.relu(self.output(h))  #",
         "an activation after the output layer", says="no activation after the output layer"),
    Case("no_relu_between_layers", "2.2", S2, RELUS,
         "        h = self.fc1(x)\n        h = self.fc2(h)\n",
         "no ReLU at all: the network is linear", says="apply ReLU after fc1 and after fc2"),
    Case("inplace_relu_on_input", "2.2", S2, "h = torch.relu(self.fc1(x))  #", "h = torch.relu(self.fc1(x.relu_()))  #",
         "relu_ applied to the input x, which changes the caller's tensor", says="do not modify x"),
    Case("gradients_without_zero_grad", "2.3", S2, "    model.zero_grad()\n", "",
         "stale gradients from earlier passes leak into the result", says="the old values were added in"),
    Case("gradients_take_a_step", "2.3", S2, "    loss.backward()\n",
         "    loss.backward()\n    torch.optim.SGD(model.parameters(), lr=0.1).step()\n",
         "an optimizer step after backward changes the parameters", says="no optimizer step"),
    Case("gradients_loss_arguments_swapped", "2.3", S2, "loss_fn(model(x), target)", "loss_fn(target, model(x))",
             "loss_fn(target, output): the arguments in the wrong order"),
    Case("syntax_error_in_sec2", "2.1 2.2 2.3", S2, "def forward(self, x: torch.Tensor) -> torch.Tensor:",
         "def forward(self, x: torch.Tensor) -> torch.Tensor", "a missing colon: sec2_forward.py does not import",
         says="could not run: sec2_forward.py does not load"),
    # --- Section 3 ---
    Case("len_off_by_one", "3.1", S3, "return len(self.data)", "return len(self.data) - 1",
         "__len__ is one short", says="off by one"),
    Case("transform_on_label_too", "3.1", S3, "return sample, self.labels[idx]",
         "label = self.labels[idx]\n        if self.transform is not None:\n            label = self.transform(label)\n"
         "        return sample, label",
         "the transform is applied to the label as well", says="leave the label alone"),
    Case("no_length_check", "3.1", S3,
         '        if len(data) != len(labels):\n'
         '            raise ValueError(f"data has {len(data)} samples but labels has {len(labels)}")\n', "",
         "data and labels of different lengths are accepted", says="nothing was raised"),
    Case("transform_whole_data_at_init", "3.1", S3, "        self.data = data\n",
             "        self.data = data if transform is None else transform(data)  # once, up front\n",
             "the transform runs once on the whole (N, F) tensor in __init__, never on a fetched sample",
             more=(("        self.transform = transform\n", "        self.transform = None\n"),)),
    Case("loader_ignores_shuffle", "3.2", S3, "shuffle=shuffle, generator", "shuffle=True, generator",
         "always shuffles, even with shuffle=False", says="shuffle=False: samples did not come in dataset order"),
    Case("loader_ignores_seed", "3.2", S3, "shuffle=shuffle, generator=generator)", "shuffle=shuffle)",
         "the generator is built but never passed: orders come from the global RNG", says="gave different orders"),
    Case("loader_shuffles_once", "3.2", S3, LOADER,
         "    if shuffle:\n"
         "        order = torch.randperm(len(dataset), generator=generator).tolist()\n"
         "        dataset = Subset(dataset, order)  # shuffled once, here\n"
         "    return DataLoader(dataset, batch_size=batch_size, shuffle=False)\n",
         "one fixed permutation at construction: every epoch has the same order",
         says="two epochs came in the same order"),
    Case("loader_seeds_global_rng", "3.2", S3, LOADER,
             "    if seed is not None:\n"
             "        torch.manual_seed(seed)\n"
             "    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)\n",
             "torch.manual_seed(seed) instead of a Generator: two loaders made one after the other with the "
             "same seed share (and disturb) the global RNG"),
    Case("loader_endless_loop", "3.2", S3, "    ### BEGIN SOLUTION (Task 3.2)\n",
         "    ### BEGIN SOLUTION (Task 3.2)\n    while True:\n        pass\n",
         "an endless loop at the top of make_loader", says="did not finish within 2 s",
         args=("--grader-timeout", "2")),
    Case("split_int_not_round", "3.3", S3, "n_val = round(n * val_fraction)", "n_val = int(n * val_fraction)",
         "int() truncates: 47 * 0.25 = 11.75 gives 11 validation samples, not 12", says="round(n * val_fraction)"),
    Case("split_fractions_random_split", "3.3", S3, SPLIT,
         "    train, val = torch.utils.data.random_split(dataset, [1 - val_fraction, val_fraction],\n"
         "                                               generator=torch.Generator().manual_seed(seed))\n"
         "    return train, val\n",
         "random_split with fractions floors the sizes instead of rounding them", says="size of val"),
    Case("split_overlapping", "3.3", S3, SPLIT,
         "    g = torch.Generator().manual_seed(seed)\n"
         "    val = torch.randperm(n, generator=g)[:n_val].tolist()\n"
         "    train = torch.randperm(n, generator=g)[n_val:].tolist()  # a second, different permutation\n"
         "    return Subset(dataset, train), Subset(dataset, val)\n",
         "two independent permutations: samples repeat across the parts and some go missing", says="repeated"),
    Case("split_unshuffled", "3.3", S3,
         "order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()", "order = list(range(n))",
         "the first n_val samples always go to validation", says="give the same split"),
    # --- Section 4 ---
    Case("ce_log_of_softmax", "4.1", S4,
         "    shifted = logits - logits.max(dim=1, keepdim=True).values  # (N, C), each row's max is 0\n"
         "    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()  # (N, C)\n",
         "    log_probs = torch.log(torch.softmax(logits, dim=1))  # (N, C)\n",
         "log(softmax): the softmax underflows to 0 for large logits, and log(0) is -inf", says="nan or inf"),
    Case("ce_sum_not_mean", "4.1", S4, "return -picked.mean()", "return -picked.sum()",
         "sums over the samples instead of averaging", says="not the sum"),
    Case("ce_through_item", "4.1", S4, "return -picked.mean()", "return torch.tensor(-picked.mean().item())",
         "rebuilds the loss from a Python float, cutting the graph", says="carries no gradient"),
    Case("ce_global_max_shift", "4.1", S4, "logits - logits.max(dim=1, keepdim=True).values",
             "logits - logits.max()",
             "shifts by the max of the whole batch, not each row's max: a row far below it underflows"),
    Case("train_without_zero_grad", "4.2", S4, "        optimizer.zero_grad()\n", "",
         "gradients add up across batches", says="zero the gradients before every backward"),
    Case("train_mean_over_batches", "4.2", S4,
         "        total += loss.item() * len(targets)\n        count += len(targets)\n",
         "        total += loss.item()\n        count += 1\n",
         "mean of the batch means: a short last batch weighs as much as a full one",
         says="a short batch weighs less"),
    Case("train_without_train_mode", "4.2", S4, "    model.train()\n", "",
         "no model.train(): a model handed over in eval mode trains in eval mode", says="eval mode"),
    Case("eval_in_train_mode", "4.3", S4, "    model.eval()\n", "",
         "no model.eval(): BatchNorm uses and updates batch statistics", says="training mode"),
    Case("eval_steps_its_own_optimizer", "4.3", S4, EVAL_LOOP,
         "    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
         "    for inputs, targets in loader:\n"
         "        optimizer.zero_grad()\n"
         "        logits = model(inputs)  # (B, C)\n"
         "        loss = loss_fn(logits, targets)\n"
         "        loss.backward()\n"
         "        optimizer.step()\n"
         "        total += loss.item() * len(targets)\n"
         "        correct += (logits.argmax(dim=1) == targets).sum().item()\n"
         "        count += len(targets)\n",
         "validation trains: an SGD step on every validation batch", says="never call backward()",
         charged=("test_no_gradients_no_updates",)),
    Case("train_sum_not_mean", "4.2", S4, "    return total / count\n", "    return total\n",
         "returns the sum of the per-sample losses", says="a sum, not a mean", charged=("test_mean_loss_equal_batches",)),
    Case("eval_sum_not_mean", "4.3", S4, "return total / count, correct / count", "return total, correct / count",
         "returns the sum of the per-sample losses", says="a sum, not a mean", charged=("test_loss_and_accuracy",)),
    Case("eval_accuracy_percent", "4.3", S4, "return total / count, correct / count",
         "return total / count, 100 * correct / count", "accuracy as a percentage", says="not a percentage",
         charged=("test_loss_and_accuracy",)),
    Case("eval_process_exits", "4.3", S4, "    model.eval()\n", "    import os\n    os._exit(0)  # left from debugging\n",
         "os._exit(0) inside evaluate kills the process", says="died"),
    Case("fit_keeps_loss_and_accuracy", "4.4", S4,
         "        val_loss, _ = evaluate(model, val_loader, loss_fn)\n        history[\"val_loss\"].append(val_loss)\n",
         "        history[\"val_loss\"].append(evaluate(model, val_loader, loss_fn))\n",
         "val_loss gets the (loss, accuracy) tuple", says="(loss, accuracy) pairs"),
    Case("fit_validates_before_training", "4.4", S4, FIT_EPOCH,
         "        val_loss, _ = evaluate(model, val_loader, loss_fn)\n"
         '        history["train_loss"].append(train_one_epoch(model, train_loader, loss_fn, optimizer))\n'
         '        history["val_loss"].append(val_loss)\n',
         "evaluate runs before train_one_epoch in each epoch", says="fit(...) with 3 epochs"),
    Case("fit_keeps_accuracy", "4.4", S4, "val_loss, _ = evaluate(", "_, val_loss = evaluate(",
         "unpacks evaluate's result the wrong way round: val_loss holds accuracies", says="fit(...) with 3 epochs"),
    Case("concept_wrong_letter", "4.5", S4, 'return "C"', 'return "A"',
         "picks answer A", says="is not the best answer"),
]

VARIANTS = [
    # Not a bug the grader can score: whether gradients were tracked during evaluate shows in no value
    # evaluate returns, only inside the student's process, where code can forge it (README, Security).
    Case("eval_without_no_grad", "4.3", S4, EVAL_LOOP, EVAL_LOOP_WITHOUT_NO_GRAD,
         "the forward passes track gradients: the same values, so full marks"),
    # --- Section 1 ---
    Case("linear_functional", "1.1", S1, LINEAR_BODY, "    return torch.nn.functional.linear(x, weight, bias)\n",
         "F.linear does it all"),
    Case("linear_matmul_t", "1.1", S1, "y = x @ weight.T", "y = torch.matmul(x, weight.t())",
         "torch.matmul with weight.t()"),
    Case("linear_einsum", "1.1", S1, "y = x @ weight.T", 'y = torch.einsum("...i,oi->...o", x, weight)',
         "einsum over the last axis"),
    Case("linear_addmm_flattened", "1.1", S1, LINEAR_BODY,
         "    if bias is None:\n"
         "        bias = weight.new_zeros(weight.shape[0])\n"
         "    flat = x.reshape(-1, x.shape[-1])  # (M, in)\n"
         "    return torch.addmm(bias, flat, weight.t()).reshape(*x.shape[:-1], weight.shape[0])\n",
         "torch.addmm on the leading axes flattened, then reshaped back"),
    Case("count_as_a_loop", "1.2", S1,
         "    return sum(p.numel() for p in module.parameters() if p.requires_grad)\n",
         "    total = 0\n"
         "    for _, param in module.named_parameters():\n"
         "        if param.requires_grad:\n"
         "            total += param.numel()\n"
         "    return total\n",
         "an explicit loop over named_parameters"),
    Case("shapes_as_torch_size", "1.2", S1, "{name: tuple(p.shape)", "{name: p.shape",
             "torch.Size is a tuple of ints and compares equal to one"),
    Case("first_layer_ndim_and_size", "1.3", S1,
         "    if data.dim() < 2:\n"
         '        raise ValueError(f"data must be (num_samples, num_features), got shape {tuple(data.shape)}")\n'
         "    return nn.Linear(data.shape[-1], hidden)\n",
         "    if data.ndim < 2:\n"
         '        raise ValueError("expected (num_samples, num_features)")\n'
         "    return nn.Linear(in_features=data.size(-1), out_features=hidden)\n",
         "data.ndim, data.size(-1) and keyword arguments"),
    # --- Section 2 ---
    Case("forward_functional_relu", "2.2", S2, RELUS,
         "        h = nn.functional.relu(self.fc1(x))\n        h = nn.functional.relu(self.fc2(h))\n",
         "F.relu"),
    Case("forward_relu_module", "2.2", S2, RELUS,
         "        h = self.relu(self.fc1(x))\n        h = self.relu(self.fc2(h))\n",
         "an nn.ReLU module made in __init__ (it has no parameters, so the state_dict is unchanged)",
         more=((LAYERS, LAYERS + "        self.relu = nn.ReLU()\n"),)),
    Case("forward_clamp", "2.2", S2, RELUS,
         "        h = self.fc1(x).clamp(min=0)\n        h = self.fc2(h).clamp(min=0)\n",
         "clamp(min=0) is ReLU"),
    Case("forward_inplace_relu_on_intermediates", "2.2", S2, RELUS,
         "        x = self.fc1(x)  # rebinds the name: the caller's tensor is untouched\n"
         "        x.relu_()\n"
         "        x = torch.relu_(self.fc2(x))\n"
         "        h = x\n",
         "in-place ReLU on fresh intermediate tensors never touches the input"),
    Case("gradients_autograd_grad", "2.3", S2,
         "    model.zero_grad()\n"
         "    loss = loss_fn(model(x), target)\n"
         "    loss.backward()\n"
         "    return {name: p.grad.detach().clone() for name, p in model.named_parameters()}\n",
         "    named = list(model.named_parameters())\n"
         "    loss = loss_fn(model(x), target)\n"
         "    grads = torch.autograd.grad(loss, [p for _, p in named])  # never touches .grad\n"
         "    return {name: g for (name, _), g in zip(named, grads)}\n",
         "torch.autograd.grad: fresh gradients, so nothing stale can leak in"),
    Case("gradients_clear_by_hand", "2.3", S2, "    model.zero_grad()\n",
         "    for p in model.parameters():\n        p.grad = None\n",
         "clearing .grad by hand"),
    # --- Section 3 ---
    Case("dataset_list_item_and_labels_len", "3.1", S3, "return len(self.data)", "return self.labels.shape[0]",
         "__len__ from labels.shape[0], __getitem__ returning a list",
         more=(("return sample, self.labels[idx]", "return [sample, self.labels[idx]]"),)),
    Case("loader_explicit_samplers", "3.2", S3, LOADER,
         "    if shuffle:\n"
         "        sampler = RandomSampler(dataset, generator=generator)\n"
         "    else:\n"
         "        sampler = SequentialSampler(dataset)\n"
         "    return DataLoader(dataset, batch_size=batch_size, sampler=sampler)\n",
         "an explicit RandomSampler / SequentialSampler",
         more=(("from torch.utils.data import DataLoader, Dataset, Subset\n",
                "from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler, Subset\n"),)),
    Case("split_val_from_end_train_sorted", "3.3", S3, SPLIT,
         "    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))\n"
         "    val = sorted(order[n - n_val:].tolist())\n"
         "    train = [i for i in range(n) if i not in set(val)]  # the rest, in dataset order\n"
         "    return Subset(dataset, train), Subset(dataset, val)\n",
         "validation from the end of the permutation, training in dataset order"),
    Case("split_random_split_sizes", "3.3", S3, SPLIT,
         "    train, val = torch.utils.data.random_split(dataset, [n - n_val, n_val],\n"
         "                                               generator=torch.Generator().manual_seed(seed))\n"
         "    return train, val\n",
         "torch.utils.data.random_split with explicit sizes and a seeded generator"),
    # --- Section 4 ---
    Case("ce_logsumexp", "4.1", S4, CE_BODY,
         "    picked = logits.gather(1, target.unsqueeze(1)).squeeze(1)  # (N,)\n"
         "    return (torch.logsumexp(logits, dim=1) - picked).mean()\n",
         "logsumexp minus the target logit"),
    Case("ce_log_softmax_nll", "4.1", S4, CE_BODY,
         "    return nn.functional.nll_loss(nn.functional.log_softmax(logits, dim=1), target)\n",
         "F.log_softmax + F.nll_loss"),
    Case("ce_functional", "4.1", S4, CE_BODY, "    return nn.functional.cross_entropy(logits, target)\n",
         "F.cross_entropy itself"),
    Case("ce_arange_indexing", "4.1", S4, CE_BODY,
         "    log_probs = torch.log_softmax(logits, dim=-1)\n"
         "    return -log_probs[torch.arange(len(target)), target].mean()\n",
         "advanced indexing with arange instead of gather"),
    Case("train_zero_grad_keep_tensors", "4.2", S4, TRAIN_STEP,
         "        optimizer.zero_grad(set_to_none=False)\n"
         "        outputs = model(inputs)\n"
         "        loss = loss_fn(outputs, targets)\n"
         "        loss.backward()\n"
         "        optimizer.step()\n"
         "        total += loss.item() * targets.size(0)\n"
         "        count += targets.size(0)\n",
         "zero_grad(set_to_none=False), targets.size(0)"),
    Case("train_model_zero_grad", "4.2", S4, "        optimizer.zero_grad()\n", "        model.zero_grad()\n",
         "model.zero_grad() clears the same gradients"),
    Case("eval_inference_mode", "4.3", S4, "    with torch.no_grad():\n", "    with torch.inference_mode():\n",
         "torch.inference_mode instead of torch.no_grad"),
    Case("eval_decorator_and_ints", "4.3", S4, EVAL_LOOP,
         "    for inputs, targets in loader:\n"
         "        logits = model(inputs)\n"
         "        total += float(loss_fn(logits, targets)) * inputs.shape[0]\n"
         "        correct += int((logits.argmax(dim=-1) == targets).sum())\n"
         "        count += inputs.shape[0]\n",
         "@torch.no_grad() on the function; int()/float() instead of .item(); inputs.shape[0]",
         more=(("def evaluate(", "@torch.no_grad()\ndef evaluate("),)),
    Case("fit_dict_built_at_the_end", "4.4", S4,
         '    history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}\n'
         "    for _ in range(epochs):\n" + FIT_EPOCH + "    return history\n",
         "    train_losses, val_losses = [], []\n"
         "    for epoch in range(epochs):\n"
         "        train_losses.append(train_one_epoch(model, train_loader, loss_fn, optimizer))\n"
         "        val_losses.append(evaluate(model, val_loader, loss_fn)[0])\n"
         '    return {"train_loss": train_losses, "val_loss": val_losses}\n',
         "two lists, the dict built at the end, evaluate(...)[0]"),
    Case("concept_lower_case_padded", "4.5", S4, 'return "C"', 'return " c\\n"',
         "a lower-case letter with whitespace around it"),
]
