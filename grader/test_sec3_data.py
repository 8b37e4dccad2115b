"""Section 3, sec3_data.py: Tasks 3.1 (CustomDataset), 3.2 (make_loader), 3.3 (train_val_split)."""
import pytest
import torch

from course.engine import checks
from course.i18n import _

LEN_HINT = _("__len__ gives the number of samples, the length of data along its first axis")
N_VAL = _("validation gets round(n * val_fraction) samples")


def items_equal(got_items, want_items, what, hint):
    """Each item must be a (sample, label) pair, a tuple or a list, equal to the reference's."""
    checks.that(isinstance(got_items, list) and len(got_items) == len(want_items),
                _("{what}: wrong number of items").format(what=what), hint)
    for got, want in zip(got_items, want_items):
        checks.that(isinstance(got, (tuple, list)) and len(got) == 2,
                    _("{what}: expected a pair (sample, label), got {got}").format(what=what, got=checks.describe(got)), hint)
        checks.tensor(got[0], want[0], _("{what}: the sample").format(what=what), hint)
        checks.tensor(got[1], want[1], _("{what}: the label").format(what=what), hint)


@pytest.mark.task("3.1")
class TestTask3_1:
    @pytest.mark.points(1)
    def test_len(self, judge, gen):
        """len(CustomDataset(data, labels)) is the number of samples"""
        data, labels = torch.rand(23, 11, generator=gen), torch.randint(0, 2, (23,), generator=gen)
        got, want = judge.run("dataset", data, labels, [], False)
        off_by_one = _("off by one: __len__ is the number of samples, len(self.data)")
        checks.number(got["len"], want["len"], _("len(dataset) for 23 samples"), LEN_HINT,
                      mistakes=[(22, off_by_one), (24, off_by_one),
                                (11, _("that is the number of features; __len__ counts samples"))])

    @pytest.mark.points(1)
    def test_getitem(self, judge, gen):
        """dataset[idx] is (data[idx], labels[idx]) for first, middle, last and negative idx"""
        data, labels = torch.rand(23, 11, generator=gen), torch.randint(0, 2, (23,), generator=gen)
        got, want = judge.run("dataset", data, labels, [0, 9, 22, -1], False)
        items_equal(got["items"], want["items"], "dataset[idx]", "return self.data[idx], self.labels[idx]")

    @pytest.mark.points(0.5)
    def test_transform_applies_to_sample_only(self, judge, gen):
        """transform is applied to the sample, never to the label"""
        data, labels = torch.rand(10, 11, generator=gen), torch.randint(0, 2, (10,), generator=gen)
        hint = _("when a transform is given, apply it to the sample that __getitem__ returns; leave the label alone")
        got, want = judge.run("dataset", data, labels, [3, 7], True, hint=hint)
        items_equal(got["items"], want["items"], _("dataset[idx] with transform"), hint)

    @pytest.mark.points(0.5)
    def test_length_mismatch_raises(self, judge, gen):
        """CustomDataset(data, labels) with different lengths raises ValueError"""
        hint = _("in __init__, raise ValueError when data and labels hold different numbers of samples")
        for n_data, n_labels in ((20, 19), (19, 20)):  # either way round
            got = judge.student("raises", "CustomDataset", [torch.rand(n_data, 11, generator=gen), torch.zeros(n_labels)], {},
                                hint=hint)
            message = (_("CustomDataset(data of {data}, labels of {labels}): expected ValueError, got {error}") if got.get("raised")
                       else _("CustomDataset(data of {data}, labels of {labels}): expected ValueError, nothing was raised"))
            checks.that(checks.raised(got, "ValueError"), message.format(data=n_data, labels=n_labels, error=got.get("type")), hint)


SEED_HINT = _("make a torch.Generator().manual_seed(seed) and pass it to DataLoader(..., generator=generator)")


@pytest.mark.task("3.2")
class TestTask3_2:
    @pytest.mark.points(1)
    def test_batches_cover_every_sample(self, judge, gen):
        """batches have shapes (10, 11) and (10,); each epoch holds every sample exactly once, with a seed and with the defaults"""
        data = torch.rand(100, 11, generator=gen)
        seed = int(torch.randint(0, 2**31, (), generator=gen))
        configs = [{"batch_size": 10, "shuffle": True, "seed": seed}, {"batch_size": 32, "seed": seed}, {}]  # {}: seed=None
        got, want = judge.run("loader", data, configs, 2,
                              hint="return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, ...)")
        for run, expected, what in zip(got, want, ("batch_size=10", "batch_size=32", _("its defaults (seed=None)"))):
            checks.equal(run["shapes"], expected["shapes"], _("batch shapes with {what}").format(what=what),
                         _("pass batch_size through to the DataLoader; the last batch is smaller, do not drop it"))
            for epoch in run["epochs"]:
                checks.that(sorted(epoch) == list(range(100)),
                            _("make_loader({what}): an epoch did not visit each of the 100 samples exactly once").format(what=what),
                            _("let the DataLoader do the sampling"))

    @pytest.mark.points(1)
    def test_same_seed_same_order(self, judge, gen):
        """two loaders with the same seed give the same orders; another seed gives another order"""
        data = torch.rand(100, 11, generator=gen)
        seed = int(torch.randint(0, 2**31, (), generator=gen))
        got = judge.student("loader", data, [{"seed": seed}, {"seed": seed}, {"seed": seed + 1}], 2, hint=SEED_HINT)
        checks.that(got[0]["epochs"] == got[1]["epochs"],
                    _("two loaders made with seed={seed} gave different orders").format(seed=seed), SEED_HINT)
        checks.that(got[0]["epochs"][0] != got[2]["epochs"][0],
                    _("seeds {seed} and {other} gave the same order: the seed is not used").format(seed=seed, other=seed + 1),
                    SEED_HINT)

    @pytest.mark.points(1)
    def test_shuffle_flag(self, judge, gen):
        """shuffle=True reorders every epoch anew; shuffle=False keeps dataset order"""
        data = torch.rand(100, 11, generator=gen)
        seed = int(torch.randint(0, 2**31, (), generator=gen))
        got = judge.student("loader", data, [{"seed": seed}, {"shuffle": False, "seed": seed}], 2)
        shuffled, ordered = got[0]["epochs"], got[1]["epochs"]
        hint = _("pass shuffle=shuffle to the DataLoader; it draws a new order at the start of each epoch")
        checks.that(shuffled[0] != list(range(100)), _("shuffle=True: the first epoch came in dataset order"), hint)
        checks.that(shuffled[0] != shuffled[1], _("shuffle=True: two epochs came in the same order"), hint)
        checks.that(all(e == list(range(100)) for e in ordered), _("shuffle=False: samples did not come in dataset order"), hint)


SPLIT_HINT = _("shuffle the indices with torch.randperm and a generator seeded with seed; "
               "the first round(n * val_fraction) of them go to validation")


@pytest.mark.task("3.3")
class TestTask3_3:
    @pytest.mark.points(1)
    def test_sizes(self, judge, gen):
        """the validation part has round(n * val_fraction) samples, training the rest"""
        n = int(torch.randint(30, 90, (), generator=gen))  # drawn, so no answer can be known in advance
        k = int(torch.randint(3, n // 2, (), generator=gen))
        # n * (k + 0.75) / n = k + 0.75: round gives k + 1 where int() gives k
        configs = [{"val_fraction": 0.2, "seed": 0}, {"val_fraction": 0.25, "seed": 1},
                   {"val_fraction": (k + 0.75) / n, "seed": 2}, {}]
        got, want = judge.run("split", n, configs, hint=SPLIT_HINT)
        for run, expected, config in zip(got, want, configs):
            what = _("train_val_split({n} samples, {config})").format(n=n, config=config or _("defaults"))
            checks.equal(len(run["val"]), len(expected["val"]), _("{what}: size of val").format(what=what),
                         N_VAL)
            checks.equal(len(run["train"]), len(expected["train"]), _("{what}: size of train").format(what=what),
                         _("train gets the n - n_val others"))

    @pytest.mark.points(1)
    def test_disjoint_and_complete(self, judge):
        """every sample lands in exactly one part"""
        got = judge.student("split", 60, [{"val_fraction": 0.2, "seed": 3}, {"val_fraction": 0.35, "seed": 4}], hint=SPLIT_HINT)
        for run, n_val in zip(got, (12, 21)):
            checks.equal(len(run["val"]), n_val, _("size of val for 60 samples"), N_VAL)
            both = run["train"] + run["val"]
            checks.that(sorted(both) == list(range(60)),
                        _("train and val together should hold each of the 60 samples once; "
                          "{repeated} repeated, {missing} missing").format(repeated=len(both) - len(set(both)),
                                                                         missing=60 - len(set(both))), SPLIT_HINT)

    @pytest.mark.points(1)
    def test_random_but_seeded(self, judge, gen):
        """the split is random, the same for the same seed and different for another seed"""
        seed = int(torch.randint(0, 2**31, (), generator=gen))
        got = judge.student("split", 60, [{"seed": seed}, {"seed": seed}, {"seed": seed + 1}], hint=SPLIT_HINT)
        checks.that(got[0] == got[1], _("two splits with seed={seed} differ").format(seed=seed), SPLIT_HINT)
        checks.that(got[0] != got[2], _("seeds {seed} and {other} give the same split: the seed is not used").format(
            seed=seed, other=seed + 1), SPLIT_HINT)
        val = got[0]["val"]
        checks.that(sorted(val) not in (list(range(len(val))), list(range(60 - len(val), 60))),
                    _("the validation part is simply the first or last samples, not a random choice"), SPLIT_HINT)
