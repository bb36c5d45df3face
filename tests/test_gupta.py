"""kd.gupta: Gupta Table 2 as printed, the rows and seeds notebook 30 runs, its plan, claim 1's
rule, its table and figure."""
import pytest

from kd import recipes
from kd.studies import gupta


def test_table_two_is_as_printed_and_every_row_but_the_baseline_is_run():
    assert set(gupta.TABLE_2) == set(gupta.ROWS) | {"baseline"}
    assert gupta.TABLE_2["[1,1,1,1], stride 2"] == (77.6, 280, 11.60)
    assert gupta.TABLE_2["ideal, reduced set, KD"][0] == 61.2
    assert gupta.TABLE_2["ideal, reduced set, no KD"][0] == 56.0
    assert gupta.PAPER_GAINS == {"full": 1.8, "reduced": 5.2}


def test_rows_are_the_ideal_students_four_arms_and_the_five_layouts():
    assert [gupta.ROWS[label] for label in gupta.GUPTA_STUDENTS] == \
        [(label, False, True) for label in gupta.GUPTA_STUDENTS]
    arms = [gupta.ROWS[label] for label in gupta.FULL_ARMS + gupta.REDUCED_ARMS]
    assert arms == [(gupta.GUPTA_IDEAL, False, True), (gupta.GUPTA_IDEAL, False, False),
                    (gupta.GUPTA_IDEAL, True, True), (gupta.GUPTA_IDEAL, True, False)]
    cfg = gupta.config("ideal, reduced set, no KD", "cpu", seed=3)
    assert cfg == gupta.gupta_student(gupta.GUPTA_IDEAL, "cpu", seed=3, reduced=True, distil=False)
    keys = {gupta.config(label, "cpu", s).key() for label in gupta.ROWS for s in gupta.seeds(label, "cpu")}
    assert len(keys) == sum(len(gupta.seeds(label, "cpu")) for label in gupta.ROWS)


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_claim_two_has_at_least_three_seeds_an_arm(profile):
    for label in gupta.FULL_ARMS + gupta.REDUCED_ARMS:
        assert len(gupta.seeds(label, profile)) >= 3
    assert gupta.seeds("[1,1,0,0]", profile) == gupta.SEEDS[profile]["layouts"]


def test_plan_multiplies_seeds_epochs_and_an_epoch_with_its_evaluation():
    per_epoch = {arm: (2.0, 0.5) for arm in gupta.ROWS.values()}
    plan = gupta.plan_seconds(per_epoch, 10, "cpu")
    assert plan["[1,1,0,0]"] == 1 * 10 * 2.5
    assert plan["ideal, no KD"] == 3 * 10 * 2.5
    assert plan["ideal, reduced set, KD"] == 8 * 10 * 2.5


def test_the_cpu_plan_fits_its_budget_with_room_for_the_rest():
    """Training and evaluation as measured (43 min) leave >= 10 of the 60 minutes for the
    inference timings, the cached runs and a shared machine."""
    plan = gupta.plan_seconds(gupta.CPU_EPOCH_SECONDS, recipes.schedule("cpu").epochs, "cpu")
    assert sum(plan.values()) <= gupta.CPU_BUDGET_S - 10 * 60
    assert set(gupta.CPU_EPOCH_SECONDS) == set(gupta.ROWS.values())


def test_claim_one_rule_at_its_bars():
    kept = {"a": 0.95, "b": 0.90, "c": 0.89}
    ratio = {"a": 3.0, "b": 8.0, "c": 8.0}
    verdict, evidence = gupta.claim_1(kept, ratio)
    assert verdict == "partly" and evidence.startswith("2 of 3 pass")
    assert "c: 89.0% of the teacher's accuracy, 8.00x (fail)" in evidence
    assert gupta.claim_1({"a": 0.95}, {"a": 2.99})[0] == "did not hold"
    assert gupta.claim_1({"a": 0.95, "b": 0.9}, {"a": 3.5, "b": 12.0})[0] == "held"
    with pytest.raises(ValueError, match="same students"):
        gupta.claim_1({"a": 0.95}, {"b": 3.0})


def test_table_sets_the_papers_numbers_beside_ours():
    rows = {"[1,1,1,1], stride 2": dict(acc=[60.0, 62.0, 61.0], seconds=[200.0, 220.0, 210.0],
                                        ratio=4.25, macs=15.9),
            "[1,1,0,0]": dict(acc=[65.5], seconds=[300.0], ratio=3.1, macs=7.7)}
    lines = gupta.table(72.09, rows).splitlines()
    assert lines[1].split() == ["teacher", "ResNet50", "72.09", "n=1", "-"]
    assert lines[2].split()[3:] == ["61.00", "±", "1.00", "n=3", "77.6", "210", "280", "4.25", "11.60", "15.9"]
    assert lines[3].split()[1:] == ["65.50", "n=1", "79.4", "300", "340", "3.10", "9.85", "7.7"]


def test_figure_has_both_panels():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    acc = {label: [60.0] for label in gupta.ROWS}
    ratio = {label: 4.0 for label in gupta.ROWS}
    fig = gupta.figure(72.0, acc, ratio, {"full": [0.5, 1.0, -0.2], "reduced": [3.0, 4.0, 2.5]})
    assert len(fig.axes) == 2
    assert len(fig.axes[0].collections) >= 2 * len(gupta.GUPTA_STUDENTS)
    plt.close(fig)


def test_every_student_builds_at_the_cpu_width_and_is_smaller_than_the_teacher():
    """The five layouts at 1/8 width: 10 logits from a 32x32 batch, the last stage's map as the
    stem stride and the stages present make it (stride 4, four stages: 8 -> 1)."""
    import torch

    import kd
    from kd.measure import count_macs, count_params
    x = torch.randn(2, 3, 32, 32)
    teacher = kd.build(recipes.teacher("resnet50", "cpu").model, 10, (3, 32, 32)).eval()
    last = {"[1,1,1,1]": 4, "[2,2,0,0]": 16, "[1,1,0,0]": 16, "[1,1,1,1], stride 2": 2,
            "[1,1,1,1], stride 4": 1}
    for label in gupta.GUPTA_STUDENTS:
        net = kd.build(gupta.config(label, "cpu").model, 10, (3, 32, 32)).eval()
        out = net(x, features=True)
        assert out.logits.shape == (2, 10) and out.stages[-1].shape[-1] == last[label]
        assert count_params(net) < count_params(teacher)
        assert count_macs(net, x[:1]) < count_macs(teacher, x[:1]) / 2
