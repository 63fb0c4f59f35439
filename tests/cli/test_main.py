import subprocess
import sys

from scsampler.cli import benchmark as cli_benchmark
from scsampler.cli import predict as cli_predict
from scsampler.cli import train_classifier as cli_train
from scsampler.cli import train_sampler as cli_train_sampler
from scsampler.benchmark.run import BASELINES
from scsampler.models import list_models


def test_help_lists_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "scsampler", "--help"], capture_output=True, text=True, timeout=60).stdout
    for name in ("generate", "extract", "train-classifier", "train-sampler", "benchmark", "predict", "demo"):
        assert name in out


def test_cli_names_match_the_registries():
    # The CLI keeps its own copies so that `--help` does not import torch.
    assert set(cli_train.CLASSIFIERS) == set(list_models("classifier"))
    assert cli_benchmark.BASELINES == BASELINES
    assert set(cli_train_sampler.SAMPLER_ARCHS) == set(list_models("sampler"))
    from scsampler.pipeline.video import AV_STRATEGIES, POSITIONAL, SAMPLER_STRATEGIES
    from scsampler.runtime.sampler import LOSSES

    assert set(cli_train_sampler.LOSSES) == set(LOSSES)
    assert set(cli_predict.SAMPLER_STRATEGIES) == set(SAMPLER_STRATEGIES + AV_STRATEGIES)
    assert set(cli_predict.BASELINES) == set(POSITIONAL)
