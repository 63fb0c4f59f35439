"""Does a training run repeat itself? The same classifier training, twice on the same number of torch
threads, then on another number.

    python benchmarks/training_threads.py [--model r2plus1d_18] [--epochs 2] [--threads 1,2] [--out FILE.json]

Trains ``--model`` on a fresh ``tiny`` dataset (``generate --preset tiny``, in a temporary folder)
with one seed, once per entry of ``--threads`` (``torch.set_num_threads``) and once more on the first,
and prints, for each run against the first, whether every weight is the same bit for bit and the
largest difference. The runs' ``config.json`` record the thread count under ``trained_on``. Minutes
on two cores with R(2+1)D-18; seconds with ``classifier_tiny``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

from scsampler.cli.args import comma_list
from scsampler.data.synthetic import PRESETS, generate
from scsampler.engine.classifier import ClassifierTrainConfig, fit


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="r2plus1d_18")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--threads", default="1,2", help="comma-separated torch thread counts, one run each")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also write the comparison to this JSON file")
    args = p.parse_args(argv)
    counts = [int(t) for t in comma_list(args.threads)]
    root = Path(tempfile.mkdtemp(prefix="training-threads-"))
    generate(PRESETS["tiny"], root / "data", progress=False)
    before = torch.get_num_threads()
    weights, runs = {}, []
    try:
        for i, threads in enumerate(counts + counts[:1]):
            torch.set_num_threads(threads)
            name = f"run{i}-threads{threads}"
            config = ClassifierTrainConfig(data=str(root / "data"), out=str(root / name), model=args.model, frames=4,
                                           resize=(32, 40), crop=(32, 32), segments_per_video=3, epochs=args.epochs,
                                           batch_size=8, lr=5e-3, seed=args.seed)
            weights[name] = load_file(fit(config, progress=False) / "model.safetensors")
            runs.append((name, threads))
    finally:
        torch.set_num_threads(before)
    first_name, first_threads = runs[0]
    first = weights[first_name]
    rows = []
    for name, threads in runs[1:]:
        w = weights[name]
        same = all(torch.equal(first[k], w[k]) for k in first)
        diff = max((first[k].double() - w[k].double()).abs().max().item() for k in first if first[k].is_floating_point())
        rows.append({"run": name, "threads": threads, "against": first_name, "against_threads": first_threads,
                     "identical": same, "max_abs_difference": diff})
        print(f"{name} against {first_name}: {'identical' if same else 'different'}, largest difference {diff:.3g}")
    if args.out:
        Path(args.out).write_text(json.dumps({"model": args.model, "epochs": args.epochs, "seed": args.seed,
                                              "torch": torch.__version__, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
