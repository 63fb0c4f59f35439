import subprocess
import sys

from scsampler.cli import benchmark as cli_benchmark
from scsampler.cli import train_classifier as cli_train
from scsampler.evaluation.benchmark import BASELINES
from scsampler.models import list_models


def test_help_lists_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "scsampler", "--help"], capture_output=True, text=True, timeout=60).stdout
    for name in ("generate", "extract", "train-classifier", "benchmark"):
        assert name in out


def test_cli_names_match_the_registries():
    # The CLI keeps its own copies so that `--help` does not import torch.
    assert set(cli_train.CLASSIFIERS) == set(list_models("classifier"))
    assert cli_benchmark.BASELINES == BASELINES
