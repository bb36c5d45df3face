"""`make bench`: kd's trainer beside the conventional KD training loop, on the same networks,
batch size, optimiser and number of steps (issue 4).

The conventional loop is written here, as published KD code writes it: a torch DataLoader
over PIL images with torchvision transforms (RandomCrop(32, padding=4, reflect),
RandomHorizontalFlip, ToTensor, Normalize), 2 workers, float32 NCHW networks, the teacher
recomputed on every batch, `loss.item()` after every step. kd's side is `kd.train.fit` itself.

For each case the table gives images/s of both loops and the speed-up; kd's model-FLOP
utilisation (model FLOPs per second over the machine's measured matrix-multiply peak at
kd's precision); and the share of kd's step spent outside forward and backward, against
the same distiller's forward and backward on batches staged beforehand.

    python benchmarks/bench.py [--smoke] [--no-accuracy] [--out benchmarks/results.json]

Side by side (the runs issue): four ResNet-8 runs of notebook 20's recipe, 2 epochs each,
trained by kd.run_many with one worker of every core's threads, then with one one-thread
worker per core (local Ray), in the same invocation: aggregate training images per second,
twice: end to end (the wall time of kd.run_many, Ray's start, the workers' imports, the
per-epoch test evaluations and the shipping of results included) and while training (the
images over the trainer's own clock, kd's `train_seconds`, divided among the workers that
train at once: what a notebook of many longer runs gets, where the fixed costs vanish).

`--smoke` (what CI runs) takes seconds: two timed steps per loop on tiny subsets, no
float32 column and no accuracy runs; it writes benchmarks/results-smoke.json.

Accuracy parity (full mode): the same short runs (seed, epochs, initial weights, optimiser,
schedule) with the conventional loop, kd in float32 and kd at precision "auto", over three
seeds. CPU bf16 is kd's default only because these agree.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import transforms

import kd
from kd.atomic import save_json
from kd.runner import _build_student, _context, evaluation_split
from kd.train import autocast, default_device, fit, lr_factor, native_bf16, resolve_precision

BATCH = 128
HERE = Path(__file__).resolve().parent


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    data: str
    student: kd.ModelConfig
    teacher: kd.ModelConfig | None
    augment: str            # kd's augmentation; the conventional loop uses the same one


CASES = [
    Case("CE ResNet-8", "cifar10", kd.ModelConfig("resnet8"), None, "crop_flip"),
    Case("Hinton ResNet-26 -> ResNet-8", "cifar10", kd.ModelConfig("resnet8"),
         kd.ModelConfig("resnet26"), "crop_flip"),
    Case("Hinton WRN-40-2 -> WRN-16-2", "cifar10", kd.ModelConfig("wrn_16_2"),
         kd.ModelConfig("wrn_40_2"), "crop_flip"),
    Case("Hinton MNIST 1200-1200 -> 400", "mnist", kd.ModelConfig("mlp", (400,)),
         kd.ModelConfig("mlp", (1200, 1200)), "none"),
]
T, ALPHA = 4.0, 0.9
OPTIMIZER = dict(lr=0.05, momentum=0.9, weight_decay=5e-4)


# ------------------------------------------------------------------ the conventional loop

class PILImages(torch.utils.data.Dataset):
    """What torchvision.datasets.CIFAR10 / MNIST do per item: array -> PIL image -> transform."""

    def __init__(self, data: kd.Dataset, transform):
        images = data.images.numpy()
        self.arrays = images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)
        self.labels = data.labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.arrays[i])), self.labels[i]


def conventional_transform(data: kd.Dataset, augment: bool) -> transforms.Compose:
    steps = [transforms.RandomCrop(32, padding=4, padding_mode="reflect"),
             transforms.RandomHorizontalFlip()] if augment else []
    return transforms.Compose(steps + [transforms.ToTensor(), transforms.Normalize(data.mean, data.std)])


def conventional_loader(data: kd.Dataset, augment: bool, shuffle: bool = True,
                        batch_size: int = BATCH) -> DataLoader:
    return DataLoader(PILImages(data, conventional_transform(data, augment)), batch_size=batch_size,
                      shuffle=shuffle, num_workers=2, drop_last=shuffle)


def conventional_step(student, teacher, optimizer, x, y) -> float:
    """One step of the usual KD loop: teacher recomputed, fp32, loss read back every step."""
    logits = student(x)
    loss = F.cross_entropy(logits, y)
    if teacher is not None:
        with torch.no_grad():
            t_logits = teacher(x)
        kl = F.kl_div(F.log_softmax(logits / T, 1), F.softmax(t_logits / T, 1), reduction="batchmean")
        loss = (1 - ALPHA) * loss + ALPHA * T * T * kl
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def conventional_seconds_per_step(case: Case, train: kd.Dataset, steps: int, warmup: int,
                                  device: torch.device) -> float:
    torch.manual_seed(0)
    student = kd.build(case.student, train.num_classes, tuple(train.images.shape[1:])).to(device)
    teacher = kd.build(case.teacher, train.num_classes, tuple(train.images.shape[1:])).to(device).eval() \
        if case.teacher else None
    optimizer = torch.optim.SGD(student.parameters(), **OPTIMIZER)
    batches = iter(conventional_loader(train, case.augment != "none"))
    student.train()
    for i in range(warmup + steps):
        if i == warmup:
            start = time.perf_counter()     # loss.item() in each step has synchronised already
        x, y = next(batches)
        conventional_step(student, teacher, optimizer, x.to(device), y.to(device))
    return (time.perf_counter() - start) / steps


# ------------------------------------------------------------------------ kd's trainer

def kd_distiller(case: Case, train: kd.Dataset, precision: str):
    """The distiller kd's runner would build, with an untrained teacher (speed only)."""
    method = kd.MethodConfig("hinton", T=T, alpha=ALPHA) if case.teacher else kd.MethodConfig("ce")
    cfg = kd.RunConfig(data=kd.DataConfig(case.data), model=case.student, method=method,
                       train=kd.TrainConfig(epochs=2, batch_size=BATCH, precision=precision, **OPTIMIZER),
                       teacher=kd.RunConfig(data=kd.DataConfig(case.data), model=case.teacher)
                       if case.teacher else None)
    teacher = _build_student(cfg.teacher, train, 5) if case.teacher else None
    return kd.METHODS[method.name](_build_student(cfg, train), teacher, method, _context(cfg, train)), cfg


def kd_seconds_per_step(case: Case, train: kd.Dataset, device, precision: str, rounds: int = 3) -> dict:
    """kd's step: fit() for one epoch of `train`, `rounds` times. Its forward and backward: the
    same distiller's forward_train and backward alone, on that epoch's batches staged
    beforehand. The two alternate, so that drift in the machine's speed touches both; each is
    the fastest of its rounds (the first warms up)."""
    distiller, cfg = kd_distiller(case, train, precision)
    one_epoch = dataclasses.replace(cfg.train, epochs=1)
    loader = kd.DeviceLoader(train, BATCH, device, shuffle=True, augment=case.augment, drop_last=True)
    params = list(distiller.learnable_parameters())
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    staged, steps, passes, setup_s = None, [], [], 0.0
    for r in range(rounds):
        start = time.perf_counter()
        (epoch,) = fit(distiller, loader, None, one_epoch, seed=0, progress=False)
        if r == 0:      # the one-off set-up of a run (the teacher-logit cache, if any)
            setup_s = max(time.perf_counter() - start - epoch["seconds"], 0.0)
        steps.append(epoch["seconds"] / len(loader))
        staged = staged or list(loader.epoch(0))
        distiller.train()
        sync()
        start = time.perf_counter()
        for batch in staged:
            with autocast(device, precision):
                _, named = distiller.forward_train(batch, 0)
            for p in params:
                p.grad = None
            sum(named.values()).backward()
        sync()
        passes.append((time.perf_counter() - start) / len(staged))
    return {"step_s": min(steps), "forward_backward_s": min(passes), "setup_s": setup_s,
            "distiller": distiller}


def step_flops(case: Case, distiller, example: torch.Tensor) -> float:
    """Model FLOPs of one step: 3x the student's forward (forward + backward) plus the
    teacher's forward when it runs every step; 2 FLOPs per multiply-accumulate."""
    macs = 3 * kd.count_macs(distiller.student, example)
    if case.teacher is not None and distiller._teacher_cache is None:
        macs += kd.count_macs(distiller.teacher, example)
    return 2.0 * macs * BATCH


def matmul_peak(device, precision: str, n: int = 2048, repeats: int = 20) -> float:
    """Best FLOP/s of an n x n matrix product at `precision` on `device` (the benchmark
    measures it before and after the cases and keeps the higher)."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    best = math.inf
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best


# ------------------------------------------------------------------------ accuracy parity

def conventional_accuracy(cfg: kd.RunConfig, train: kd.Dataset, test: kd.Dataset) -> float:
    """The conventional loop trained for cfg's epochs (same seed, init, optimiser and
    schedule as kd's run), then evaluated over the test set in float32."""
    torch.manual_seed(cfg.seed)
    student = kd.build(cfg.model, train.num_classes, tuple(train.images.shape[1:]))
    t = cfg.train
    optimizer = torch.optim.SGD(student.parameters(), lr=t.lr, momentum=t.momentum,
                                nesterov=t.nesterov, weight_decay=t.weight_decay)
    loader = conventional_loader(train, cfg.data.augmentation != "none", batch_size=t.batch_size)
    total = t.epochs * len(loader)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(t, s, len(loader)))
    for _ in range(t.epochs):
        student.train()
        for x, y in loader:
            conventional_step(student, None, optimizer, x, y)
            schedule.step()
    assert schedule.last_epoch == total
    student.eval()
    correct = 0
    with torch.no_grad():
        for x, y in conventional_loader(test, False, shuffle=False, batch_size=1000):
            correct += (student(x).argmax(1) == y).sum().item()
    return 100.0 * correct / len(test)


ACCURACY_RUNS = [
    # (label, data, model, epochs, lr, schedule)
    ("ResNet-8, CIFAR-10 (10,000 images), 4 epochs",
     kd.DataConfig("cifar10", per_class=1000, augment="crop_flip"), kd.ModelConfig("resnet8"),
     4, 0.05, "cosine"),
    ("MLP 784-400-10, MNIST, 2 epochs",
     kd.DataConfig("mnist"), kd.ModelConfig("mlp", (400,)), 2, 0.01, "constant"),
]


def accuracy_parity(seeds: list[int]) -> list[dict]:
    """Same seed, epochs, init, optimiser and schedule: the conventional loop, kd in float32
    and kd at its default precision ("auto"), each over `seeds`."""
    rows = []
    for label, data, model, epochs, lr, schedule in ACCURACY_RUNS:
        train_cfg = kd.TrainConfig(epochs=epochs, batch_size=BATCH, lr=lr, momentum=0.9,
                                   weight_decay=5e-4, schedule=schedule)
        base = kd.RunConfig(data=data, model=model, train=train_cfg)
        train, _ = kd.split(data)
        test = evaluation_split(data)
        arms: dict[str, list[float]] = {"conventional (fp32)": [], "kd fp32": [], "kd auto": []}
        for seed in seeds:
            cfg = base.with_(seed=seed)
            print(f"  {label}, seed {seed}", flush=True)
            arms["conventional (fp32)"].append(conventional_accuracy(cfg, train, test))
            arms["kd fp32"].append(kd.run(cfg.with_(train__precision="fp32"), device="cpu", progress=False).final_acc)
            arms["kd auto"].append(kd.run(cfg, device="cpu", progress=False).final_acc)
        rows.append({"run": label, "seeds": seeds,
                     "auto_precision": resolve_precision("auto", torch.device("cpu")),
                     "accuracy": arms, "within_noise": within_noise(arms)})
    return rows


def within_noise(arms: dict[str, list[float]]) -> dict[str, bool]:
    """Each kd arm against the conventional one: |difference of means| <= 2 standard errors
    of that difference, the seed spread of both arms (and at least 0.5 point) counted."""
    ref = arms["conventional (fp32)"]
    out = {}
    for name, values in arms.items():
        if name == "conventional (fp32)":
            continue
        se = math.sqrt(statistics.variance(ref) / len(ref) + statistics.variance(values) / len(values)) \
            if len(ref) > 1 else 0.0
        out[name] = abs(statistics.fmean(values) - statistics.fmean(ref)) <= max(2 * se, 0.5)
    return out


# ------------------------------------------------------------------------------- main

def side_by_side(epochs: int, per_class: int | None, runs: int = 4) -> dict:
    """Notebook 20's baseline recipe (ResNet-8, kd.recipes' cpu schedule at `epochs` epochs),
    `runs` seeds, trained by kd.run_many twice in this process, each time into an empty run
    cache: one worker with every core's threads, then one one-thread worker per core (a local Ray
    instance, its start included in the time). Aggregate training images per second of each,
    end to end (wall time) and while training (images / (sum of the runs' train_seconds /
    workers)), and their ratios."""
    import tempfile
    from kd import recipes
    from kd.studies import sarfraz
    base = sarfraz.sarfraz_arm("ce", "resnet8", "cpu").with_(train=recipes.schedule("cpu", epochs))
    if per_class is not None:
        base = base.with_(data=dataclasses.replace(base.data, per_class=per_class, test_per_class=per_class))
    configs = [base.with_(seed=s) for s in range(runs)]
    images = runs * epochs * len(kd.split(base.data)[0])
    cores, threads, old = os.cpu_count() or 1, torch.get_num_threads(), os.environ.get("KD_RUNS")
    out = {"runs": runs, "epochs": epochs, "images": images, "cores": cores}
    try:
        for label, workers in ((f"1 worker x {cores} threads", 1), (f"{cores} workers x 1 thread", cores)):
            with tempfile.TemporaryDirectory() as folder:
                os.environ["KD_RUNS"] = folder
                torch.set_num_threads(cores)
                start = time.perf_counter()
                results = kd.run_many(configs, workers=workers, progress=False)
                out[label] = images / (time.perf_counter() - start)
                out[f"{label}, while training"] = images / (sum(r.metrics["train_seconds"] for r in results) / workers)
    finally:
        torch.set_num_threads(threads)
        if old is None:
            os.environ.pop("KD_RUNS", None)
        else:
            os.environ["KD_RUNS"] = old
    labels = [k for k in out if "worker" in k and "training" not in k]
    out["ratio"] = out[labels[1]] / out[labels[0]]
    out["ratio while training"] = out[f"{labels[1]}, while training"] / out[f"{labels[0]}, while training"]
    return out


def machine() -> dict:
    device = default_device()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) \
        if Path("/proc/cpuinfo").exists() else platform.processor()
    return {"device": device.type,
            "name": torch.cuda.get_device_name() if device.type == "cuda" else cpu,
            "cpu_threads": torch.get_num_threads(), "torch": torch.__version__,
            "auto_precision": resolve_precision("auto", device),
            "native_bf16": native_bf16(device)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="seconds-long run for CI")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per loop")
    parser.add_argument("--no-accuracy", action="store_true", help="skip the accuracy runs")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the accuracy runs")
    parser.add_argument("--cases", default="", help="only the cases whose name contains this")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    steps = args.steps or (2 if args.smoke else 30)
    warmup = 1 if args.smoke else 5
    out = args.out or HERE / ("results-smoke.json" if args.smoke else "results.json")
    device = default_device()
    precision = resolve_precision("auto", device)
    info = machine()
    print(f"{info['name']} ({info['device']}, {info['cpu_threads']} threads), torch {info['torch']}; "
          f"kd at precision {precision}; batch {BATCH}, {steps} timed steps per loop")
    peak = matmul_peak(device, precision, n=512 if args.smoke else 2048)
    print(f"matrix-multiply peak ({precision}): {peak / 1e9:.1f} GFLOP/s")

    rows = []
    for case in [c for c in CASES if args.cases.lower() in c.name.lower()]:
        full = kd.load(case.data, "train")
        # kd times its second epoch, so it sees `steps` steps per epoch; the conventional
        # loop needs warmup + steps batches
        train = full.subset(torch.arange(max(steps, warmup + steps) * BATCH))
        conv = conventional_seconds_per_step(case, train, steps, warmup, device)
        ours = kd_seconds_per_step(case, full.subset(torch.arange(steps * BATCH)), device, precision)
        ours32 = ours if precision == "fp32" else None if args.smoke else \
            kd_seconds_per_step(case, full.subset(torch.arange(steps * BATCH)), device, "fp32")
        example = kd.DeviceLoader(train, BATCH, device).prepare(train.images[:BATCH].to(device))
        flops = step_flops(case, ours["distiller"], example)
        row = {"case": case.name,
               "conventional_images_per_s": BATCH / conv,
               "kd_images_per_s": BATCH / ours["step_s"],
               "kd_fp32_images_per_s": BATCH / ours32["step_s"] if ours32 else None,
               "speedup": conv / ours["step_s"],
               "kd_mfu": flops / ours["step_s"] / peak,
               "kd_outside_forward_backward": 1 - ours["forward_backward_s"] / ours["step_s"],
               "kd_step_ms": 1e3 * ours["step_s"],
               "kd_forward_backward_ms": 1e3 * ours["forward_backward_s"],
               "kd_teacher_cache_s": ours["setup_s"] if case.teacher and ours["distiller"]._teacher_cache is not None else 0.0,
               "step_gflop": flops / 1e9}
        rows.append(row)
        fp32 = f"{row['kd_fp32_images_per_s']:6.0f}" if ours32 else "     -"
        print(f"  {case.name:<31} conventional {row['conventional_images_per_s']:7.0f} img/s | kd "
              f"{row['kd_images_per_s']:7.0f} img/s (fp32 {fp32}) | "
              f"x{row['speedup']:5.2f} | MFU {100 * row['kd_mfu']:5.1f}% | outside fwd/bwd "
              f"{100 * row['kd_outside_forward_backward']:4.1f}%", flush=True)

    peak_after = matmul_peak(device, precision, n=512 if args.smoke else 2048)
    if peak_after > peak:       # a slow moment at the start would inflate every MFU
        for row in rows:
            row["kd_mfu"] *= peak / peak_after
        peak = peak_after
    print(f"matrix-multiply peak, the higher of before and after: {peak / 1e9:.1f} GFLOP/s; "
          "kd's MFU: " + ", ".join(f"{100 * r['kd_mfu']:.1f}%" for r in rows))

    parallel = None
    if not args.cases or "side by side" in args.cases.lower():
        parallel = side_by_side(epochs=1 if args.smoke else 2, per_class=20 if args.smoke else None,
                                runs=2 if args.smoke else 4)
        labels = [k for k in parallel if "worker" in k and "training" not in k]
        print(f"  side by side: {parallel['runs']} ResNet-8 runs of notebook 20's recipe, {parallel['epochs']} epochs each: "
              + ", ".join(f"{k} {parallel[k]:.0f} img/s" for k in labels) + f" -> x{parallel['ratio']:.2f} end to end; "
              + ", ".join(f"{parallel[k + ', while training']:.0f}" for k in labels)
              + f" img/s while training -> x{parallel['ratio while training']:.2f}", flush=True)

    accuracy = [] if args.smoke or args.no_accuracy else accuracy_parity(list(range(args.seeds)))
    for a in accuracy:
        print(f"accuracy, {a['run']} (seeds {a['seeds']}; kd auto = {a['auto_precision']}):")
        for arm, values in a["accuracy"].items():
            mean = statistics.fmean(values)
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            verdict = "" if arm not in a["within_noise"] else \
                ("  within noise" if a["within_noise"][arm] else "  NOT within noise")
            print(f"  {arm:<20} {mean:6.2f} ± {std:4.2f}  ({', '.join(f'{v:.2f}' for v in values)}){verdict}")

    result = {"machine": info, "batch": BATCH, "timed_steps": steps, "warmup_steps": warmup,
              "matmul_peak_gflops": peak / 1e9, "precision": precision, "smoke": args.smoke,
              "cases": rows, "side_by_side": parallel, "accuracy": accuracy}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_json(out, result)
    print(f"wrote {os.path.relpath(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
