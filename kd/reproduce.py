"""Execute the numbered notebooks end to end with papermill (`make reproduce`, `make test`).

    python -m kd reproduce [--profile smoke|cpu|paper] [--nb 10[,20...]] [--force]

Each notebook is executed into build/reproduce/<profile>/<notebook>/, with its result files and
figures written there too (KD_RESULTS, KD_FIGURES). Only when the whole notebook succeeded
are they moved into place, each atomically: under `cpu` and `paper` the executed notebook
replaces the one in notebooks/ (its outputs are the committed record), under `smoke` it goes
to build/notebooks/smoke/. An interrupted or failed execution leaves every committed file as
it was and says where its partial output is; a failure also marks the old result file stale
(results/<notebook>/<profile>.failed). A notebook whose code and kd's sources are unchanged
since it last finished under the same profile is skipped; an interrupted notebook resumes
from the run cache when run again. Under papermill, kd prints one line per trained run
(KD_PROGRESS=line) instead of progress bars. Two executions of one notebook under one profile
never overlap: each holds build/reproduce/.locks/<profile>-<notebook>.lock (a flock) while it
checks, executes and publishes, and a second one waits, saying who holds it, then goes on
(and, without --force, finds the notebook up to date).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from . import paths
from .atomic import StorageError, make_dirs, save_json, write_atomic
from .cache import exclusive
from .config import PROFILES

KERNEL = "kd"


def notebooks(selection: str | None = None) -> list[Path]:
    """The numbered notebooks, optionally only those whose number is in `selection`
    (comma-separated, e.g. "10" or "10,21"); the scoreboard (00) comes last, since it reads
    the others' results."""
    folder = paths.root() / "notebooks"
    if not folder.is_dir():
        raise ValueError(f"no notebooks folder found under {paths.root()} (the project root: KD_ROOT, "
                         f"else the nearest folder above the working directory that holds kd's "
                         f"pyproject.toml); run from inside the kd repository or set KD_ROOT")
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"), key=lambda nb: (nb.name.startswith("00"), nb.name))
    if selection is None or selection == "":
        return found
    wanted = [s.strip() for s in selection.split(",") if s.strip()]
    if not wanted:
        raise ValueError(f"NB={selection!r}: no notebook number was given; give numbers such as "
                         f"NB=10 or NB=10,21 (allowed: {', '.join(nb.name[:2] for nb in found)})")
    chosen = [nb for nb in found if nb.name[:2] in wanted]
    unknown = [w for w in wanted if not any(nb.name[:2] == w for nb in found)]
    if unknown:
        raise ValueError(f"NB={selection!r}: no notebook numbered {', '.join(unknown)}; "
                         f"allowed: {', '.join(nb.name[:2] for nb in found)}")
    return chosen


def fingerprint(notebook: Path, profile: str) -> str:
    """Hash of the notebook's code (not its outputs or injected parameters) and of kd; for
    the scoreboard (00) also of the result files it reads."""
    h = hashlib.sha256(profile.encode())
    for cell in json.loads(notebook.read_text())["cells"]:
        if "injected-parameters" not in cell.get("metadata", {}).get("tags", []):
            h.update("".join(cell["source"]).encode())
    for source in sorted((paths.root() / "kd").rglob("*.py")):
        h.update(source.read_bytes())
    if notebook.name.startswith("00"):        # the scoreboard shows the other notebooks' results
        for result in sorted(paths.results_dir().glob(f"*/{profile}.*")):
            if result.suffix in (".json", ".failed") and not result.parent.name.startswith("00"):
                h.update(result.name.encode() + result.read_bytes())
    return h.hexdigest()


def tidy_executed(path: Path, final: Path | None = None) -> None:
    """Make an executed notebook fit to commit.

    - Drop papermill's injected-parameters cell. The profile it ran under stays recorded in
      metadata.papermill.parameters; without the cell, the committed notebook's own
      parameters cell (reading KD_PROFILE) decides again when nbval or a reader re-runs it.
    - Record papermill's input and output paths relative to the project root, not as the
      executing machine's absolute paths; the output path as `final`, where the notebook
      goes once it has succeeded, not the staging file it was executed into."""
    nb = json.loads(path.read_text())
    nb["cells"] = [c for c in nb["cells"]
                   if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    record = nb.get("metadata", {}).get("papermill", {})
    if final is not None and record.get("output_path"):
        record["output_path"] = str(final)
    for key in ("input_path", "output_path"):
        if record.get(key):
            where = Path(record[key])
            try:
                record[key] = where.resolve().relative_to(paths.root()).as_posix()
            except ValueError:
                record[key] = where.name
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def _kernel_manager(log: Path) -> type:
    """A kernel manager whose kernel writes its own stderr (ipykernel's start-up warnings,
    its traceback when execution is cut short) to `log` instead of the terminal."""
    from jupyter_client.manager import AsyncKernelManager

    class LoggedKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            with open(log, "ab") as stream:       # the child keeps its own copy of the descriptor
                kw["stderr"] = stream
                return await super()._async_launch_kernel(kernel_cmd, **kw)

    return LoggedKernelManager


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
        parser.error(f"no numbered notebooks (NN_name.ipynb) under {paths.root() / 'notebooks'}")

    import papermill
    # `kill` and `timeout` send SIGTERM: end as after Ctrl-C, with the one-line summary
    signal.signal(signal.SIGTERM, _interrupt)
    kernel_env = ("KD_PROFILE", "KD_PROGRESS", "KD_RESULTS", "KD_FIGURES", "KD_PLAN_TRAINED")
    previous = {name: os.environ.get(name) for name in kernel_env}
    try:
        return _run_all(chosen, args, papermill)
    except StorageError as e:     # the staging folder, a lock, a result file: one line
        print(f"python -m kd reproduce: {e}", flush=True)
        return 1
    except KeyboardInterrupt:     # outside an execution (waiting for a notebook's lock, say)
        print("python -m kd reproduce: interrupted between executions; the committed files are "
              "unchanged. Run the same command again to go on.", flush=True)
        return 130
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _quiet_loggers() -> None:
    """kd reports each notebook's outcome itself, in one line. When an execution is cut
    short, papermill's client logs "Kernel died" and asyncio reports the abandoned cell task
    at exit; neither says more than that line, so their loggers stay silent."""
    import logging
    for name in ("asyncio", "papermill", "nbclient", "traitlets"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _publish(stage: Path, executed: Path, final: Path, stamp: Path, mark: str,
             targets: dict[str, Path]) -> list[Path]:
    """Move what a successful execution made into place, each file atomically: the result
    files and figures it wrote (into targets["results"], targets["figures"]), the executed
    notebook, then the stamp. Returns what moved."""
    moved = []
    for name, target in targets.items():
        staged = stage / name
        for file in sorted(p for p in staged.rglob("*") if p.is_file()):
            destination = target / file.relative_to(staged)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(file, destination)
            moved.append(destination)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(executed, final)
    moved.append(final)
    write_atomic(stamp, lambda tmp: tmp.write_text(mark))
    stamp.with_suffix(".failed").unlink(missing_ok=True)
    return moved


def _mark_failed(stamp: Path, executed: Path, error: str) -> None:
    """A failed execution leaves the previous result file untouched but marks it: the stamp
    goes, and `<profile>.failed` beside the result says when, why and where the partial
    output is (the scoreboard shows such results as stale)."""
    stamp.unlink(missing_ok=True)
    save_json(stamp.with_suffix(".failed"), {"when": time.strftime("%Y-%m-%d %H:%M:%S"),
                                             "error": error, "partial_output": paths.display(executed)})


def notebook_lock(notebook: Path, profile: str):
    """Hold build/reproduce/.locks/<profile>-<notebook>.lock (an exclusive flock, released by
    the operating system when its process dies) while a notebook is checked, executed and
    published; another process that holds it is waited for, naming it."""
    path = paths.root() / "build" / "reproduce" / ".locks" / f"{profile}-{Path(notebook).stem}.lock"
    return exclusive(path, f"is executing {Path(notebook).stem} ({profile})",
                     "this execution will start when it has finished")


def _train_plan(nb: Path, profile: str, prefix: str) -> None:
    """Train the notebook's plan (kd.studies.plan) before executing it, side by side with the
    machine's best worker count (one under `smoke`): the notebook then serves every run of its
    plan from the run cache, and a run it asks for outside its plan stops it (kd.runner)."""
    from . import studies
    from .parallel import best_workers, run_many
    number = nb.name[:2]
    if number not in studies.notebook_numbers():
        return
    jobs = studies.plan(number, profile)
    if not jobs:
        return
    workers = 1 if profile == "smoke" else best_workers()
    print(f"{prefix}: training its plan ahead ({len(jobs)} runs, {workers} worker(s); cached runs are skipped) ...",
          flush=True)
    run_many(jobs, workers=workers)


def _run_all(chosen: list[Path], args: argparse.Namespace, papermill) -> int:
    out_dir = paths.root() / "build" / "notebooks" / "smoke" if args.profile == "smoke" else None
    targets = {"results": paths.results_dir(), "figures": paths.figures_dir()}   # before staging
    _quiet_loggers()
    failed, finished = [], []
    for i, nb in enumerate(chosen, 1):
        prefix = f"[{i}/{len(chosen)}] {nb.stem} ({args.profile})"
        with notebook_lock(nb, args.profile):
            outcome = _run_one(nb, prefix, args, papermill, out_dir, targets, finished)
        if outcome == "interrupted":
            return 130
        if outcome == "failed":
            failed.append(nb.stem)
        elif outcome == "done":
            finished.append(nb.stem)
    if failed:
        print(f"failed: {', '.join(failed)}", flush=True)
        return 1
    return 0


def _run_one(nb: Path, prefix: str, args: argparse.Namespace, papermill, out_dir: Path | None,
             targets: dict[str, Path], finished: list[str]) -> str:
    """Check, execute and publish one notebook (under its lock): "skipped", "done", "failed"
    or "interrupted"."""
    final = (out_dir / nb.name) if out_dir else nb
    stamp = targets["results"] / nb.stem / f"{args.profile}.stamp"
    result = targets["results"] / nb.stem / f"{args.profile}.json"
    mark = fingerprint(nb, args.profile)
    if (not args.force and stamp.exists() and stamp.read_text() == mark
            and result.exists() and final.exists()):
        print(f"{prefix}: up to date, skipped", flush=True)
        return "skipped"
    # executed into a staging folder; the committed files change only on success
    stage = paths.root() / "build" / "reproduce" / args.profile / nb.stem
    shutil.rmtree(stage, ignore_errors=True)
    for sub in ("results", "figures"):
        make_dirs(stage / sub)
    executed, log = stage / nb.name, stage / "kernel.log"
    os.environ.update(KD_PROFILE=args.profile, KD_PROGRESS="line",        # the kernel inherits
                      KD_RESULTS=str(stage / "results"), KD_FIGURES=str(stage / "figures"))
    print(f"{prefix}: running ...", flush=True)
    start = time.perf_counter()
    try:
        _train_plan(nb, args.profile, prefix)
        os.environ["KD_PLAN_TRAINED"] = "1"        # the kernel serves its plan from the cache
        papermill.execute_notebook(str(nb), str(executed), parameters={"PROFILE": args.profile},
                                   kernel_name=KERNEL, cwd=str(nb.parent),
                                   progress_bar=sys.stderr.isatty(),
                                   kernel_manager_class=_kernel_manager(log))
        tidy_executed(executed, final)
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted after {time.perf_counter() - start:.0f}s; "
              f"{len(finished)} notebook(s) finished{': ' + ', '.join(finished) if finished else ''}; "
              f"{paths.display(final)} and its results are unchanged (partial output: {paths.display(executed)}). "
              f"Run the same command again to resume: finished training runs and epochs come "
              f"from runs/.", flush=True)
        return "interrupted"
    except Exception as e:      # papermill raises its own error types; report and go on
        error = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
        _mark_failed(stamp, executed, error)
        print(f"{prefix}: FAILED after {time.perf_counter() - start:.0f}s: {error}\n"
              f"    {paths.display(final)}, its results and figures are unchanged; {paths.display(stamp.with_suffix('.failed'))} "
              f"marks them stale.\n    partial output: {paths.display(executed)} (kernel log: {paths.display(log)})",
              flush=True)
        return "failed"
    moved = _publish(stage, executed, final, stamp, mark, targets)
    print(f"{prefix}: done in {time.perf_counter() - start:.0f}s -> "
          f"{', '.join(paths.display(m) for m in moved)}", flush=True)
    return "done"
