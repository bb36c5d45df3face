"""Ojha et al.'s three MNIST domains (kd.domains) and the runs of notebook 54 (kd.ojha):
the builders are deterministic, keep pixels in range, compose as stated, and load through
kd's uint8 path; a teacher of the union distils into one domain."""
import numpy as np
import pytest
import torch

import kd
from kd import domains
from kd.studies import ojha


@pytest.fixture(scope="module")
def mnist_test():
    return kd.load("mnist", "test")


def test_hash_is_a_function_of_the_index_alone():
    """Image i's colour and patch do not depend on how many images are built."""
    np.testing.assert_array_equal(domains.background_colours(10, "train"),
                                  domains.background_colours(1000, "train")[:10])
    short, long = domains.patch_choice(10, 50_000, "test"), domains.patch_choice(500, 50_000, "test")
    for a, b in zip(short, long):
        np.testing.assert_array_equal(a, b[:10])
    assert not np.array_equal(domains.background_colours(100, "train"),
                              domains.background_colours(100, "test"))


def test_colours_and_patches_cover_their_ranges():
    c = domains.background_colours(20_000, "train")
    assert c.dtype == np.uint8 and c.min() == 0 and c.max() == 255
    assert abs(c.astype(float).mean() - 127.5) < 2          # uniform over the RGB cube
    which, dy, dx = domains.patch_choice(20_000, 50_000, "train")
    assert which.min() >= 0 and which.max() < 50_000 and len(np.unique(which)) > 15_000
    assert set(np.unique(dy)) == set(np.unique(dx)) == {0, 1, 2, 3, 4}


def test_mnist_m_is_the_absolute_difference_of_patch_and_binarised_digit():
    """A hand-made 2x2 example: digit pixels 0, 1, 128, 255 binarise to 0, 255, 255, 255."""
    digit = np.array([[[0, 1], [128, 255]]], np.uint8)
    patch = np.array([[[[10, 20], [200, 255]], [[0, 0], [0, 0]], [[255, 255], [255, 255]]]], np.uint8)
    out = domains.difference_blend(digit, patch)
    expected = np.array([[[10, 235], [55, 0]], [[0, 255], [255, 255]], [[255, 0], [0, 0]]], np.uint8)
    np.testing.assert_array_equal(out[0], expected)
    assert out.dtype == np.uint8


def test_crop_patches_takes_the_chosen_image_and_offset():
    backgrounds = np.random.default_rng(0).integers(0, 256, (5, 3, 32, 32), dtype=np.uint8)
    out = domains.crop_patches(backgrounds, np.array([3, 1]), np.array([4, 0]), np.array([2, 1]))
    np.testing.assert_array_equal(out[0], backgrounds[3, :, 4:32, 2:30])
    np.testing.assert_array_equal(out[1], backgrounds[1, :, 0:28, 1:29])


def test_colour_background_keeps_a_white_digit_on_the_colour():
    digit = np.array([[[0, 255], [51, 204]]], np.uint8)
    out = domains.colour_background(digit, np.array([[200, 0, 100]], np.uint8))
    for ch, c in enumerate((200, 0, 100)):
        x = digit[0].astype(float)
        np.testing.assert_array_equal(out[0, ch], np.rint(x + (1 - x / 255) * c))
    assert out[0, :, 0, 0].tolist() == [200, 0, 100] and out[0, :, 0, 1].tolist() == [255] * 3


def test_composition_stays_in_range_for_every_grey_level_and_colour():
    """Every grey level x against every colour or patch value c (65,536 pairs): MNIST-Color's
    pixel is round(x + (1 - x/255) c), MNIST-M's |c - 255 [x > 0]|, both within 0..255 without
    wrapping (a uint8 overflow would show as a small value where 255 is due)."""
    x, c = (a.ravel() for a in np.meshgrid(np.arange(256), np.arange(256), indexing="ij"))
    digits = x.astype(np.uint8).reshape(-1, 1, 1, 1)
    colour = domains.colour_background(digits, np.repeat(c.astype(np.uint8)[:, None], 3, 1))
    want = np.rint(x + (1 - x / 255) * c)
    assert want.min() == 0 and want.max() == 255
    for ch in range(3):
        np.testing.assert_array_equal(colour[:, ch, 0, 0], want)
    patches = np.repeat(c.astype(np.uint8).reshape(-1, 1, 1, 1), 3, 1)
    m = domains.difference_blend(digits, patches)
    np.testing.assert_array_equal(m[:, 1, 0, 0], np.abs(c - np.where(x > 0, 255, 0)))
    assert m.dtype == colour.dtype == np.uint8


def test_the_domains_are_a_function_of_their_seed():
    """Another DOMAIN_SEED draws other colours and patches; the same seed the same ones."""
    for seed in (0, 1):
        np.testing.assert_array_equal(domains.background_colours(50, "test", seed),
                                      domains.background_colours(50, "test", seed))
    one, other = (domains.background_colours(50, "test", seed) for seed in (0, 1))
    assert (one != other).any(1).all()
    assert (domains.patch_choice(50, 50_000, "test", seed=0)[0]
            != domains.patch_choice(50, 50_000, "test", seed=1)[0]).mean() > 0.9


def test_domains_load_as_uint8_with_mnist_split_labels_and_range(mnist_test):
    for name in domains.DOMAINS:
        d = kd.load(name, "test")
        assert d.images.dtype == torch.uint8 and d.images.shape == (10_000, 3, 28, 28)
        assert torch.equal(d.labels, mnist_test.labels)
        assert d.num_classes == 10 and d.mean == (0.1307,) * 3
    orig = kd.load("mnist-orig", "test").images
    assert torch.equal(orig, mnist_test.images.repeat(1, 3, 1, 1))
    color = kd.load("mnist-color", "test").images
    white = mnist_test.images[:, 0] == 255
    assert (color.permute(1, 0, 2, 3)[:, white] == 255).all()          # the digit stays white
    colours = torch.from_numpy(domains.background_colours(10_000, "test"))
    bg = mnist_test.images[:, 0] == 0
    assert torch.equal(color.permute(0, 2, 3, 1)[bg], colours[:, None, None, :].expand(-1, 28, 28, -1)[bg])
    union = kd.load("mnist-3domains", "test")
    assert len(union) == 30_000
    for k, name in enumerate(domains.DOMAINS):             # interleaved: image 3i + k of domain k
        assert torch.equal(union.images[k::3], kd.load(name, "test").images)
        assert torch.equal(union.labels[k::3], mnist_test.labels)
    assert kd.source_of("mnist-m") == f"mnist-m+{kd.data.cifar10_source()}"


def test_mnist_m_test_images_are_built_from_cifar_training_crops(mnist_test):
    cifar = kd.load("cifar10", "train").images.numpy()
    which, dy, dx = domains.patch_choice(10_000, len(cifar), "test")
    built = kd.load("mnist-m", "test").images.numpy()
    for i in (0, 17, 9_999):
        patch = cifar[which[i], :, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28].astype(int)
        digit = np.where(mnist_test.images[i, 0].numpy() > 0, 255, 0)
        np.testing.assert_array_equal(built[i], np.abs(patch - digit[None]))


def test_building_twice_gives_the_same_pixels():
    a, _ = domains.build("mnist-m", "test")
    b, _ = domains.build("mnist-m", "test")
    np.testing.assert_array_equal(a, b)
    c, _ = domains.build("mnist-color", "test")
    np.testing.assert_array_equal(c, kd.load("mnist-color", "test").images.numpy())


def test_a_teacher_of_the_union_teaches_on_one_domain_only():
    student = ojha.student("KL", "smoke")
    assert student.teacher.data.name == "mnist-3domains" and student.data.name == "mnist-orig"
    assert student.data.augmentation == "none" and student.teacher.data.augmentation == "none"
    with pytest.raises(ValueError, match="differs"):
        student.with_(teacher=student.teacher.with_(data=kd.DataConfig("mnist")))
    with pytest.raises(ValueError, match="differs"):     # the parts do not teach the union
        ojha.teacher("smoke").with_(method=kd.MethodConfig("hinton"), teacher=student.with_(
            method=kd.MethodConfig("ce"), teacher=None))


def test_ojha_schedule_ends_at_the_papers_last_rate():
    from kd.train import lr_factor
    for epochs in (14, 6, 3):
        cfg = ojha.schedule(epochs)
        assert cfg.optimizer == "adadelta" and cfg.lr == 1.0 and cfg.batch_size == 64
        last = lr_factor(cfg, (epochs - 1) * 10, 10)
        assert last == pytest.approx(0.7 ** 13)
    assert ojha.schedule(14).gamma == 0.7


def test_the_cpu_length_rule():
    seconds = {"teacher": 58.7, "Ind": 20.2, "KL": 20.1, "Hint": 32.9, "CRD": 26.1}
    assert ojha.plan_seconds(seconds, 6, 3) == pytest.approx(6 * (58.7 + 3 * 99.3))
    assert ojha.choose_epochs(seconds) == ojha.CPU_EPOCHS == 4
    assert ojha.choose_epochs({k: 10 * v for k, v in seconds.items()}) == min(ojha.CANDIDATE_EPOCHS)


def test_similarity_to_teacher_averages_the_planes_per_seed():
    t = torch.zeros(2, 3, 3, dtype=torch.uint8)
    a = t.clone(); a[0, 0, 0] = 1                        # 1 of 9 points differs on plane 0
    b = t.clone(); b[1] = 1                              # all of plane 1 differs
    out = ojha.similarity_to_teacher({"mnist-orig": {"Teacher": t, "KL 0": a, "KL 1": b}},
                                     {"KL": ["KL 0", "KL 1"]})
    assert out["KL"]["mnist-orig"] == pytest.approx([(8 / 9 + 1) / 2, 0.5])


def test_domain_accuracies_per_run_and_domain():
    class Fake:
        def __init__(self, cls):
            self.cls = cls

        def predict(self, loader):
            return torch.nn.functional.one_hot(torch.full((len(loader.labels),), self.cls), 10).float()
    data = kd.load("mnist-orig", "test").subset(torch.arange(100))
    loader = kd.DeviceLoader(data, 50)
    share = (data.labels == 1).float().mean().item() * 100
    out = ojha.domain_accuracies({"A": [Fake(1), Fake(2)]}, {"mnist-orig": loader})
    assert out["A"]["mnist-orig"] == pytest.approx([share, (data.labels == 2).float().mean().item() * 100])


def test_judge_parts_combines_the_parts_and_lists_crd_apart():
    """Each method is a part, its domains combined; the se is floored by Ind's measured noise on
    each domain (a large floor makes a clear gain inconclusive); CRD is listed apart."""
    from kd.verdicts import Noise
    report = kd.Report("54_test", "smoke", "test")
    table = {"Ind": {"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0]},
             "KL": {"a": [2.0, 3.1, 3.9], "b": [0.0, 0.9, 2.1]},          # ahead on a, behind on b
             "CRD": {"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0]}}
    quiet = {d: Noise.of([1.0, 1.01, 0.99], f"Ind on {d}") for d in "ab"}
    report.row("O5", "head", [1.0])
    entry = ojha.judge_parts(report, "O5", "claim", table, ("KL",), ("a",), quiet, "points")
    assert entry["verdict"] == "held" and "CRD vs Ind (not a part)" in entry["evidence"]
    assert "df" in entry["evidence"]
    entry = ojha.judge_parts(report, "O5", "claim", table, ("KL",), ("a", "b"), quiet, "points")
    assert entry["verdict"] == "partly" and "KL vs Ind on b: did not hold" in entry["evidence"]
    loud = {d: Noise.of([1.0, 5.0, 9.0], f"Ind on {d}") for d in "ab"}     # std 4: the floor swamps +0.97
    entry = ojha.judge_parts(report, "O5", "claim", table, ("KL",), ("a",), loud, "points")
    assert entry["verdict"] == "inconclusive"


def _domain_of(image: torch.Tensor) -> int:
    """Read from the pixels, not the position: an image whose corner colour fills most of it
    has a plain background, black for MNIST-Orig (0), a colour for MNIST-Color (1); the rest
    are MNIST-M (2), whose CIFAR patches may be grey."""
    corner = image[:, :1, :1]
    if (image == corner).all(0).float().mean() <= 0.5:
        return 2
    return 0 if (corner == 0).all() else 1


def test_a_small_subset_of_the_union_holds_all_three_domains():
    """The smoke teacher's 20 images a class and its 10 test images a class (kd.split and
    kd.runner's first_per_class: the first of each class in the union's order) hold all three
    domains, 7/7/6 and 4/3/3 of every class (stacked domain after domain, all MNIST-Orig)."""
    subset, _ = kd.split(ojha.teacher("smoke").data)
    test = kd.runner.evaluation_split(ojha.teacher("smoke").data)
    for data, counts in ((subset, [6, 7, 7]), (test, [3, 3, 4])):
        for c in range(10):
            found = [_domain_of(image) for image in data.images[data.labels == c]]
            assert sorted(found.count(k) for k in range(3)) == counts
