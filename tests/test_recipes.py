"""The named runs of kd.recipes: identical configs for every notebook, the paper's schedule
and its compressed cpu form."""
import pytest

import kd
from kd import recipes
from kd.studies import gupta, sarfraz, zhang


def test_the_paper_schedule_is_sarfraz_table_one():
    s = recipes.schedule("paper")
    assert (s.epochs, s.batch_size, s.lr, s.momentum, s.weight_decay) == (200, 128, 0.1, 0.9, 5e-4)
    assert (s.schedule, s.milestones, s.gamma, s.optimizer) == ("step", (60, 120, 150), 0.2, "sgd")


@pytest.mark.parametrize("epochs, milestones", [(200, (60, 120, 150)), (20, (6, 12, 15)),
                                                (10, (3, 6, 8)), (5, (2, 3, 4)), (2, (1,)), (1, ())])
def test_the_cpu_schedule_keeps_the_milestones_at_the_same_fractions(epochs, milestones):
    assert recipes.step_schedule(epochs).milestones == milestones


def test_learning_rate_ends_at_the_papers_final_factor():
    from kd.train import lr_factor
    for epochs in (10, 20, 200):
        s = recipes.step_schedule(epochs)
        assert lr_factor(s, epochs * 391 - 1, 391) == pytest.approx(0.2 ** 3)
        assert lr_factor(s, 0, 391) == 1.0


def test_every_notebook_gets_the_same_teacher_and_it_is_the_seed_0_baseline():
    a, b = recipes.teacher("resnet26", "cpu"), recipes.teacher("resnet26", "cpu")
    assert a == b and a.key() == b.key() == recipes.baseline("resnet26", "cpu", seed=0).key()
    assert recipes.teacher("resnet26", "cpu").train.epochs == recipes.CPU_EPOCHS
    student = recipes.student("resnet8", kd.MethodConfig("hinton"), a, "cpu", seed=1)
    assert student.teacher == a and student.train == a.train and student.data == a.data


def test_cifar100_only_under_paper_and_smoke_is_tiny():
    with pytest.raises(ValueError, match="paper profile only"):
        recipes.data("cpu", "cifar100")
    assert recipes.data("paper", "cifar100").name == "cifar100"
    assert recipes.data("smoke").per_class == 20 and recipes.schedule("smoke").epochs == 1
    with pytest.raises(ValueError, match="whole number"):
        recipes.step_schedule(2.5)


def test_the_cpu_length_rule_takes_the_longest_candidate_that_fits():
    # 24 runs x 10 epochs x 40 s = 9,600 s fits 3 h; x 20 epochs does not
    assert recipes.choose_epochs((5, 10, 20), 40.0) == 10
    assert recipes.choose_epochs((5, 10, 20), 20.0) == 20
    assert recipes.choose_epochs((5, 10, 20), 200.0) == 5          # none fits: the shortest
    assert recipes.choose_epochs((5, 10, 20), 45.0) == 10 and recipes.choose_epochs((5, 10, 20), 45.01) == 5
    with pytest.raises(ValueError):
        recipes.choose_epochs((5,), 0.0)


def test_gupta_family_runs_at_the_cpu_width_and_full_width_under_paper():
    assert recipes.network("resnet50", "cpu") == kd.ModelConfig("resnet50", width=recipes.CPU_WIDTH)
    assert recipes.network("resnet50", "paper") == kd.ModelConfig("resnet50")
    assert recipes.network("resnet26", "cpu") == kd.ModelConfig("resnet26")   # CIFAR nets as named
    ideal = recipes.network("resnet50", "cpu", blocks=(1, 1, 1, 1), stem_stride=2)
    assert (ideal.blocks, ideal.stem_stride, ideal.width) == ((1, 1, 1, 1), 2, 0.125)
    t = recipes.teacher("resnet50", "cpu")
    assert t.model.width == 0.125 and t == recipes.baseline("resnet50", "cpu")
    s = recipes.student(ideal, kd.MethodConfig("hinton"), t, "cpu")
    assert s.model == ideal and s.teacher == t
    with pytest.raises(ValueError, match="in the ModelConfig"):
        recipes.network(ideal, "cpu", stem_stride=4)


def test_the_adversarial_teacher_is_the_seed_0_pgd7_baseline_with_exponential_decay():
    from kd.train import lr_factor
    t = zhang.adversarial_teacher("cpu")
    assert t == zhang.adversarial_baseline("cpu", seed=0) and t.model.arch == "resnet8"
    m = t.method
    assert (m.name, m.eps, m.step_size, m.steps) == ("pgd_at", 8 / 255, 2 / 255, 7) and t.teacher is None
    paper = zhang.adversarial_baseline("paper", seed=2)
    assert (paper.model.arch, paper.train.epochs, paper.train.lr, paper.seed) == ("resnet18", 50, 0.1, 2)
    s = paper.train
    assert s.schedule == "exp" and lr_factor(s, 50 * 391, 391) == pytest.approx(0.01)
    assert lr_factor(s, 391 - 1, 391) == 1.0 and lr_factor(s, 391, 391) == pytest.approx(0.01 ** (1 / 50))


def test_zhang_arms_share_the_adversarial_teacher_and_schedule():
    t = zhang.adversarial_teacher("cpu")
    arms = {m.name: zhang.adversarial_student(m, "cpu", seed=1)
            for m in (zhang.AT_TFKD_SELF, zhang.AT_TFKD_REG, zhang.AKD)}
    assert arms["adversarial"].teacher == t == arms["akd"].teacher
    assert arms["adversarial_tfkd_reg"].teacher is None
    assert all(a.train == t.train and a.model == t.model and a.seed == 1 for a in arms.values())
    self_kd, akd = zhang.AT_TFKD_SELF, zhang.AKD
    assert (self_kd.alpha, self_kd.T) == (akd.alpha, akd.T) == (0.95, 6.0)
    assert (zhang.TFKD_REG.alpha, zhang.TFKD_REG.T, zhang.TFKD_REG.a) == (0.1, 20.0, 0.99)
    weak, strong = zhang.ZHANG_NETWORKS["cpu"]
    size = {a: kd.count_params(kd.build(recipes.network(a, "cpu"), 10, (3, 32, 32))) for a in (weak, strong)}
    ratio = size[strong] / size[weak]
    assert 1.8 < ratio < 2.5      # about ResNet50 : ResNet18 = 2.1


# --- Sarfraz (notebook 20) ----------------------------------------------------------------------

def test_sarfraz_arms_follow_table_one_and_the_two_stage_scheme():
    from kd import recipes
    teacher = recipes.teacher("resnet26", "cpu")
    for method in sarfraz.SARFRAZ_METHODS + sarfraz.SARFRAZ_EXTRA:
        cfg = sarfraz.sarfraz_arm(method, "resnet8", "cpu", seed=1)
        assert cfg.seed == 1 and cfg.model.arch == "resnet8" and cfg.train == recipes.schedule("cpu")
        if method in ("ce", "one", "dml"):
            assert cfg.teacher is None
        else:
            assert cfg.teacher == teacher
    assert sarfraz.sarfraz_arm("one", "resnet8", "cpu").method.T == 3.0
    assert sarfraz.sarfraz_arm("dml", "resnet8", "cpu").method.T == 4.0
    assert sarfraz.sarfraz_arm("ce", "resnet8", "cpu") == recipes.baseline("resnet8", "cpu")
    assert sarfraz.sarfraz_arm("at", "wrn_16_2", "cpu").teacher == recipes.teacher("wrn_40_2", "cpu")
    fitnet = sarfraz.sarfraz_arm("fitnet", "resnet8", "cpu")
    assert fitnet.method.name == "hinton" and (fitnet.method.alpha, fitnet.method.T) == (0.9, 4.0)
    stage1 = fitnet.init
    assert stage1.method.name == "fitnet" and stage1.teacher == teacher and stage1.seed == 0
    assert (stage1.train.epochs, stage1.train.lr, stage1.train.milestones, stage1.train.gamma) == \
        (5, 0.001, (3, 4), 0.1)
    paper = sarfraz.stage1_schedule("paper")
    assert (paper.epochs, paper.milestones) == (100, (60, 80))     # Sarfraz III


def test_sarfraz_arm_refuses_unknown_methods_and_students():
    from kd import recipes
    with pytest.raises(ValueError, match="not one of Sarfraz's arms"):
        sarfraz.sarfraz_arm("tfkd_self", "resnet8", "cpu")
    with pytest.raises(ValueError, match="not a Sarfraz student"):
        sarfraz.sarfraz_arm("hinton", "resnet50", "cpu")


def test_gupta_students_are_the_five_layouts_of_table_two_at_the_cpu_width():
    layouts = {k: (v["blocks"], v["stem_stride"]) for k, v in gupta.GUPTA_STUDENTS.items()}
    assert sorted(layouts.values()) == sorted([((1, 1, 1, 1), 1), ((2, 2, 0, 0), 1), ((1, 1, 0, 0), 1),
                                               ((1, 1, 1, 1), 2), ((1, 1, 1, 1), 4)])
    assert layouts[gupta.GUPTA_IDEAL] == ((1, 1, 1, 1), 2)
    t = recipes.teacher("resnet50", "cpu")
    for layout, (blocks, stride) in layouts.items():
        s = gupta.gupta_student(layout, "cpu", seed=2)
        assert (s.model.arch, s.model.blocks, s.model.stem_stride, s.model.width) == ("resnet50", blocks, stride, 0.125)
        assert s.teacher == t and s.data == t.data and s.train == recipes.schedule("cpu") and s.seed == 2
        assert (s.method.name, s.method.T, s.method.alpha) == ("hinton", 1.0, 0.5)
    paper = gupta.gupta_student(gupta.GUPTA_IDEAL, "paper")
    assert paper.model.width == 1.0 and paper.train.epochs == recipes.PAPER_EPOCHS
    assert paper.teacher == recipes.teacher("resnet50", "paper")


def test_gupta_arms_without_kd_and_on_the_reduced_set():
    ce = gupta.gupta_student(gupta.GUPTA_IDEAL, "cpu", seed=1, distil=False)
    assert ce.method.name == "ce" and ce.teacher is None and ce.data.per_class is None
    assert ce.model == gupta.gupta_student(gupta.GUPTA_IDEAL, "cpu").model
    red = gupta.gupta_student(gupta.GUPTA_IDEAL, "cpu", reduced=True)
    assert red.data.per_class == 500 and red.data.test_per_class is None and red.teacher.data.per_class is None
    assert gupta.gupta_student(gupta.GUPTA_IDEAL, "cpu", reduced=True, distil=False).data == red.data
    # smoke's full set is 20 a class: its reduced set is a tenth of it, still a strict subset
    assert gupta.gupta_student(gupta.GUPTA_IDEAL, "smoke", reduced=True).data.per_class == 2
    keys = {gupta.gupta_student(gupta.GUPTA_IDEAL, "cpu", reduced=r, distil=d).key()
            for r in (False, True) for d in (False, True)}
    assert len(keys) == 4
    with pytest.raises(ValueError, match="Gupta's students"):
        gupta.gupta_student("[3,4,6,3]", "cpu")


def test_reduced_set_is_the_first_images_of_each_class():
    import torch
    from kd.data import first_per_class
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 2, 2, 1, 0])
    assert first_per_class(labels, 2, 3).tolist() == [0, 1, 2, 3, 4, 6]


def test_gupta_kd_is_half_of_their_cls_loss_plus_div_loss():
    """gupta 1.2: cls_loss + div_loss = CE(y, s) + KL(t || s) with plain softmaxes; kd's Hinton
    form at alpha 0.5, T 1 is that sum halved."""
    import torch
    import torch.nn.functional as F
    from kd.losses import cross_entropy, hinton_kd
    g = torch.Generator().manual_seed(0)
    s, t, y = torch.randn(6, 10, generator=g), torch.randn(6, 10, generator=g), torch.arange(6)
    m = gupta.GUPTA_KD
    ours = (1 - m.alpha) * cross_entropy(s, y) + m.alpha * hinton_kd(s, t, m.T)
    kl = (F.softmax(t, 1) * (F.log_softmax(t, 1) - F.log_softmax(s, 1))).sum(1).mean()
    assert ours.item() == pytest.approx(0.5 * (F.cross_entropy(s, y) + kl).item(), rel=1e-6)


def test_the_calibration_rule_picks_each_schedules_best_rate_then_the_best_mean():
    seed0 = {("step", 0.05): 76.0, ("step", 0.1): 77.0, ("step", 0.2): 77.0,        # a tie: the lower rate
             ("cosine", 0.1): 79.0, ("cosine", 0.2): 80.0,
             ("onecycle", 0.2): 80.5, ("onecycle", 0.4): 80.4}
    assert recipes.finalists(seed0) == [("step", 0.1), ("cosine", 0.2), ("onecycle", 0.2)]
    assert recipes.choose_schedule({("step", 0.1): 77.1, ("cosine", 0.2): 80.9, ("onecycle", 0.2): 80.8}) == ("cosine", 0.2)
    assert recipes.choose_schedule({("cosine", 0.2): 80.0, ("onecycle", 0.2): 80.0}) == ("cosine", 0.2)   # earlier schedule
    with pytest.raises(ValueError, match="at least one finalist"):
        recipes.choose_schedule({})


def test_budget_schedules_decay_to_zero_and_refuse_unknown_kinds():
    from kd.train import lr_factor
    for kind in ("cosine", "onecycle"):
        s = recipes.budget_schedule(kind, 0.2, 10)
        assert (s.schedule, s.lr, s.epochs, s.milestones) == (kind, 0.2, 10, ())
        assert lr_factor(s, 10 * 391 - 1, 391) == pytest.approx(0.0, abs=1e-3)
    assert max(lr_factor(recipes.budget_schedule("onecycle", 0.2, 10), k, 391) for k in range(0, 3910, 10)) \
        == pytest.approx(1.0, abs=1e-2)
    assert recipes.budget_schedule("step", 0.1, 10) == recipes.step_schedule(10)
    with pytest.raises(ValueError, match="allowed: step, cosine, onecycle"):
        recipes.budget_schedule("linear", 0.1, 10)


def test_cpu_cifar_runs_of_sarfraz_recipe_use_the_calibrated_schedule():
    """Every `cpu` run of Sarfraz's recipe (notebook 20's baseline and KD arms, the teachers
    every CIFAR notebook shares) trains with recipes.CPU_SCHEDULE over CPU_EPOCHS; `paper`
    keeps the paper's step schedule."""
    expected = recipes.budget_schedule(*recipes.CPU_SCHEDULE, recipes.CPU_EPOCHS)
    assert recipes.schedule("cpu") == expected
    for method in ("ce", "hinton", "at", "crd"):
        assert sarfraz.sarfraz_arm(method, "resnet8", "cpu").train == expected
    assert recipes.teacher("resnet26", "cpu").train == expected
    assert sarfraz.sarfraz_arm("ce", "resnet8", "paper").train == recipes.step_schedule(200)
