"""Run directories at run time: a sampler run written by :func:`save_sampler_run` or by earlier
versions (config.json with unsorted keys) loads, and the cache keys of classifier and sampler runs
are the digests they always were."""

import hashlib
import json

import torch
from safetensors.torch import save_file

from scsampler.engine.sampler import save_sampler_run
from scsampler.models import create_model
from scsampler.models.classifier import ClipTransform
from scsampler.models.weights import save_checkpoint
from scsampler.runtime.classifier import load_classifier
from scsampler.runtime.sampler import load_sampler, sampler_key


def _files(d):
    return sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())


def _sampler_config(features):
    return {"kind": "sampler", "modality": "visual", "loss": "sal-rank", "features": list(features),
            "arch": {f: "sampler_tiny" for f in features}, "num_outputs": 1, "input_shapes": {f: [2, 8, 10] for f in features}}


def test_a_sampler_run_round_trips_and_old_runs_still_load(tmp_path):
    nets = {f: create_model("sampler_tiny", feature=f, num_outputs=1) for f in ("md", "rgbr")}
    run = save_sampler_run(tmp_path / "new", nets, _sampler_config(nets))
    assert _files(run) == ["config.json", "nets/md.safetensors", "nets/rgbr.safetensors"]
    sampler = load_sampler(run)
    for f, net in nets.items():
        assert all(torch.equal(a, b) for a, b in zip(sampler.nets[f].state_dict().values(), net.state_dict().values()))
    # A run as earlier versions wrote it: the same files, config.json with unsorted keys.
    old = tmp_path / "old"
    (old / "nets").mkdir(parents=True)
    for f, net in nets.items():
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(old / "nets" / f"{f}.safetensors"))
    (old / "config.json").write_text(json.dumps(_sampler_config(nets), indent=1) + "\n")
    assert load_sampler(old).features == sampler.features
    assert sampler_key(old) == hashlib.blake2b(b"".join(p.read_bytes() for p in [
        old / "nets" / "md.safetensors", old / "nets" / "rgbr.safetensors", old / "config.json"]), digest_size=8).hexdigest()
    assert (old / "nets" / "md.safetensors").read_bytes() == (run / "nets" / "md.safetensors").read_bytes()


def test_a_classifier_runs_key_is_the_digest_of_its_weights_and_config(tmp_path):
    model = create_model("classifier_tiny", num_classes=2)
    run = save_checkpoint(tmp_path / "c", model, {"model": "classifier_tiny", "model_kwargs": {"num_classes": 2},
                                                  "transform": ClipTransform(frames=4, resize=(32, 40), crop=(32, 32)).to_json(),
                                                  "classes": ["a", "b"]})
    old_key = hashlib.blake2b((run / "model.safetensors").read_bytes() + (run / "config.json").read_bytes(), digest_size=8).hexdigest()
    assert load_classifier(run).key == old_key


def test_the_keys_of_a_users_classifier_are_unchanged(tmp_path):
    from scsampler.runtime.classifier import classifier_from_weights, untrained_classifier

    (tmp_path / "classes.txt").write_text("a\nb\n")
    torch.save(create_model("classifier_tiny", num_classes=2).state_dict(), tmp_path / "w.pth")
    t = ClipTransform(frames=4, resize=(32, 40), crop=(32, 32))
    base = hashlib.blake2b(b"classifier_tiny" + str(t).encode(), digest_size=8).hexdigest()
    assert untrained_classifier("classifier_tiny", ["a", "b"], transform=t).key == base
    clf = classifier_from_weights("classifier_tiny", str(tmp_path / "w.pth"), tmp_path / "classes.txt", transform=t)
    assert clf.key == hashlib.blake2b(base.encode() + (tmp_path / "w.pth").read_bytes(), digest_size=8).hexdigest()
