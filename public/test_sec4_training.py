"""Public checks for sec4_training.py (Tasks 4.1 to 4.5): the lesson's loss value and the training contracts.

Run `pytest` in the bundle folder. Passing these does not mean full marks: the grader tries more cases.
A failed check says what it checked, what it expected and what came back, with a hint, in the grader's
words. The fixture sec4 (public/conftest.py) is your sec4_training.py, loaded afresh for each check.
"""
import pytest
import torch
from torch import nn

from course.engine import checks
from course.i18n import _

MEAN_HINT = _("mean over samples of -log_softmax(logits)[i, target[i]]; return a 0-dim tensor")
STABLE_HINT = _("subtract each row's own max (logits.max(dim=1, keepdim=True)) before exp, the log-sum-exp trick; "
                "or use torch.logsumexp / torch.log_softmax")
NOT_THE_SUM = _("average over the samples (mean), not the sum")
GRAPH_HINT = _("build the loss from tensor operations only: .item(), .detach() or torch.tensor(...) cut the graph")
TRAIN_STEPS = _("for each batch: optimizer.zero_grad(), the loss of the model's output against the targets with loss_fn, "
                "loss.backward(), optimizer.step()")
PER_SAMPLE = _("add loss.item() * len(targets) for each batch and divide by the number of samples: a short batch weighs less")
EVAL_HINT = _("model.eval(); with torch.no_grad(): add up loss.item() * len(targets) and the correct predictions")
NO_UPDATE = _("wrap the loop in `with torch.no_grad():`; never call backward() or an optimizer in evaluate")
PERCENT = _("accuracy is a fraction in [0, 1], not a percentage: divide the number correct by the number of samples, "
            "without * 100")
FIT_HINT = _("each epoch: call train_one_epoch(model, train_loader, loss_fn, optimizer) and record what it returns, then "
             "evaluate(model, val_loader, loss_fn) and record the loss, the first of the pair it returns")


def plain(value):
    """value as the grader reads it: a numpy number is the plain number it holds."""
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    return value


def a_number(value, what, hint):
    """value must be a number, as the grader reads one (a float, an int or a one-element tensor); returns it."""
    number = checks.as_number(plain(value))
    checks.that(number is not None, _("{what}: expected a float, got {got}").format(what=what, got=checks.describe(value)), hint)
    return number


def ce_mistakes(logits, target):
    """The usual wrong cross-entropies of logits and target, each with its hint."""
    rows = torch.arange(len(target))
    nll = -torch.log_softmax(logits, 1)[rows, target]  # (N,)
    return [(nll.sum(), NOT_THE_SUM),
            (-torch.softmax(logits, 1)[rows, target].mean(), _("take the log of the probability: -log_softmax(logits)[i, target[i]]")),
            (-torch.log_softmax(logits, 0)[rows, target].mean(), _("softmax goes over the classes, dim=1"))]


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
    """the lesson's logits [[2.0, 1.0], [0.5, 1.5]] with targets [0, 1] give about 0.3133, as nn.CrossEntropyLoss does"""
    logits = torch.tensor([[2.0, 1.0], [0.5, 1.5]])
    target = torch.tensor([0, 1])
    loss = sec4.cross_entropy(logits, target)
    checks.tensor(loss, nn.CrossEntropyLoss()(logits, target), _("cross_entropy(lesson logits, [0, 1])"), MEAN_HINT,
                  mistakes=ce_mistakes(logits, target))


@pytest.mark.task("4.1")
def test_cross_entropy_stays_finite_for_large_logits(sec4):
    """logits of 1e4 must not overflow: the first sample is certain (loss 0), the second wrong by 1e4"""
    loss = sec4.cross_entropy(torch.tensor([[1e4, 0.0], [0.0, 1e4]]), torch.tensor([0, 0]))
    checks.tensor(loss, torch.tensor(5000.0), "cross_entropy([[1e4, 0.0], [0.0, 1e4]], [0, 0])",
                  STABLE_HINT, mistakes=[(torch.tensor(10000.0), NOT_THE_SUM)], atol=1e-2)


@pytest.mark.task("4.1")
def test_cross_entropy_lets_gradients_flow(sec4):
    """the loss can be backpropagated to the logits"""
    logits = torch.tensor([[2.0, 1.0], [0.5, 1.5]], requires_grad=True)
    loss = sec4.cross_entropy(logits, torch.tensor([0, 1]))
    no_gradient = _("cross_entropy(...) returned a value that carries no gradient back to logits")
    checks.that(isinstance(loss, torch.Tensor) and loss.requires_grad, no_gradient, GRAPH_HINT)
    loss.sum().backward()
    checks.that(logits.grad is not None, no_gradient, GRAPH_HINT)


@pytest.mark.task("4.2")
def test_train_one_epoch_updates_the_weights(sec4):
    """one epoch returns a float loss, leaves the model in training mode, and changes the weights"""
    model, batches = small_problem()
    before = snapshot(model)
    model.train(False)  # train_one_epoch must switch training mode back on
    loss = sec4.train_one_epoch(model, batches, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    what = _("train_one_epoch(...) on 3 batches of 8, 8 and 4")
    a_number(loss, _("{what}: mean loss").format(what=what), PER_SAMPLE)
    checks.that(model.training, _("{what}: the model, handed over in eval mode, is still in eval mode").format(what=what),
                _("call model.train() before the loop: in eval mode BatchNorm uses its running statistics and never updates them"))
    changed = [name for name, p in model.named_parameters() if not torch.equal(p.detach(), before[name])]
    checks.that(bool(changed), _("{what}: no weight changed").format(what=what), TRAIN_STEPS)


@pytest.mark.task("4.3")
def test_evaluate_leaves_the_weights_unchanged(sec4):
    """evaluate measures without changing the model, and returns (loss, accuracy) as floats"""
    model, batches = small_problem()
    before = snapshot(model)
    result = sec4.evaluate(model, batches, nn.CrossEntropyLoss())
    what = _("evaluate(...) on 3 batches of 8, 8 and 4")
    checks.that(isinstance(result, (tuple, list)) and len(result) == 2,
                _("{what}: expected (mean loss, accuracy), got {got}").format(what=what, got=checks.describe(result)),
                "return mean_loss, accuracy")
    a_number(result[0], _("{what}: mean loss").format(what=what), EVAL_HINT)
    accuracy = a_number(result[1], _("{what}: accuracy").format(what=what), EVAL_HINT)
    checks.that(0.0 <= accuracy <= 1.0, _("{what}: expected a fraction in [0, 1], got {got}").format(
        what=_("{what}: accuracy").format(what=what), got=f"{accuracy:.6g}"),
        PERCENT if accuracy > 1 else _("accuracy = (number of logits.argmax(dim=1) == targets) / number of samples"))
    checks.that(not model.training, _("{what}: the model is still in training mode").format(what=what),
                _("call model.eval() before the loop: dropout and batch norm behave differently in training mode"))
    for name, p in model.named_parameters():
        checks.tensor(p.detach(), before[name], _("the parameter {name} after {what}").format(name=name, what=what), NO_UPDATE)
        checks.that(p.grad is None, _("{what}: computed a gradient for {name}").format(what=what, name=name), NO_UPDATE)


@pytest.mark.task("4.4")
def test_fit_keeps_one_loss_per_epoch(sec4):
    """three epochs give three training losses and three validation losses

    As in the grader, train_one_epoch and evaluate are stand-ins here (each returns a made-up loss and
    evaluate an accuracy with it), so only fit itself is checked.
    """
    calls = []

    def train_stand_in(model, loader, loss_fn, optimizer):
        calls.append("train_one_epoch")
        return float(len(calls))

    def evaluate_stand_in(model, loader, loss_fn):
        calls.append("evaluate")
        return float(len(calls)), 0.25

    sec4.train_one_epoch, sec4.evaluate = train_stand_in, evaluate_stand_in
    model, batches = small_problem()
    history = sec4.fit(model, batches, batches[:1], nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
                       epochs=3)
    checks.that(isinstance(history, dict) and sorted(history) == ["train_loss", "val_loss"],
                _("fit(..., epochs={epochs}): expected a dict with keys train_loss and val_loss, got {got}").format(
                    epochs=3, got=sorted(history) if isinstance(history, dict) else checks.describe(history)), FIT_HINT)
    for key, values in history.items():
        what = f"fit(..., epochs=3)[{key!r}]"
        checks.that(isinstance(values, list), _("{what}: expected a list of one loss per epoch, got {got}").format(
            what=what, got=checks.describe(values)), FIT_HINT)
        checks.equal(len(values), 3, _("fit(..., epochs={epochs}): length of {key}").format(epochs=3, key=key),
                     _("append one value per epoch"))
        for value in values:
            checks.that(key != "val_loss" or not isinstance(value, (tuple, list)), _("val_loss holds (loss, accuracy) pairs"),
                        _("evaluate returns (loss, accuracy): keep only the loss"))
            a_number(value, what, FIT_HINT)


@pytest.mark.task("4.5")
def test_concept_check_gives_a_letter(sec4):
    """the answer is one of the letters A, B, C, D (the checks here do not say which)"""
    answer = sec4.why_validation_loss_is_higher()
    checks.that(isinstance(answer, str) and answer.strip().upper() in {"A", "B", "C", "D"},
                _("expected one letter, A to D; got {got}").format(got=checks.describe(answer)),
                _('return the letter of the best answer as a string: "A", "B", "C" or "D"'))
