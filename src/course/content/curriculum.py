"""The list of tasks: one ID each, used by stubs, solutions, grader tests and the README table.

Points live here and on each grader test's marker; the grading plugin refuses to score when the
two disagree, so the totals always come from this trusted list.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    id: str
    section: int
    file: str
    function: str
    title: str
    points: int


SECTIONS = {
    1: "What nn.Linear(11, 64) means",
    2: "The forward function",
    3: "Dataset and DataLoader",
    4: "Training loss and validation loss",
}

TASKS: dict[str, Task] = {
    t.id: t
    for t in [
        Task("1.1", 1, "sec1_linear.py", "linear_forward", "y = x W^T + b by hand", 3),
        Task("1.2", 1, "sec1_linear.py", "parameter_shapes, count_parameters", "parameter shapes and counts", 3),
        Task("1.3", 1, "sec1_linear.py", "first_layer_for", "in_features comes from the data", 2),
        Task("2.1", 2, "sec2_forward.py", "SimpleNN.__init__", "the layers fc1, fc2, output", 2),
        Task("2.2", 2, "sec2_forward.py", "SimpleNN.forward", "relu(fc1) -> relu(fc2) -> output", 3),
        Task("2.3", 2, "sec2_forward.py", "gradients", "autograd: one backward pass", 3),
        Task("3.1", 3, "sec3_data.py", "CustomDataset", "__init__, __len__, __getitem__", 3),
        Task("3.2", 3, "sec3_data.py", "make_loader", "batches, shuffling, seeds", 3),
        Task("3.3", 3, "sec3_data.py", "train_val_split", "a reproducible random split", 3),
        Task("4.1", 4, "sec4_training.py", "cross_entropy", "a numerically stable loss", 4),
        Task("4.2", 4, "sec4_training.py", "train_one_epoch", "one epoch of training", 4),
        Task("4.3", 4, "sec4_training.py", "evaluate", "validation without updates", 4),
        Task("4.4", 4, "sec4_training.py", "fit", "train and validate every epoch", 3),
        Task("4.5", 4, "sec4_training.py", "why_validation_loss_is_higher", "concept check", 1),
    ]
}

def total_points() -> int:
    return sum(t.points for t in TASKS.values())
