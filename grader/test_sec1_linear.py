"""Section 1, sec1_linear.py: Tasks 1.1 (linear_forward), 1.2 (parameter_shapes, count_parameters), 1.3 (first_layer_for)."""
import pytest
import torch

from course.engine import checks
from course.i18n import _

WEIGHT_LAYOUT = _("weight is (out_features, in_features): compute x @ weight.T, then add bias")


@pytest.mark.task("1.1")
class TestTask1_1:
    @pytest.mark.points(1)
    def test_batch_with_bias(self, judge, gen):
        """a (N, 11) batch with weight (64, 11) and bias (64,) gives F.linear's (N, 64)"""
        x, w, b = torch.randn(5, 11, generator=gen), torch.randn(64, 11, generator=gen), torch.randn(64, generator=gen)
        got, want = judge.run("call", "linear_forward", [x, w, b], {}, hint=WEIGHT_LAYOUT)
        checks.tensor(got, want, "linear_forward(x (5, 11), weight (64, 11), bias (64,))", WEIGHT_LAYOUT,
                      mistakes=[(x @ w.T, _("the bias was not added"))])

    @pytest.mark.points(1)
    def test_square_weight_without_bias(self, judge, gen):
        """bias=None (given or by default) with a square weight: only x @ weight.T, and the transpose matters"""
        x, w = torch.randn(4, 11, generator=gen), torch.randn(11, 11, generator=gen)
        cases = ([x, w, None], [x, w])  # bias=None given, and left to its default
        results = judge.run_each("call", [["linear_forward", args, {}] for args in cases], hint=_("with bias=None, skip the bias"))
        for args, (got, want) in zip(cases, results):
            checks.tensor(got, want, "linear_forward(x (4, 11), weight (11, 11){})".format(", None" if len(args) == 3 else ""),
                          WEIGHT_LAYOUT,
                          mistakes=[(x @ w, _("x @ weight uses the weight untransposed: {layout}").format(layout=WEIGHT_LAYOUT))])

    @pytest.mark.points(1)
    def test_any_leading_axes(self, judge, gen):
        """x of shape (2, 3, 11) and (11,) both work: the features are always the last axis"""
        w, b = torch.randn(6, 11, generator=gen), torch.randn(6, generator=gen)
        hint = _("use operations that act on the last axis (x @ weight.T broadcasts); do not assume x is 2-D")
        xs = (torch.randn(2, 3, 11, generator=gen), torch.randn(11, generator=gen))
        results = judge.run_each("call", [["linear_forward", [x, w, b], {}] for x in xs], hint=hint)
        for x, (got, want) in zip(xs, results):
            checks.tensor(got, want, f"linear_forward(x {tuple(x.shape)}, weight (6, 11), bias (6,))", hint)


LESSON_NET = {"sizes": [11, 64, 32, 1]}


@pytest.mark.task("1.2")
class TestTask1_2:
    @pytest.mark.points(1)
    def test_shapes_of_linear_11_64(self, judge):
        """parameter_shapes(nn.Linear(11, 64)) is {'weight': (64, 11), 'bias': (64,)}; nested modules use dotted names"""
        hint = _("a Linear's weight is (out_features, in_features); use module.named_parameters() and tuple(p.shape)")
        cases = (({"sizes": [11, 64]}, "nn.Linear(11, 64)"), (LESSON_NET, _("the 11-64-32-1 network")),
                 ({**LESSON_NET, "frozen": [1]}, _("the 11-64-32-1 network with fc2 frozen (frozen parameters still have shapes)")))
        for (spec, what), (got, want) in zip(cases, judge.run_each("parameter_shapes", [[c[0]] for c in cases], hint=hint)):
            checks.equal(got, want, f"parameter_shapes({what})", hint)

    @pytest.mark.points(1)
    def test_count_lesson_layers(self, judge, gen):
        """count_parameters is 768 for nn.Linear(11, 64), 2881 for the 11-64-32-1 network, and right for other sizes"""
        sizes = [int(n) for n in torch.randint(2, 40, (4,), generator=gen)]
        cases = (({"sizes": [11, 64]}, "nn.Linear(11, 64)"), (LESSON_NET, _("the 11-64-32-1 network")),
                 ({"sizes": sizes}, _("a {sizes} network").format(sizes="-".join(map(str, sizes)))))
        for (spec, what), (got, want) in zip(cases, judge.run_each("count_parameters", [[c[0]] for c in cases])):
            checks.number(got, want, f"count_parameters({what})", _("count every scalar: p.numel() of each weight and bias"),
                          mistakes=[(want - sum(spec["sizes"][1:]), _("the biases were not counted")),
                                    (len(spec["sizes"]) * 2 - 2, _("count numbers (p.numel()), not parameter tensors"))])

    @pytest.mark.points(1)
    def test_frozen_and_shared(self, judge):
        """only parameters with requires_grad=True count, and a weight shared by two layers counts once"""
        frozen = {"sizes": [11, 64, 32, 1], "frozen": [0]}
        got, want = judge.run("count_parameters", frozen)
        checks.number(got, want, _("count_parameters(11-64-32-1 network with the first layer frozen)"),
                      _("skip parameters whose requires_grad is False"),
                      mistakes=[(2881, _("frozen parameters (requires_grad=False) were counted"))])
        shared = {"sizes": [8, 8, 8, 1], "shared": True}
        got, want = judge.run("count_parameters", shared)
        checks.number(got, want, _("count_parameters(a network whose two 8-8 layers share one weight)"),
                      _("module.parameters() lists a shared parameter once; walking module.modules() counts it twice"),
                      mistakes=[(want + 64, _("the shared weight was counted twice"))])


@pytest.mark.task("1.3")
class TestTask1_3:
    @pytest.mark.points(1)
    def test_in_features_from_data(self, judge, gen):
        """first_layer_for(data) is an nn.Linear with in_features = data.shape[-1], out_features = hidden"""
        hint = _("in_features is the number of features, the size of data's last axis (not the number of samples)")
        cases = (((100, 11), None), ((30, 7), 5), ((4, 6, 9), 3))
        results = judge.run_each("first_layer", [[torch.rand(*shape, generator=gen), hidden] for shape, hidden in cases], hint=hint)
        for (shape, hidden), (got, want) in zip(cases, results):
            checks.equal(got, want, f"first_layer_for(data {shape}{'' if hidden is None else f', hidden={hidden}'})", hint)

    @pytest.mark.points(1)
    def test_value_error_without_feature_axis(self, judge, gen):
        """data with no feature axis (a scalar or a 1-D tensor) raises ValueError"""
        hint = _("check data.dim() < 2 and raise ValueError with a message that says what shape was expected")
        got, want = judge.run("first_layer", torch.rand(5, 11, generator=gen), None, hint=hint)
        checks.equal(got, want, _("first_layer_for(data (5, 11)) must still build the layer"), hint)
        for data in (torch.tensor(3.0), torch.rand(11, generator=gen)):
            got = judge.student("raises", "first_layer_for", [data], {}, hint=hint)
            message = (_("first_layer_for(data of shape {shape}): expected ValueError, got {error}") if got.get("raised")
                       else _("first_layer_for(data of shape {shape}): expected ValueError, it returned {value}"))
            checks.that(checks.raised(got, "ValueError"),
                        message.format(shape=tuple(data.shape), error=got.get("type"), value=got.get("returned")), hint)
