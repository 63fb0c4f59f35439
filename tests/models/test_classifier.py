import os

import pytest
import torch

from scsampler.errors import ConfigError
from scsampler.models import create_model, list_models
from scsampler.models.classifier import ClipTransform
from scsampler.models.weights import load_checkpoint, load_weights, read_state_dict, save_checkpoint


@pytest.mark.parametrize("name", list_models("classifier"))
def test_classifiers_map_clips_to_logits(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=5).eval()
    with torch.inference_mode():
        out = model(torch.randn(2, 3, 4, 32, 32))
    assert out.shape == (2, 5) and torch.isfinite(out).all()


def test_transform_resizes_crops_and_normalises():
    t = ClipTransform(frames=4, resize=(40, 48), crop=(32, 32))
    clips = torch.randint(0, 256, (2, 3, 4, 128, 160), dtype=torch.uint8)
    x = t(clips)
    assert x.shape == (2, 3, 4, 32, 32) and x.dtype == torch.float32
    g = torch.Generator().manual_seed(0)
    y = t(clips, train=True, generator=g)
    assert y.shape == x.shape
    grey = torch.full((1, 3, 4, 40, 48), 110, dtype=torch.uint8)
    assert t(grey).flatten(2).std(dim=2).max() < 1e-4  # a flat clip stays flat in each channel


def test_torchvision_convention_keeps_the_128_by_171_proportions():
    assert ClipTransform.torchvision() == ClipTransform(frames=16, resize=(128, 171), crop=(112, 112))
    t = ClipTransform.torchvision(8, (224, 224))
    assert (t.frames, t.resize, t.crop) == (8, (256, 342), (224, 224))
    assert ClipTransform.torchvision(16, (112, 112), (112, 150)).resize == (112, 150)


def test_torchvision_state_dict_file_loads_with_new_head(tmp_path):
    # A user's Kinetics-400 weights: a plain torchvision state dict saved with torch.save.
    torch.manual_seed(1)
    kinetics = create_model("r2plus1d_18", num_classes=400)
    path = tmp_path / "r2plus1d_18_kinetics.pth"
    torch.save(kinetics.state_dict(), path)
    mine = create_model("r2plus1d_18", num_classes=7)
    missing = load_weights(mine, path)
    assert missing == ["fc.bias", "fc.weight"]
    assert torch.equal(mine.stem[0].weight, kinetics.stem[0].weight)
    assert mine.fc.out_features == 7


class Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-pickle",))


def test_pickle_with_a_payload_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(2), "x": Payload()}, path)
    with pytest.raises(ConfigError, match="refused to load"):
        read_state_dict(path)
    assert not (tmp_path / "pwned-by-pickle").exists()


def test_wrong_architecture_is_a_clear_error(tmp_path):
    path = tmp_path / "tiny.pth"
    torch.save(create_model("classifier_tiny", num_classes=3).state_dict(), path)
    with pytest.raises(ConfigError, match="do not belong to this model"):
        load_weights(create_model("mc3_18", num_classes=3), path)


def test_checkpoint_round_trip_is_safetensors_plus_json(tmp_path):
    model = create_model("classifier_tiny", num_classes=4, width=4)
    save_checkpoint(tmp_path / "ckpt", model, {"model": "classifier_tiny", "model_kwargs": {"num_classes": 4, "width": 4}})
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["config.json", "model.safetensors"]
    loaded, config = load_checkpoint(tmp_path / "ckpt")
    x = torch.randn(2, 3, 4, 16, 16)
    model.eval()
    assert torch.allclose(loaded(x), model(x))
    assert config["model_kwargs"]["width"] == 4
