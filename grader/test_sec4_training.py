"""Section 4, sec4_training.py: Tasks 4.1 (cross_entropy), 4.2 (train_one_epoch), 4.3 (evaluate), 4.4 (fit), 4.5 (concept check)."""
import hashlib
import math

import pytest
import torch

from course.engine import checks
from course.content.data import make_classification
from course.i18n import _
from course.content.models import SGD, drawn_once, mlp, random_state
from course.sandbox.probes import FIT_SIZES, LOSSES

STABLE_HINT = _("subtract each row's own max (logits.max(dim=1, keepdim=True)) before exp, the log-sum-exp trick; "
                 "or use torch.logsumexp / torch.log_softmax")


def ce_mistakes(logits, target):
    probs = torch.softmax(logits, 1)
    picked = probs[torch.arange(len(target)), target]
    nll = -torch.log_softmax(logits, 1)[torch.arange(len(target)), target]
    return [(nll.sum(), _("average over the samples (mean), not the sum")),
            (-picked.mean(), _("take the log of the probability: -log_softmax(logits)[i, target[i]]")),
            (-torch.log_softmax(logits, 0)[torch.arange(len(target)), target].mean(), _("softmax goes over the classes, dim=1"))]


@pytest.mark.task("4.1")
class TestTask4_1:
    @pytest.mark.points(1)
    def test_lesson_example(self, judge, gen):
        """logits [[2.0, 1.0], [0.5, 1.5]] with targets [0, 1] give about 0.3133, and one more random row changes it"""
        logits, target = torch.tensor([[2.0, 1.0], [0.5, 1.5]]), torch.tensor([0, 1])
        row, label = torch.randn(1, 2, generator=gen) * 2, torch.randint(0, 2, (1,), generator=gen)
        grown = torch.cat([logits, row]), torch.cat([target, label])  # an answer known by heart is not enough
        hint = _("mean over samples of -log_softmax(logits)[i, target[i]]; return a 0-dim tensor")
        cases = [[[logits, target], {}], [list(grown), {}]]
        (got, want), (got3, want3) = judge.run_each("call", [["cross_entropy", *case] for case in cases], hint=hint)
        checks.tensor(got, want, _("cross_entropy(lesson logits, [0, 1])"), hint, mistakes=ce_mistakes(logits, target))
        checks.tensor(got3, want3, _("cross_entropy(lesson logits and a third row)"), hint, mistakes=ce_mistakes(*grown))

    @pytest.mark.points(1)
    def test_random_batch(self, judge, gen):
        """a random (N, C) batch matches nn.CrossEntropyLoss"""
        logits, target = torch.randn(9, 5, generator=gen) * 3, torch.randint(0, 5, (9,), generator=gen)
        got, want = judge.run("call", "cross_entropy", [logits, target], {})
        checks.tensor(got, want, "cross_entropy(logits (9, 5), target (9,))",
                      _("pick each sample's own target class with gather or [arange(N), target]"),
                      mistakes=ce_mistakes(logits, target))

    @pytest.mark.points(1)
    def test_large_logits_stay_finite(self, judge, gen):
        """logits of size 1e4 give a finite, correct loss, also beside a row of small logits"""
        logits = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3], [3e3, 2e3, 1e4], [0.5, -0.3, 1.0]])
        logits = logits + torch.randn(4, 3, generator=gen)
        target = torch.tensor([1, 0, 2, 0])
        got, want = judge.run("call", "cross_entropy", [logits, target], {}, hint=STABLE_HINT)
        checks.tensor(got, want, _("cross_entropy(logits of about ±1e4)"), STABLE_HINT, rtol=1e-4, atol=1e-2)

    @pytest.mark.points(1)
    def test_gradient_flows(self, judge, gen):
        """loss.backward() gives logits the same gradient as nn.CrossEntropyLoss does"""
        logits, target = torch.randn(6, 4, generator=gen), torch.randint(0, 4, (6,), generator=gen)
        hint = _("build the loss from tensor operations only: .item(), .detach() or torch.tensor(...) cut the graph")
        got, want = judge.run("cross_entropy_grad", logits, target, hint=hint)
        checks.that(got["grad"] is not None, _("cross_entropy(...) returned a value that carries no gradient back to logits"), hint)
        checks.tensor(got["grad"], want["grad"], _("the gradient of cross_entropy with respect to logits"), hint)


def training_case(gen, n, sizes=(11, 16, 2), batchnorm=False):
    spec = {"sizes": list(sizes), "batchnorm": batchnorm}
    seed = int(torch.randint(0, 2**31, (), generator=gen))
    data, labels = make_classification(n, sizes[0], seed=seed)
    return spec, random_state(mlp(spec["sizes"], batchnorm=batchnorm), gen), data, labels


def hardest_last(spec, state, data, labels):
    """data and labels ordered by the loss of the model with weights state, the highest last. With lr 0 the
    weights never move, so the short last batch holds the samples with the highest losses and its loss is
    above the other batches' mean: the mean of the batch means then differs from the per-sample mean at every
    seed (in random order it equals it by chance when the last batch's loss is the others' mean)."""
    model = mlp(spec["sizes"], batchnorm=spec["batchnorm"])
    model.load_state_dict(state)
    with torch.no_grad():
        losses = torch.nn.functional.cross_entropy(model(data), labels, reduction="none")  # (N,)
    order = losses.argsort()
    return data[order], labels[order]


def sum_mistakes(mean, samples, batches=None):
    """The values a sum gives where a mean per sample is asked (the sum of the per-sample losses, and with
    the number of batches the sum of the batch means), each with its hint; none without the sample count."""
    if not samples:
        return []
    found = [(mean * samples, SUM_NOT_MEAN)]
    if batches:
        found.append((mean * batches, SUM_NOT_MEAN))
    return found


def judged_as_sum(got, samples, *means):
    """got divided by samples when it is the sum of the per-sample losses behind one of means, got otherwise:
    a sum where a mean is asked costs a point once, in the test about the mean (test_mean_loss_equal_batches,
    test_loss_and_accuracy); the other tests then judge what they are about on the mean it stands for."""
    value = checks.as_number(got)
    if value is None or not samples:
        return got
    for mean in means:
        if math.isclose(value, mean * samples, rel_tol=1e-4, abs_tol=1e-5) and \
                not math.isclose(value, mean, rel_tol=1e-4, abs_tol=1e-5):
            return value / samples
    return got


SUM_NOT_MEAN = _("that is a sum, not a mean: divide the total of loss.item() * len(targets) by the number of samples")
TRAIN_STEPS = _("for each batch: optimizer.zero_grad(), the loss of the model's output against the targets with loss_fn, "
                "loss.backward(), optimizer.step()")
PER_SAMPLE = _("add loss.item() * len(targets) for each batch and divide by the number of samples: a short batch weighs less")


@pytest.mark.task("4.2")
class TestTask4_2:
    @pytest.mark.points(1)
    def test_mean_loss_equal_batches(self, judge, gen):
        """the returned mean loss matches, with 30 samples in batches of 10"""
        spec, state, data, labels = training_case(gen, 30)  # lr 0: the losses depend on the averaging alone
        got, want = judge.run("train_one_epoch", spec, state, data, labels, 10, 0.0, False, hint=TRAIN_STEPS)
        checks.number(got["loss"], want["loss"], _("train_one_epoch(...) on 3 batches of 10"), PER_SAMPLE,
                      mistakes=sum_mistakes(want["loss"], 30, 3))

    @pytest.mark.points(1)
    def test_mean_loss_short_last_batch(self, judge, gen):
        """the mean is per sample: 30 samples in batches of 8, 8, 8 and 6"""
        spec, state, data, labels = training_case(gen, 30)  # lr 0: the losses depend on the averaging alone
        data, labels = hardest_last(spec, state, data, labels)  # the short batch's loss is not the others' mean
        got, want = judge.run("train_one_epoch", spec, state, data, labels, 8, 0.0, False, hint=TRAIN_STEPS)
        checks.number(judged_as_sum(got["loss"], len(labels), want["loss"]), want["loss"],
                      _("train_one_epoch(...) with a last batch of 6"), PER_SAMPLE)

    @pytest.mark.points(1)
    def test_weights_after_epoch(self, judge, gen):
        """after the epoch the weights equal the reference's: one clean step per batch, with the loss_fn given"""
        spec, state, data, labels = training_case(gen, 30)
        got, want = judge.run("train_one_epoch", spec, state, data, labels, 8, 0.1, False, "smoothed", hint=TRAIN_STEPS)
        checks.state(got["state"], want["state"], _("the weights after one epoch"),
                     _("zero the gradients before every backward, or they add up across batches; {steps}").format(steps=TRAIN_STEPS))

    @pytest.mark.points(1)
    def test_training_mode(self, judge, gen):
        """the model trains in training mode, even when it was handed over in eval mode (BatchNorm shows it)"""
        spec, state, data, labels = training_case(gen, 20, batchnorm=True)
        got, want = judge.run("train_one_epoch", spec, state, data, labels, 10, 0.1, True, hint=TRAIN_STEPS)
        hint = _("call model.train() before the loop: in eval mode BatchNorm uses its running statistics and never updates them")
        checks.state(got["state"], want["state"], _("the weights and BatchNorm statistics after one epoch of a model handed over in eval mode"), hint)


_STEPPED: dict[bytes, tuple[float, float]] = {}


def stepped_eval(spec, state, data, labels, batch_size, lr, loss="cross_entropy"):
    """(per-sample mean loss, accuracy) over the batches in order, in eval mode, with an SGD step of lr after
    each batch's loss (loss: a name of course.sandbox.probes.LOSSES): lr 0 is the right evaluation, lr 0.1 the
    mistake of training inside evaluate. Computed once per case: a class asks every student the same."""
    key = hashlib.sha256(repr((spec, sorted(state), batch_size, lr, loss)).encode()
                         + b"".join(t.numpy().tobytes() for t in (*state.values(), data, labels))).digest()
    if key not in _STEPPED:
        _STEPPED[key] = _stepped_eval(spec, state, data, labels, batch_size, lr, loss)
    return _STEPPED[key]


def _stepped_eval(spec, state, data, labels, batch_size, lr, loss):
    loss_fn = LOSSES[loss]()
    model = mlp(spec["sizes"], batchnorm=spec["batchnorm"])
    model.load_state_dict(state)
    model.eval()
    optimizer = SGD(model.parameters(), lr)
    total, correct = 0.0, 0
    for start in range(0, len(data), batch_size):
        inputs, targets = data[start:start + batch_size], labels[start:start + batch_size]
        optimizer.zero_grad()
        logits = model(inputs)
        value = loss_fn(logits, targets)
        value.backward()
        optimizer.step()
        total += value.item() * len(targets)
        correct += int((logits.argmax(dim=1) == targets).sum())
    return total / len(data), correct / len(data)


@drawn_once
def evaluation_case(gen, n, batch_size, margin=1e-3):
    """training_case(gen, n, batchnorm=True), drawn again (from the same gen) until an evaluate that takes an
    SGD step on every batch reports a mean loss at least margin (10x the tolerance) away from the right one.
    Otherwise the steps can move the later batches' losses by less than the tolerance (the first batch's
    loss never moves), and with the same accuracy such an evaluate passes by chance of the seed."""
    for _ in range(50):
        case = training_case(gen, n, batchnorm=True)
        if abs(stepped_eval(*case, batch_size, 0.1)[0] - stepped_eval(*case, batch_size, 0.0)[0]) > margin:
            return case
    raise RuntimeError(f"no evaluation case in 50 draws shows an SGD step ({n} samples, batches of {batch_size})")


PERCENT = _("accuracy is a fraction in [0, 1], not a percentage: divide the number correct by the number of samples, "
            "without * 100")
NO_UPDATE = _("wrap the loop in `with torch.no_grad():`; never call backward() or an optimizer in evaluate")
EVAL_HINT = _("model.eval(); with torch.no_grad(): add up loss.item() * len(targets) and the correct predictions")
BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def split_state(state):
    """(parameters, buffers) of a state dict."""
    buffers = {k: v for k, v in state.items() if k.endswith(BUFFERS)}
    return {k: v for k, v in state.items() if k not in buffers}, buffers


def loss_and_accuracy(got, want, what, case=None, batch_size=10, accuracy=True, judged_elsewhere=0, steps_elsewhere=False,
                      loss="cross_entropy"):
    """got must be (mean loss, accuracy) close to want; with the case, a loss that an SGD step on every
    batch would give is named as that mistake. accuracy=False checks the loss alone (tests about the mode
    or about updates: a wrong accuracy is test_loss_and_accuracy's to charge). judged_elsewhere (the number
    of samples) takes a loss given as the sum over them as its mean, and an accuracy given as a percentage
    as its fraction: test_loss_and_accuracy charges those. steps_elsewhere takes the loss and accuracy of an
    evaluate that steps an optimizer as right: test_no_gradients_no_updates charges that."""
    checks.that(isinstance(got, (tuple, list)) and len(got) == 2,
                _("{what}: expected (mean loss, accuracy), got {got}").format(what=what, got=checks.describe(got)),
                "return mean_loss, accuracy")
    trained = stepped_eval(*case, batch_size, 0.1, loss) if case is not None else None
    stepped = [(trained[0], NO_UPDATE)] if trained else []
    loss = judged_as_sum(got[0], judged_elsewhere, want[0], *(value for value, _ in stepped))
    value, acc = checks.as_number(loss), checks.as_number(got[1])
    if steps_elsewhere and trained and value is not None and math.isclose(value, trained[0], rel_tol=1e-4, abs_tol=1e-5):
        loss = want[0]  # evaluate steps an optimizer: its loss and accuracy are what the steps make them
        if acc is not None and math.isclose(acc, trained[1], abs_tol=1e-5):
            got = (loss, want[1])
    checks.number(loss, want[0], _("{what}: mean loss").format(what=what), EVAL_HINT,
                  mistakes=[*stepped, *sum_mistakes(want[0], case and len(case[2]))])
    if not accuracy:
        return
    value = checks.as_number(got[1])
    if judged_elsewhere and value is not None and value > 1 and math.isclose(value / 100, want[1], abs_tol=1e-5):
        return
    checks.number(got[1], want[1], _("{what}: accuracy").format(what=what),
                  _("accuracy = (number of logits.argmax(dim=1) == targets) / number of samples"),
                  mistakes=[(want[1] * 100, PERCENT)])


@pytest.mark.task("4.3")
class TestTask4_3:
    @pytest.mark.points(1)
    def test_loss_and_accuracy(self, judge, gen):
        """(mean loss, accuracy) match the reference for 40 samples in batches of 10"""
        case = evaluation_case(gen, 40, 10)
        got, want = judge.run("evaluate", *case, 10, hint=EVAL_HINT)
        loss_and_accuracy(got["result"], want["result"], "evaluate(...)", case, steps_elsewhere=True)

    @pytest.mark.points(1)
    def test_short_last_batch(self, judge, gen):
        """the mean is per sample: 37 samples in batches of 10 (and the loss is the loss_fn given)"""
        case = evaluation_case(gen, 37, 10)
        got, want = judge.run("evaluate", *case, 10, None, "smoothed", hint=EVAL_HINT)
        loss_and_accuracy(got["result"], want["result"], _("evaluate(...) with a last batch of 7"), case,
                          judged_elsewhere=len(case[3]), steps_elsewhere=True, loss="smoothed")

    @pytest.mark.points(1)
    def test_eval_mode(self, judge, gen):
        """the model runs in eval mode (it arrives in training mode); BatchNorm statistics stay as they were"""
        case = evaluation_case(gen, 20, 10)
        spec, state, data, labels = case
        got, want = judge.run("evaluate", spec, state, data, labels, 10, hint=EVAL_HINT)
        hint = _("call model.eval() before the loop: dropout and batch norm behave differently in training mode")
        checks.state(split_state(got["state"])[1], split_state(state)[1], _("BatchNorm running statistics after evaluate"), hint)
        loss_and_accuracy(got["result"], want["result"], "evaluate(...)", case, accuracy=False,  # the loss shows the mode too
                          judged_elsewhere=len(labels), steps_elsewhere=True)

    @pytest.mark.points(1)
    def test_no_gradients_no_updates(self, judge, gen):
        """no parameter changes: the later batches' losses, and evaluate run again on the same model, show any update"""
        case = evaluation_case(gen, 30, 10)
        other = training_case(gen, 20, batchnorm=True)  # other data for the second call: (spec, state, data, labels)
        got, want = judge.run("evaluate", *case, 10, list(other[2:]), hint=EVAL_HINT)
        loss_and_accuracy(got["result"], want["result"], "evaluate(...)", case, accuracy=False, judged_elsewhere=len(case[3]))
        checks.that(isinstance(got["again"], (tuple, list)) and len(got["again"]) == 2,
                    _("evaluate(...) called again: expected (mean loss, accuracy), got {got}").format(got=checks.describe(got["again"])),
                    "return mean_loss, accuracy")
        checks.number(judged_as_sum(got["again"][0], len(other[3]), want["again"][0]), want["again"][0],
                      _("evaluate(...) called again on the same model, for other data: mean loss"), NO_UPDATE)


FIT_HINT = _("each epoch: call train_one_epoch(model, train_loader, loss_fn, optimizer) and record what it returns, then "
             "evaluate(model, val_loader, loss_fn) and record the loss, the first of the pair it returns")
STAND_INS = _("fit is graded with stand-ins: each loader is a list holding one (inputs, targets) batch, "
              "train_one_epoch returns one float and evaluate returns a pair (loss, accuracy); "
              "call those two each epoch rather than looping over batches or unpacking more values. {fit}")


def fit_case(gen):
    """The fit probe's inputs after the epoch count: the starting weights of a Linear(3, 2) and one batch
    each for the training and the validation loader."""
    state = random_state(mlp(FIT_SIZES), gen)
    batch = lambda n: [torch.randn(n, FIT_SIZES[0], generator=gen), torch.randint(0, FIT_SIZES[-1], (n,), generator=gen)]
    return [state, batch(8), batch(6)]


@pytest.mark.task("4.4")
class TestTask4_4:
    @pytest.mark.points(1)
    def test_calls_each_epoch(self, judge, gen):
        """each epoch calls train_one_epoch on the training loader, then evaluate on the validation loader"""
        got, want = judge.run("fit", 3, *fit_case(gen), hint=STAND_INS.format(fit=FIT_HINT))
        checks.state(got["state"], want["state"], _("the weights after fit(...) with 3 epochs (each train_one_epoch call changes them)"),
                     FIT_HINT)
        checks.equal(got["history"], want["history"], _("fit(...) with 3 epochs"), FIT_HINT)

    @pytest.mark.points(1)
    def test_history(self, judge, gen):
        """the history holds what train_one_epoch and evaluate returned, in order, for the loss_fn given"""
        got, want = judge.run("fit", 3, *fit_case(gen), "smoothed", hint=STAND_INS.format(fit=FIT_HINT))
        history = got["history"]
        if isinstance(history, dict) and isinstance(history.get("val_loss"), list) and history["val_loss"]:
            checks.that(not isinstance(history["val_loss"][0], (tuple, list)), _("val_loss holds (loss, accuracy) pairs"),
                        _("evaluate returns (loss, accuracy): keep only the loss"))
        checks.equal(history, want["history"], _("fit(...) with 3 epochs"), FIT_HINT)

    @pytest.mark.points(1)
    def test_epoch_counts(self, judge, gen):
        """one entry per epoch in each list, for 1 and for 5 epochs"""
        case = fit_case(gen)
        for epochs, (got, want) in zip((1, 5), judge.run_each("fit", [[1, *case], [5, *case]], hint=STAND_INS.format(fit=FIT_HINT))):
            history = got["history"]
            checks.that(isinstance(history, dict) and sorted(history) == ["train_loss", "val_loss"],
                        _("fit(..., epochs={epochs}): expected a dict with keys train_loss and val_loss, got {got}").format(
                            epochs=epochs, got=checks.describe(history)), FIT_HINT)
            for key in history:
                checks.equal(len(history[key]) if isinstance(history[key], list) else None, epochs,
                             _("fit(..., epochs={epochs}): length of {key}").format(epochs=epochs, key=key),
                             _("append one value per epoch"))
            checks.equal(history, want["history"], f"fit(..., epochs={epochs})", FIT_HINT)


@pytest.mark.task("4.5")
class TestTask4_5:
    @pytest.mark.points(1)
    def test_answer(self, judge):
        """the best answer to why validation loss can be higher than training loss"""
        got, want = judge.run("call", "why_validation_loss_is_higher", [], {})
        answer = got.strip().upper() if isinstance(got, str) else got
        checks.that(answer in ("A", "B", "C", "D"), _("expected one letter, A to D; got {got}").format(got=checks.describe(got)))
        checks.that(answer == want, _("{answer} is not the best answer").format(answer=answer),
                    _("ask which data the weights were fitted to, and which data never changed them"))
