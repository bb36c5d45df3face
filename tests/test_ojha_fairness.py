"""Notebook 55's groups (kd.groups) and runs (kd.studies.ojha, O7): the renderings are
deterministic and in range, the compositions are the paper's counts per group and label, the
label is balanced within every group (the group alone cannot predict it), and the plan's
arms are what the notebook says."""
import numpy as np
import pytest
import torch

import kd
from kd import groups
from kd.studies import ojha


@pytest.fixture(scope="module")
def mnist_train():
    m = kd.load("mnist", "train")
    return m.images.numpy()[:, 0], m.labels.numpy()


@pytest.fixture(scope="module")
def sets():
    return {name: kd.load(name, "train") for name in groups.SETS}


# ---------------------------------------------------------------------------- renderings

@pytest.mark.parametrize("group", groups.GROUPS)
def test_every_rendering_is_a_function_of_the_index_alone(mnist_train, group):
    """The same image whether it is built alone or among others, twice over; another split
    (another hash stream) gives other colours, patches and noise; grey, dim and inverted have none."""
    digits, _ = mnist_train
    index = np.arange(40)
    many = groups.render(group, digits[:40], index, "train")
    few = groups.render(group, digits[[3, 17]], index[[3, 17]], "train")
    np.testing.assert_array_equal(few, many[[3, 17]])
    np.testing.assert_array_equal(groups.render(group, digits[:40], index, "train"), many)
    assert many.dtype == np.uint8 and many.shape == (40, 3, 28, 28)
    other = groups.render(group, digits[:40], index, "test")
    assert np.array_equal(other, many) == (group in ("grey", "dim", "inverted"))


def test_the_groups_are_seven_different_renderings_of_the_same_digits(mnist_train):
    digits, _ = mnist_train
    images = [groups.render(g, digits[:20], np.arange(20), "train").astype(int) for g in groups.GROUPS]
    for a in range(len(images)):
        for b in range(a + 1, len(images)):
            assert np.abs(images[a] - images[b]).mean() > 5, (groups.GROUPS[a], groups.GROUPS[b])
    np.testing.assert_array_equal(images[0][:, 0], digits[:20])                  # grey: MNIST itself
    np.testing.assert_array_equal(images[-1], 255 - images[0])                   # inverted
    np.testing.assert_array_equal(images[groups.GROUPS.index("dim")], images[0] // 2)


def test_blends_are_exact_on_a_hand_made_example():
    """x + (1 - x/255) b for the white digit over a background, x c / 255 for the coloured
    digit, rounded: digit pixels 0, 51, 204, 255 over background values 200, 100, 0, 10."""
    digit = np.array([[[0, 51], [204, 255]]], np.uint8)
    back = np.array([[[[200, 100], [0, 10]]] * 3], np.uint8)
    over = groups.white_over(digit, back)[0, 0]
    np.testing.assert_array_equal(over, [[200, 51 + 80], [204, 255]])
    coloured = groups.coloured_digit(digit, np.array([[255, 100, 64]], np.uint8))[0]
    np.testing.assert_array_equal(coloured[0], digit[0])
    np.testing.assert_array_equal(coloured[1], [[0, 20], [80, 100]])
    np.testing.assert_array_equal(coloured[2], [[0, 13], [51, 64]])


def test_blends_stay_in_range_for_every_grey_level_and_value():
    """Every grey level x against every background or colour value c (65,536 pairs): no
    uint8 wrap-around (a wrap shows as a small value where a large one is due)."""
    x, c = (a.ravel() for a in np.meshgrid(np.arange(256), np.arange(256), indexing="ij"))
    digits = x.astype(np.uint8).reshape(-1, 1, 1)
    back = np.repeat(c.astype(np.uint8).reshape(-1, 1, 1, 1), 3, 1)
    np.testing.assert_array_equal(groups.white_over(digits, back)[:, 0, 0, 0], np.rint(x + (1 - x / 255) * c))
    colours = np.repeat(c.astype(np.uint8)[:, None], 3, 1)
    np.testing.assert_array_equal(groups.coloured_digit(digits, colours)[:, 2, 0, 0], np.rint(x * c / 255))


def test_colours_and_noise_cover_their_ranges():
    index = np.arange(20_000)
    digit = groups.digit_colours(index, "train")
    assert digit.min() == 64 and digit.max() == 255                         # no digit fades into black
    back = groups.background_colours(index, "train")
    assert back.min() == 0 and back.max() == 255 and abs(back.astype(float).mean() - 127.5) < 2
    noise = groups.noise_backgrounds(index[:200], "train")
    assert noise.min() == 0 and noise.max() == groups.NOISE_MAX == 127 and abs(noise.astype(float).mean() - 63.5) < 1
    np.testing.assert_array_equal(noise[:, 0], noise[:, 2])                 # grey: the same on every channel
    which, dy, dx = groups.patch_choice(index, "train", 50_000)
    assert which.max() < 50_000 and len(np.unique(which)) > 15_000
    assert set(np.unique(dy)) == set(np.unique(dx)) == {0, 1, 2, 3, 4}
    assert not np.array_equal(which, groups.patch_choice(index, "test", 50_000)[0])


# ---------------------------------------------------------------------------- compositions

def test_the_compositions_are_the_papers_counts_per_group_and_label(sets, mnist_train):
    """Table 14 of the paper's appendix, group for group, each half even and half odd digits,
    and a tenth of each digit."""
    _, labels = mnist_train
    assert groups.COUNTS == groups.PAPER_COUNTS
    assert groups.COUNTS[groups.TEACHER_SET] == (4000, 4000, 0, 4000, 4000, 4000, 4000)
    assert groups.COUNTS[groups.STUDENT_SET] == (600, 50, 2000, 200, 0, 200, 800)
    for name, data in sets.items():
        index, group = groups.composition(name, labels)
        want = np.array(groups.COUNTS[name])
        np.testing.assert_array_equal(groups.counts(group, data.labels), np.stack([want // 2, want // 2], 1))
        for g in range(len(groups.GROUPS)):
            per_digit = np.bincount(labels[index[group == g]], minlength=10)
            np.testing.assert_array_equal(per_digit, [want[g] // 10] * 10)
        np.testing.assert_array_equal(data.labels.numpy(), labels[index] % 2)
        assert len(np.unique(index)) == len(index) == sum(want)
    assert len(sets[groups.TEACHER_SET]) == 24_000 and len(sets[groups.STUDENT_SET]) == 3_850
    teacher_index, _ = groups.composition(groups.TEACHER_SET, labels)
    student_index, _ = groups.composition(groups.STUDENT_SET, labels)
    assert not set(teacher_index) & set(student_index)                      # no MNIST image in both


def test_a_set_holds_its_rendered_digits(sets, mnist_train):
    """Image k of a set is MNIST image index[k] drawn as its group."""
    digits, labels = mnist_train
    index, group = groups.composition(groups.STUDENT_SET, labels)
    for k in (0, 1, 2, 500, 3849):
        want = groups.render(groups.GROUPS[group[k]], digits[index[k:k + 1]], index[k:k + 1], "train")
        np.testing.assert_array_equal(sets[groups.STUDENT_SET].images[k].numpy(), want[0])


def test_the_group_alone_cannot_predict_the_label(sets):
    """Within every group of every set each label is exactly half the images, so the best
    rule that sees only the group (its majority label) is right on exactly 50%."""
    test = kd.load(groups.STUDENT_SET, "test")
    for name, (g, y) in {**{n: (groups.composition(n, kd.load("mnist", "train").labels.numpy())[1],
                                d.labels.numpy()) for n, d in sets.items()},
                         "test": (groups.test_groups().numpy(), test.labels.numpy())}.items():
        table = groups.counts(g, y)
        assert (table[:, 0] == table[:, 1]).all(), name
        assert table.max(1).sum() / table.sum() == 0.5, name


def test_the_test_split_draws_the_same_digits_in_every_group():
    test = kd.load(groups.STUDENT_SET, "test")
    assert len(test) == 7 * 10 * groups.TEST_PER_DIGIT and test.num_classes == 2
    assert torch.equal(test.images, kd.load(groups.TEACHER_SET, "test").images)
    labels = test.labels.view(-1, 7)
    assert (labels == labels[:, :1]).all()                                  # image 7i + g: digit i
    np.testing.assert_array_equal(groups.counts(groups.test_groups(), test.labels),
                                  [[2500, 2500]] * 7)
    np.testing.assert_array_equal(test.images[1::7][:5].numpy(), groups.render(
        "colour-digit", kd.load("mnist", "test").images.numpy()[groups.test_digits(
            kd.load("mnist", "test").labels.numpy())[:5], 0], groups.test_digits(
            kd.load("mnist", "test").labels.numpy())[:5], "test"))


def test_the_sets_load_through_kd_with_two_classes_and_their_cifar_source(sets):
    for name, data in sets.items():
        assert data.num_classes == 2 and data.images.dtype == torch.uint8
        assert kd.source_of(name).startswith(f"{name}+cifar10")
    assert kd.load("mnist").num_classes == 10                               # other datasets keep theirs


def test_a_teacher_of_d_t_distils_on_d_s_and_not_the_other_way():
    t = kd.RunConfig(data=kd.DataConfig(groups.TEACHER_SET), model=kd.ModelConfig("resnet8"))
    kd.RunConfig(data=kd.DataConfig(groups.STUDENT_SET), model=kd.ModelConfig("resnet8"),
                 method=kd.MethodConfig("hinton"), teacher=t)
    with pytest.raises(ValueError, match="differs from the student's"):
        kd.RunConfig(data=kd.DataConfig(groups.TEACHER_SET), model=kd.ModelConfig("resnet8"),
                     method=kd.MethodConfig("hinton"), teacher=t.with_(data=kd.DataConfig(groups.STUDENT_SET)))


# ---------------------------------------------------------------------------- fairness measures

def test_group_accuracy_and_gap_by_hand():
    correct = torch.tensor([1, 1, 0, 1, 1, 1, 1,   1, 0, 0, 1, 1, 1, 0], dtype=torch.bool)
    acc = groups.group_accuracy(correct, groups.test_groups(14))
    assert acc == [100.0, 50.0, 0.0, 100.0, 100.0, 100.0, 50.0]
    assert groups.fairness_gap(acc) == 100.0
    s = ojha.summary_55(acc)
    assert s["group 3"] == 0.0 and s["others"] == 500 / 6 and s["fairness gap"] == 100.0
    assert s["accuracy"] == 500 / 7 and s["group 3 minus the others"] == -500 / 6
    assert ojha.runner_up_55({0: 3.0, 1: 1.0, 2: -5.0, 3: 1.0}) == 1      # group 3 itself never


def test_a_model_against_itself_has_no_gap_on_a_group_blind_task():
    """A network that sees only the label's parity bit (here: the labels themselves) is right
    everywhere: every group at 100%, gap 0."""
    labels = kd.load(groups.STUDENT_SET, "test").labels
    acc = groups.group_accuracy(labels == labels, groups.test_groups())
    assert acc == [100.0] * 7 and groups.fairness_gap(acc) == 0.0


# ---------------------------------------------------------------------------- the plan

def test_the_schedule_is_repdistillers_compressed():
    paper = ojha.schedule_55(240)
    assert paper.milestones == (150, 180, 210) and paper.lr == 0.05 and paper.batch_size == 64
    assert ojha.schedule_55(30).milestones == (19, 22, 26) and ojha.schedule_55(1).milestones == ()


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_plan_55_is_the_teacher_and_both_students_over_the_seeds(profile):
    jobs = ojha.plan_55(profile)
    s = ojha.SETTINGS_55[profile]
    assert jobs[0].config == ojha.teacher_55(profile) and jobs[0].config.data.name == groups.TEACHER_SET
    students = [j.config for j in jobs[1:]]
    assert len(students) == 2 * len(s["seeds"]) >= 4
    assert all(c.data.name == groups.STUDENT_SET and c.model == jobs[0].config.model for c in students)
    assert [c.teacher for c in students if c.method.name == "hinton"] == [ojha.teacher_55(profile)] * len(s["seeds"])
    assert ojha.student_55("KL", profile).method == kd.MethodConfig("hinton", T=4.0, alpha=0.9)
    assert jobs[0].config.model.arch == ("resnet20" if profile == "paper" else ojha.CPU_NETWORK_55)
    assert jobs[0].config.train.epochs == {"smoke": 1, "cpu": ojha.CPU_EPOCHS_55, "paper": 240}[profile]
    noise = ojha.noise_settings_55(profile)
    assert noise["Teacher: accuracy on group 3"] == (ojha.teacher_55(profile), s["teacher_seeds"])
    assert len(s["teacher_seeds"]) >= 2 and len(s["seeds"]) >= (5 if profile != "smoke" else 2)


def test_the_cpu_rule_reads_time_alone():
    """The paper's ResNet20 at the longest length that fits, else ResNet-8 at its longest, else
    ResNet-8 at the shortest; kd's cpu runs are what the rule gives on CPU_EPOCH_SECONDS_55."""
    seconds = {("resnet20", "Teacher"): 10.0, ("resnet20", "Ind"): 2.0, ("resnet20", "KL"): 2.0,
               ("resnet8", "Teacher"): 4.0, ("resnet8", "Ind"): 1.0, ("resnet8", "KL"): 1.0}
    assert ojha.plan_seconds_55(seconds, "resnet20", 10) == 10 * (3 * 10 + 5 * 4)         # 500 s
    assert ojha.choose_55(seconds, (10, 20), budget_s=1000) == ("resnet20", 20)
    assert ojha.choose_55(seconds, (10, 20), budget_s=999) == ("resnet20", 10)
    assert ojha.choose_55(seconds, (10, 20), budget_s=499) == ("resnet8", 20)             # 20 x 22 = 440 s
    assert ojha.choose_55(seconds, (10, 20), budget_s=1) == ("resnet8", 10)
    assert (ojha.CPU_NETWORK_55, ojha.CPU_EPOCHS_55) == ojha.choose_55(ojha.CPU_EPOCH_SECONDS_55) == ("resnet20", 25)
    assert ojha.plan_seconds_55(ojha.CPU_EPOCH_SECONDS_55, "resnet20", 25) <= ojha.CPU_TRAIN_BUDGET_S_55
    assert [j.config for j in ojha.plan_55("cpu")][:2] == [ojha.probe_55("cpu")[("resnet20", a)] for a in ("Teacher", "Ind")]
