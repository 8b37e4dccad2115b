"""Real code, graded fairly: snippets from public repositories, each transplanted into one task.

Each row took a function or class found in a public repository (source: owner/name and path) and put it in
the place of one task's reference, edited only where the contract forces it (the names and parameters of
the signature, a device argument dropped, layer names the contract fixes, fit calling this module's
functions); the rest is the author's code and style, mistakes included. The other files and functions stay
the reference's. A correct snippet must get full marks; a wrong one must lose points in its task only,
with the line a student should read in the feedback (says).
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

import pytest
from conftest import replace_definition, submission_from_solutions

from course.content.curriculum import TASKS, total_points

SEED = "20240611"  # one fixed grader seed, as in tests/test_corpus.py

S1, S2, S3, S4 = "sec1_linear.py", "sec2_forward.py", "sec3_data.py", "sec4_training.py"


@dataclass(frozen=True)
class Case:
    """source: the repository and path the snippet comes from; name: the top-level function or class it
    replaces in file; lost: the task it must lose points in ("" for full marks); says: a line of that
    task's feedback."""

    id: str
    source: str
    task: str
    file: str
    name: str
    code: str
    lost: str = ""
    says: str = ""


def layered(forward: str, init_extra: str = "") -> str:
    """A SimpleNN with the contract's three Linear layers (the names and sizes the contract fixes) and the
    snippet's forward."""
    return (
        "import torch.nn.functional as F\n\n\n"
        "class SimpleNN(nn.Module):\n"
        "    def __init__(self, in_features: int = 11, hidden: tuple[int, int] = (64, 32), out_features: int = 1) -> None:\n"
        "        super(SimpleNN, self).__init__()\n"
        "        self.fc1 = nn.Linear(in_features, hidden[0])\n"
        "        self.fc2 = nn.Linear(hidden[0], hidden[1])\n"
        "        self.output = nn.Linear(hidden[1], out_features)\n"
        + init_extra + "\n" + forward
    )


# hazembhs/Climate_forcasting train.py: its training pass, transplanted twice (4.2 alone, and 4.4 inline)
CLIMATE_TRAINING = """\
model.train()
for batch in train_loader:
    optimizer.zero_grad()
    inputs, targets = batch
    output = model(inputs)
    loss = loss_fn(output, targets)
    loss.backward()
    optimizer.step()
    training_loss += loss.data.item() * inputs.size(0)
training_loss /= len(train_loader.dataset)
"""

CASES = [
    # --- 1.1 linear_forward
    Case("functional_matmul", "Vekkt/DL_projects project2/functional.py", "1.1", S1, "linear_forward", '''
def linear_forward(x, weight, bias=None):
    output = x.matmul(weight.t())
    if bias is not None:
        output += bias
    return output
'''),
    Case("custom_layer_always_adds_bias", "hhsecond/HandsOnDeepLearningWithPytorch 2.ASimpleNeuralNetwork/custom_linear_layer.py",
         "1.1", S1, "linear_forward", '''
def linear_forward(x, weight, bias=None):
    return x.matmul(weight.t()) + bias
''', lost="1.1", says="with bias=None, skip the bias"),
    # --- 1.2 parameter_shapes, count_parameters
    Case("count_numel_trainable", "PengBoXiangShang/torchsketch torchsketch/utils/general_utils/count_parameters.py",
         "1.2", S1, "count_parameters", '''
def count_parameters(model):

    return sum(p.numel() for p in model.parameters() if p.requires_grad)
'''),
    Case("count_numpy_prod", "yang-zj1026/utils num_params.py", "1.2", S1, "count_parameters", '''
import numpy as np


def count_parameters(model):
    model_parameters = filter(lambda p: p.requires_grad, model.parameters())
    params = sum([np.prod(p.size()) for p in model_parameters])
    print(params)
    return params
'''),
    Case("count_numpy_prod_in_a_notebook", "tomMoral/24-sacl-ai-4-sciences session-4/solutions/01_pytorch_q04.py",
         "1.2", S1, "count_parameters", '''
import numpy as np


def count_parameters(model):
    model_parameters = filter(lambda p: p.requires_grad, model.parameters())
    params = sum([np.prod(p.size()) for p in model_parameters])
    print(f'The number of trainable parameters is {params}.')
    return params
'''),
    Case("shapes_from_pairs", "xuqinkun/DeepLearning d2dl/chapter05/parameter_access.py", "1.2", S1, "parameter_shapes", '''
def parameter_shapes(net):
    return dict((name, param.shape) for name, param in net.named_parameters())
'''),
    Case("shapes_in_a_loop", "Panic-W/dive-into-deep-learning chapter5/parameters.py", "1.2", S1, "parameter_shapes", '''
def parameter_shapes(net):
    shapes = {}
    for name, param in net.named_parameters():
        shapes[name] = param.shape
    return shapes
'''),
    # --- 2.2 SimpleNN.forward
    Case("sigmoid_output", "Threxx89/AI RainPredictor/NeuralNet.py", "2.2", S2, "SimpleNN", layered('''
    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return torch.sigmoid(self.output(x))
'''), lost="2.2", says="sigmoid found there"),
    Case("sigmoid_module_output", "AnirudhSreeram/Machine-Learning-codes cancer-Detection/networ.py", "2.2", S2, "SimpleNN",
         layered('''
    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.s(self.output(x))
        return x
''', "        self.s = nn.Sigmoid()\n"), lost="2.2", says="sigmoid found there"),
    Case("log_softmax_output", "Zephyroam/UndergraduateCourses-HIT PatternRecognition&DeepLearning/DL/lab1/model/mlp.py",
         "2.2", S2, "SimpleNN", layered('''
    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.output(x)
        x = F.log_softmax(x, dim=1)
        return x
'''), lost="2.2", says="log_softmax found there"),
    Case("relu_then_log_softmax_output", "l3b3dev/kmnist models/mlp.py", "2.2", S2, "SimpleNN", layered('''
    def forward(self, x):
        x = x.view(x.shape[0], -1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = F.relu(self.output(x))
        x = F.log_softmax(x, dim=1)

        return x
'''), lost="2.2", says="no activation after the output layer"),
    Case("no_relu_and_log_softmax", "intellhave/AdaSTE models/simple_mlp.py", "2.2", S2, "SimpleNN", layered('''
    def forward(self, x):
        x = self.fc1(x)
        x = self.fc2(x)
        x = self.output(x)
        output = F.log_softmax(x, dim=1)
        return output
'''), lost="2.2", says="no activation after the output layer"),
    Case("relu_module_reused", "BerriesLab/lab-quantum-devices imaging/mri/test.py", "2.2", S2, "SimpleNN", layered('''
    def forward(self, x):
        x = self.fc1(x)
        x = self.relu(x)
        x = self.fc2(x)
        x = self.relu(x)
        x = self.output(x)
        return x
''', "        self.relu = nn.ReLU()\n")),
    # --- 3.1 CustomDataset
    Case("dataset_dict_items", "shakes76/PatternAnalysis-2023 recognition/48240639/dataset.py", "3.1", S3, "CustomDataset", '''
class CustomDataset(Dataset):
    def __init__(self, data, labels, transform=None):
        self.data = data
        self.labels = labels

    def __len__(self):
        return len(self.data)

    def __getitem__(self, idx):
        sample = {'data': self.data[idx], 'label': self.labels[idx]}
        return sample
''', lost="3.1", says="expected a pair (sample, label)"),
    Case("dataset_without_checks", "adrien-jamelot/Transformers model/src/training/utils/CustomDataset.py", "3.1", S3,
         "CustomDataset", '''
class CustomDataset(Dataset):
    def __init__(self, data, labels, transform=None):
        self.data = data
        self.target = labels

    def __len__(self):
        return self.data.shape[0]

    def __getitem__(self, idx):
        return self.data[idx], self.target[idx]
''', lost="3.1", says="expected ValueError"),
    # --- 3.2 make_loader
    Case("loader_four_workers_unseeded", "tztechno/tz_kaggle torch_daaloader.py", "3.2", S3, "make_loader", '''
def make_loader(dataset, batch_size=10, shuffle=True, seed=None):
    num_workers = 4

    train_dataloader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers)
    return train_dataloader
''', lost="3.2", says="gave different orders"),
    Case("loader_workers_pinned", "4620511/cnn-example cnn_example/data/dataloader.py", "3.2", S3, "make_loader", '''
def make_loader(dataset, batch_size: int = 10, shuffle: bool = True, seed=None) -> DataLoader:
    num_workers = 2
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, pin_memory=True, shuffle=shuffle,
                      generator=generator)
'''),
    Case("loader_drops_last_always_shuffles", "levscaut/ece1508 utils.py", "3.2", S3, "make_loader", '''
def make_loader(dataset, batch_size=10, shuffle=True, seed=None):
    num_workers = 2
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=num_workers,
        generator=generator,
    )
''', lost="3.2", says="do not drop it"),
    Case("loader_workers_always_shuffle", "mashakhart/MS-Classification-from-MRI-using-CNN DATA/data_split.py", "3.2", S3,
         "make_loader", '''
def make_loader(dataset, batch_size=10, shuffle=True, seed=None):
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    train_dl = DataLoader(dataset, batch_size, shuffle = True, num_workers = 4, pin_memory = True, generator = g)
    return train_dl
''', lost="3.2", says="shuffle=False: samples did not come in dataset order"),
    # --- 3.3 train_val_split
    Case("split_random_split_unseeded", "PipeVerri/LSA_Translator utils/inference/train_test_split.py", "3.3", S3,
         "train_val_split", '''
from torch.utils.data import random_split

def train_val_split(dataset, val_fraction=0.2, seed=0):
    train_size = int(len(dataset) * (1 - val_fraction))
    test_size = len(dataset) - train_size
    return random_split(dataset, [train_size, test_size])
''', lost="3.3", says="two splits with seed="),
    # --- 4.1 cross_entropy
    Case("ce_shift_in_place", "dmosc/gpt-2 utils/cross_entropy.py", "4.1", S4, "cross_entropy", '''
def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    logits -= logits.max(dim=-1, keepdim=True).values
    exp_logits = logits.exp()
    sum_exp = exp_logits.sum(dim=-1)
    target_exp = exp_logits.gather(dim=-1,
                                    index=target.unsqueeze(-1)).squeeze(-1)
    loss = -(sum_exp / target_exp).log()
    return loss.mean()
''', lost="4.1", says="in-place"),
    Case("ce_indexed_log_softmax", "youthpaul/cs336-assignment assignment1-basics/cs336_basics/loss.py", "4.1", S4,
         "cross_entropy", '''
def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    input_shape = logits.shape
    if len(input_shape) > 2:
        logits = logits.reshape(-1, input_shape[-1])
        target = target.reshape(-1)
    logits_max = torch.max(logits, dim=-1, keepdim=True)[0]
    logits_shifted = logits - logits_max
    exp_logits = torch.exp(logits_shifted)
    log_sum_exp = torch.log(torch.sum(exp_logits, dim=-1, keepdim=True))
    log_softmax = logits_shifted - log_sum_exp
    batch_indices = torch.arange(log_softmax.shape[0], device=logits.device)
    target_log_probs = log_softmax[batch_indices, target]
    return -target_log_probs.mean()
'''),
    Case("ce_logsumexp", "bohao-li/assignment1-basics cs336_basics/cross_entropy.py", "4.1", S4, "cross_entropy", '''
def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    max_logits = torch.max(logits, dim=-1, keepdim=True)[0]
    stable_logits = logits - max_logits
    log_sum_exp = torch.logsumexp(stable_logits, dim=-1)
    target_logits = stable_logits.gather(dim=-1, index=target.unsqueeze(-1)).squeeze(-1)
    cross_entropy_loss = -target_logits + log_sum_exp
    return torch.mean(cross_entropy_loss)
'''),
    Case("ce_shift_in_place_squeeze", "austrian-code-wizard/spring2024-assignment1-basics cs336_basics/loss.py", "4.1", S4,
         "cross_entropy", '''
def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    logits -= logits.max(-1, keepdim=True)[0]
    loss = -logits.gather(-1, target.unsqueeze(-1)).squeeze() + torch.log(
        torch.exp(logits).sum(-1)
    )
    return loss.mean()
''', lost="4.1", says="in-place"),
    # --- 4.2 train_one_epoch
    Case("train_mean_of_batch_means", "Sruthi-Reddy-B/Industrial-6D-Pose-Estimation-System src/training/trainer.py", "4.2",
         S4, "train_one_epoch", '''
def train_one_epoch(model, loader, loss_fn, optimizer):
    model.train()
    total_loss = 0
    for x, y in loader:
        optimizer.zero_grad()
        pred = model(x)
        loss = loss_fn(pred, y)
        loss.backward()
        optimizer.step()
        total_loss += loss.item()
    return total_loss / len(loader)
''', lost="4.2", says="a short batch weighs less"),
    Case("train_enumerate_mean_of_batch_means", "yixin789/CNN-AutoEncoder-ANN-Traffic_Sign_Recogniton utils/training.py",
         "4.2", S4, "train_one_epoch", '''
def train_one_epoch(model, loader, loss_fn, optimizer):
    model.train()
    running_loss = 0.0
    for batch_idx, (images, labels) in enumerate(loader):
        optimizer.zero_grad()
        outputs = model(images)
        loss = loss_fn(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    return running_loss / len(loader)
''', lost="4.2", says="a short batch weighs less"),
    Case("train_weighted_by_dataset", "hazembhs/Climate_forcasting train.py", "4.2", S4, "train_one_epoch",
         "def train_one_epoch(model, train_loader, loss_fn, optimizer):\n    training_loss = 0.0\n"
         + textwrap.indent(CLIMATE_TRAINING, "    ") + "    return training_loss\n"),
    # --- 4.3 evaluate
    Case("eval_loss_and_accuracy", "ak4off/da6401_assignment2 partA/evaluate.py", "4.3", S4, "evaluate", '''
def evaluate(model, loader, loss_fn):
    model.eval()
    running_loss, correct, total = 0, 0, 0
    with torch.no_grad():
        for images, labels in loader:
            outputs = model(images)
            loss = loss_fn(outputs, labels)
            running_loss += loss.item() * images.size(0)
            correct += (outputs.argmax(1) == labels).sum().item()
            total += labels.size(0)
    return running_loss / total, correct / total
'''),
    Case("eval_accuracy_only", "inst-mmismin/Wanted10AIChallenge 2nd/구조화/utils/tools.py", "4.3", S4, "evaluate", '''
def evaluate(model, test_loader, loss_fn):
    model.eval()
    correct = 0
    total = 0
    with torch.no_grad():
        for images, labels in test_loader:
            outputs = model(images)
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
    return correct / total
''', lost="4.3", says="expected (mean loss, accuracy)"),
    # --- 4.4 fit
    Case("fit_trains_inline", "hazembhs/Climate_forcasting train.py", "4.4", S4, "fit", '''
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs=100):
    tr_losses = []
    val_losses = []
    for epoch in range(1, epochs+1):
        training_loss = 0.0
        valid_loss = 0.0
''' + textwrap.indent(CLIMATE_TRAINING, " " * 8) + '''
        model.eval()
        for batch in val_loader:
            inputs, targets = batch
            output = model(inputs)
            loss = loss_fn(output,targets)
            valid_loss += loss.data.item() * inputs.size(0)
        valid_loss /= len(val_loader.dataset)

        print('Epoch: {}, Training Loss: {:.2f}, Validation Loss: {:.2f}'.format(epoch, training_loss,
        valid_loss))
        tr_losses.append(training_loss)
        val_losses.append(valid_loss)
    return {"train_loss": tr_losses, "val_loss": val_losses}
''', lost="4.4", says="fit is graded with stand-ins"),
    Case("fit_inline_training_pass", "tomMoral/24-sacl-ai-4-sciences session-4/solutions/01_pytorch_q08.py", "4.4", S4,
         "fit", '''
def fit(model, train_loader, val_loader, criterion, optimizer, n_epochs=10):
    history = {"train_loss": [], "val_loss": []}

    # Loop over epochs
    for e in range(n_epochs):

        # Loop over data batches
        running_loss = 0
        for xb, yb in train_loader:

            # Training pass
            # --------------
            # Zero gradients
            optimizer.zero_grad()
            # Forward pass
            prob = model(xb)
            # Compute loss
            loss = criterion(prob, yb)
            # Backwards pass
            loss.backward()
            # Gradient step
            optimizer.step()

            running_loss += loss.item()
        training_loss = running_loss / len(train_loader)

        val_loss, val_accuracy = evaluate(model, val_loader, criterion)
        print("Epoch number", e+1)
        print(f"Training loss: {training_loss}")
        print(f"Val loss: {val_loss}")
        history["train_loss"].append(training_loss)
        history["val_loss"].append(val_loss)
    return history
''', lost="4.4", says="call train_one_epoch(model, train_loader, loss_fn, optimizer)"),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_real_code_is_graded_as_expected(case, grade, tmp_path):
    assert TASKS[case.task].file == case.file, f"{case.id}: task {case.task} is not in {case.file}"
    text = replace_definition(case.file, case.name, case.code)
    folder = submission_from_solutions(tmp_path / case.id, {case.file: text})
    graded = grade(folder, "--grader-seed", SEED)
    assert graded.grade["errors"] == []
    lost = {t: graded.feedback(t) for t in TASKS if not graded.full(t)}
    if not case.lost:
        assert lost == {}, f"{case.id} ({case.source}) should get full marks"
        assert graded.grade["earned"] == total_points()
        return
    assert list(lost) == [case.lost], f"{case.id} ({case.source}) should lose points in {case.lost} only: {lost}"
    text = "\n".join(lost[case.lost])
    assert "Traceback" not in text and "internal grader error" not in text, text
    assert case.says in text, f"{case.id}: the feedback lacks {case.says!r}:\n{text}"


def test_the_corpus_is_real_and_mixed():
    """At least 30 snippets, each with a source, correct and wrong ones, every task file represented."""
    assert len(CASES) >= 30
    assert all(" " in c.source and "/" in c.source for c in CASES)
    assert len({c.id for c in CASES}) == len(CASES)
    assert sum(not c.lost for c in CASES) >= 10 and sum(bool(c.lost) for c in CASES) >= 10
    assert {c.file for c in CASES} == {S1, S2, S3, S4}
