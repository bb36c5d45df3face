"""Per-image colour jitter on the device (kd.data.colour_jitter, augmentation "crop_flip_colour"):
torchvision's ColorJitter(0.4, 0.4, 0.4, 0.2) drawn for every image, reproducible from a seed,
pixels kept in range (Ojha et al. 2023 sec. 4.3's colour-invariant teacher)."""
import pytest
import torch
import torchvision.transforms.functional as TF

import kd
from kd.data import colour_jitter, colour_jitter_float, colour_jitter_params

OPS = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)


def batch(n: int = 64, seed: int = 0) -> torch.Tensor:
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    x[:2] = x[:2, :1]                                   # two grey images (no hue, no saturation)
    return x


def test_each_image_is_torchvisions_colorjitter_with_its_own_draw():
    """Image i equals torchvision's four adjust_* functions applied to it in its own order
    with its own factors (float input, to float rounding): the batched form changes nothing."""
    x = batch().float() / 255
    factors, order = colour_jitter_params(len(x), torch.Generator().manual_seed(3))
    out = colour_jitter_float(x, factors, order)
    for i in range(len(x)):
        img = x[i]
        for op in order[i].tolist():
            img = OPS[op](img, float(factors[i, op]))
        torch.testing.assert_close(out[i], img, rtol=0, atol=1e-5)


def test_draws_follow_colorjitter_ranges_and_differ_across_the_batch():
    factors, order = colour_jitter_params(1000, torch.Generator().manual_seed(0))
    assert ((factors[:, :3] >= 0.6) & (factors[:, :3] <= 1.4)).all()
    assert ((factors[:, 3] >= -0.2) & (factors[:, 3] <= 0.2)).all()
    assert factors[:, :3].min() < 0.62 and factors[:, :3].max() > 1.38 and factors[:, 3].abs().max() > 0.19
    assert (order.sort(1).values == torch.arange(4)).all()               # a permutation per image
    assert len({tuple(o) for o in order.tolist()}) == 24                 # every order occurs
    assert len(torch.unique(factors[:, 0])) == 1000
    same = batch(8)[:1].expand(8, -1, -1, -1).contiguous()               # 8 copies of one image
    out = colour_jitter(same, torch.Generator().manual_seed(0))
    assert len({o.numpy().tobytes() for o in out}) == 8                  # 8 different results


def test_reproducible_from_the_seed_and_in_range():
    x = batch()
    a = colour_jitter(x, torch.Generator().manual_seed(5))
    b = colour_jitter(x, torch.Generator().manual_seed(5))
    c = colour_jitter(x, torch.Generator().manual_seed(6))
    assert a.dtype == torch.uint8 and a.shape == x.shape
    assert torch.equal(a, b) and not torch.equal(a, c)
    # strength 0 everywhere: the identity (the hue step of a zero shift included)
    assert torch.equal(colour_jitter(x, torch.Generator(), 0.0, 0.0, 0.0, 0.0), x)
    # brightness 1.4 on white saturates at 255, never wraps
    white = torch.full((4, 3, 8, 8), 255, dtype=torch.uint8)
    assert colour_jitter(white, torch.Generator().manual_seed(0), 0.4, 0.0, 0.0, 0.0).max() == 255
    with pytest.raises(ValueError, match="hue"):
        colour_jitter(x, torch.Generator(), hue=0.6)
    with pytest.raises(ValueError, match="uint8"):
        colour_jitter(x.float(), torch.Generator())


def test_the_loader_jitters_after_crop_and_flip_reproducibly():
    """"crop_flip_colour" draws crop, flip and colour from the epoch's generator: the same epoch
    twice gives the same batches; the crops and flips are those of "crop_flip" (drawn first),
    so un-jittering is not possible but un-normalising lands on uint8 values in range."""
    data = kd.load("cifar10", "test").subset(torch.arange(64))
    jit = kd.DeviceLoader(data, 32, shuffle=True, augment="crop_flip_colour", seed=1)
    plain = kd.DeviceLoader(data, 32, shuffle=True, augment="crop_flip", seed=1)
    a, b = [list(jit.epoch(2)) for _ in range(2)]
    assert all(torch.equal(p.images, q.images) for p, q in zip(a, b))
    p = list(plain.epoch(2))
    assert all(torch.equal(u.index, v.index) for u, v in zip(a, p))      # the same order
    assert not torch.equal(a[0].images, p[0].images)
    pixels = (a[0].images - jit.shift) / jit.scale                        # back to 0..255
    assert pixels.min() > -1e-3 and pixels.max() < 255 + 1e-3
    torch.testing.assert_close(pixels, pixels.round(), rtol=0, atol=2e-3)
    assert jit.random


def test_colour_jitter_is_a_cifar_augmentation_only():
    assert kd.DataConfig("cifar10", augment="crop_flip_colour").augmentation == "crop_flip_colour"
    with pytest.raises(ValueError, match="allowed: none, jitter"):
        kd.DataConfig("mnist", augment="crop_flip_colour")
    with pytest.raises(ValueError, match="crop_flip mirrors images"):
        kd.DataConfig("mnist-color", augment="crop_flip_colour")
