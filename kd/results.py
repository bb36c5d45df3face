"""The result file every notebook writes: results/<notebook-stem>/<profile>.json.

{"notebook", "profile", "data", "rows": [{"id", "quantity", "paper", "ours", "std", "n",
"unit"}], "claims": [{"id", "claim", "verdict", "evidence"}], "wall_seconds"}. `data` names the
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

VERDICTS = ("held", "partly", "did not hold", "inconclusive")


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

    def claim(self, id: str, claim: str, verdict: str, evidence: str, headline: str | None = None) -> dict:
        """A verdict on a claim; `headline` names the row (by its quantity) whose paper and
        own numbers the scoreboard shows beside it."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict={verdict!r} is not allowed; allowed: {', '.join(VERDICTS)}")
        if headline is not None and not any(r["id"] == id and r["quantity"] == headline for r in self.rows):
            raise ValueError(f"headline={headline!r} is not a row of {id}")
        entry = {"id": id, "claim": claim, "verdict": verdict, "evidence": evidence}
        if headline is not None:
            entry["headline"] = headline
        self.claims.append(entry)
        return entry

    def judge(self, id: str, claim: str, comparison, headline: str | None = None) -> dict:
        """Record a claim judged by kd.verdicts (compare, mcnemar, paired_bootstrap): its
        verdict, its evidence and the rule that decided it, at the precision that decides it."""
        entry = self.claim(id, claim, comparison.verdict, f"{comparison.evidence}; rule: {comparison.rule}",
                           headline)
        entry["comparison"] = {k: getattr(comparison, k) for k in ("mean", "se", "n", "wins")
                               if hasattr(comparison, k)}
        return entry

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
        return "\n".join(f"{c['id']}: {c['verdict'].upper()} - {c['claim']}\n    {c['evidence']}"
                         for c in self.claims)

    def save(self) -> str:
        """Write the result file; returns its name relative to the project, to print."""
        path = paths.results_dir() / self.notebook / f"{self.profile}.json"
        save_json(path, {"notebook": self.notebook, "profile": self.profile, "data": self.data,
                         "rows": self.rows, "claims": self.claims,
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
