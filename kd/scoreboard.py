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


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    text = f"{value:+.3g}" if unit == "points" else f"{value:.4g}"
    return f"{text} {unit}".strip() if unit not in ("%", "") else f"{text}{unit}"


def _headline(result: dict, claim: dict) -> tuple[str, str]:
    """The paper's number and ours for a claim: its `headline` row (by quantity), else the
    first row of its id that has a paper number."""
    rows = [r for r in result.get("rows", []) if r.get("id") == claim["id"]]
    wanted = claim.get("headline")
    chosen = next((r for r in rows if r.get("quantity") == wanted), None) if wanted else None
    chosen = chosen or next((r for r in rows if r.get("paper") is not None), None)
    if chosen is None:
        return "-", "-"
    ours = _number(chosen["ours"], chosen.get("unit", ""))
    if chosen.get("n", 1) > 1 and chosen.get("std") is not None:
        ours += f" ± {chosen['std']:.2g} (n={chosen['n']})"
    return _number(chosen.get("paper"), chosen.get("unit", "")), f"{ours} [{chosen['quantity']}]"


def collect(profile: str = "cpu") -> list[Entry]:
    """One entry per experiment, from the result files of `profile`."""
    check_profile(profile)
    found: dict[str, Entry] = {}
    # the published results, also while `make reproduce` stages this notebook's own writes
    for path in sorted((paths.root() / "results").glob(f"*/{profile}.json")):
        result = json.loads(path.read_text())
        failed = path.with_suffix(".failed")
        stale = ""
        if failed.exists():
            marker = json.loads(failed.read_text())
            stale = f"its last execution failed on {marker.get('when', '?')}: {marker.get('error', '')}"
        for claim in result.get("claims", []):
            source, text = next(((s, c) for i, s, c in EXPERIMENTS if i == claim["id"]), ("", claim["claim"]))
            paper, ours = _headline(result, claim)
            found[claim["id"]] = Entry(claim["id"], source, text, result.get("notebook", path.parent.name),
                                       claim["verdict"], paper, ours, result.get("data", "-"), stale)
    return [found.get(i, Entry(i, s, c)) for i, s, c in EXPERIMENTS]


def markdown(entries: list[Entry], profile: str = "cpu") -> str:
    """The entries as a Markdown table with a one-line tally."""
    lines = ["| id | claim | notebook | paper | ours | verdict | data |", "| --- | --- | --- | ---: | --- | --- | --- |"]
    for e in entries:
        verdict = f"**{e.verdict}**" + (" (stale: last run failed)" if e.stale else "") \
            if e.notebook else e.verdict
        lines.append(f"| {e.id} | {e.claim} ({e.source}) | {e.notebook or '-'} | {e.paper} | {e.ours} | "
                     f"{verdict} | {e.data} |")
    order = ("held", "partly", "did not hold", "inconclusive", "not run yet")
    counts = {v: sum(e.verdict == v for e in entries) for v in order}
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    return "\n".join(lines) + f"\n\nProfile `{profile}`, {len(entries)} experiments: {summary}."


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
    for e in entries:
        row = rows.index(studies[e.id[0]])
        x = column.get(studies[e.id[0]], 0)
        column[studies[e.id[0]]] = x + 1
        ax.add_patch(plt.Rectangle((x, -row - 0.45), 0.9, 0.9, color=COLOURS.get(e.verdict, "#ffffff"),
                                   hatch="//" if e.stale else None, ec="#555555", lw=0.5))
        ax.text(x + 0.45, -row, e.id, ha="center", va="center", fontsize=9,
                color="white" if e.verdict in ("held", "did not hold", "inconclusive") else "black")
    ax.set_xlim(-0.1, max(column.values()) + 0.1)
    ax.set_ylim(-len(rows) + 0.4, 0.6)
    ax.set_yticks([-i for i in range(len(rows))], rows)
    ax.set_xticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.legend(handles=[Patch(color=c, label=v) for v, c in COLOURS.items()], loc="center left",
              bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
