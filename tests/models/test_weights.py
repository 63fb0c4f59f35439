"""Run directories: weights files then config.json, each written atomically, config.json last (the
"finished" marker)."""

import json
import os
import platform

import pytest
import torch
from safetensors.torch import load_file, save_file

from scsampler.models import create_model
from scsampler.models.weights import load_checkpoint, save_checkpoint, save_run, trained_on


def _files(d):
    return sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())


def test_save_run_writes_weights_files_then_config(tmp_path):
    net = create_model("sampler_tiny", feature="md", num_outputs=1)
    state = {"w": torch.arange(6.0).reshape(2, 3).t()}  # not contiguous: saved all the same
    save_file({"x": torch.ones(2)}, str(tmp_path / "other.safetensors"))
    run = save_run(tmp_path / "run", {"nets/md.safetensors": net, "nets/s.safetensors": state,
                                      "copy.safetensors": tmp_path / "other.safetensors"}, {"b": 1, "a": 2})
    assert _files(run) == ["config.json", "copy.safetensors", "nets/md.safetensors", "nets/s.safetensors"]
    saved_config = json.loads((run / "config.json").read_text())
    assert list(saved_config) == ["a", "b", "trained_on"] and (saved_config["a"], saved_config["b"]) == (2, 1)
    assert (run / "copy.safetensors").read_bytes() == (tmp_path / "other.safetensors").read_bytes()
    assert torch.equal(load_file(run / "nets/s.safetensors")["w"], state["w"])
    saved = load_file(run / "nets/md.safetensors")
    assert all(torch.equal(saved[k], v) for k, v in net.state_dict().items())


def test_a_run_records_where_it_was_trained(tmp_path):
    """Training repeats bit for bit only on the same torch, thread count, device and machine: the
    run says which it had, and a config that already says (a run copied on) keeps its own."""
    net = create_model("sampler_tiny", feature="md", num_outputs=1)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        run = save_run(tmp_path / "run", {"nets/md.safetensors": net}, {"a": 1})
    finally:
        torch.set_num_threads(threads)
    env = json.loads((run / "config.json").read_text())["trained_on"]
    assert env == {"torch": torch.__version__, "torch_threads": 1, "machine": platform.machine(), "device": "cpu"}
    assert "device" not in trained_on([{"w": torch.ones(1)}])
    kept = {"torch": "2.4.0", "torch_threads": 16, "machine": "aarch64", "device": "cuda:0"}
    again = save_run(tmp_path / "again", {"nets/md.safetensors": net}, {"a": 1, "trained_on": kept})
    assert json.loads((again / "config.json").read_text())["trained_on"] == kept


def test_a_run_that_fails_while_saving_has_no_config_and_no_temp(tmp_path):
    run = tmp_path / "run"
    save_run(run, {"model.safetensors": {"w": torch.zeros(2)}}, {"identity": "old"})
    shared = torch.zeros(4)
    with pytest.raises(Exception):  # safetensors refuses tensors that share memory
        save_run(run, {"model.safetensors": {"w": torch.ones(2)}, "b.safetensors": {"a": shared, "b": shared[:2]}}, {"identity": "new"})
    assert _files(run) == ["model.safetensors"]  # the old marker is gone: the run is not taken for finished
    assert not [p for p in run.iterdir() if p.name.startswith(".")]


def test_checkpoint_layout_is_unchanged(tmp_path):
    model = create_model("classifier_tiny", num_classes=3, width=4)
    save_checkpoint(tmp_path / "c", model, {"model": "classifier_tiny", "model_kwargs": {"num_classes": 3, "width": 4}})
    assert sorted(os.listdir(tmp_path / "c")) == ["config.json", "model.safetensors"]
    with pytest.raises(ValueError, match="model"):
        save_checkpoint(tmp_path / "d", model, {})
    assert not (tmp_path / "d" / "config.json").exists()
    loaded, _ = load_checkpoint(tmp_path / "c")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
