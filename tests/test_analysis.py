import numpy as np
import pytest
import torch

from kd.analysis import split_accuracy, teacher_matched_bias


def test_split_accuracy_on_the_other_classes_and_the_omitted_one():
    labels = torch.tensor([0, 1, 1, 2, 2, 2])
    logits = torch.nn.functional.one_hot(torch.tensor([0, 1, 0, 2, 2, 1]), 3).float()
    rest, omitted = split_accuracy(logits, labels, omitted=2)
    assert rest == pytest.approx(200 / 3) and omitted == pytest.approx(200 / 3)
    assert np.isnan(split_accuracy(logits, labels, omitted=5)[1])


def test_the_bias_raise_that_matches_the_teacher():
    # class 1 needs a raise of more than 2 to win on the first two images, and at most 3
    # to keep losing on the third
    student = torch.tensor([[3.0, 1.0, 0.0], [2.5, 0.4, 0.0], [5.0, 1.5, 0.0]])
    teacher = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert teacher_matched_bias(student, teacher, 1) == 2.25
    assert teacher_matched_bias(student, teacher, 1, grid=[0.0, 1.0, 5.0]) == 5.0   # 2 of 3 agree
    assert teacher_matched_bias(student, teacher, 1, grid=[0.0, 1.0]) == 0.0        # ties: the first


# ---------------------------------------------------------- decision-boundary similarity (O6)

from kd.analysis import (boundary_similarity, plane_grid, plane_points, plane_predictions,  # noqa: E402
                         sample_triplets, triplet_plane)


def _triplet(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(3, 8, 8, generator=g) for _ in range(3)]


def test_the_plane_passes_through_its_three_images():
    x1, x2, x3 = _triplet()
    plane = triplet_plane(x1, x2, x3)
    assert plane.a.flatten().norm().item() == pytest.approx(1.0, abs=1e-5)
    assert plane.b.flatten().norm().item() == pytest.approx(1.0, abs=1e-5)
    assert (plane.a.flatten() @ plane.b.flatten()).item() == pytest.approx(0.0, abs=1e-5)
    back = plane_points(plane, plane.coords[:, 0], plane.coords[:, 1])
    for got, want in zip(back, (x1, x2, x3)):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_the_grid_covers_the_triplet_extended_by_ten_percent():
    plane = triplet_plane(*_triplet(1))
    u, v = plane_grid(plane, 50)
    assert u.shape == v.shape == (50, 50)
    lo, hi = plane.coords.min(0).values, plane.coords.max(0).values
    span = hi - lo
    assert u[0, 0].item() == pytest.approx((lo[0] - 0.1 * span[0]).item(), abs=1e-5)
    assert u[-1, 0].item() == pytest.approx((hi[0] + 0.1 * span[0]).item(), abs=1e-5)
    assert v[0, 0].item() == pytest.approx((lo[1] - 0.1 * span[1]).item(), abs=1e-5)
    assert v[0, -1].item() == pytest.approx((hi[1] + 0.1 * span[1]).item(), abs=1e-5)
    assert (u[:, 0] == u[:, 7]).all() and (v[0] == v[9]).all()        # u along the first axis


def test_triplets_are_three_classes_and_seeded():
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 3, 3])
    t = sample_triplets(labels, 20, seed=3)
    assert t.shape == (20, 3)
    assert all(len(set(labels[row].tolist())) == 3 for row in t)
    assert torch.equal(t, sample_triplets(labels, 20, seed=3))
    assert not torch.equal(t, sample_triplets(labels, 20, seed=4))


def _net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 32), torch.nn.ReLU(),
                               torch.nn.Linear(32, 10))


def test_a_network_agrees_with_itself_and_less_with_permuted_classes():
    images = torch.randn(30, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    labels = torch.arange(30) % 10
    triplets = sample_triplets(labels, 4)
    net = _net()
    permuted = _net()
    with torch.no_grad():                      # the last layer's rows (classes) in another order
        order = torch.roll(torch.arange(10), 1)
        permuted[3].weight.copy_(net[3].weight[order])
        permuted[3].bias.copy_(net[3].bias[order])
    preds = plane_predictions({"net": net, "twin": net, "permuted": permuted}, images, triplets,
                              resolution=20)
    assert preds["net"].shape == (4, 20, 20) and preds["net"].dtype == torch.uint8
    assert torch.equal(boundary_similarity(preds["net"], preds["twin"]), torch.ones(4))
    assert boundary_similarity(preds["net"], preds["permuted"]).mean() < 0.5
    # what plane_predictions reads at the triplet's own coordinates is the network on the images
    plane = triplet_plane(*images[triplets[0]])
    u, v = plane_grid(plane, 20)
    flat = plane_points(plane, u, v)
    torch.testing.assert_close(net(flat).argmax(1).view(20, 20).to(torch.uint8), preds["net"][0])
    with pytest.raises(ValueError, match="differ"):
        boundary_similarity(preds["net"], preds["net"][:2])


def test_the_grid_points_at_the_triplets_coordinates_are_its_images():
    """Coordinates (0, 0), (2, 0), (1, 3) and a 13-point grid with 10% margins: the grid's step
    is a tenth of each span, so the three images fall on nodes (1, 1), (11, 1), (6, 11), and the
    points made there are the images themselves (up to float rounding)."""
    g = torch.Generator().manual_seed(7)
    q, _ = torch.linalg.qr(torch.randn(3 * 8 * 8, 2, generator=g, dtype=torch.float64))
    e1, e2 = (q[:, k].float().view(3, 8, 8) for k in range(2))
    x1 = torch.randn(3, 8, 8, generator=g)
    x2, x3 = x1 + 2 * e1, x1 + 1 * e1 + 3 * e2
    plane = triplet_plane(x1, x2, x3)
    torch.testing.assert_close(plane.coords, torch.tensor([[0.0, 0.0], [2.0, 0.0], [1.0, 3.0]]),
                               rtol=0, atol=1e-5)
    u, v = plane_grid(plane, 13)
    grid = plane_points(plane, u, v).view(13, 13, 3, 8, 8)
    for (i, j), coords, x in zip([(1, 1), (11, 1), (6, 11)], plane.coords.tolist(), (x1, x2, x3)):
        assert [u[i, j].item(), v[i, j].item()] == pytest.approx(coords, abs=1e-5)
        torch.testing.assert_close(grid[i, j], x, rtol=0, atol=1e-5)
    assert (grid[0, 0] - x1).flatten().norm().item() == pytest.approx((0.2 ** 2 + 0.3 ** 2) ** 0.5, abs=1e-5)


def test_swapping_two_classes_rows_costs_exactly_their_share_of_the_plane():
    """A copy whose last layer has the rows of classes a and b swapped predicts b where the
    network predicts a and vice versa, and agrees everywhere else: its similarity is 1 minus
    the share of grid points the network gives to a or b (strictly less than 1)."""
    images = torch.randn(30, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    triplets = sample_triplets(torch.arange(30) % 10, 6, seed=1)
    net = _net(3)
    preds = plane_predictions({"net": net}, images, triplets, resolution=15)["net"]
    a, b = torch.bincount(preds.flatten().long(), minlength=10).topk(2).indices.tolist()
    swapped = _net(3)
    with torch.no_grad():
        order = torch.arange(10)
        order[a], order[b] = b, a
        swapped[3].weight.copy_(net[3].weight[order])
        swapped[3].bias.copy_(net[3].bias[order])
    other = plane_predictions({"swapped": swapped}, images, triplets, resolution=15)["swapped"]
    expected = 1 - ((preds == a) | (preds == b)).flatten(1).float().mean(1)
    torch.testing.assert_close(boundary_similarity(preds, other), expected)
    assert expected.mean() < 1 and expected.min() >= 0
    relabelled = preds.clone()
    relabelled[preds == a], relabelled[preds == b] = b, a
    assert torch.equal(other, relabelled)
