"""kd.dryrun: a plan's distinct combinations built and stepped once, also across plans dry-run
in turn by one process (`python -m kd train --dry-run --nb 01,10,...`, what `make test` runs)."""
import kd
from kd import dryrun

DATA = kd.DataConfig("mnist", per_class=10, test_per_class=10)
TEACHER = kd.RunConfig(data=DATA, model=kd.ModelConfig("mlp", (32,)), train=kd.TrainConfig(epochs=3, batch_size=20))
STUDENT = kd.RunConfig(data=DATA, model=kd.ModelConfig("mlp", (8,)), train=kd.TrainConfig(epochs=2, batch_size=20),
                       method=kd.MethodConfig("hinton"), teacher=TEACHER)


def test_a_combination_two_plans_share_is_checked_once_and_both_plans_are_projected_alike(monkeypatch):
    built = []
    real_check = dryrun.check
    monkeypatch.setattr(dryrun, "check", lambda cfg, **kw: built.append(cfg.key()) or real_check(cfg, **kw))
    monkeypatch.setattr(dryrun, "machine_macs_per_s", lambda: 1e9)     # a fixed rate: projections comparable
    lines: list[str] = []
    checked: dict = {}
    first = dryrun.dry_run([STUDENT, STUDENT.with_(seed=1)], out=lines.append, checked=checked)
    # the teacher (an mlp without a method) and the student (hinton, with a teacher): 2 combinations
    assert (first["runs"], first["combinations"], first["new_combinations"]) == (3, 2, 2)
    assert len(built) == 2
    second = dryrun.dry_run([STUDENT.with_(seed=2)], out=lines.append, checked=checked)
    assert (second["runs"], second["combinations"], second["new_combinations"]) == (2, 2, 0)
    assert len(built) == 2                                # nothing built again
    alone = dryrun.dry_run([STUDENT.with_(seed=2)], out=lines.append)
    assert alone["new_combinations"] == 2 and len(built) == 4
    assert alone["hours_here"] == second["hours_here"] and alone["epochs"] == second["epochs"] == 5
    assert "0 of them new to this process" in lines[2]


def test_the_projection_is_the_arithmetic_of_each_run_at_the_measured_rate(monkeypatch):
    monkeypatch.setattr(dryrun, "machine_macs_per_s", lambda: 1e9)
    figures = dryrun.dry_run([TEACHER], out=lambda line: None)
    macs = 784 * 32 + 32 * 10                          # the teacher mlp's forward, one image
    steps = -(-100 // 20) * 3                          # 100 training images, batch 20, 3 epochs
    expected = steps * 3 * macs * 20 / 1e9 / 3600      # forward and backward: 3x the forward
    assert abs(figures["hours_here"] - expected) / expected < 0.02
