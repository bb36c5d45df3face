"""Where the time of one kd training step goes, part by part (`make bench-parts`).

The same loop as `kd.train.fit` (same loader, distiller, optimiser, schedule and per-step
bookkeeping), with a clock read between the parts: the loader's next batch, forward with
the loss, zeroing gradients, backward, the optimiser step, the schedule, and the per-step
bookkeeping. CPU operations are synchronous, so the clock is exact there; on CUDA each
part is synchronised first, which slows the loop, so read the shares, not the total.

    python benchmarks/step_parts.py [--cases MNIST] [--epochs 3]

It reads the benchmark's cases (benchmarks/bench.py) and prints milliseconds per step of
the fastest epoch. `make bench`'s "outside fwd/bwd" is the complement of forward + backward.
"""
from __future__ import annotations

import argparse
import collections
import time

import torch

import kd
from bench import BATCH, CASES, kd_distiller
from kd.train import autocast, lr_factor, make_optimizer, resolve_precision

PARTS = ["loader", "forward", "zero_grad", "backward", "optimizer", "schedule", "bookkeeping"]


def step_parts(case, train: kd.Dataset, device: torch.device, precision: str, epochs: int) -> dict:
    """Milliseconds per step of each part, from the fastest of `epochs` epochs."""
    distiller, cfg = kd_distiller(case, train, precision)
    distiller.to(device).to(memory_format=torch.channels_last)
    loader = kd.DeviceLoader(train, BATCH, device, shuffle=True, augment=case.augment, drop_last=True)
    if distiller.teacher is not None and distiller.teacher_logits_only and not loader.random:
        distiller.cache_teacher_logits(loader)
    optimizer = make_optimizer(distiller.learnable_parameters(), cfg.train)
    steps = len(loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(cfg.train, s, steps))
    precision = resolve_precision(precision, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    distiller.train()
    best: dict | None = None
    for epoch in range(epochs):
        spent: dict[str, float] = collections.defaultdict(float)
        kept: list = []
        batches = iter(loader.epoch(epoch))
        clock = time.perf_counter()

        def lap(part: str) -> None:
            nonlocal clock
            sync()
            now = time.perf_counter()
            spent[part] += now - clock
            clock = now

        for _ in range(steps):
            batch = next(batches)
            lap("loader")
            with autocast(device, precision):
                logits, losses = distiller.forward_train(batch, epoch)
            loss = sum(losses.values())
            lap("forward")
            optimizer.zero_grad(set_to_none=True)
            lap("zero_grad")
            loss.backward()
            lap("backward")
            optimizer.step()
            lap("optimizer")
            scheduler.step()
            lap("schedule")
            kept.append((loss.detach(), logits.detach().argmax(1), batch.labels,
                         [v.detach() for v in losses.values()]))
            lap("bookkeeping")
        total = sum(spent.values())
        if best is None or total < best["total"]:
            best = {"total": total, **spent}
    return {part: 1e3 * best[part] / steps for part in ["total", *PARTS]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="MNIST", help="cases whose name contains this")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=400, help="steps per epoch")
    args = parser.parse_args()
    device = kd.default_device()
    for case in [c for c in CASES if args.cases in c.name]:
        train = kd.load(case.data, "train")
        train = train.subset(torch.arange(min(len(train), args.steps * BATCH)))
        ms = step_parts(case, train, device, "auto", args.epochs)
        inside = ms["forward"] + ms["backward"]
        print(f"{case.name} ({device.type}, {resolve_precision('auto', device)}): "
              f"{ms['total']:.3f} ms per step; forward + backward {inside:.3f} ms; outside "
              f"{ms['total'] - inside:.3f} ms ({100 * (1 - inside / ms['total']):.0f}%):")
        print("   " + ", ".join(f"{p} {ms[p]:.3f}" for p in PARTS))


if __name__ == "__main__":
    main()
