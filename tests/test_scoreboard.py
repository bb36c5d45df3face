"""The scoreboard reads every result file and shows one row per experiment."""
import json

import pytest

import kd
from kd import scoreboard


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_ROOT", str(tmp_path))
    report = kd.Report("10_demo", "cpu", "mnist")
    report.row("Z1", "teacher accuracy", [98.6, 98.7], paper=98.98)
    report.row("Z1", "KD gain", [0.37, 0.19, 0.33], paper=0.67, unit="points")
    report.claim("Z1", "KD helps", "partly", "+0.297", headline="KD gain")
    report.row("G1", "student accuracy", 96.5, paper=97.26)
    report.claim("G1", "small students", "held", "ok")
    report.save()
    return tmp_path


def test_collect_gives_one_entry_per_experiment_with_the_headline_row(results):
    entries = {e.id: e for e in scoreboard.collect("cpu")}
    assert list(entries) == [i for i, _, _ in scoreboard.EXPERIMENTS] and len(entries) == 23
    z1 = entries["Z1"]
    assert (z1.verdict, z1.notebook, z1.data, z1.paper) == ("partly", "10_demo", "mnist", "+0.67 points")
    assert z1.ours.startswith("+0.297 points (std 0.095 over n=3, not a test)") and "[KD gain]" in z1.ours
    assert entries["G1"].paper == "97.26%" and entries["G1"].ours.startswith("96.5%")   # first row with a paper number
    assert entries["S1"].verdict == "not run yet" and entries["S1"].notebook == ""
    assert scoreboard.collect("smoke")[0].verdict == "not run yet"
    # claims with no decided effect were judged before the protocol: the table says so
    assert z1.stale == scoreboard.EARLIER_RULE
    assert "**partly** (stale: earlier rule, not re-executed yet)" in scoreboard.markdown([z1])


def test_a_claim_with_parts_shows_the_deciding_effect_and_every_part_main_first(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_ROOT", str(tmp_path))
    report = kd.Report("12_demo", "cpu", "cifar10-jpeg75")
    noise = kd.Noise(0.5, 5, "AT alone")
    accurate = report.judge("Z6", "less accurate", kd.compare([80.0, 80.2], [82.0, 82.1], direction=-1, noise=noise),
                            part="accuracy")
    robust = report.judge("Z6", "more robust", kd.compare([20.0, 20.1], [23.0, 23.3], noise=noise),
                          part="robustness", main=True, paper=1.84)
    report.combine("Z6", "more robust, slightly less accurate", [robust, accurate], main="robustness")
    report.regime([("teacher", 47.0, 84.22), ("AT alone", 45.0, 84.22)])
    report.save()
    rows = [e for e in scoreboard.collect("cpu") if e.id == "Z6"]
    assert [(e.part, e.main, e.verdict) for e in rows] == [("", False, "did not hold"), ("robustness", True, "did not hold"),
                                                          ("accuracy", False, "held")]
    assert rows[0].ours == "-3.1 ± 0.5 points (se, t4 = 2.78 -> threshold 1.4), n=2" and rows[0].paper == "+1.84 points"
    assert rows[0].regime == "short recipe (AT alone -39.2 points vs the paper)"
    table = scoreboard.markdown(rows)
    assert "| Z6 · robustness (main) | ↳ more robust |" in table and "standard error" in table
    assert "[short recipe (AT alone -39.2 points vs the paper)](notebooks/12_demo.ipynb#Regime)" in table
    assert "1 experiments: 1 did not hold" in table


def test_a_failed_last_execution_marks_the_result_stale(results):
    (results / "results" / "10_demo" / "cpu.failed").write_text(
        json.dumps({"when": "2026-11-22 06:00:00", "error": "RuntimeError: boom"}))
    z1 = scoreboard.collect("cpu")[0]
    assert z1.verdict == "partly" and "RuntimeError: boom" in z1.stale
    assert "(stale: last run failed)" in scoreboard.markdown([z1])


def test_the_readme_table_is_rewritten_between_its_markers_only(results):
    readme = results / "README.md"
    start, end = scoreboard.MARKERS
    readme.write_text(f"# kd\n\nintro\n\n{start}\nold table\n{end}\n\nafter\n")
    assert scoreboard.update_readme(readme)
    text = readme.read_text()
    assert text.startswith("# kd\n\nintro\n\n") and text.endswith(f"{end}\n\nafter\n")
    assert "old table" not in text and "| Z1 | KD student beats" in text and "**partly**" in text
    assert "23 experiments: 1 held, 1 partly, 21 not run yet" in text
    assert not scoreboard.update_readme(readme)               # already current
    readme.write_text("# no markers\n")
    with pytest.raises(ValueError, match="no results block"):
        scoreboard.update_readme(readme)


def test_the_verdict_figure_has_a_cell_per_experiment(results):
    import matplotlib
    matplotlib.use("Agg")
    fig = scoreboard.figure(scoreboard.collect("cpu"))
    cells = [p for p in fig.axes[0].patches if p.get_width() == 0.9]
    assert len(cells) == 23
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_the_scoreboard_reads_the_published_results_while_make_reproduce_stages_its_writes(results, monkeypatch):
    monkeypatch.setenv("KD_RESULTS", str(results / "build" / "stage" / "results"))
    assert scoreboard.collect("cpu")[0].verdict == "partly"


def test_regime_reading_follows_one_rule_per_verdict():
    report = kd.Report("20_test", "smoke", "cifar10")
    report.claim("S1", "a", "held", "e")
    report.claim("S1", "a part", "did not hold", "e", part="p")
    report.claim("S2", "b", "inconclusive", "e")
    with pytest.raises(ValueError, match="regime"):
        report.regime_reading()
    report.regime([("teacher", 80.0, 93.0), ("student", 75.0, 87.6)])
    lines = report.regime_reading().splitlines()
    assert len(lines) == 2                                   # whole claims only
    assert lines[0].startswith("S1 (held): held although teacher -13.0 points")
    assert lines[1].startswith("S2 (inconclusive): teacher -13.0 points") and "may explain" in lines[1]
    report.regime([("teacher", 92.0, 93.0)])
    assert "unlikely explanation" in report.regime_reading().splitlines()[1]
