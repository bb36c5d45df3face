"""`python -m kd train` and `python -m kd runs`: a notebook's plan trained ahead, checked, and its
finished runs moved between machines.

    python -m kd train --nb 20 [--profile cpu] [--workers N] [--address A] [--dry-run]
    python -m kd runs export --nb 20 [--profile cpu] FILE
    python -m kd runs import FILE

`train` trains what the run cache lacks of notebook NN's plan (kd.studies.plan), side by side
(kd.run_many: `--workers` local Ray workers, or the Ray cluster at `--address`), with a line
per finished run; the notebook then serves every run from the cache. `--dry-run` trains
nothing: it checks every config of the plan, builds each distinct combination and takes two
optimiser steps of it, and prints the plan with its projected hours (kd.dryrun). `runs
export` writes the plan's finished runs (weights, metrics, configs, sha256 of each file) to one
file; `runs import` checks and adds them to this machine's run cache, so that a notebook
trained on a cluster re-executes on a laptop from the cache.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .config import PROFILES


def _numbers(parser: argparse.ArgumentParser, selection: str) -> list[str]:
    from . import studies
    wanted = [s.strip() for s in selection.split(",") if s.strip()]
    if not wanted:
        parser.error(f"--nb {selection!r} names no notebook; give a number such as 20, or several as 20,21")
    known = studies.notebook_numbers()
    unknown = [w for w in wanted if f"{int(w):02d}" not in known] if all(w.isdigit() for w in wanted) else wanted
    if unknown:
        parser.error(f"--nb {selection!r}: no plan for notebook {', '.join(unknown)}; allowed: {', '.join(known)}")
    return [f"{int(w):02d}" for w in wanted]


def train_main(argv: list[str]) -> int:
    from . import studies
    from .parallel import best_workers, run_many
    parser = argparse.ArgumentParser(prog="python -m kd train",
                                     description="Train a notebook's plan ahead of executing it.")
    parser.add_argument("--nb", required=True, help="notebook numbers, comma-separated (e.g. 20 or 20,21)")
    parser.add_argument("--profile", default=os.environ.get("KD_PROFILE", "cpu"), choices=PROFILES)
    parser.add_argument("--workers", type=int, default=None,
                        help=f"runs side by side (default: this machine's best, {best_workers()})")
    parser.add_argument("--address", default=None, help="a Ray cluster: 'auto' or ray://host:port")
    parser.add_argument("--dry-run", action="store_true", help="check and project the plan, train nothing")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers {args.workers} must be >= 1")
    os.environ.setdefault("KD_PROGRESS", "line")
    numbers = _numbers(parser, args.nb)
    if args.dry_run:
        from .dryrun import dry_run
        checked: dict = {}          # a combination several notebooks share is built and stepped once
        for nb in numbers:
            print(f"notebook {nb}:", end=" ")
            dry_run(studies.plan(nb, args.profile), args.profile, checked=checked)
        return 0
    jobs, seen = [], set()          # several notebooks' plans trained as one, so no worker waits between them
    for nb in numbers:
        plan = studies.plan(nb, args.profile)
        print(f"notebook {nb}, profile {args.profile}: {len(plan)} runs in its plan", flush=True)
        jobs += [j for j in plan if j.config.key() not in seen and not seen.add(j.config.key())]
    try:
        run_many(jobs, workers=args.workers, address=args.address)
    except KeyboardInterrupt:
        print("interrupted: finished runs are in the run cache, and an unfinished one resumes from its last "
              "epoch; run the same command again to go on", file=sys.stderr, flush=True)
        return 130
    print(f"notebook{'s' * (len(numbers) > 1)} {', '.join(numbers)}: every run of the plan is in the run cache", flush=True)
    return 0


def runs_main(argv: list[str]) -> int:
    from . import studies
    from .parallel import export_runs, import_runs
    parser = argparse.ArgumentParser(prog="python -m kd runs",
                                     description="Move a notebook's finished runs between machines.")
    sub = parser.add_subparsers(dest="verb", required=True)
    exp = sub.add_parser("export", help="write a notebook's finished runs to FILE")
    exp.add_argument("--nb", required=True)
    exp.add_argument("--profile", default=os.environ.get("KD_PROFILE", "cpu"), choices=PROFILES)
    exp.add_argument("file", type=Path)
    imp = sub.add_parser("import", help="check the runs in FILE and add them to this run cache")
    imp.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.verb == "export":
            configs = [job.config for nb in _numbers(exp, args.nb) for job in studies.plan(nb, args.profile)]
            folders = export_runs(configs, args.file)
            print(f"{args.file}: {len(folders)} finished runs of notebook {args.nb} ({args.profile}), with the sha256 "
                  f"of every file ({args.file.stat().st_size / 1e6:.1f} MB)")
        else:
            imported, present = import_runs(args.file)
            print(f"{args.file}: {len(imported)} runs checked and added to the run cache, {len(present)} already there")
    except (ValueError, OSError) as e:
        print(f"python -m kd runs {args.verb}: {e}", file=sys.stderr)
        return 1
    return 0
