"""A notebook's runs trained side by side: `run_many(jobs, workers=..., address=...)`.

A `Job` is a RunConfig with the name it is printed under and whether its gradients are
recorded (kd.gradients). `run_many` trains what the run cache lacks, teachers and first
stages before the runs built on them, and returns the Results in the order given:

- `workers=1` (and no `address`) trains one run after another in this process.
- More workers run on Ray (https://docs.ray.io): a local Ray instance by default, each task
  with its share of this machine's cores as torch threads (two one-thread runs side by side
  train 17% more images a second in all than one two-thread run while training, 8% more end
  to end, on a 2-core float32 CPU: `make bench`), or the cluster at `address` (Ray's own "auto" or "ray://host:port"), where
  each task asks for one GPU when the cluster has GPUs. Ray schedules the tasks, retries one
  whose worker died (`max_retries`), and ships each finished run's files back to this
  process, which checks their sha256 and writes them into its own run cache: no shared file
  system is assumed. A task gets the finished files of the teacher and first stage its run
  needs with it. A retried run resumes from its last checkpoint where the retry can see it
  (always on one machine; on a cluster, when it lands on the same node or the nodes share
  KD_RUNS).
- A run several jobs share (a teacher, notebook 23 reusing notebook 20's students) is
  trained once.

Every distinct config is checked first, the way `kd.run` checks it before it trains (data
transforms, network, method): a bad config is refused before anything starts, with the
one-line error `kd.run` would give.
"""
from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .config import RunConfig


@dataclass(frozen=True)
class Job:
    """One run of a plan: its config, the name it is printed under, and whether the trainer
    records its gradients (notebook 11's Z5)."""
    config: RunConfig
    name: str = ""
    record_gradients: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.config, RunConfig):
            raise ValueError(f"Job.config must be a kd.RunConfig, not {type(self.config).__name__}")


def as_job(item: "Job | RunConfig") -> Job:
    """A plan's item as a Job (a bare RunConfig gets an empty name)."""
    if isinstance(item, Job):
        return item
    if isinstance(item, RunConfig):
        return Job(item)
    raise ValueError(f"a plan holds kd.Job or kd.RunConfig items, not {type(item).__name__}: {item!r}")


def closure(configs) -> list[RunConfig]:
    """Every distinct run the configs need, their teachers and first stages first (a run
    appears after everything it is built on), each once."""
    out: dict[str, RunConfig] = {}

    def visit(cfg: RunConfig) -> None:
        if cfg.key() in out:
            return
        for parent in cfg.parents():          # teacher (each member of an ensemble), first stage
            visit(parent)
        out[cfg.key()] = cfg
    for cfg in configs:
        visit(cfg)
    return list(out.values())


def best_workers() -> int:
    """The worker count `make reproduce` and `python -m kd train` use by default: one per GPU
    where there are GPUs, else one per core on a machine of up to 4 cores and one per two
    cores above that. Measured on 2 cores (`make bench`, side_by_side: four ResNet-8 runs of
    2 epochs): two one-thread runs train 17% more images a second in all than one two-thread
    run while training and 8% more end to end (Ray's start included) on a float32 (AVX2) AMD
    EPYC, and 2% more end to end on an AVX512-bf16 Xeon: never fewer."""
    import torch
    if torch.cuda.is_available():
        return torch.cuda.device_count()
    cores = os.cpu_count() or 1
    return cores if cores <= 4 else cores // 2


def run_many(jobs, *, workers: int | None = 1, address: str | None = None, device=None,
             progress: bool | None = None, max_retries: int = 3, gpus: float | None = None):
    """Train what the run cache lacks of `jobs` (Jobs or RunConfigs), teachers and first stages
    before the runs built on them, and return their Results in the order given (see the
    module's docstring). `workers=None` means `best_workers()`."""
    from .runner import preflight, run
    items = [as_job(j) for j in jobs]
    for cfg in closure(j.config for j in items):
        preflight(cfg)
    workers = best_workers() if workers is None else workers
    if not (isinstance(workers, int) and workers >= 1):
        raise ValueError(f"workers={workers!r} must be a whole number >= 1")
    from .runner import planned_training
    with planned_training():
        if workers > 1 or address is not None:
            _train_on_ray(items, workers, address, max_retries, gpus)
        return [run(j.config, device=device, progress=progress, name=j.name, record_gradients=j.record_gradients)
                for j in items]


def seed_noise(jobs, setting: str, value=None, **run_options):
    """The measured seed noise of one setting (kd.verdicts rule 2): the runs of `jobs` (one arm
    of the same network, data, recipe and precision over several seeds) trained or served by
    `run_many`, and the std of `value(result)` (default: final-epoch test accuracy) over them,
    as a kd.Noise that names `setting` and the runs' keys."""
    from .verdicts import Noise
    items = [as_job(j) for j in jobs]
    seeds = [j.config.seed for j in items]
    first = items[0].config
    strays = [j.config for j in items if j.config.with_(seed=first.seed) != first]
    if strays or len(set(seeds)) != len(seeds):
        raise ValueError(f"seed_noise needs one arm over distinct seeds (configs equal but for the seed), got "
                         f"seeds {seeds}{' and configs that differ in more than the seed' if strays else ''}")
    results = run_many(items, **run_options)
    values = [(value or (lambda r: r.final_acc))(r) for r in results]
    return Noise.of(values, f"{setting} ({len(values)} seeds, {results[0].metrics.get('data', '')})",
                    keys=tuple(r.key for r in results))


# ------------------------------------------------------------------------ moving finished runs

FILES = ("config.json", "model.pt", "metrics.json")


def pack(folder: Path) -> dict[str, bytes]:
    """A finished run folder's files as bytes (what a Ray task returns, what an export holds)."""
    return {name: (Path(folder) / name).read_bytes() for name in FILES if (Path(folder) / name).exists()}


def unpack(files: dict[str, bytes], folder: Path, cfg: RunConfig | None = None) -> bool:
    """Write a finished run's files into the run cache at `folder`, checked first (kd.cache's
    sha256 and metrics checks) in a temporary folder beside it and then renamed into place;
    False (nothing written) when `folder` already holds a finished entry. ValueError naming
    what is wrong when the files are damaged."""
    from .atomic import make_dirs
    from .cache import record_digests, verify_entry
    folder = Path(folder)
    if (folder / "metrics.json").exists() and verify_entry(folder, cfg) is None:
        return False
    make_dirs(folder.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".part", dir=folder.parent))
    try:
        for name, blob in files.items():
            if name not in FILES:
                raise ValueError(f"a run folder holds {', '.join(FILES)}, not {name!r}")
            (tmp / name).write_bytes(blob)
        problem = verify_entry(tmp, cfg)
        if problem is not None:
            raise ValueError(f"the files of run {folder.name} are damaged: {problem}")
        record_digests(tmp)
        if folder.exists():                   # an unfinished attempt (checkpoint) of the same run
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return True


# ------------------------------------------------------------------------ Ray

def _remote_train(payload: dict, deps: list[tuple[str, dict[str, bytes]]], threads: int) -> tuple[str, dict]:
    """A Ray task: put the dependencies' files into this worker's run cache, train (or resume)
    the run with `threads` torch threads, return its folder's name and files."""
    import torch

    from . import paths
    from .config import from_dict
    from .runner import run
    torch.set_num_threads(max(1, threads))
    for name, files in deps:
        unpack(files, paths.runs_dir() / name)
    from .runner import planned_training
    cfg = from_dict(payload["config"])
    with planned_training():
        result = run(cfg, name=payload["name"], record_gradients=payload["record_gradients"], progress=False)
    folder = paths.runs_dir() / result.key
    return result.key, pack(folder)


def _train_on_ray(items: list[Job], workers: int, address: str | None, max_retries: int,
                  gpus: float | None) -> None:
    import ray
    import torch

    from . import paths
    from .runner import _note as note, device_tag, find_finished
    from .train import default_device
    todo = [cfg for cfg in closure(j.config for j in items) if find_finished(cfg) is None]
    if not todo:
        return
    started = not ray.is_initialized()
    if started:
        env = {k: v for k, v in os.environ.items() if k.startswith("KD_") or k in ("PYTHONPATH",)}
        env.setdefault("KD_RUNS", str(paths.runs_dir()))
        env.setdefault("KD_DATA", str(paths.data_dir()))
        _start_ray(ray, workers, address, env, torch.cuda.device_count())
    done, pending = 0, {}
    try:
        resources = ray.cluster_resources()
        if gpus is None:
            gpus = 1 if resources.get("GPU", 0) > 0 else 0
        cpus = resources.get("CPU", workers)
        threads = max(1, int(cpus // workers)) if address is None else max(1, (os.cpu_count() or 1) // workers)
        task = ray.remote(_remote_train).options(num_cpus=threads if address is None else 1, num_gpus=gpus,
                                                 max_retries=max_retries)
        wanted = {j.config.key(): j for j in items}
        tag = device_tag(default_device())
        total = len(todo)
        print(f"training {total} run(s) on {'Ray at ' + address if address else f'{workers} local workers'} "
              f"({threads} thread(s) each{', 1 GPU each' if gpus else ''}); the rest are in the run cache",
              flush=True)
        start = time.perf_counter()
        while todo or pending:
            ready = [c for c in todo if all(find_finished(p) is not None for p in c.parents())]
            for cfg in ready:
                todo.remove(cfg)
                job = wanted.get(cfg.key(), Job(cfg, _describe(cfg)))
                deps = [(find_finished(p).name, pack(find_finished(p))) for p in closure([cfg])[:-1]]
                payload = {"config": cfg.to_dict(), "name": job.name, "record_gradients": job.record_gradients}
                pending[task.remote(payload, deps, threads)] = (cfg, job)
            if not pending:
                raise RuntimeError("run_many: runs are waiting on a teacher or first stage that no task trains")
            finished, _ = ray.wait(list(pending), num_returns=1)
            cfg, job = pending.pop(finished[0])
            folder_name, files = ray.get(finished[0])
            local = paths.runs_dir() / folder_name
            unpack(files, local, cfg)
            done += 1
            import json
            metrics = json.loads((local / "metrics.json").read_text())
            note(folder_name, True, metrics, before=0.0)       # trained in this execution, for budget lines
            where = "" if folder_name.endswith(tag) else f" on {folder_name.rsplit('-', 2)[-2]}"
            print(f"[{done}/{total}] trained {job.name or _describe(cfg)}{where}: {metrics['final_acc']:.2f}% "
                  f"(final epoch) in {metrics['train_seconds']:.0f} s; {time.perf_counter() - start:.0f} s so far",
                  flush=True)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        print(f"run_many: interrupted; {done} run(s) finished and are in the run cache, {len(pending)} "
              f"stopped (each resumes from its last checkpoint when run again)", flush=True)
        raise
    finally:
        if started:
            ray.shutdown()


def _start_ray(ray, workers: int, address: str | None, env: dict, gpus: int, attempts: int = 3) -> None:
    """Start a local Ray instance of `workers` CPUs (or join the cluster at `address`). On a
    busy machine Ray's own processes can start too slowly for its fixed startup wait (its node
    registers within 30 s, or it gives up): the start is tried `attempts` times, the raylet given
    five minutes to find its agents."""
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "300")
    for attempt in range(1, attempts + 1):
        try:
            if address is None:
                ray.init(num_cpus=workers, num_gpus=gpus, include_dashboard=False, log_to_driver=False,
                         runtime_env={"env_vars": env}, configure_logging=False)
            else:
                ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=False)
            return
        except Exception as e:           # Ray raises a bare Exception when its node times out
            ray.shutdown()
            if attempt == attempts or "timed out during startup" not in str(e):
                raise RuntimeError(f"Ray did not start ({attempt} attempts): {e}") from e
            print(f"Ray's start timed out (attempt {attempt} of {attempts}, the machine is busy); trying again",
                  flush=True)


def _describe(cfg: RunConfig) -> str:
    from .cache import describe
    return describe(cfg)


# ------------------------------------------------------------------------ export / import

def export_runs(configs, path: Path) -> list[str]:
    """Write the finished runs of `configs` (their teachers and first stages included) to a
    tar file at `path`: each run folder's files and a manifest of their sha256. Returns the
    folders exported; ValueError naming the runs that have not finished here."""
    import hashlib
    import json
    from .atomic import write_atomic
    runs = closure(configs)
    from .runner import find_finished
    folders = [(cfg, find_finished(cfg)) for cfg in runs]
    missing = [cfg for cfg, f in folders if f is None]
    if missing:
        raise ValueError(f"{len(missing)} of the {len(runs)} runs have not finished in this run cache "
                         f"(e.g. {_describe(missing[0])}): train them first (python -m kd train)")
    manifest = {"runs": []}
    blobs = {}
    for cfg, folder in folders:
        files = pack(folder)
        manifest["runs"].append({"folder": folder.name, "key": cfg.key(),
                                 "sha256": {n: hashlib.sha256(b).hexdigest() for n, b in files.items()}})
        blobs.update({f"{folder.name}/{n}": b for n, b in files.items()})

    def write(tmp: Path) -> None:
        with tarfile.open(tmp, "w") as tar:
            for name, blob in [("manifest.json", json.dumps(manifest, indent=1).encode())] + sorted(blobs.items()):
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(blob), 0
                tar.addfile(info, io.BytesIO(blob))
    write_atomic(Path(path), write)
    return [f.name for _, f in folders]


def import_runs(path: Path) -> tuple[list[str], list[str]]:
    """Read runs exported by `export_runs` into this run cache: every file checked against the
    manifest's sha256 and every run folder by kd.cache's checks before it is written, each
    folder moved into place whole. Returns (imported, already here); ValueError naming the
    first damaged file."""
    import hashlib
    import json

    from . import paths
    from .config import from_dict
    try:
        tar = tarfile.open(path, "r")
    except (OSError, tarfile.TarError) as e:
        raise ValueError(f"{path} is not a kd runs export ({type(e).__name__}: {e})") from None
    with tar:
        try:
            manifest = json.loads(tar.extractfile("manifest.json").read())
        except (KeyError, AttributeError, ValueError) as e:
            raise ValueError(f"{path} has no readable manifest.json ({type(e).__name__}: {e})") from None
        runs = []
        for entry in manifest.get("runs", []):
            files = {}
            for name, expected in entry["sha256"].items():
                member = tar.extractfile(f"{entry['folder']}/{name}")
                blob = member.read() if member is not None else b""
                if hashlib.sha256(blob).hexdigest() != expected:
                    raise ValueError(f"{path}: {entry['folder']}/{name} does not match its sha256 in the "
                                     f"manifest: the file was damaged; export it again")
                files[name] = blob
            cfg = from_dict(json.loads(files["config.json"]))
            if cfg.key() != entry["key"] or not entry["folder"].startswith(cfg.key()):
                raise ValueError(f"{path}: {entry['folder']} holds a config whose key is {cfg.key()}, not "
                                 f"{entry['key']}")
            runs.append((entry["folder"], files, cfg))
    imported, present = [], []
    for folder, files, cfg in runs:
        (imported if unpack(files, paths.runs_dir() / folder, cfg) else present).append(folder)
    return imported, present
