import pytest
import torch

import kd
from kd import data as kdata
from kd.runner import split


def test_mnist_and_cifar_as_uint8_tensors(mnist):
    assert mnist.images.dtype == torch.uint8 and mnist.images.shape == (60000, 1, 28, 28)
    assert mnist.labels.dtype == torch.int64 and mnist.labels.bincount().tolist()[1] == 6742
    test = kd.load("cifar10", "test")
    assert test.images.shape == (10000, 3, 32, 32) and test.num_classes == 10
    assert test.source in ("cifar10", "cifar10-jpeg75") and test.source == kd.source_of("cifar10")
    assert test.labels.bincount().tolist() == [1000] * 10


def test_synthetic_cifar100_has_cifar100_shape():
    train = kd.load("cifar100-synthetic", "train")
    assert train.images.shape[1:] == (3, 32, 32) and train.images.dtype == torch.uint8
    assert train.num_classes == 100 and set(train.labels.tolist()) == set(range(100))


def test_missing_dataset_names_it_and_both_ways(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_DATA", str(tmp_path))
    kdata._load_cached.cache_clear()
    try:
        with pytest.raises(kd.DatasetMissing) as err:
            kd.load("cifar100", "train")
    finally:
        kdata._load_cached.cache_clear()
    message = str(err.value)
    assert "cifar100" in message and "make data" in message
    assert "python -m kd data --download cifar100" in message


def test_first_per_class_keeps_dataset_order():
    labels = torch.tensor([2, 0, 1, 0, 2, 1, 0, 2])
    assert kdata.first_per_class(labels, 2, 3).tolist() == [0, 1, 2, 3, 4, 5]
    assert kdata.first_per_class(labels, 1, 3).tolist() == [0, 1, 2]


def test_without_classes():
    labels = torch.tensor([0, 1, 2, 1, 3])
    assert kdata.without_classes(labels, (1,)).tolist() == [0, 2, 4]
    assert kdata.without_classes(labels, (1, 3)).tolist() == [0, 2]


@pytest.mark.parametrize("gamma", [0.2, 0.6, 1.0, 2.0])
def test_power_law_counts_span_5000_to_250(gamma):
    counts = kdata.power_law_counts(10, gamma)
    assert counts[0] == 5000 and counts[-1] == 250
    assert all(a >= b for a, b in zip(counts, counts[1:]))


def test_power_law_keeps_more_data_as_gamma_grows():
    totals = [sum(kdata.power_law_counts(10, g)) for g in (0.2, 0.6, 1.0, 2.0)]
    assert totals == sorted(totals) and totals[0] < totals[-1]


def test_uniform_label_noise_rate():
    labels = torch.arange(10).repeat(5000)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(kdata.uniform_label_noise(labels, 0.0, 10, g), labels)
    noisy = kdata.uniform_label_noise(labels, 0.6, 10, torch.Generator().manual_seed(0))
    changed = (noisy != labels).float().mean().item()
    assert changed == pytest.approx(0.6 * 0.9, abs=0.01)    # a uniform draw keeps 1 in 10


def test_split_applies_transforms_in_order(mnist):
    train, held = split(kd.DataConfig("mnist", holdout=1000, per_class=100, leave_out=(3,)))
    assert len(held) == 1000 and len(train) == 900
    assert 3 not in train.labels.tolist()
    noisy, _ = split(kd.DataConfig("mnist", per_class=100, label_noise=0.5, seed=1))
    clean, _ = split(kd.DataConfig("mnist", per_class=100))
    assert torch.equal(noisy.images, clean.images) and not torch.equal(noisy.labels, clean.labels)
    imbalanced, _ = split(kd.DataConfig("cifar10", imbalance_gamma=1.0))
    assert imbalanced.labels.bincount().tolist() == kdata.power_law_counts(10, 1.0)


def test_crop_flip_gives_crops_of_the_reflect_padded_image():
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).view(2, 3, 6, 6)
    out = kdata.crop_flip(x, 2, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    for i in range(2):
        crops = [padded[i, :, dy:dy + 6, dx:dx + 6] for dy in range(5) for dx in range(5)]
        crops += [c.flip(-1) for c in crops]
        assert any(torch.equal(out[i], c) for c in crops)


def test_jitter_shifts_by_at_most_two_pixels_with_zero_fill_and_no_flip():
    x = torch.zeros(200, 1, 8, 8)
    x[:, 0, 3, 5] = 1.0                       # one lit pixel at row 3, column 5
    out = kdata.crop_flip(x, 2, torch.Generator().manual_seed(0), flip=False, mode="constant")
    rows, cols = torch.nonzero(out[:, 0] == 1.0, as_tuple=True)[1:]
    assert out.sum().item() == 200             # zero fill: nothing else lights up
    assert set(rows.tolist()) == {1, 2, 3, 4, 5} and set(cols.tolist()) == {3, 4, 5, 6, 7}


def test_unknown_augmentation_is_refused():
    with pytest.raises(ValueError, match="augment"):
        kd.DataConfig("mnist", augment="rotate")


def test_crop_flip_varies_across_the_batch():
    x = torch.rand(64, 3, 8, 8)
    out = kdata.crop_flip(x, 4, torch.Generator().manual_seed(0))
    assert sum(not torch.equal(out[i], x[i]) for i in range(64)) > 50


def test_device_loader_epochs_are_seeded_permutations(mnist):
    data = mnist.subset(torch.arange(1000))
    loader = kd.DeviceLoader(data, 128, shuffle=True, seed=5)
    assert len(loader) == 8
    first = torch.cat([b.index for b in loader.epoch(0)])
    assert sorted(first.tolist()) == list(range(1000))
    again = torch.cat([b.index for b in kd.DeviceLoader(data, 128, shuffle=True, seed=5).epoch(0)])
    assert torch.equal(first, again)
    assert not torch.equal(first, torch.cat([b.index for b in loader.epoch(1)]))
    batch = next(iter(loader.epoch(0)))
    assert torch.equal(batch.labels, data.labels[batch.index])
    expected = (data.images[batch.index].float() / 255 - 0.1307) / 0.3081
    torch.testing.assert_close(batch.images, expected)


def test_device_loader_colour_batches_are_channels_last():
    data = kd.load("cifar100-synthetic", "train")
    batch = next(iter(kd.DeviceLoader(data, 32, augment="crop_flip").epoch(0)))
    assert batch.images.is_contiguous(memory_format=torch.channels_last)
    assert batch.images.shape == (32, 3, 32, 32)


def test_unaugmented_loader_normalises_once_to_the_values_prepare_gives(monkeypatch):
    data = kd.load("cifar100-synthetic", "train").subset(torch.arange(300))
    loader = kd.DeviceLoader(data, 64, shuffle=True, seed=1)
    ready = loader.normalised()
    assert ready is loader.normalised() and ready.shape == (300, 3, 32, 32)
    for batch in loader.epoch(0):        # bit for bit, and still channels_last
        assert torch.equal(batch.images, loader.prepare(data.images[batch.index]))
        assert batch.images.is_contiguous(memory_format=torch.channels_last)
    # augmented batches differ every epoch: nothing is precomputed for them
    assert kd.DeviceLoader(data, 64, augment="crop_flip").normalised() is None
    # nor for a set whose float copy would pass the memory bound
    monkeypatch.setattr(kdata, "PRENORMALISED_BYTES", 300 * 3 * 32 * 32 * 4 - 1)
    big = kd.DeviceLoader(data, 64)
    assert big.normalised() is None
    assert torch.equal(next(iter(big.epoch(0))).images, next(iter(kd.DeviceLoader(data, 64).epoch(0))).images)
