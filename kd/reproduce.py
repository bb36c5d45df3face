"""Execute the numbered notebooks end to end with papermill (`make reproduce`, `make test`).

    python -m kd reproduce [--profile smoke|cpu|paper] [--nb 10[,20...]] [--force]

Under `cpu` and `paper` the executed notebooks replace the ones in notebooks/ (their outputs
are the committed record); under `smoke` they are written to build/notebooks/smoke/.
A notebook whose code and kd's sources are unchanged since it last finished under the same
profile is skipped; an interrupted notebook resumes from the run cache when run again.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from . import paths
from .config import PROFILES

KERNEL = "kd"


def notebooks(selection: str | None = None) -> list[Path]:
    """The numbered notebooks, optionally only those whose number is in `selection`
    (comma-separated, e.g. "10" or "10,21")."""
    found = sorted((paths.root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not selection:
        return found
    wanted = [s.strip() for s in selection.split(",") if s.strip()]
    chosen = [nb for nb in found if nb.name[:2] in wanted]
    unknown = [w for w in wanted if not any(nb.name[:2] == w for nb in found)]
    if unknown:
        raise ValueError(f"NB={selection!r}: no notebook numbered {', '.join(unknown)}; "
                         f"allowed: {', '.join(nb.name[:2] for nb in found)}")
    return chosen


def fingerprint(notebook: Path, profile: str) -> str:
    """Hash of the notebook's code (not its outputs or injected parameters) and of kd."""
    h = hashlib.sha256(profile.encode())
    for cell in json.loads(notebook.read_text())["cells"]:
        if "injected-parameters" not in cell.get("metadata", {}).get("tags", []):
            h.update("".join(cell["source"]).encode())
    for source in sorted((paths.root() / "kd").rglob("*.py")):
        h.update(source.read_bytes())
    return h.hexdigest()


def tidy_executed(path: Path) -> None:
    """Make an executed notebook fit to commit.

    - Drop papermill's injected-parameters cell. The profile it ran under stays recorded in
      metadata.papermill.parameters; without the cell, the committed notebook's own
      parameters cell (reading KD_PROFILE) decides again when nbval or a reader re-runs it.
    - Record papermill's input and output paths relative to the project root, not as the
      executing machine's absolute paths."""
    nb = json.loads(path.read_text())
    nb["cells"] = [c for c in nb["cells"]
                   if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    record = nb.get("metadata", {}).get("papermill", {})
    for key in ("input_path", "output_path"):
        if record.get(key):
            where = Path(record[key])
            try:
                record[key] = where.resolve().relative_to(paths.root()).as_posix()
            except ValueError:
                record[key] = where.name
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kd reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=os.environ.get("KD_PROFILE", "cpu"))
    parser.add_argument("--nb", default=None, help="notebook numbers, comma-separated")
    parser.add_argument("--force", action="store_true", help="run even if up to date")
    args = parser.parse_args(argv)
    if args.profile not in PROFILES:
        parser.error(f"profile={args.profile!r} is not allowed; allowed: {', '.join(PROFILES)}")
    try:
        chosen = notebooks(args.nb)
    except ValueError as e:
        parser.error(str(e))
    if not chosen:
        parser.error("no numbered notebooks under notebooks/")

    import papermill
    previous = os.environ.get("KD_PROFILE")
    try:
        return _run_all(chosen, args, papermill)
    finally:
        if previous is None:
            os.environ.pop("KD_PROFILE", None)
        else:
            os.environ["KD_PROFILE"] = previous


def _run_all(chosen: list[Path], args: argparse.Namespace, papermill) -> int:
    out_dir = paths.root() / "build" / "notebooks" / "smoke" if args.profile == "smoke" else None
    failed = []
    for i, nb in enumerate(chosen, 1):
        output = (out_dir / nb.name) if out_dir else nb
        stamp = paths.results_dir() / nb.stem / f"{args.profile}.stamp"
        result = paths.results_dir() / nb.stem / f"{args.profile}.json"
        mark = fingerprint(nb, args.profile)
        prefix = f"[{i}/{len(chosen)}] {nb.stem} ({args.profile})"
        if (not args.force and stamp.exists() and stamp.read_text() == mark
                and result.exists() and output.exists()):
            print(f"{prefix}: up to date, skipped", flush=True)
            continue
        print(f"{prefix}: running ...", flush=True)
        start = time.perf_counter()
        output.parent.mkdir(parents=True, exist_ok=True)
        os.environ["KD_PROFILE"] = args.profile       # the kernel inherits it
        try:
            papermill.execute_notebook(str(nb), str(output), parameters={"PROFILE": args.profile},
                                       kernel_name=KERNEL, cwd=str(nb.parent),
                                       progress_bar=sys.stderr.isatty())
            tidy_executed(output)
        except Exception as e:      # papermill raises its own error types; report and go on
            failed.append(nb.stem)
            print(f"{prefix}: FAILED after {time.perf_counter() - start:.0f}s: "
                  f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
                  f"\n    see {output} for the cell that failed", flush=True)
            continue
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(mark)
        print(f"{prefix}: done in {time.perf_counter() - start:.0f}s -> "
              f"{result.relative_to(paths.root())}", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", flush=True)
        return 1
    return 0
