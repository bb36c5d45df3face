"""The scoreboard: where every claim of the five studies stands.

`collect(profile)` reads every results/<notebook>/<profile>.json and returns one row per
experiment of ../shared/papers/README.md (those not yet run included): its id, the claim,
the paper's headline number, ours, the verdict and the data it ran on. A result whose last
execution failed (results/<notebook>/<profile>.failed) is shown, marked stale.
`python -m kd report` writes the same table into README.md between two marker comments.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .config import check_profile

# id, source, claim (../shared/papers/README.md, "Experiments")
EXPERIMENTS = (
    ("Z1", "Zhang Table 1", "KD student beats the same student trained alone"),
    ("Z2", "Zhang Table 2", "the student learns a digit it never saw, from soft targets alone"),
    ("Z3", "Zhang Table 3", "a weaker teacher still helps (reversed KD)"),
    ("Z4", "Zhang Table 4", "teacher-free KD (self and reg) beats the baseline"),
    ("Z5", "Zhang Figure 1", "KD gradients are larger"),
    ("Z6", "Zhang Table 5", "AT Tf-KD is more robust, slightly less accurate"),
    ("S1", "Sarfraz Tables II-IV", "most methods beat the baseline; AT and relational methods hurt at large gaps"),
    ("S2", "Sarfraz Table V", "KD is far more robust to label noise"),
    ("S3", "Sarfraz Table VI", "KD helps under class imbalance; ONE does not"),
    ("S4", "Sarfraz Figure 1", "AT students are most similar to the teacher (PGD transferability)"),
    ("G1", "Gupta Table 1", "small students keep accuracy with large speed-ups"),
    ("G2", "Gupta Table 2", "KD matters most when data is scarce"),
    ("G3", "Gupta Lemma 1", "the distilled risk has lower variance"),
    ("C1", "Cho & Hariharan", "bigger teachers are not better teachers"),
    ("C2", "Cho & Hariharan", "early-stopped KD beats full KD"),
    ("T1", "Stanton et al.", "students do not match their teachers even on training data"),
    ("O1", "Ojha 4.1", "Grad-CAM maps of distilled students are closer to the teacher's"),
    ("O2", "Ojha 4.2", "students inherit the teacher's adversarial vulnerability"),
    ("O3", "Ojha 4.3", "invariance transfers, and only from an invariant teacher"),
    ("O4", "Ojha 4.4", "distilled students agree more with the teacher off-domain"),
    ("O5", "Ojha 5.1", "distilled students gain on unseen domains"),
    ("O6", "Ojha 6", "distilled decision boundaries are closer to the teacher's"),
    ("O7", "Ojha 5.2", "an unfair teacher makes a fair student unfair"),
)
MARKERS = ("<!-- results:start (python -m kd report) -->", "<!-- results:end -->")


@dataclass(frozen=True)
class Entry:
    id: str
    source: str
    claim: str
    notebook: str = ""
    verdict: str = "not run yet"
    paper: str = "-"
    ours: str = "-"
    data: str = "-"
    stale: str = ""          # why the numbers may be out of date ("" when they are current)
    part: str = ""           # "" for a whole claim; a part's name for a sub-claim
    main: bool = False       # the main part of its claim (it decides, kd.verdicts rule 5)
    regime: str = ""         # "short recipe" where the notebook's teacher or students are far below the paper's


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    text = f"{value:+.3g}" if unit == "points" else f"{value:.4g}"
    return f"{text} {unit}".strip() if unit not in ("%", "") else f"{text}{unit}"


def _df(df: float) -> str:
    return f"{df:g}" if float(df).is_integer() else f"{df:.1f}"


def effect_text(effect: dict) -> str:
    """The deciding effect as the scoreboard prints it: the effect, ± its standard error, the
    t critical value at its degrees of freedom and the threshold it had to clear, and n; for
    an equivalence test the interval against the margin; for McNemar its p-value and the seed
    floor; for an exact computation "no sampling noise"."""
    unit = effect.get("unit", "")
    u = f" {unit}" if unit and unit not in ("%",) else unit
    mean = effect.get("mean")
    test = effect.get("test", "")
    if mean is None:
        return "-"
    if test == "count":
        return f"{mean:g} of {effect['n']} {unit} ({effect.get('how', 'each by the kd.verdicts protocol')})"
    if test.startswith("exact"):
        note = test[test.index("(") + 1:-1] if "(" in test else "no sampling noise"
        return f"{mean:.4g}{u} (exact: {note})"
    if test.startswith("McNemar") or test.startswith("paired bootstrap"):
        what = (f"p={effect['p_value']:.2g}" if effect.get("p_value") is not None
                else f"CI [{effect['ci'][0]:+.3g}, {effect['ci'][1]:+.3g}]")
        floor = (f"; seed floor {effect['threshold']:.3g} (t{_df(effect['df'])} = {effect['critical']:.2f})"
                 if effect.get("threshold") is not None else "; no seed floor")
        return (f"{mean:+.3g}{u} ({test.split(' (')[0]} {what}{floor}), {effect.get('models_per_arm', 1)} "
                f"model(s) per arm, {effect['n']} images")
    if effect.get("se") is None:
        return f"{mean:+.3g}{u} (no se: one seed and no measured noise), n={effect.get('n')}"
    n = f"n={effect['n']}" + (f" vs {effect['n_control']}" if effect.get("n_control") else "")
    if effect.get("margin") is not None:
        lo, hi = effect["interval"]
        return (f"{mean:+.3g} ± {effect['se']:.2g}{u} (se, t{_df(effect['df'])} one-sided = {effect['critical']:.2f}; "
                f"90% interval [{lo:+.3g}, {hi:+.3g}] vs margin ±{effect['margin']:g}), {n}")
    return (f"{mean:+.3g} ± {effect['se']:.2g}{u} (se, t{_df(effect['df'])} = {effect['critical']:.2f} -> "
            f"threshold {effect['threshold']:.2g}), {n}")


def _headline(result: dict, claim: dict) -> tuple[str, str]:
    """The paper's number and ours for a claim: its deciding effect when it has one, else its
    `headline` row (by quantity), else the first row of its id that has a paper number."""
    if claim.get("effect"):
        return _number(claim.get("paper"), claim["effect"].get("unit", "")), effect_text(claim["effect"])
    paper = None
    rows = [r for r in result.get("rows", []) if r.get("id") == claim["id"]]
    wanted = claim.get("headline")
    chosen = next((r for r in rows if r.get("quantity") == wanted), None) if wanted else None
    chosen = chosen or next((r for r in rows if r.get("paper") is not None), None)
    if chosen is None:
        return paper or "-", "-"
    ours = _number(chosen["ours"], chosen.get("unit", ""))
    if chosen.get("n", 1) > 1 and chosen.get("std") is not None:
        ours += f" (std {chosen['std']:.2g} over n={chosen['n']}, not a test)"
    return paper or _number(chosen.get("paper"), chosen.get("unit", "")), f"{ours} [{chosen['quantity']}]"


def _regime(result: dict, notebook: str) -> str:
    regime = result.get("regime")
    if not regime:
        return ""
    if not regime.get("short"):
        return "paper-like"
    worst = min((r for r in regime["rows"] if r.get("gap") is not None), key=lambda r: r["gap"])
    return f"short recipe ({worst['what']} {worst['gap']:+.1f} points vs the paper)"


# a result file whose claims carry no decided effect was judged before kd.verdicts' protocol
EARLIER_RULE = "judged by the rule before kd.verdicts' protocol: re-execute the notebook"


def collect(profile: str = "cpu") -> list[Entry]:
    """Every experiment's whole claim, each followed by its parts (the main part first), from
    the result files of `profile`; experiments not run yet as one entry each."""
    check_profile(profile)
    found: dict[str, list[Entry]] = {}
    # the published results, also while `make reproduce` stages this notebook's own writes
    for path in sorted((paths.root() / "results").glob(f"*/{profile}.json")):
        result = json.loads(path.read_text())
        failed = path.with_suffix(".failed")
        stale = ""
        if failed.exists():
            marker = json.loads(failed.read_text())
            stale = f"its last execution failed on {marker.get('when', '?')}: {marker.get('error', '')}"
        elif result.get("claims") and not any("effect" in c for c in result["claims"]):
            stale = EARLIER_RULE
        notebook = result.get("notebook", path.parent.name)
        regime = _regime(result, notebook)
        by_id: dict[str, list[dict]] = {}
        for claim in result.get("claims", []):
            by_id.setdefault(claim["id"], []).append(claim)
        for id, claims in by_id.items():
            source, text = next(((s, c) for i, s, c in EXPERIMENTS if i == id), ("", claims[-1]["claim"]))
            wholes = [c for c in claims if not c.get("part")]
            parts = sorted((c for c in claims if c.get("part")), key=lambda c: not c.get("main"))
            whole = wholes[-1] if wholes else parts[0]

            def entry(c: dict, part: str = "", main: bool = False, claim_text: str = text) -> Entry:
                paper, ours = _headline(result, c)
                return Entry(id, source, claim_text, notebook, c["verdict"], paper, ours,
                             result.get("data", "-"), stale, part, main, regime)
            found[id] = [entry(whole)] + [entry(c, c["part"], bool(c.get("main")), c["claim"])
                                          for c in (parts if wholes else parts[1:])]
    out = []
    for i, s, c in EXPERIMENTS:
        out += found.get(i, [Entry(i, s, c)])
    return out


LEGEND = ("*ours* is the effect that decided the verdict: the effect ± its **standard error** (se; never the "
          "std over seeds), the Student's t critical value at the se's degrees of freedom (t4 = 2.78 at "
          "4 df) and the threshold |effect| had to clear (t x se), and n seeds (kd.verdicts). "
          "Sub-claims follow their claim, the main part (which decides) first. *regime*: \"short recipe\" "
          "where the notebook's teacher or students are more than 5 points below the paper's; its regime "
          "cell says what that can and cannot explain.")


def markdown(entries: list[Entry], profile: str = "cpu") -> str:
    """The entries as a Markdown table with a legend and a one-line tally of the whole claims."""
    lines = ["| id | claim | notebook | paper | ours (deciding effect) | verdict | regime | data |",
             "| --- | --- | --- | ---: | --- | --- | --- | --- |"]
    for e in entries:
        why = "earlier rule, not re-executed yet" if e.stale == EARLIER_RULE else "last run failed"
        verdict = (f"**{e.verdict}**" if not e.part else e.verdict) + (f" (stale: {why})" if e.stale else "") \
            if e.notebook else e.verdict
        if e.part:
            ident, claim = f"{e.id} · {e.part}{' (main)' if e.main else ''}", f"↳ {e.claim}"
        else:
            ident, claim = e.id, f"{e.claim} ({e.source})"
        regime = (f"[{e.regime}](notebooks/{e.notebook}.ipynb#Regime)" if e.regime.startswith("short")
                  else e.regime or "-")
        lines.append(f"| {ident} | {claim} | {e.notebook or '-'} | {e.paper} | {e.ours} | {verdict} | "
                     f"{regime if not e.part else ''} | {e.data if not e.part else ''} |")
    order = ("held", "partly", "did not hold", "inconclusive", "not run yet")
    wholes = [e for e in entries if not e.part]
    counts = {v: sum(e.verdict == v for e in wholes) for v in order}
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    return "\n".join(lines) + f"\n\n{LEGEND}\n\nProfile `{profile}`, {len(wholes)} experiments: {summary}."


def update_readme(readme: Path | None = None, profile: str = "cpu") -> bool:
    """Rewrite the table between the two MARKERS in README.md; True if the file changed."""
    readme = Path(readme) if readme is not None else paths.root() / "README.md"
    text = readme.read_text()
    start, end = MARKERS
    if start not in text or end not in text or text.index(start) > text.index(end):
        raise ValueError(f"{readme} has no results block: add the lines {start!r} and {end!r} "
                         f"where the table belongs")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    new = f"{head}{start}\n{markdown(collect(profile), profile)}\n{end}{tail}"
    if new != text:
        readme.write_text(new)
    return new != text


COLOURS = {"held": "#3a923a", "partly": "#e0a030", "did not hold": "#c03a2b",
           "inconclusive": "#8c8c8c", "not run yet": "#f0f0f0"}


def figure(entries: list[Entry], title: str = ""):
    """All verdicts at a glance: one cell per experiment, coloured by its verdict, grouped by
    study (a row each: Zhang, Sarfraz, Gupta, Cho & Hariharan / Stanton, Ojha)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    studies = {"Z": "Zhang", "S": "Sarfraz", "G": "Gupta", "C": "Cho & H. / Stanton", "T": "Cho & H. / Stanton",
               "O": "Ojha"}
    rows = list(dict.fromkeys(studies.values()))
    fig, ax = plt.subplots(figsize=(9, 3.2))
    column: dict[str, int] = {}
    for e in (e for e in entries if not e.part):
        row = rows.index(studies[e.id[0]])
        x = column.get(studies[e.id[0]], 0)
        column[studies[e.id[0]]] = x + 1
        # a hatch is drawn in the edge colour: white stripes on a stale verdict's colour
        ax.add_patch(plt.Rectangle((x, -row - 0.45), 0.9, 0.9, facecolor=COLOURS.get(e.verdict, "#ffffff"),
                                   hatch="///" if e.stale else None, edgecolor="white" if e.stale else "#555555",
                                   lw=0.5))
        ax.text(x + 0.45, -row, e.id, ha="center", va="center", fontsize=9,
                color="white" if e.verdict in ("held", "did not hold", "inconclusive") else "black")
    ax.set_xlim(-0.1, max(column.values()) + 0.1)
    ax.set_ylim(-len(rows) + 0.4, 0.6)
    ax.set_yticks([-i for i in range(len(rows))], rows)
    ax.set_xticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.legend(handles=[Patch(color=c, label=v) for v, c in COLOURS.items()]
              + [Patch(facecolor="#888888", hatch="///", edgecolor="white", label="stale: earlier rule\nor failed run")],
              loc="center left",
              bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
