"""The course's synthetic data set has real signal (training lowers the loss, a gap to validation appears), and
a test input built once per batch is the input a fresh build gives."""
import torch
from torch import nn

from course.content.data import make_classification
from solutions.sec2_forward import SimpleNN
from solutions.sec3_data import CustomDataset, make_loader, train_val_split
from solutions.sec4_training import fit


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = make_classification(seed=1), make_classification(seed=1), make_classification(seed=2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    data, labels = a
    assert data.shape == (100, 11) and labels.shape == (100,) and labels.dtype == torch.int64
    assert set(labels.tolist()) == {0, 1}
    assert 0.25 < labels.float().mean().item() < 0.75


def test_training_lowers_the_loss_and_validation_ends_higher():
    torch.manual_seed(0)
    data, labels = make_classification(n=120, seed=3)
    train, val = train_val_split(CustomDataset(data, labels), val_fraction=0.5, seed=0)
    model = SimpleNN(11, (64, 32), 2)
    history = fit(model, make_loader(train, batch_size=10, seed=0), make_loader(val, batch_size=60, shuffle=False),
                  nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=0.01), epochs=60)
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert history["val_loss"][-1] > history["train_loss"][-1] + 0.1


def test_an_input_built_once_is_the_same_input_and_leaves_the_generator_where_building_did():
    from course.content.models import drawn_once

    calls = []

    def build(gen, n):
        calls.append(n)
        return {"x": torch.randn(n, generator=gen)}, int(torch.randint(0, 100, (), generator=gen))

    once = drawn_once(build)
    fresh = torch.Generator().manual_seed(7)
    want = build(fresh, 3)
    after = torch.rand(2, generator=fresh)  # what the test draws next
    for _ in range(3):
        gen = torch.Generator().manual_seed(7)
        got = once(gen, 3)
        assert torch.equal(got[0]["x"], want[0]["x"]) and got[1] == want[1]
        assert torch.equal(torch.rand(2, generator=gen), after)
        got[0]["x"].zero_()  # a test that changes its input changes nobody else's
    assert calls == [3, 3]  # built once for `want`, once for the three `once` calls
    assert not torch.equal(once(torch.Generator().manual_seed(8), 3)[0]["x"], want[0]["x"])
