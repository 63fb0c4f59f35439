import subprocess
import sys

from scsampler.cli import train_classifier as cli_train
from scsampler.cli import train_sampler as cli_train_sampler
from scsampler.models import list_models


def test_help_lists_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "scsampler", "--help"], capture_output=True, text=True, timeout=60).stdout
    for name in ("generate", "extract", "train-classifier", "train-sampler", "benchmark", "predict", "demo"):
        assert name in out


def test_cli_names_match_the_registries():
    # The CLI keeps its own copies of the model names so that `--help` does not import torch.
    assert set(cli_train.CLASSIFIERS) == set(list_models("classifier"))
    assert set(cli_train_sampler.SAMPLER_ARCHS) == set(list_models("sampler"))
    from scsampler.engine.sampler import AC_LOSSES, TARGETS
    from scsampler.runtime.sampler import LOSSES

    assert set(cli_train_sampler.LOSSES) == set(LOSSES)
    assert cli_train_sampler.TARGETS == TARGETS
    assert cli_train_sampler.AC_LOSSES == AC_LOSSES


def test_the_selector_choices_come_from_the_registry_without_importing_torch_for_help():
    code = ("import sys; from scsampler.cli.main import build_parser; p = build_parser(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout.strip()
    assert out == "False"
    from scsampler.cli.main import build_parser
    from scsampler.selectors import list_selectors

    predict = build_parser()._subparsers._group_actions[0].choices["predict"]
    strategy = next(a for a in predict._actions if a.dest == "strategy")
    assert list(strategy.choices) == list_selectors(predict=True)
    assert "oracle" not in strategy.choices and "motion-energy" in strategy.choices
    assert "audio-energy: top-K by" in " ".join(predict.format_help().split())  # the help is the registry's


def test_comma_list_strips_items_and_leaves_out_empty_ones():
    from scsampler.cli.args import comma_list

    assert comma_list(" md, rgbr,,audio ,") == ["md", "rgbr", "audio"]
    assert comma_list("") == comma_list(None) == []
    assert comma_list("scoring md (every picture)") == ["scoring md (every picture)"]


def test_comma_choices_names_unknown_items_and_refuses_an_empty_list():
    import argparse

    import pytest

    from scsampler.cli.args import comma_choices

    ap = argparse.ArgumentParser(prog="x")
    assert comma_choices(ap, "--passes", "md, scoring", ["md", "scoring", "rgb"]) == ["md", "scoring"]
    assert comma_choices(ap, "--variants", "", ["hevc"], allow_empty=True) == []
    for text in ("md,bogus", ""):
        with pytest.raises(SystemExit):
            comma_choices(ap, "--passes", text, ["md"])
