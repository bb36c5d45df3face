"""Sarfraz et al. §IV-B to IV-D (notebooks 21, 22, 23): the label noise and the imbalance the
runs train on, the plans and their budget rule, the verdict helpers, and the transferability
count of kd.transfer."""
import copy
import dataclasses
import math

import pytest
import torch
from torch import nn

import kd
from kd import data as kdata
from kd import transfer as tr
from kd.runner import split
from kd.studies import published
from kd.studies import sarfraz as study


# ------------------------------------------------------------------ label noise (S2)
def test_uniform_label_noise_is_symmetric_at_the_stated_rate():
    """Hendrycks et al.'s "unif" corruption, C = sigma U + (1 - sigma) I: a label is redrawn
    from all classes with probability sigma, so it is wrong with probability 0.9 sigma, and a
    wrong label lands on each of the other 9 classes equally often."""
    sigma, per_class = 0.4, 20_000
    labels = torch.arange(10).repeat_interleave(per_class)
    noisy = kdata.uniform_label_noise(labels, sigma, 10, torch.Generator().manual_seed(0))
    matrix = torch.zeros(10, 10)
    matrix.index_put_((labels, noisy), torch.ones(len(labels)), accumulate=True)
    matrix /= per_class
    assert (noisy != labels).float().mean().item() == pytest.approx(0.9 * sigma, abs=0.005)
    assert torch.allclose(matrix.diagonal(), torch.full((10,), 1 - sigma + sigma / 10), atol=0.01)
    off = matrix[~torch.eye(10, dtype=torch.bool)]
    assert torch.allclose(off, torch.full_like(off, sigma / 10), atol=0.006)


def test_the_corrupted_labels_are_a_function_of_the_noise_seed_alone():
    """Every arm, training seed and the teacher of a noise rate train on the same corrupted
    labels (DataConfig.seed, the noise seed, is NOISE_SEED for all); another noise seed draws
    other labels."""
    jobs = [j.config for j in kd.studies.plan("21", "smoke", noise_runs=True)]
    for sigma, data in study.datas_21("smoke").items():
        level = [c for c in jobs if c.data.label_noise == sigma]
        configs = level + [c.teacher for c in level if c.teacher] + [c.init for c in level if c.init]
        assert {c.data for c in configs} == {data} and len(level) > 5
        assert {c.seed for c in level} >= {0, 1}
        assert all(c.teacher == study.level_teacher("smoke", data) for c in level if c.teacher)
    base = study.noisy_data("smoke", 0.6)
    labels = split(base)[0].labels
    assert torch.equal(split(study.robust_arm("hinton", "smoke", 1, base).data)[0].labels, labels)
    assert torch.equal(split(study.robust_arm("one", "smoke", 0, base).data)[0].labels, labels)
    assert not torch.equal(split(dataclasses.replace(base, seed=1))[0].labels, labels)
    clean = split(kd.recipes.data("smoke"))[0]
    assert torch.equal(split(base)[0].images, clean.images)
    assert (labels != clean.labels).float().mean().item() == pytest.approx(0.54, abs=0.08)


def test_the_clean_arm_is_notebook_20s_run_and_the_noisy_one_changes_only_the_data():
    clean = kd.recipes.data("cpu")
    for method in ("ce", "hinton", "fitnet", "one"):
        arm = study.sarfraz_arm(method, "resnet8", "cpu", 1)
        assert study.robust_arm(method, "cpu", 1, clean).key() == arm.key()
        noisy = study.robust_arm(method, "cpu", 1, study.noisy_data("cpu", 0.2))
        assert noisy.with_(data=clean, teacher=arm.teacher, init=arm.init) == arm
        assert noisy.key() != arm.key()
    notebook_20 = {j.config.key() for j in study.plan_20("cpu")}
    assert {j.config.key() for j in study.plan_21("cpu") if j.config.data == clean} <= notebook_20


# ------------------------------------------------------------------ imbalance (S3)
@pytest.mark.parametrize("gamma", [0.2, 0.6, 1.0, 2.0])
def test_power_law_counts_run_from_5000_to_250_by_the_formula(gamma):
    """n_c = floor(a / (b + (c-1)^gamma)), c = 1..10: at c = 1 the power is 0 and n_1 = a/b =
    5000, the largest class; n_10 = 250; strictly decreasing."""
    counts = kdata.power_law_counts(10, gamma)
    b = 250 * 9 ** gamma / (5000 - 250)
    a = 5000 * b
    assert counts == [math.floor(a / (b + (c - 1) ** gamma) + 1e-9) for c in range(1, 11)]
    assert counts[0] == 5000 and counts[-1] == 250
    assert all(x > y for x, y in zip(counts, counts[1:]))


def test_power_law_counts_by_hand_at_gamma_1():
    # b = 250 * 9 / 4750 = 0.47368..., a = 5000 b; class 2: a / (b + 1) = 1607.1
    assert kdata.power_law_counts(10, 1.0) == [5000, 1607, 957, 681, 529, 432, 365, 316, 279, 250]


def test_the_imbalanced_teacher_and_students_share_the_imbalanced_set():
    data = study.imbalanced_data("cpu", 2.0)
    train, _ = split(data)
    assert train.labels.bincount().tolist() == kdata.power_law_counts(10, 2.0)
    assert study.train_fraction(data) == pytest.approx(len(train) / 50_000)
    for job in study.plan_22("cpu"):
        if job.config.data == data:
            assert job.config.teacher in (None, study.level_teacher("cpu", data))


# ------------------------------------------------------------------ plans and the budget rule
def test_the_cpu_budget_rule_keeps_the_arms_in_order_until_the_budget_is_spent():
    rows = study.budget_rule(study.ORDER_21, list(study.datas_21("cpu").values()), (0, 1), (0, 1, 2, 3, 4),
                             study.BUDGET_21["cpu"])
    kept = [r for r in rows if r["fits"]]
    assert study.arms_21("cpu") == ("ce", "hinton", "one", "sp") == tuple(r["what"] for r in kept[1:])
    assert kept[-1]["total"] <= 120 * 60 < kept[-1]["total"] + rows[len(kept)]["seconds"]     # DML would not fit
    # by hand: 2 teachers of 460 s + 10 evaluations of 46/15 s; the baseline at 5 seeds x 2 rates
    assert rows[0]["seconds"] == pytest.approx(2 * (460 + 10 * 46 / 15))
    assert rows[1]["seconds"] == pytest.approx(10 * (172 + 10 * 16.7 / 15))
    assert study.arms_22("cpu") == study.ORDER_22            # the imbalanced sets are small: all fit
    assert study.arms_21("paper") == study.ORDER_21 and study.arms_21("smoke") == study.arms_21("cpu")


def test_plan_23_asks_only_for_notebook_20s_runs():
    notebook_20 = {j.config.key() for j in study.plan_20("cpu")}
    teacher = kd.recipes.teacher("resnet26", "cpu").key()
    assert {j.config.key() for j in study.plan_23("cpu")} <= notebook_20 | {teacher}
    assert len(study.plan_23("cpu")) == 1 + 2 * len(study.TRANSFER_ARMS)


def test_transfer_images_are_the_first_100_of_every_class():
    images, labels = study.transfer_images("cpu")
    assert images.dtype == torch.uint8 and images.shape == (1000, 3, 32, 32)
    assert labels.bincount().tolist() == [100] * 10


def test_class_accuracies_by_hand():
    logits = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert study.class_accuracies(logits, torch.tensor([0, 0, 1, 1]), 2) == [50.0, 50.0]
    assert math.isnan(study.class_accuracies(logits, torch.tensor([0, 0, 0, 0]), 2)[1])


# ------------------------------------------------------------------ verdict helpers
def _result(verdict):
    return kd.verdicts.Exact(verdict, f"{verdict} by hand", "by hand")


def test_most_and_every_count_the_verdicts():
    held, not_held, unsure = (_result(v) for v in ("held", "did not hold", "inconclusive"))
    assert study.most({"a": held, "b": held, "c": unsure}).verdict == "held"
    assert study.most({"a": held, "b": not_held, "c": unsure, "d": held}).verdict == "partly"
    assert study.most({"a": unsure, "b": unsure, "c": held}).verdict == "inconclusive"
    assert study.every({"a": held, "b": held}).verdict == "held"
    assert study.every({"a": held, "b": unsure}).verdict == "partly"
    tally = study.most({"a": held, "b": held}, headline="a")
    assert tally.effect() == held.effect() and "2 held" in tally.evidence


def test_best_or_tied():
    noise = kd.Noise.of([75.0, 75.5, 74.8, 75.2, 75.1], "a test setting")
    others = {"x": [70.0, 70.5], "y": [71.0, 71.2]}
    assert study.best_or_tied([80.0, 80.2], others, noise=noise, margin=1.0, name="h").verdict == "held"
    assert study.best_or_tied([60.0, 60.2], others, noise=noise, margin=1.0, name="h").verdict == "did not hold"
    tiny = kd.Noise.of([75.0, 75.01, 75.0, 75.02, 75.01], "a quiet setting")
    tied = study.best_or_tied([71.1, 71.1], others, noise=tiny, margin=1.0, name="h")
    assert tied.verdict == "held" and "tied" in tied.evidence


# ------------------------------------------------------------------ transferability (S4)
class Threshold(nn.Module):
    """Two classes on 1x1x2 images: class 0 iff x0 - x1 > t."""

    def __init__(self, t: float):
        super().__init__()
        self.t = t

    def forward(self, x):
        d = x[:, 0, 0, 0] - x[:, 0, 0, 1] - self.t
        return torch.stack([10 * d, torch.zeros_like(d)], 1)


def test_an_image_either_network_misclassifies_before_the_attack_is_left_out():
    """A hand-built pair: the source says 0 iff x0 > x1, the target iff x0 - x1 > 0.5.
    Image 0: both wrong; 1: the target wrong; 4 (label 1): the source wrong; 2 and 3 count, and
    PGD on the source (x0 down, x1 up by 0.031) pushes 3 (gap 0.53) below the target's 0.5
    while 2 (gap 0.8) stays."""
    x = torch.tensor([[0.3, 0.5], [0.6, 0.4], [0.9, 0.1], [0.78, 0.25], [0.55, 0.4]]).view(5, 1, 1, 2)
    y = torch.tensor([0, 0, 0, 0, 1])
    source, target = Threshold(0.0), Threshold(0.5)
    out = tr.transfer_matrix({"s": source}, {"t": target}, x, y)[("s", "t")]
    assert out.counted.tolist() == [False, False, True, True, False]
    assert out.fooled.tolist() == [False, False, False, True, False]
    assert out.n == 2 and out.rate == 50.0
    adversarial = tr.craft(source, x, y)
    assert (adversarial - x).abs().max().item() <= tr.EPS + 1e-6 and 0 <= adversarial.min() <= adversarial.max() <= 1


def test_transfer_to_an_exact_copy_equals_the_white_box_success_rate():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                        nn.Linear(32, 10))
    model = kd.attacks.Normalized(net, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    x, y = torch.rand(64, 3, 8, 8), torch.randint(0, 10, (64,))
    with torch.no_grad():
        y[:32] = model(x[:32]).argmax(1)          # at least half the images right, so some count
    copy_of = copy.deepcopy(model)
    out = tr.transfer_matrix({"m": model}, {"m": model, "copy": copy_of}, x, y, steps=5)
    white = tr.crafted_on(model, x, y, steps=5).against(model)
    assert out["m", "copy"].rate == out["m", "m"].rate == white.rate > 0
    assert torch.equal(out["m", "copy"].fooled, white.fooled) and white.n >= 32


def test_transfer_flags_and_their_checks():
    t = tr.transfer(torch.tensor([True, True, False]), torch.tensor([True, False, True]),
                    torch.tensor([False, False, False]))
    assert t.counted.tolist() == [True, False, False] and t.fooled.tolist() == [True, False, False]
    assert math.isnan(tr.Transfer(torch.zeros(2, dtype=torch.bool), torch.zeros(2, dtype=torch.bool)).rate)
    with pytest.raises(ValueError, match="not counted"):
        tr.Transfer(torch.tensor([False]), torch.tensor([True]))


def _flags(counted, fooled):
    return tr.Transfer(torch.tensor(counted), torch.tensor(fooled))


def test_receivers_are_compared_on_the_images_every_pair_counts():
    transfers = {("T", "a"): _flags([1, 1, 1, 0] * 5, [1, 1, 0, 0] * 5),
                 ("T", "b"): _flags([1, 1, 1, 1] * 5, [0, 0, 0, 1] * 5)}
    transfers = {k: tr.Transfer(v.counted.bool(), v.fooled.bool()) for k, v in transfers.items()}
    counted, values = study.per_image(transfers, [("T", "a"), ("T", "b")])
    assert counted.tolist() == [True, True, True, False] * 5
    assert values[:4].tolist() == [50.0, 50.0, 0.0, 50.0]
    result = study.compare_receivers(transfers, [("T", "a")], [("T", "b")], noise=None, models_per_arm=1,
                                     name="a vs b")
    assert result.n == 15 and result.difference == pytest.approx(100 * 10 / 15)
    assert result.verdict == "held" and "left out" in result.evidence
    none = {("T", "a"): _flags([False] * 3, [False] * 3), ("T", "b"): _flags([True] * 3, [False] * 3)}
    assert study.compare_receivers(none, [("T", "a")], [("T", "b")], noise=None, models_per_arm=1,
                                   name="x").verdict == "inconclusive"


def test_transfer_table_has_the_papers_means():
    arms = ("a", "b")
    rates = {("a", "a"): 100.0, ("b", "a"): 50.0, ("a", "b"): 20.0, ("b", "b"): 80.0,
             ("teacher", "a"): 10.0, ("teacher", "b"): 30.0}
    transfers = {}
    for pair, rate in rates.items():
        fooled = torch.arange(10) < rate / 10
        transfers[pair] = tr.Transfer(torch.ones(10, dtype=torch.bool), fooled)
    table = study.transfer_table(transfers, arms)
    assert table["a"] == {"a": 100.0, "b": 50.0, "mean": 75.0, "teacher": 10.0}
    assert table["mean"] == {"a": 60.0, "b": 65.0, "mean": 62.5, "teacher": 20.0}


# ------------------------------------------------------------------ the published numbers
def test_figure_1_means_match_its_cells():
    """The printed "mean" column is each row's mean over the ten student sources and the last
    row each column's mean over the targets (to the printed rounding)."""
    table = published.sarfraz_transfer()
    arms = published.SARFRAZ_TRANSFER_ARMS
    for target in arms:
        assert sum(table[target][s] for s in arms) / 10 == pytest.approx(table[target]["mean"], abs=0.011)
    for source in arms + ("teacher", "mean"):
        assert sum(table[t][source] for t in arms) / 10 == pytest.approx(table["mean"][source], abs=0.011)
    assert table["at"]["teacher"] == 91.78 and table["bss"]["teacher"] == 84.60 and table["at"]["at"] == 99.16


def test_tables_v_and_vi_have_every_method_and_table_vs_clean_column_is_table_iii():
    noise, imbalance = published.sarfraz_noise(), published.sarfraz_imbalance()
    assert set(noise) == set(imbalance) == set(study.SARFRAZ_METHODS)
    assert all(row[0.0] == published.sarfraz("cifar10")[m]["wrn_16_2"] for m, row in noise.items())
    assert noise["ce"][0.2] == (79.44, 0.29) and noise["one"][0.6] == (40.49, 1.12)
    assert imbalance["rkd_a"][0.2] == (79.52, 0.51) and imbalance["one"][2.0] == (80.88, 1.05)
    assert published.SARFRAZ_TEACHERS["cifar10", "wrn_40_2", "sigma=0.6"] == 45.97
