"""The CIFAR test-set domains of Ojha et al. 2023 sec. 4.4 (kd.cifar_domains): each builder is
deterministic, keeps the test set's shape and range, and does what its docstring says."""
import pytest
import torch

import kd
from kd import cifar_domains as cd


@pytest.fixture(scope="module")
def test_set() -> kd.Dataset:
    return kd.load("cifar10", "test").subset(torch.arange(300))


@pytest.mark.parametrize("name", cd.DOMAINS)
def test_every_domain_is_deterministic_in_range_and_shaped_like_the_test_set(name, test_set):
    a, b = cd.build(name, test_set), cd.build(name, test_set)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, test_set.labels)
    assert a.images.dtype == torch.uint8 and a.images.shape == test_set.images.shape
    assert (a.mean, a.std) == (test_set.mean, test_set.std)
    assert not torch.equal(a.images, test_set.images)


def test_greyscale_is_the_luma_on_three_channels(test_set):
    g = cd.greyscale(test_set.images)
    assert torch.equal(g[:, 0], g[:, 1]) and torch.equal(g[:, 1], g[:, 2])
    x = test_set.images[0].double()
    luma = (0.2989 * x[0] + 0.587 * x[1] + 0.114 * x[2]).round()
    assert torch.equal(g[0, 0].double(), luma)


def test_edges_and_silhouettes_are_black_on_white(test_set):
    for build in (cd.edges, cd.silhouette):
        x = build(test_set.images)
        assert set(torch.unique(x).tolist()) == {0, 255} and torch.equal(x[:, 0], x[:, 2])
    e = cd.edges(test_set.images)
    assert 0.02 < (e == 0).float().mean() < 0.5          # thin lines, mostly white
    flat = torch.full((2, 3, 32, 32), 90, dtype=torch.uint8)
    assert (cd.edges(flat) == 255).all()                    # no gradient, no edge
    # a dark square in the middle of a light frame: the square is the object, black on white
    square = torch.full((1, 3, 32, 32), 200, dtype=torch.uint8)
    square[..., 8:24, 8:24] = 30
    s = cd.silhouette(square)
    assert (s[..., 8:24, 8:24] == 0).all() and s[..., :8, :].eq(255).all()
    assert torch.equal(cd.silhouette(255 - square), s)      # the same for a light square on dark


def test_amplitude_swap_keeps_the_phase_and_takes_the_partners_amplitude(test_set):
    partners = cd.partners(test_set.labels, seed=0)
    assert (test_set.labels[partners] != test_set.labels).all()
    assert torch.equal(partners, cd.partners(test_set.labels, seed=0))
    assert not torch.equal(partners, cd.partners(test_set.labels, seed=1))
    x = test_set.images.double()
    # each image its own partner: the image back
    torch.testing.assert_close(cd.swap_amplitude(x, torch.arange(len(x))), x, rtol=0, atol=1e-9)
    swapped = cd.swap_amplitude(x, partners)
    f_out, f_in = torch.fft.fft2(swapped), torch.fft.fft2(x)
    torch.testing.assert_close(f_out.abs(), f_in[partners].abs(), rtol=1e-9, atol=1e-6)
    strong = (f_in.abs() > 1e-3) & (f_in[partners].abs() > 1e-3)
    phase = torch.remainder(f_out.angle() - f_in.angle() + torch.pi, 2 * torch.pi) - torch.pi
    assert phase[strong].abs().max() < 1e-6
    out = cd.amplitude_swap(test_set.images, test_set.labels, seed=0)
    assert torch.equal(out, swapped.round().clamp(0, 255).to(torch.uint8))
    with pytest.raises(ValueError, match="two classes"):
        cd.partners(torch.zeros(5, dtype=torch.long))


def test_an_unknown_domain_or_input_is_refused(test_set):
    with pytest.raises(ValueError, match="allowed: greyscale"):
        cd.build("sketch", test_set)
    with pytest.raises(ValueError, match="uint8"):
        cd.greyscale(test_set.images.float())
