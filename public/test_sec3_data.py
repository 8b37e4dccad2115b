"""Public checks for sec3_data.py (Tasks 3.1 to 3.3): the lesson's 100 samples of 11 features.

Run `pytest` in the bundle folder. Passing these does not mean full marks: the grader tries more cases.
"""
import pytest
import torch


@pytest.fixture
def sec3():
    """Your sec3_data.py, imported here so that a mistake in it fails only its own checks."""
    import sec3_data

    return sec3_data


def numbered_samples():
    """100 samples of 11 features; sample i is filled with i and its label is i, so order can be read off."""
    data = torch.arange(100, dtype=torch.float32).unsqueeze(1).repeat(1, 11)  # (100, 11)
    return data, torch.arange(100)  # (100,)


@pytest.mark.task("3.1")
def test_dataset_length(sec3):
    """Task 3.1: len(CustomDataset) is the number of samples, 100."""
    dataset = sec3.CustomDataset(torch.rand(100, 11), torch.randint(0, 2, (100,)))
    assert len(dataset) == 100, f"Task 3.1: expected len 100, got {len(dataset)}"


@pytest.mark.task("3.1")
def test_dataset_item_is_a_sample_and_its_label(sec3):
    """Task 3.1: dataset[7] is (data[7], labels[7]), the sample of shape (11,)."""
    data, labels = numbered_samples()
    sample, label = sec3.CustomDataset(data, labels)[7]
    assert tuple(sample.shape) == (11,), f"Task 3.1: a sample should have shape (11,), got {tuple(sample.shape)}"
    assert torch.equal(sample, data[7]) and int(label) == 7, "Task 3.1: dataset[7] should be (data[7], labels[7])"


@pytest.mark.task("3.1")
def test_dataset_transform_touches_the_sample_only(sec3):
    """Task 3.1: the transform applies to the sample, not to the label."""
    data, labels = numbered_samples()
    sample, label = sec3.CustomDataset(data, labels, transform=lambda s: s * 2)[3]
    assert torch.equal(sample, data[3] * 2), "Task 3.1: the transform was not applied to the sample"
    assert int(label) == 3, f"Task 3.1: the label should stay 3, got {label}"


@pytest.mark.task("3.1")
def test_dataset_refuses_mismatched_lengths(sec3):
    """Task 3.1: 100 samples with 99 labels is a ValueError."""
    with pytest.raises(ValueError):
        sec3.CustomDataset(torch.rand(100, 11), torch.zeros(99))


@pytest.mark.task("3.2")
def test_loader_gives_ten_batches_of_ten(sec3):
    """Task 3.2: 100 samples in batches of 10 are 10 batches of (10, 11) and (10,), every sample once."""
    data, labels = numbered_samples()
    batches = list(sec3.make_loader(sec3.CustomDataset(data, labels), batch_size=10, shuffle=True, seed=1))
    assert len(batches) == 10, f"Task 3.2: expected 10 batches, got {len(batches)}"
    for x, y in batches:
        assert tuple(x.shape) == (10, 11) and tuple(y.shape) == (10,), \
            f"Task 3.2: a batch should be (10, 11) and (10,), got {tuple(x.shape)} and {tuple(y.shape)}"
    seen = sorted(int(v) for _, y in batches for v in y)
    assert seen == list(range(100)), "Task 3.2: one epoch should visit every sample exactly once"


@pytest.mark.task("3.2")
def test_loader_without_shuffle_keeps_the_order(sec3):
    """Task 3.2: shuffle=False gives the samples in dataset order."""
    data, labels = numbered_samples()
    order = [int(v) for _, y in sec3.make_loader(sec3.CustomDataset(data, labels), batch_size=10, shuffle=False)
             for v in y]
    assert order == list(range(100)), "Task 3.2: with shuffle=False the samples should come in order 0, 1, 2, ..."


@pytest.mark.task("3.2")
def test_loader_with_a_seed_is_reproducible(sec3):
    """Task 3.2: two loaders made with the same seed give the same first epoch."""
    data, labels = numbered_samples()

    def first_epoch():
        loader = sec3.make_loader(sec3.CustomDataset(data, labels), batch_size=10, shuffle=True, seed=5)
        return [int(v) for _, y in loader for v in y]

    assert first_epoch() == first_epoch(), "Task 3.2: the same seed should give the same order"


@pytest.mark.task("3.3")
def test_split_sizes_and_cover(sec3):
    """Task 3.3: 100 samples with val_fraction 0.2 split into 80 and 20, every sample in exactly one part."""
    data, labels = numbered_samples()
    train, val = sec3.train_val_split(sec3.CustomDataset(data, labels), val_fraction=0.2, seed=0)
    assert (len(train), len(val)) == (80, 20), f"Task 3.3: expected sizes (80, 20), got {(len(train), len(val))}"
    ids = sorted(int(train[i][1]) for i in range(len(train))) + sorted(int(val[i][1]) for i in range(len(val)))
    assert sorted(ids) == list(range(100)), "Task 3.3: every sample should land in exactly one part"


@pytest.mark.task("3.3")
def test_split_is_fixed_by_the_seed(sec3):
    """Task 3.3: the same seed gives the same split."""
    data, labels = numbered_samples()
    dataset = sec3.CustomDataset(data, labels)

    def val_ids():
        _, val = sec3.train_val_split(dataset, val_fraction=0.2, seed=3)
        return [int(val[i][1]) for i in range(len(val))]

    assert val_ids() == val_ids(), "Task 3.3: the same seed should give the same split"
