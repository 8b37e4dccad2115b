"""Public checks for sec3_data.py (Tasks 3.1 to 3.3): the lesson's 100 samples of 11 features.

Run `pytest` in the bundle folder. Passing these does not mean full marks: the grader tries more cases.
A failed check says what it checked, what it expected and what came back, with a hint, in the grader's
words. The fixture sec3 (public/conftest.py) is your sec3_data.py, loaded afresh for each check. The checks
of make_loader and train_val_split hand them a torch TensorDataset, so they do not depend on your
CustomDataset.
"""
import pytest
import torch
from torch.utils.data import TensorDataset

from course.engine import checks
from course.i18n import _

ITEM_HINT = "return self.data[idx], self.labels[idx]"
TRANSFORM_HINT = _("when a transform is given, apply it to the sample that __getitem__ returns; leave the label alone")
LENGTHS_HINT = _("in __init__, raise ValueError when data and labels hold different numbers of samples")
BATCH_HINT = _("pass batch_size through to the DataLoader; the last batch is smaller, do not drop it")
SHUFFLE_HINT = _("pass shuffle=shuffle to the DataLoader; it draws a new order at the start of each epoch")
LEN_HINT = _("__len__ gives the number of samples, the length of data along its first axis")
N_VAL = _("validation gets round(n * val_fraction) samples")
SEED_HINT = _("make a torch.Generator().manual_seed(seed) and pass it to DataLoader(..., generator=generator)")
SPLIT_HINT = _("shuffle the indices with torch.randperm and a generator seeded with seed; "
               "the first round(n * val_fraction) of them go to validation")


def numbered_samples():
    """100 samples of 11 features; sample i is filled with i and its label is i, so order can be read off."""
    data = torch.arange(100, dtype=torch.float32).unsqueeze(1).repeat(1, 11)  # (100, 11)
    return data, torch.arange(100)  # (100,)


def numbered_dataset():
    """The numbered samples as a torch TensorDataset: item i is (sample i, label i)."""
    return TensorDataset(*numbered_samples())


def pair(item, what, hint):
    """item must be a pair (sample, label), a tuple or a list; returns it."""
    checks.that(isinstance(item, (tuple, list)) and len(item) == 2,
                _("{what}: expected a pair (sample, label), got {got}").format(what=what, got=checks.describe(item)), hint)
    return item


@pytest.mark.task("3.1")
def test_dataset_length(sec3):
    """len(CustomDataset) is the number of samples, 100"""
    dataset = sec3.CustomDataset(torch.rand(100, 11), torch.randint(0, 2, (100,)))
    off_by_one = _("off by one: __len__ is the number of samples, len(self.data)")
    checks.number(len(dataset), 100, _("len(dataset) for 100 samples"), LEN_HINT,
                  mistakes=[(99, off_by_one), (101, off_by_one),
                            (11, _("that is the number of features; __len__ counts samples"))])


@pytest.mark.task("3.1")
def test_dataset_item_is_a_sample_and_its_label(sec3):
    """dataset[7] is (data[7], labels[7]), the sample of shape (11,)"""
    data, labels = numbered_samples()
    sample, label = pair(sec3.CustomDataset(data, labels)[7], "dataset[7]", ITEM_HINT)
    checks.tensor(sample, data[7], _("{what}: the sample").format(what="dataset[7]"), ITEM_HINT)
    checks.number(label, 7, _("{what}: the label").format(what="dataset[7]"), ITEM_HINT)


@pytest.mark.task("3.1")
def test_dataset_transform_touches_the_sample_only(sec3):
    """the transform applies to the sample, not to the label"""
    data, labels = numbered_samples()
    what = _("dataset[3] with transform=lambda s: s * 2")
    sample, label = pair(sec3.CustomDataset(data, labels, transform=lambda s: s * 2)[3], what, TRANSFORM_HINT)
    checks.tensor(sample, data[3] * 2, _("{what}: the sample").format(what=what), TRANSFORM_HINT)
    checks.number(label, 3, _("{what}: the label").format(what=what), TRANSFORM_HINT)


@pytest.mark.task("3.1")
def test_dataset_refuses_mismatched_lengths(sec3):
    """100 samples with 99 labels is a ValueError"""
    try:
        with pytest.raises(ValueError):
            sec3.CustomDataset(torch.rand(100, 11), torch.zeros(99))
    except pytest.fail.Exception:  # nothing was raised
        checks.that(False, _("CustomDataset(data of {data}, labels of {labels}): expected ValueError, nothing was raised")
                    .format(data=100, labels=99), LENGTHS_HINT)
    except NotImplementedError:
        raise
    except Exception as error:  # another exception than ValueError
        checks.that(False, _("CustomDataset(data of {data}, labels of {labels}): expected ValueError, got {error}")
                    .format(data=100, labels=99, error=type(error).__name__), LENGTHS_HINT)


@pytest.mark.task("3.2")
def test_loader_gives_ten_batches_of_ten(sec3):
    """100 samples in batches of 10 are 10 batches of (10, 11) and (10,), every sample once"""
    what = "batch_size=10, shuffle=True, seed=1"
    batches = list(sec3.make_loader(numbered_dataset(), batch_size=10, shuffle=True, seed=1))
    checks.equal(len(batches), 10, _("make_loader({what}) over 100 samples: the number of batches").format(what=what),
                 BATCH_HINT)
    for number, batch in enumerate(batches, 1):
        x, y = pair(batch, _("make_loader({what}): batch {number}").format(what=what, number=number), BATCH_HINT)
        checks.equal((tuple(x.shape), tuple(y.shape)), ((10, 11), (10,)),
                     _("make_loader({what}): the shapes of batch {number}").format(what=what, number=number), BATCH_HINT)
    seen = sorted(int(v) for _x, y in batches for v in y)
    checks.that(seen == list(range(100)),
                _("make_loader({what}): an epoch did not visit each of the 100 samples exactly once").format(what=what),
                _("let the DataLoader do the sampling"))


@pytest.mark.task("3.2")
def test_loader_without_shuffle_keeps_the_order(sec3):
    """shuffle=False gives the samples in dataset order"""
    order = [int(v) for _x, y in sec3.make_loader(numbered_dataset(), batch_size=10, shuffle=False) for v in y]
    checks.that(order == list(range(100)), _("shuffle=False: samples did not come in dataset order"), SHUFFLE_HINT)


@pytest.mark.task("3.2")
def test_loader_with_a_seed_is_reproducible(sec3):
    """two loaders made with the same seed give the same first epoch"""

    def first_epoch():
        loader = sec3.make_loader(numbered_dataset(), batch_size=10, shuffle=True, seed=5)
        return [int(v) for _x, y in loader for v in y]

    checks.that(first_epoch() == first_epoch(), _("two loaders made with seed={seed} gave different orders").format(seed=5),
                SEED_HINT)


@pytest.mark.task("3.3")
def test_split_sizes_and_cover(sec3):
    """100 samples with val_fraction 0.2 split into 80 and 20, every sample in exactly one part"""
    train, val = sec3.train_val_split(numbered_dataset(), val_fraction=0.2, seed=0)
    what = _("train_val_split({n} samples, {config})").format(n=100, config="val_fraction=0.2, seed=0")
    checks.equal(len(val), 20, _("{what}: size of val").format(what=what), N_VAL)
    checks.equal(len(train), 80, _("{what}: size of train").format(what=what), _("train gets the n - n_val others"))
    ids = [int(train[i][1]) for i in range(len(train))] + [int(val[i][1]) for i in range(len(val))]
    checks.that(sorted(ids) == list(range(100)),
                _("train and val together should hold each of the {n} samples once; {repeated} repeated, {missing} missing")
                .format(n=100, repeated=len(ids) - len(set(ids)), missing=100 - len(set(ids))), SPLIT_HINT)


@pytest.mark.task("3.3")
def test_split_is_fixed_by_the_seed(sec3):
    """the same seed gives the same split"""
    dataset = numbered_dataset()

    def val_ids():
        _train, val = sec3.train_val_split(dataset, val_fraction=0.2, seed=3)
        return [int(val[i][1]) for i in range(len(val))]

    checks.that(val_ids() == val_ids(), _("two splits with seed={seed} differ").format(seed=3), SPLIT_HINT)
