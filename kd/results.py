"""The result file every notebook writes: results/<notebook-stem>/<profile>.json.

{"notebook", "profile", "data", "rows": [{"id", "quantity", "paper", "ours", "std", "n",
"unit"}], "claims": [{"id", "claim", "verdict", "evidence", "headline"?, "part"?, "main"?, "effect"?,
"paper"?, "decided_by"?}], "regime"?, "wall_seconds"}: a claim made of parts has one entry per
part (`part` its name, `main` on the main one) and one for the whole (no `part`), recorded
last; `effect` holds the numbers that decided (kd.verdicts); `regime` the teacher's and
students' accuracy beside the paper's. `data` names the
concrete data the numbers come from (e.g. "mnist", "cifar10" or "cifar10-jpeg75");
`wall_seconds` is the time from the notebook's start to the save.

Figures: `save_figure` writes figures/<notebook>.png (cpu) or <notebook>-<profile>.png; the
notebook shows the same figure inline.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import paths
from .atomic import save_json
from .config import check_profile

from .verdicts import VERDICTS


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for a single value)."""
    values = [float(v) for v in values]
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


@dataclass
class Report:
    notebook: str
    profile: str
    data: str
    rows: list[dict] = field(default_factory=list)
    claims: list[dict] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)     # the notebook's clock
    regime_info: dict | None = None

    def __post_init__(self) -> None:
        check_profile(self.profile)

    def row(self, id: str, quantity: str, ours: float | list[float], paper: float | None = None,
            unit: str = "%") -> dict:
        """One measured quantity; a list of values (one per seed) gives mean, std and n."""
        values = ours if isinstance(ours, (list, tuple)) else [ours]
        if not values or not all(math.isfinite(float(v)) for v in values):
            raise ValueError(f"row {id} / {quantity}: ours={ours!r} must be finite numbers")
        mean, std = mean_std(values)
        entry = {"id": id, "quantity": quantity, "paper": paper, "ours": mean, "std": std,
                 "n": len(values), "unit": unit}
        self.rows.append(entry)
        return entry

    def claim(self, id: str, claim: str, verdict: str, evidence: str, headline: str | None = None, *,
              part: str | None = None, main: bool = False, effect: dict | None = None,
              paper: float | None = None, decided_by: str | None = None) -> dict:
        """A verdict on a claim. `headline` names the row (by its quantity) whose paper and own
        numbers the scoreboard shows when the claim has no `effect`; `effect` is the decided
        effect (kd.verdicts' `.effect()`: mean, se, df, critical value, threshold, n) and
        `paper` the paper's number for it. A claim made of parts records each part with
        `part=` its name (`main=True` for the main part), then the whole by `combine`."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict={verdict!r} is not allowed; allowed: {', '.join(VERDICTS)}")
        if headline is not None and not any(r["id"] == id and r["quantity"] == headline for r in self.rows):
            raise ValueError(f"headline={headline!r} is not a row of {id}")
        entry = {"id": id, "claim": claim, "verdict": verdict, "evidence": evidence}
        if headline is not None:
            entry["headline"] = headline
            if paper is None:
                paper = next(r["paper"] for r in self.rows if r["id"] == id and r["quantity"] == headline)
        for name, value in (("part", part), ("effect", effect), ("paper", paper), ("decided_by", decided_by)):
            if value is not None:
                entry[name] = value
        if main:
            entry["main"] = True
        self.claims.append(entry)
        return entry

    def judge(self, id: str, claim: str, result, headline: str | None = None, *, part: str | None = None,
              main: bool = False, paper: float | None = None) -> dict:
        """Record a claim (or a part of one) judged by kd.verdicts (compare, equivalence,
        mcnemar, paired_bootstrap, Exact): its verdict, its evidence and rule, and the effect
        that decided, at the precision that decides it."""
        note = f" ({result.note})" if getattr(result, "note", "") else ""      # Exact: what no test covers
        return self.claim(id, claim, result.verdict, f"{result.evidence}{note}; rule: {result.rule}", headline,
                          part=part, main=main, effect=result.effect(), paper=paper)

    def combine(self, id: str, claim: str, parts: list[dict], main: str | None = None) -> dict:
        """Record the whole of a claim from its recorded `parts` (the entries `judge(...,
        part=...)` returned) by kd.combine: the main part decides (kd.verdicts rule 5). The
        whole shows the deciding part's effect, evidence (se, df, critical value) and paper
        number; where no one part decided, the first part's."""
        from .verdicts import combine
        names = [p.get("part") or p["claim"] for p in parts]
        if len(set(names)) != len(names):
            raise ValueError(f"parts of {id} need distinct names, got {names}")
        combined = combine({n: p["verdict"] for n, p in zip(names, parts)}, main=main)
        decider = parts[names.index(combined.decided_by)] if combined.decided_by in names else parts[0]
        evidence = (" | ".join(f"{n}{' (main)' if n == main else ''}: {p['verdict']}" for n, p in zip(names, parts))
                    + f" | decided by {combined.decided_by}; rule: {combined.rule}"
                    + f" | {names[parts.index(decider)]}'s evidence: {decider['evidence']}")
        return self.claim(id, claim, combined.verdict, evidence, effect=decider.get("effect"),
                          paper=decider.get("paper"), decided_by=combined.decided_by,
                          headline=decider.get("headline"))

    def regime(self, rows: list[tuple[str, float, float | None]], short_gap: float = 5.0) -> dict:
        """The regime of a CIFAR notebook: (what, ours, the paper's) for its teacher and its
        students; "short" when any of ours is more than `short_gap` points below the paper's
        (the scoreboard then marks the notebook's verdicts "short recipe"). Returned and
        kept in the result file; the notebook prints it in its regime cell."""
        entries = [{"what": w, "ours": float(o), "paper": None if p is None else float(p),
                    "gap": None if p is None else float(o) - float(p)} for w, o, p in rows]
        short = any(e["gap"] is not None and e["gap"] < -short_gap for e in entries)
        self.regime_info = {"rows": entries, "short": short, "short_gap": short_gap}
        return self.regime_info

    def regime_reading(self) -> str:
        """One line per recorded claim (whole claims only) on what the regime can explain, by
        one rule stated before any result (issue 25's regime cell): where `regime()` found
        ours more than its gap below the paper's ("short"), a verdict that held did so despite
        the short recipe, which cannot explain it away; one that did not hold, was partly or
        inconclusive may be the short recipe's doing, and only the `paper` profile can tell
        it from the paper being wrong. Where ours are within the gap, the short recipe is an
        unlikely explanation of any verdict."""
        if self.regime_info is None:
            raise ValueError("call regime(rows) first: the reading needs the regime")
        short, gap = self.regime_info["short"], self.regime_info["short_gap"]
        worst = min((r for r in self.regime_info["rows"] if r["gap"] is not None), key=lambda r: r["gap"], default=None)
        where = f"{worst['what']} {worst['gap']:+.1f} points from the paper's" if worst else "no paper number"
        lines = []
        for c in self.claims:
            if c.get("part"):
                continue
            if not short:
                why = f"ours within {gap:g} points of the paper's ({where}): the short recipe is an unlikely explanation"
            elif c["verdict"] == "held":
                why = f"held although {where}: the short recipe does not explain it away"
            else:
                why = (f"{where}: the short recipe may explain this verdict; only the `paper` profile can tell "
                       f"it from the paper being wrong")
            lines.append(f"{c['id']} ({c['verdict']}): {why}")
        return "\n".join(lines)

    def table(self, ids: tuple[str, ...] | None = None) -> str:
        """The rows as a fixed-width text table: paper beside ours."""
        lines = [f"{'id':<4} {'quantity':<58} {'paper':>10} {'ours':>10} {'std':>7} {'n':>3} unit"]
        for r in self.rows:
            if ids and r["id"] not in ids:
                continue
            paper = "-" if r["paper"] is None else f"{r['paper']:.4g}"
            std = "-" if r["std"] is None else f"{r['std']:.2f}"
            lines.append(f"{r['id']:<4} {r['quantity'][:58]:<58} {paper:>10} {r['ours']:>10.4g} "
                         f"{std:>7} {r['n']:>3} {r['unit']}")
        return "\n".join(lines)

    def verdicts(self) -> str:
        return "\n".join(f"{c['id']}{' [' + c['part'] + ']' if c.get('part') else ''}: {c['verdict'].upper()}"
                         f" - {c['claim']}\n    {c['evidence']}" for c in self.claims)

    def save(self) -> str:
        """Write the result file; returns its name relative to the project, to print."""
        path = paths.results_dir() / self.notebook / f"{self.profile}.json"
        save_json(path, {"notebook": self.notebook, "profile": self.profile, "data": self.data,
                         "rows": self.rows, "claims": self.claims,
                         **({"regime": self.regime_info} if self.regime_info else {}),
                         "wall_seconds": round(time.perf_counter() - self.started, 1)})
        return paths.display(path)


def save_figure(fig, notebook: str, profile: str, dpi: int = 110) -> str:
    """Save a matplotlib figure as figures/<notebook>.png under `cpu` (the committed record),
    figures/<notebook>-<profile>.png otherwise; returns its name to print. The notebook
    shows the figure inline as well (matplotlib's inline backend draws it at the cell's end)."""
    check_profile(profile)
    path = paths.figures_dir() / (f"{notebook}.png" if profile == "cpu" else f"{notebook}-{profile}.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return paths.display(path)
