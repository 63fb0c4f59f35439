"""The paper's studies (SCSampler section 4.2, Appendices C-D) on a generated data set.

    python benchmarks/studies.py --data data/default --classifier runs/default/classifier --out runs/studies \\
        [--study loss,features,audio,av,ktr,cross] [--classifier2 runs/default/classifier-mc3] [--docs docs/results.md]

Trains every sampler a study needs (``<out>/samplers/<name>``, reused when already trained with the
same settings), runs ``scsampler benchmark`` with them (``<out>/<study>/results.json``; features,
dense probabilities and sampler scores are cached in ``<data>/cache``), and writes each study's table,
generated from its results.json, between markers in ``--docs``. Every stage is resumable.

Studies: ``loss`` (Table 4), ``features`` (Table 5), ``audio`` (Table 6), ``av`` (Table 7 with
Figures 2, 4, 5 and 6: accuracy vs K, K', stride and GFLOPs), ``ktr`` (Figure 3), ``cross``
(Table 3's cross-classifier row: samplers trained on ``--classifier``'s labels used with
``--classifier2``).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

from scsampler.engine.sampler import JointTrainConfig, SamplerTrainConfig, compose_samplers, fit_joint_sampler, fit_sampler
from scsampler.cli.args import comma_list
from scsampler.benchmark.run import BenchmarkConfig, run_benchmark
from scsampler.reports.tables import accuracy_table, replace_block, timing_arch_section, timing_table

log = logging.getLogger("studies")
AV = ("av-convex-score", "av-convex-list", "av-intersect-list", "av-union-list")
# The paper's numbers (miniSports, MC3-18, K=10) where our tables have the same shape.
PAPER = {
    "loss": {("visual", "sal-cl"): 63.17, ("visual", "sal-rank"): 64.77, ("audio", "sal-cl"): 58.73, ("audio", "sal-rank"): 67.82},
    "features": {("resnet18", "md"): 63.48, ("resnet18", "rgbr"): 67.99, ("resnet18", "md+rgbr"): 73.05,
                 ("resnet18", "if+md+rgbr"): 74.94, ("shufflenet", "md+rgbr"): 67.89, ("shufflenet", "if+md+rgbr"): 69.89},
    "audio": {"finetuned": 67.82, "fc on frozen backbone": 67.01},
    "av": {"av-convex-list": 73.81, "av-convex-score": 67.90, "av-union-list": 75.98, "av-intersect-list": 73.99,
           "av-joint": 75.53, "visual": 73.05, "audio": 67.82, "random": 59.51, "uniform": 59.87, "dense": 61.6},
}


class Studies:
    def __init__(self, args):
        self.args = args
        self.out = Path(args.out)
        self.samplers = self.out / "samplers"
        self.seconds: dict[str, float] = {}

    def sampler(self, name: str, **kw) -> Path:
        """Train (or reuse) sampler ``name``."""
        a = self.args
        epochs = a.audio_epochs if kw.get("modality") == "audio" and a.audio_epochs else a.epochs
        classifier = kw.pop("classifier", a.classifier)
        config = SamplerTrainConfig(data=a.data, classifier=classifier, out=str(self.samplers / name), epochs=epochs,
                                    workers=a.workers, cache=a.cache, **kw)
        t0 = time.perf_counter()
        run = fit_sampler(config, progress=sys.stderr.isatty())
        self.seconds[f"sampler {name}"] = time.perf_counter() - t0
        return run

    def compose(self, name: str, parts: list[Path]) -> Path:
        out = self.samplers / name
        if out.exists():
            shutil.rmtree(out)
        return compose_samplers(parts, out)

    def bench(self, study: str, samplers: dict[str, Path], strategies: tuple[str, ...], *, classifier: str | None = None,
              ks=(10,), timing_videos: int = 0, **kw) -> dict:
        a = self.args
        t0 = time.perf_counter()
        results = run_benchmark(BenchmarkConfig(
            data=a.data, classifier=classifier or a.classifier, out=str(self.out / study), strategies=strategies,
            samplers={k: str(v) for k, v in samplers.items()}, ks=ks, timing_videos=timing_videos, cache=a.cache,
            timing_k=10, **kw), progress=sys.stderr.isatty())
        self.seconds[f"benchmark {study}"] = time.perf_counter() - t0
        return results

    # -- the studies ------------------------------------------------------------------------------
    def visual(self, loss: str) -> Path:
        """The visual sampler: a network per feature of --visual-features (MD + RGB-R by default, as
        the paper's), composed into one sampler that averages them."""
        feats = comma_list(self.args.visual_features)
        parts = [self.sampler(f"visual-{f}-{loss}", modality="visual", features=(f,), loss=loss) for f in feats]
        return parts[0] if len(parts) == 1 else self.compose(f"visual-{'+'.join(feats)}-{loss}", parts)

    def loss(self) -> str:
        samplers = {}
        for loss in ("ac", "sal-cl", "sal-rank"):
            samplers[f"visual {loss}"] = self.visual(loss)
            samplers[f"audio {loss}"] = self.sampler(f"audio-{loss}", modality="audio", loss=loss)
        r = self.bench("loss", samplers, ("uniform", "dense", "oracle") + tuple(samplers))
        rows = {row["strategy"]: row for row in r["rows"] if row["k"] in (10, None) and row.get("stride", 1) == 1}
        top1 = {name: row["top1"] for name, row in rows.items()}
        lines = ["| sampler | AC | SAL-CL | SAL-RANK |", "|---|---:|---:|---:|"]
        for modality in ("visual", "audio"):
            cells = []
            for loss in ("ac", "sal-cl", "sal-rank"):
                paper = PAPER["loss"].get((modality, loss))
                cells.append(f"{100 * top1[f'{modality} {loss}']:.1f}" + (f" ({paper})" if paper else ""))
            lines.append(f"| {modality} | " + " | ".join(cells) + " |")
        lines.append(f"\nBaselines on the same videos: uniform {100 * top1['uniform']:.1f}, dense {100 * top1['dense']:.1f}, "
                     f"oracle {100 * top1['oracle']:.1f}. In parentheses: the paper's Table 4 (miniSports, MC3-18).")
        lines += ["", "Share of the chosen clips that lie in ground-truth salient segments (%):", "",
                  "| sampler | AC | SAL-CL | SAL-RANK |", "|---|---:|---:|---:|"]
        for modality in ("visual", "audio"):
            cells = [rows[f"{modality} {loss}"].get("salient_fraction_of_chosen") for loss in ("ac", "sal-cl", "sal-rank")]
            lines.append(f"| {modality} | " + " | ".join("" if c is None else f"{100 * c:.1f}" for c in cells) + " |")
        share = {name: rows[name].get("salient_fraction_of_chosen") for name in ("uniform", "oracle")}
        if None not in share.values():
            lines.append(f"\nUniform: {100 * share['uniform']:.1f}, oracle: {100 * share['oracle']:.1f}.")
        return "\n".join(lines)

    def features(self) -> str:
        samplers = {}
        for arch in ("resnet18", "shufflenet"):
            # ResNet-18 is the visual sampler's default architecture: its networks are the loss and av studies' own.
            prefix = "visual" if arch == "resnet18" else arch
            parts = {f: self.sampler(f"{prefix}-{f}-ac", modality="visual", features=(f,), arch=arch, loss="ac") for f in ("md", "rgbr", "if")}
            samplers[f"{arch} md"] = parts["md"]
            samplers[f"{arch} rgbr"] = parts["rgbr"]
            samplers[f"{arch} if"] = parts["if"]
            samplers[f"{arch} md+rgbr"] = self.compose(f"{prefix}-md+rgbr-ac", [parts["md"], parts["rgbr"]])
            samplers[f"{arch} if+md+rgbr"] = self.compose(f"{prefix}-if+md+rgbr-ac", [parts["if"], parts["md"], parts["rgbr"]])
        r = self.bench("features", samplers, ("uniform", "dense") + tuple(samplers))
        return self.features_table(r, list(samplers))

    @staticmethod
    def features_table(r: dict, names: list[str]) -> str:
        """Table 5 from the features study's results.json."""
        rows = {row["strategy"]: row for row in r["rows"] if row["k"] in (10, None) and row.get("stride", 1) == 1}
        clips = r["mean_clips_per_video"]
        lines = ["| features | architecture | top-1 % (paper) | chosen clips in salient segments % | sampler GFLOPs / clip |",
                 "|---|---|---:|---:|---:|"]
        for name in ("uniform", "dense"):
            lines.append(f"| ({name}) | | {100 * rows[name]['top1']:.1f} | {100 * rows[name]['salient_fraction_of_chosen']:.1f} | 0 |")
        for name in names:
            arch, feats = name.split(" ")
            row = rows[name]
            paper = PAPER["features"].get((arch, feats))
            lines.append(f"| {feats} | {arch} | {100 * row['top1']:.1f}" + (f" ({paper})" if paper else "")
                         + f" | {100 * row['salient_fraction_of_chosen']:.1f} | {row['cheap_gflops_per_video'] / clips:.3f} |")
        return "\n".join(lines)

    def audio(self) -> str:
        backbone = self.sampler("audio-ac", modality="audio", loss="ac")
        samplers = {
            "finetuned": self.sampler("audio-sal-rank", modality="audio", loss="sal-rank"),
            "fc on frozen backbone": self.sampler("audio-sal-rank-frozen", modality="audio", loss="sal-rank",
                                                  init_from=str(backbone), freeze_backbone=True),
        }
        r = self.bench("audio", samplers, ("uniform", "dense") + tuple(samplers))
        rows = {row["strategy"]: row for row in r["rows"] if row["k"] in (10, None)}
        lines = ["| audio sampler (SAL-RANK) | top-1 % (paper) |", "|---|---:|"]
        for name in samplers:
            lines.append(f"| {name} | {100 * rows[name]['top1']:.1f} ({PAPER['audio'][name]}) |")
        lines.append("\nThe frozen backbone is our audio sampler trained as an action classifier (AC) on the same "
                     "training split, standing in for the paper's AudioSet-pretrained VGG (nothing is downloaded).")
        return "\n".join(lines)

    def joint(self) -> Path:
        """AV-joint-training, from the SAL-RANK visual (MD + RGB-R) and audio samplers."""
        out = self.samplers / "av-joint"
        if (out / "config.json").exists():
            return out
        a = self.args
        t0 = time.perf_counter()
        run = fit_joint_sampler(JointTrainConfig(
            data=a.data, classifier=a.classifier, visual=str(self.visual("sal-rank")),
            audio=str(self.sampler("audio-sal-rank", modality="audio", loss="sal-rank")), out=str(out),
            epochs=max(1, a.epochs // 2), cache=a.cache, workers=a.workers), progress=sys.stderr.isatty())
        self.seconds["sampler av-joint"] = time.perf_counter() - t0
        return run

    def av(self) -> str:
        samplers = {"visual": self.visual(self.args.visual_loss),
                    "audio": self.sampler(f"audio-{self.args.audio_loss}", modality="audio", loss=self.args.audio_loss)}
        if not self.args.skip_joint:
            samplers["av-joint"] = self.joint()
        a = self.args
        r = self.bench("av", samplers, ("random", "uniform", "dense", "oracle", "visual", "audio") + AV + tuple(samplers)[2:],
                       ks=(1, 2, 5, 10, 20), timing_videos=a.timing_videos, strides=(1, 2, 4, 8), k_primes=(0, 2, 4, 6, 8, 10),
                       timing_arch=a.timing_arch, timing_arch_videos=a.timing_arch_videos,
                       timing_arch_strategies=tuple(comma_list(a.timing_arch_strategies)),
                       timing_strides=tuple(int(x) for x in a.timing_strides.split(",")))
        table = accuracy_table(r, k=10, stride=1)
        big = f"\n\n{timing_arch_section(r)}" if r.get("timing_arch") else ""
        paper = "\n".join(f"| {k} | {v} |" for k, v in PAPER["av"].items())
        return (f"{table}\n\nThe paper's Table 7 (miniSports, MC3-18, K=10):\n\n| strategy | top-1 % |\n|---|---:|\n{paper}\n\n"
                f"Wall time per video ({r['timing'][0]['videos'] if r['timing'] else 0} test videos):\n\n{timing_table(r)}{big}\n\n"
                f"Figures: `{self.out / 'av' / 'accuracy_vs_k.png'}`, `{self.out / 'av' / 'accuracy_vs_gflops.png'}`.")

    def ktr(self) -> str:
        samplers = {}
        for frac in (0.1, 0.25, 0.5, 0.75):
            name = "visual-md-sal-cl" if frac == 0.5 else f"visual-md-sal-cl-ktr{frac}"  # 0.5: the default, the loss study's
            md = self.sampler(name, modality="visual", features=("md",), loss="sal-cl", k_tr=frac)
            samplers[f"K_tr/L={frac}"] = md
        r = self.bench("ktr", samplers, ("uniform", "dense") + tuple(samplers))
        return accuracy_table(r, k=10)

    def cross(self) -> str:
        """Table 3's cross-classifier reuse: samplers trained on ``--classifier``'s labels, used with
        ``--classifier2``; beside them the audio sampler trained on ``--classifier2``'s own labels
        (the visual AC sampler needs no labels, so it is the same network in both)."""
        a = self.args
        if not a.classifier2:
            raise SystemExit("the cross study needs --classifier2 (e.g. an mc3_18 run)")
        own = f"audio-{a.audio_loss}-{Path(a.classifier2).name}"
        samplers = {"visual": self.visual(a.visual_loss),
                    "audio": self.sampler(f"audio-{a.audio_loss}", modality="audio", loss=a.audio_loss),
                    "audio (own labels)": self.sampler(own, modality="audio", loss=a.audio_loss, classifier=a.classifier2)}
        r = self.bench("cross", samplers, ("random", "uniform", "dense", "oracle") + tuple(samplers) + ("av-union-list",),
                       classifier=a.classifier2)
        return (f"Classifier {r['classifier']['name']} (`{a.classifier2}`); `visual` ({a.visual_loss.upper()}) and `audio` "
                f"({a.audio_loss.upper()}) trained on the labels of `{a.classifier}`, `audio (own labels)` on those of "
                f"`{a.classifier2}`:\n\n" + accuracy_table(r, k=10))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--classifier", required=True)
    ap.add_argument("--classifier2", help="a second classifier run, for the cross-classifier study")
    ap.add_argument("--out", required=True)
    ap.add_argument("--cache", help="default: DATA/cache")
    ap.add_argument("--study", default="loss,features,audio,av,ktr", help="comma-separated")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--audio-epochs", type=int, help="epochs of the audio samplers (default: --epochs)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--visual-loss", default="ac")
    ap.add_argument("--audio-loss", default="sal-rank")
    ap.add_argument("--timing-videos", type=int, default=8)
    ap.add_argument("--timing-arch", help="av study: also time the pipeline with this classifier, untrained, at 16x112x112 (e.g. r2plus1d_18)")
    ap.add_argument("--timing-arch-videos", type=int, default=3)
    ap.add_argument("--timing-arch-strategies", default="uniform,dense,visual,audio," + ",".join(AV),
                    help="the strategies timed with --timing-arch (each costs minutes per video at 16x112x112 here)")
    ap.add_argument("--timing-strides", default="1", help="av study: strides at which the sampler strategies are timed (e.g. 1,4)")
    ap.add_argument("--visual-features", default="md,rgbr", help="the visual sampler's networks, one per feature (default md,rgbr)")
    ap.add_argument("--skip-joint", action="store_true", help="av study: leave out AV-joint-training (two more visual samplers to train)")
    ap.add_argument("--docs", type=Path, help="markdown file to write the tables into (between study markers)")
    ap.add_argument("--tag", default="", help="suffix of the docs markers, e.g. -small")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    studies = Studies(args)
    for study in comma_list(args.study):
        table = getattr(studies, study)()
        print(f"\n## {study}\n\n{table}\n")
        if args.docs:
            replace_block(args.docs, f"study-{study}{args.tag}", table, f"### Study: {study}{args.tag}")
        (Path(args.out) / study).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / study / "table.md").write_text(table + "\n")
    print("seconds: " + json.dumps({k: round(v) for k, v in studies.seconds.items()}))


if __name__ == "__main__":
    main()
