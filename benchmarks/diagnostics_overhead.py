"""Training throughput with and without the diagnostics callback, side by side in one process.

For each model of the quick preset: one epoch over the same training images with the same seed,
alternating "off" and "on" runs (``--repeats`` pairs, order swapped every pair), timing ``fit`` end to end (so the
init/final probes and every periodic record are included). Prints the median images/s of each and
the slowdown. Example (the numbers in docs/diagnostics.md):

    python benchmarks/diagnostics_overhead.py --dataset imagefolder \
        --data-dir ../shared/datasets/cifar10-jpeg.tar.gz --steps 300 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from resnet_lab.config import resolve
from resnet_lab.data import load_data
from resnet_lab.diagnostics.analyze import fixed_batch
from resnet_lab.diagnostics.hooks import DiagnosticsCallback
from resnet_lab.registry import create_model
from resnet_lab.data import make_batches
from resnet_lab.train import TrainState, build_optimizer, fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="synthetic")
    ap.add_argument("--data-dir")
    ap.add_argument("--steps", type=int, default=300, help="optimiser steps per timed run")
    ap.add_argument("--repeats", type=int, default=3, help="off/on pairs per model")
    ap.add_argument("--every", type=int, help="recording interval (default: the config default)")
    ap.add_argument("--models", help="comma-separated subset of the quick preset's models")
    args = ap.parse_args()

    overrides = {"data.dataset": args.dataset, "train.epochs": 1, "data.augment": True}
    if args.data_dir:
        overrides["data.data_dir"] = args.data_dir
    every = args.every or resolve("quick").train.diag_every
    n = args.steps * 128
    overrides["data.train_subset"] = n
    if args.dataset == "synthetic":
        overrides.update({"data.synthetic_train": n + 1000, "data.val_size": 1000})
    cfg = resolve("quick", None, overrides)
    data = load_data(cfg.data)
    data.val = data.val.subset(torch.arange(min(500, len(data.val))))  # keep evaluation out of the timing's way
    device = torch.device("cpu")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; data {data.source}; "
          f"{len(data.train)} images = {args.steps} steps of {cfg.train.batch_size}; record every {every} steps")
    print(f"{'model':12s} {'off img/s':>10s} {'on img/s':>10s} {'slowdown':>9s}   (medians of {args.repeats})")
    for name in (args.models.split(",") if args.models else cfg.models):
        rates = {"off": [], "on": []}
        for rep in range(args.repeats):
            # Alternate the order (off-on, on-off, ...) so that a drift in machine speed or a
            # second-run-is-faster effect does not land on one side.
            for mode in (("off", "on") if rep % 2 == 0 else ("on", "off")):
                torch.manual_seed(0)
                model = create_model(name, width_mult=cfg.model.width_mult).to(memory_format=torch.channels_last)
                state = TrainState(name=name, model=model, optimizer=build_optimizer(model, cfg.optim), config=cfg,
                                   num_classes=10)
                callbacks = []
                with tempfile.TemporaryDirectory() as tmp:
                    if mode == "on":
                        callbacks = [DiagnosticsCallback(Path(tmp) / "d.jsonl", fixed_batch(data.train, data),
                                                         every=every)]
                    start = time.perf_counter()
                    fit(state, make_batches(data, cfg, device), callbacks)
                    rates[mode].append(len(data.train) / (time.perf_counter() - start))
        off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
        print(f"{name:12s} {off:10.0f} {on:10.0f} {100 * (off / on - 1):8.1f}%   "
              f"spread off {min(rates['off']):.0f}-{max(rates['off']):.0f}, on {min(rates['on']):.0f}-{max(rates['on']):.0f}")


if __name__ == "__main__":
    main()
