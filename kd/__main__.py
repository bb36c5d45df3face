"""Command line: `python -m kd data ...` puts the datasets under data/;
`python -m kd train --nb NN ...` trains a notebook's plan ahead (kd.cli);
`python -m kd runs export|import ...` moves finished runs between machines (kd.cli);
`python -m kd reproduce ...` executes the numbered notebooks with papermill;
`python -m kd report` rewrites README.md's results table from results/."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def data_main(argv: list[str]) -> int:
    from .data import DATASETS, fetch
    parser = argparse.ArgumentParser(prog="python -m kd data",
                                     description="Put the datasets under data/.")
    parser.add_argument("names", nargs="*", default=["mnist", "cifar10", "cifar100"])
    parser.add_argument("--mirror", type=Path, default=None,
                        help="folder of an offline mirror holding restore.py (used when present)")
    parser.add_argument("--download", action="store_true",
                        help="download with torchvision when no mirror is used")
    args = parser.parse_args(argv)
    for name in args.names:
        if name not in DATASETS:
            parser.error(f"dataset {name!r} is unknown; allowed: {', '.join(DATASETS)}")
    missing = fetch(args.names, args.mirror, args.download)
    if missing:
        print(f"not available here: {', '.join(missing)}; the notebooks that need them say so "
              f"and use the substitute their first cell names")
    return 0


def report_main(argv: list[str]) -> int:
    from .scoreboard import MARKERS, collect, markdown, update_readme
    parser = argparse.ArgumentParser(prog="python -m kd report",
                                     description="Rewrite README.md's results table from results/.")
    parser.add_argument("--profile", default="cpu", choices=("smoke", "cpu", "paper"))
    parser.add_argument("--print", action="store_true", help="print the table, change nothing")
    args = parser.parse_args(argv)
    if args.print:
        print(markdown(collect(args.profile), args.profile))
        return 0
    try:
        changed = update_readme(profile=args.profile)
    except ValueError as e:
        parser.error(str(e))
    print(f"README.md: results table {'updated' if changed else 'already current'} "
          f"(between {MARKERS[0]} and {MARKERS[1]})")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from .cli import runs_main, train_main
    commands = {"data": data_main, "report": report_main, "train": train_main, "runs": runs_main}
    try:
        from .reproduce import main as reproduce_main
        commands["reproduce"] = reproduce_main
    except ImportError:      # papermill is an extra: without it, only `data` is offered
        pass
    if not argv or argv[0] not in commands:
        print(f"usage: python -m kd {{{','.join(commands)}}} ...", file=sys.stderr)
        return 2
    try:
        return commands[argv[0]](argv[1:])
    except KeyboardInterrupt:
        if argv[0] != "data":        # `reproduce` says itself what finished and how to resume
            raise
        from .paths import data_dir
        print(f"python -m kd data: interrupted; the datasets under {data_dir()} may be incomplete. "
              f"Run `make data` again: kd checks every file it reads, so a half-written one is "
              f"refused, never trained on.", file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
