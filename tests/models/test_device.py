"""Running the classifier on a device other than the CPU: the names we accept, the errors for the
ones we cannot use, and (where a CUDA GPU exists) the same numbers on the GPU as on the CPU."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from scsampler.errors import ConfigError
from scsampler.models.registry import check_device

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_cpu_is_always_accepted():
    assert check_device("cpu") == "cpu"


@pytest.mark.parametrize("name", ["gpu0", "tpu", "cuda:x"])
def test_unknown_device_names_are_one_line_errors(name):
    with pytest.raises(ConfigError, match="--device"):
        check_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_says_so():
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        check_device("cuda")


def test_cli_reports_a_device_it_cannot_use(tiny_data, tiny_classifier, tmp_path, capsys):
    from scsampler.cli.main import main

    bad = "cuda:7" if torch.cuda.is_available() else "cuda"
    rc = main(["benchmark", "--data", str(tiny_data), "--classifier", str(tiny_classifier), "--out", str(tmp_path / "b"),
               "--k", "1", "--device", bad])
    assert rc != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--device" in err[0]


@cuda
def test_classifier_on_cuda_matches_cpu(tiny_data, tiny_classifier):
    from scsampler.data.manifest import read_manifest
    from scsampler.runtime.classifier import load_classifier

    entry = read_manifest(tiny_data / "manifest.csv", split="test")[0]
    on_cpu = load_classifier(tiny_classifier)
    on_gpu = load_classifier(tiny_classifier, device="cuda")
    clips = on_cpu.decode(entry.path, [0, 1, 2])
    p_cpu, p_gpu = on_cpu.probabilities(clips), on_gpu.probabilities(clips)
    assert p_gpu.device.type == "cpu"
    torch.testing.assert_close(p_gpu, p_cpu, atol=1e-4, rtol=1e-3)
    assert on_gpu.flops_per_clip() == on_cpu.flops_per_clip()


@cuda
def test_training_on_cuda_gives_a_run_the_cpu_loads(tiny_data, tmp_path):
    from scsampler.engine.classifier import ClassifierTrainConfig, fit
    from scsampler.runtime.classifier import load_classifier

    config = ClassifierTrainConfig(data=str(tiny_data), out=str(tmp_path / "run"), model="classifier_tiny", frames=4,
                                   resize=(32, 40), crop=(32, 32), segments_per_video=2, epochs=2, batch_size=8, device="cuda")
    run = fit(config, progress=False)
    curve = json.loads((run / "curve.json").read_text())
    assert len(curve) == 2 and all(c["loss"] > 0 for c in curve)
    clf = load_classifier(run)  # saved on the CPU: loads without a GPU
    assert next(clf.model.parameters()).device.type == "cpu"
    # The device is not part of the run's identity: the same settings on the CPU reuse the run.
    assert fit(dataclasses.replace(config, device="cpu"), progress=False) == run
    assert json.loads((run / "curve.json").read_text()) == curve
