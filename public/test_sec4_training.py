"""Public checks for sec4_training.py (Tasks 4.1 to 4.5): the lesson's loss value and the training contracts.

Run `pytest` in the bundle folder. Passing these does not mean full marks: the grader tries more cases.
"""
import pytest
import torch
from torch import nn


@pytest.fixture
def sec4():
    """Your sec4_training.py, imported here so that a mistake in it fails only its own checks."""
    import sec4_training

    return sec4_training


def small_problem():
    """A model with 2 classes over 11 features and a list of 3 batches (the last one short) to train on."""
    torch.manual_seed(0)
    model = nn.Linear(11, 2)
    batches = [(torch.randn(n, 11), torch.randint(0, 2, (n,))) for n in (8, 8, 4)]
    return model, batches


def snapshot(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.mark.task("4.1")
def test_cross_entropy_lesson_example(sec4):
    """Task 4.1: the lesson's logits [[2.0, 1.0], [0.5, 1.5]] with targets [0, 1] give about 0.3133."""
    logits = torch.tensor([[2.0, 1.0], [0.5, 1.5]])
    target = torch.tensor([0, 1])
    loss = sec4.cross_entropy(logits, target)
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0, "Task 4.1: the loss should be a 0-dim tensor"
    assert abs(loss.item() - 0.3133) < 1e-4, f"Task 4.1: expected about 0.3133, got {loss.item():.4f}"
    lesson = nn.CrossEntropyLoss()(logits, target)
    assert torch.allclose(loss, lesson), f"Task 4.1: nn.CrossEntropyLoss gives {lesson.item():.6f}, got {loss.item():.6f}"


@pytest.mark.task("4.1")
def test_cross_entropy_stays_finite_for_large_logits(sec4):
    """Task 4.1: logits of 1e4 must not overflow: the first sample is certain (loss 0), the second wrong by 1e4."""
    loss = sec4.cross_entropy(torch.tensor([[1e4, 0.0], [0.0, 1e4]]), torch.tensor([0, 0]))
    assert torch.isfinite(loss), f"Task 4.1: the loss should stay finite for logits of 1e4, got {loss.item()}"
    assert abs(loss.item() - 5000.0) < 1e-2, f"Task 4.1: expected (0 + 10000) / 2 = 5000, got {loss.item()}"


@pytest.mark.task("4.1")
def test_cross_entropy_lets_gradients_flow(sec4):
    """Task 4.1: the loss can be backpropagated to the logits."""
    logits = torch.tensor([[2.0, 1.0], [0.5, 1.5]], requires_grad=True)
    sec4.cross_entropy(logits, torch.tensor([0, 1])).backward()
    assert logits.grad is not None and logits.grad.shape == (2, 2), "Task 4.1: no gradient reached the logits"


@pytest.mark.task("4.2")
def test_train_one_epoch_updates_the_weights(sec4):
    """Task 4.2: one epoch returns a float loss, leaves the model in training mode, and changes the weights."""
    model, batches = small_problem()
    before = snapshot(model)
    model.train(False)  # train_one_epoch must switch training mode back on
    loss = sec4.train_one_epoch(model, batches, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    assert isinstance(loss, float), f"Task 4.2: expected a float, got {type(loss).__name__}"
    assert model.training, "Task 4.2: the model should be in training mode"
    changed = [name for name, p in model.named_parameters() if not torch.equal(p.detach(), before[name])]
    assert changed, "Task 4.2: training did not change any weight"


@pytest.mark.task("4.3")
def test_evaluate_leaves_the_weights_unchanged(sec4):
    """Task 4.3: evaluate measures without changing the model, and returns (loss, accuracy) as floats."""
    model, batches = small_problem()
    before = snapshot(model)
    loss, accuracy = sec4.evaluate(model, batches, nn.CrossEntropyLoss())
    assert isinstance(loss, float) and isinstance(accuracy, float), \
        f"Task 4.3: expected two floats, got {type(loss).__name__} and {type(accuracy).__name__}"
    assert 0.0 <= accuracy <= 1.0, f"Task 4.3: accuracy is a fraction in [0, 1], got {accuracy}"
    assert not model.training, "Task 4.3: the model should be in eval mode"
    for name, p in model.named_parameters():
        assert torch.equal(p.detach(), before[name]), f"Task 4.3: evaluate changed {name}"
        assert p.grad is None, f"Task 4.3: evaluate computed a gradient for {name}"


@pytest.mark.task("4.4")
def test_fit_keeps_one_loss_per_epoch(sec4):
    """Task 4.4: three epochs give three training losses and three validation losses."""
    model, batches = small_problem()
    history = sec4.fit(model, batches, batches[:1], nn.CrossEntropyLoss(),
                       torch.optim.SGD(model.parameters(), lr=0.1), epochs=3)
    assert set(history) == {"train_loss", "val_loss"}, f"Task 4.4: expected keys train_loss, val_loss, got {set(history)}"
    for key, values in history.items():
        assert len(values) == 3 and all(isinstance(v, float) for v in values), \
            f"Task 4.4: {key} should hold 3 floats, got {values}"


@pytest.mark.task("4.5")
def test_concept_check_gives_a_letter(sec4):
    """Task 4.5: the answer is one of the letters A, B, C, D (the checks here do not say which)."""
    answer = sec4.why_validation_loss_is_higher()
    assert isinstance(answer, str) and answer.strip().upper() in {"A", "B", "C", "D"}, \
        f"Task 4.5: answer with one letter, A, B, C or D; got {answer!r}"
