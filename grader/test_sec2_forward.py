"""Section 2, sec2_forward.py: Tasks 2.1 (SimpleNN.__init__), 2.2 (SimpleNN.forward), 2.3 (gradients)."""
import pytest
import torch

from course.engine import checks
from course.i18n import _
from course.content.models import mlp, random_state

LESSON = [11, (64, 32), 1]  # SimpleNN's arguments in the lesson
SMALL = [5, (8, 4), 3]
LAYERS = "fc1 = nn.Linear(in_features, hidden[0]), fc2 = nn.Linear(hidden[0], hidden[1]), output = nn.Linear(hidden[1], out_features)"


def simple_nn_state(args, gen):
    """Random weights laid out as SimpleNN(*args).state_dict()."""
    in_features, hidden, out_features = args
    sizes = [in_features, *hidden, out_features]
    state = {}
    for name, (a, b) in zip(("fc1", "fc2", "output"), zip(sizes, sizes[1:])):
        state[f"{name}.weight"] = torch.randn(b, a, generator=gen) * 0.5
        state[f"{name}.bias"] = torch.randn(b, generator=gen) * 0.5
    return state


def both_signs(state, x):
    """state with the bias of every layer shifted, fc1 first, so that on the batch x each unit of fc1, fc2
    and output takes values below and above zero (the middle of its range moves to 0): a ReLU left out
    after fc1 or fc2, or added after the output, then always shows. Shifting the output alone is not
    enough: when every fc2 unit is negative for the whole batch (SimpleNN(5, (8, 4), 3) at some seeds),
    the output is the same for every sample, the shift makes it 0, and a ReLU on 0 changes nothing."""
    state, h = dict(state), x
    for name in ("fc1", "fc2", "output"):
        pre = h @ state[f"{name}.weight"].T + state[f"{name}.bias"]  # (N, units)
        middle = (pre.max(dim=0).values + pre.min(dim=0).values) / 2
        state[f"{name}.bias"] = state[f"{name}.bias"] - middle
        h = torch.relu(pre - middle)
    return state


NO_OUTPUT_ACTIVATION = _("no activation after the output layer ({name} found there): forward returns what self.output gives, "
                         "unchanged; the loss function applies what it needs")
OUTPUT_ACTIVATIONS = {"ReLU": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
                      "softmax": lambda t: torch.softmax(t, 1), "log_softmax": lambda t: torch.log_softmax(t, 1),
                      "LeakyReLU": torch.nn.functional.leaky_relu, "ELU": torch.nn.functional.elu,
                      "GELU": torch.nn.functional.gelu, "softplus": torch.nn.functional.softplus}


def reference_forward(state, x):
    """SimpleNN's forward on state, with the usual wrong forwards: {name: output}."""
    def layer(name, h):
        return h @ state[f"{name}.weight"].T + state[f"{name}.bias"]

    def simple_nn(x):
        return layer("output", torch.relu(layer("fc2", torch.relu(layer("fc1", x)))))

    return {"right": simple_nn(x), "input changed": simple_nn(torch.relu(x)),
            "no relu": layer("output", layer("fc2", layer("fc1", x))),
            "no second relu": layer("output", layer("fc2", torch.relu(layer("fc1", x))))}


def layout_mistakes(state, x):
    """The wrong forwards that test_lesson_forward judges (an activation after the output, a ReLU left out),
    each with its hint."""
    outputs = reference_forward(state, x)
    after_relu = {"softmax": torch.relu(outputs["right"]).softmax(1), "log_softmax": torch.relu(outputs["right"]).log_softmax(1)}
    return [*((f(outputs["right"]), NO_OUTPUT_ACTIVATION.format(name=name)) for name, f in OUTPUT_ACTIVATIONS.items()),
            *((value, NO_OUTPUT_ACTIVATION.format(name=f"ReLU, {name}")) for name, value in after_relu.items()),
            (outputs["no relu"], _("apply ReLU after fc1 and after fc2")),
            (outputs["no second relu"], _("apply ReLU after fc2 too"))]


def forward_mistakes(state, x):
    """Outputs of the usual wrong forwards, each with its hint."""
    return [*layout_mistakes(state, x),
            (reference_forward(state, x)["input changed"],
             _("do not modify x (x.relu_(), x += ...): give each intermediate result a new name"))]


def forward_hint(got, state, x, hint):
    """hint, unless got is, column by column, an increasing function of the right output (as any activation
    put after the output layer makes it) without being it: then that is the hint."""
    right = reference_forward(state, x)["right"]
    if not isinstance(got, torch.Tensor) or got.shape != right.shape or got.dim() != 2 or len(got) < 6:
        return hint
    got = got.detach().double()
    if torch.allclose(got, right.double(), atol=1e-4) or not torch.isfinite(got).all():
        return hint
    order = right.argsort(dim=0)
    ranked = got.gather(0, order)
    if bool((ranked[1:] > ranked[:-1]).all()):
        return NO_OUTPUT_ACTIVATION.format(name=_("an increasing function"))
    return hint


def judged_elsewhere(got, state, x):
    """Whether got is one of the wrong forwards test_lesson_forward judges: the other 2.2 tests, which check
    something else, do not charge for it again."""
    return (isinstance(got, torch.Tensor) and got.is_floating_point()
            and checks.known_mistake(got, layout_mistakes(state, x)) is not None)


@pytest.mark.task("2.1")
class TestTask2_1:
    @pytest.mark.points(1)
    def test_lesson_layers(self, judge):
        """SimpleNN() has fc1 (11 -> 64), fc2 (64 -> 32), output (32 -> 1)"""
        got, want = judge.run("simple_nn_init", [], hint=LAYERS)
        checks.equal(got["state"], want["state"], _("SimpleNN().state_dict() shapes"), LAYERS)
        checks.equal(got["layers"], want["layers"], _("SimpleNN() layers"), LAYERS)

    @pytest.mark.points(1)
    def test_custom_sizes(self, judge, gen):
        """SimpleNN(in_features, (h1, h2), out_features) sizes its layers from the arguments"""
        a, h1, h2, out = (int(n) for n in torch.randint(2, 20, (4,), generator=gen))
        args = [a, (h1, h2), out]
        got, want = judge.run("simple_nn_init", args, hint=LAYERS)
        hint = _("use the arguments, not the numbers 11, 64, 32, 1: {layers}").format(layers=LAYERS)
        model = f"SimpleNN({a}, ({h1}, {h2}), {out})"
        checks.equal(got["state"], want["state"], _("{model}.state_dict() shapes").format(model=model), hint)
        checks.equal(got["layers"], want["layers"], _("{model} layers").format(model=model), hint)


@pytest.mark.task("2.2")
class TestTask2_2:
    @pytest.mark.points(1)
    def test_lesson_forward(self, judge, gen):
        """SimpleNN.forward on a (N, 11) batch with known weights gives the reference (N, 1)"""
        x = torch.rand(6, 11, generator=gen)
        state = both_signs(simple_nn_state(LESSON, gen), x)
        got, want = judge.run("simple_nn_forward", LESSON, state, x)
        hint = forward_hint(got["out"], state, x, "relu(fc1(x)) -> relu(fc2(.)) -> output(.)")
        checks.tensor(got["out"], want["out"], "forward(x (6, 11))", hint, mistakes=forward_mistakes(state, x))

    @pytest.mark.points(1)
    def test_custom_sizes_forward(self, judge, gen):
        """forward works for SimpleNN(5, (8, 4), 3) and a (N, 5) batch"""
        x = torch.randn(7, 5, generator=gen)
        state = both_signs(simple_nn_state(SMALL, gen), x)
        got, want = judge.run("simple_nn_forward", SMALL, state, x)
        if judged_elsewhere(got["out"], state, x):
            return  # the layout is right for these sizes; its mistake costs its point in test_lesson_forward
        checks.tensor(got["out"], want["out"], _("forward(x (7, 5)) of SimpleNN(5, (8, 4), 3)"),
                      _("use the layers self.fc1, self.fc2, self.output; nothing hard-wired to 11 features"),
                      mistakes=forward_mistakes(state, x))

    @pytest.mark.points(1)
    def test_input_unchanged(self, judge, gen):
        """forward leaves its input tensor x as it was: a network run on the same x afterwards gets it unchanged"""
        x = torch.randn(4, 11, generator=gen)
        state = both_signs(simple_nn_state(LESSON, gen), x)
        other = both_signs(simple_nn_state(LESSON, gen), x)
        got, want = judge.run("simple_nn_forward", LESSON, state, x, other)
        if not judged_elsewhere(got["out"], state, x):  # a mistake of the layout costs its point in test_lesson_forward
            checks.tensor(got["out"], want["out"], "forward(x (4, 11))", "relu(fc1(x)) -> relu(fc2(.)) -> output(.)",
                          mistakes=forward_mistakes(state, x))
        checks.tensor(got["again"], want["again"], _("a network with other weights run on the same x after forward(x)"),
                      _("do not modify x (x.relu_(), x += ...): give each intermediate result a new name"))


def mlp_case(gen, sizes=(6, 5, 3), n=8, classes=False):
    """(sizes, state, x, target) for an MLP; targets are class indices when classes, else real values."""
    model = mlp(list(sizes))
    target = torch.randint(0, sizes[-1], (n,), generator=gen) if classes else torch.randn(n, sizes[-1], generator=gen)
    return list(sizes), random_state(model, gen), torch.randn(n, sizes[0], generator=gen), target


@pytest.mark.task("2.3")
class TestTask2_3:
    @pytest.mark.points(1)
    def test_gradients_match(self, judge, gen):
        """gradients() returns {name: grad} equal to one backward pass of loss_fn(model(x), target) (cross-entropy)"""
        sizes, state, x, target = mlp_case(gen, classes=True)
        got, want = judge.run("gradients", sizes, state, x, target, False, "cross_entropy",
                              hint=_("call loss_fn(model(x), target): the prediction first, then the target"))
        checks.state(got["grads"], want["grads"], "gradients(...)",
                     _("compute loss_fn of model(x) and target, call backward() on it once, then collect p.grad for each name in "
                       "model.named_parameters()"))

    @pytest.mark.points(1)
    def test_stale_gradients_are_cleared(self, judge, gen):
        """gradients left in .grad from an earlier pass do not leak into the result"""
        sizes, state, x, target = mlp_case(gen)
        got, want = judge.run("gradients", sizes, state, x, target, True, "mse")
        hint = _("backward() adds to .grad: call model.zero_grad() before the forward pass")
        grads = got["grads"]
        if isinstance(grads, dict) and all(isinstance(g, torch.Tensor) for g in grads.values()) and sorted(grads) == sorted(want["grads"]):
            stale = all(torch.allclose(grads[k], want["grads"][k] + 3.0, atol=1e-5) for k in want["grads"])
            checks.that(not stale, _("gradients(...) with old gradients already in .grad: the old values were added in"), hint)
        checks.state(grads, want["grads"], _("gradients(...) with old gradients already in .grad"), hint)

    @pytest.mark.points(1)
    def test_parameters_unchanged(self, judge, gen):
        """gradients() does not change the model's parameters: called again on the same model, it gets them unchanged"""
        sizes, state, x, target = mlp_case(gen)
        other = mlp_case(gen)  # (sizes, state, x, target): its batch for the second call
        got, want = judge.run("gradients", sizes, state, x, target, False, "mse", other[2:])
        checks.state(got["grads"], want["grads"], _("gradients(...) with an MSE loss"), _("one backward pass, then collect p.grad"))
        checks.state(got["again"], want["again"], _("gradients(...) called again on the same model, for another batch"),
                     _("only compute gradients: no optimizer step and no in-place change of the weights"))
