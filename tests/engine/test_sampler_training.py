import json
from pathlib import Path

import numpy as np
import pytest
import torch

from scsampler.data.manifest import read_manifest
from scsampler.engine.sampler import (SamplerTrainConfig, TrainSet, _identity, _subsample_rows, build_trainset, clip_targets,
                                     fit_sampler, oracle_labels, rank_loss, train_network)
from scsampler.errors import ConfigError
from scsampler.runtime.sampler import Sampler, saliency
from scsampler.models import create_model


def test_oracle_labels_mark_the_top_fraction_of_each_video():
    probs = torch.tensor([0.1, 0.9, 0.3, 0.8, 0.2, 0.7, 0.0, 0.05])
    lab = oracle_labels(probs, 0.25)
    assert lab.tolist() == [0, 1, 0, 1, 0, 0, 0, 0]
    assert oracle_labels(probs[:1], 0.25).tolist() == [1]  # at least one positive


def test_rank_loss_is_zero_only_for_pairs_ordered_by_the_margin():
    z = torch.tensor([1.0, -1.0])
    assert rank_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.5, 1.0]), z, 0.2) == 0
    assert rank_loss(torch.tensor([0.6, 0.0]), torch.tensor([0.5, 1.0]), z, 0.2) > 0  # within the margin
    assert rank_loss(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0]), z, 0.2) > 1  # wrong order


def test_subsample_keeps_at_most_n_rows_of_every_clip():
    owner = torch.tensor([0] * 15 + [1] * 3 + [2] * 1 + [3] * 15)
    keep = _subsample_rows(owner, 2, np.random.default_rng(0))
    counts = torch.bincount(owner[keep], minlength=4)
    assert counts.tolist() == [2, 2, 1, 2]
    assert torch.equal(keep, torch.sort(keep).values)


def test_saliency_of_each_loss():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    ac = saliency(logits, "ac")
    assert ac[0] > ac[1] and torch.isclose(ac[1], torch.tensor(1 / 3))
    assert torch.allclose(saliency(logits[:, :1], "sal-cl"), torch.sigmoid(logits[:, 0]))
    assert torch.equal(saliency(logits[:, :1], "sal-rank"), logits[:, 0])
    # A bce-trained AC sampler (several labels a video): the largest per-class sigmoid, not a softmax.
    multi = saliency(logits, "ac", "bce")
    assert torch.allclose(multi, torch.sigmoid(logits).max(dim=1).values) and not torch.allclose(multi, ac)


def _motion_set(n_videos=12, clips=10, frames=4, seed=0):
    """MD frames where the 'salient' clips (3 per video) move right by 4 px, the rest by noise."""
    g = torch.Generator().manual_seed(seed)
    xs, owner, target, video, label = [], [], [], [], []
    for v in range(n_videos):
        hot = torch.randperm(clips, generator=g)[:3]
        for c in range(clips):
            gid = v * clips + c
            md = torch.randn(frames, 2, 8, 10, generator=g) * 0.5
            if c in hot:
                md[:, 0] += 4.0
            xs.append(md)
            owner += [gid] * frames
            target.append(0.9 if c in hot else 0.1 * float(torch.rand(1, generator=g)))
            video.append(v)
            label.append(v % 2)
    target = torch.tensor(target)
    salient = torch.cat([oracle_labels(target[v * clips:(v + 1) * clips], 0.3) for v in range(n_videos)])
    return TrainSet(torch.cat(xs).half(), torch.tensor(owner), torch.tensor(video), torch.tensor(label), target, salient)


@pytest.mark.parametrize("loss", ["sal-cl", "sal-rank"])
def test_a_sampler_learns_to_rank_moving_clips_first(tmp_path, loss):
    train, test = _motion_set(seed=0), _motion_set(n_videos=6, seed=1)
    config = SamplerTrainConfig.__new__(SamplerTrainConfig)  # skip the data checks: no data directory here
    config.__dict__.update(dict(arch="sampler_tiny", loss=loss, epochs=8, batch_size=32, lr=1e-2, weight_decay=0.0,
                                margin=0.5, seed=0, freeze_backbone=False, modality="visual"))
    net, curve = train_network(config, "md", train, 2, False, None)
    sampler = Sampler(name="t", modality="visual", loss=loss, nets={"md": net})
    packed = {"md": test.x, "md_clip": test.clip, "clip_index": torch.arange(len(test.target))}
    s = sampler.score(packed, len(test.target))
    hot = test.target > 0.5
    # Every salient clip outranks every other one in most videos: AUC near 1 (chance 0.5).
    auc = (s[hot][:, None] > s[~hot][None, :]).float().mean()
    assert auc > 0.9, (auc, curve[-1])


def test_score_is_nan_where_a_clip_cannot_be_scored_and_averages_frames():
    net = create_model("sampler_tiny", feature="md", num_outputs=1)
    sampler = Sampler(name="t", modality="visual", loss="sal-rank", nets={"md": net.eval()}, frames_per_clip=2)
    md = torch.randn(5, 2, 8, 10)
    packed = {"md": md, "md_clip": torch.tensor([0, 0, 0, 2, 2]), "clip_index": torch.arange(3)}
    s = sampler.score(packed, 3)
    assert torch.isnan(s[1]) and not torch.isnan(s[0]) and not torch.isnan(s[2])
    with torch.inference_mode():
        rows = net(md / 8.0)[:, 0]
    assert torch.isclose(s[0], (rows[0] + rows[2]) / 2, atol=1e-5)  # 2 of 3 frames, evenly spread
    assert torch.isclose(s[2], rows[3:].mean(), atol=1e-5)
    only = sampler.score(packed, 3, clips=torch.tensor([2]))
    assert torch.isnan(only[0]) and torch.isclose(only[2], s[2])


def test_audio_sampler_leaves_clips_without_audio_unscored():
    net = create_model("sampler_tiny", feature="audio", num_outputs=1)
    sampler = Sampler(name="a", modality="audio", loss="sal-cl", nets={"audio": net.eval()})
    packed = {"audio": torch.randn(3, 40, 200).half(), "audio_coverage": torch.tensor([1.0, 0.0, 0.5]), "clip_index": torch.arange(3)}
    s = sampler.score(packed, 3)
    assert torch.isnan(s[1]) and (s[[0, 2]] > 0).all() and (s[[0, 2]] < 1).all()
    assert torch.isnan(sampler.score({"clip_index": torch.arange(3)}, 3)).all()


def test_config_errors_are_clear():
    with pytest.raises(ConfigError, match="features must be among"):
        SamplerTrainConfig(data="d", classifier="c", out="o", features=("audio",))
    with pytest.raises(ConfigError, match="loss must be one of"):
        SamplerTrainConfig(data="d", classifier="c", out="o", loss="hinge")
    with pytest.raises(ConfigError, match="freeze_backbone needs init_from"):
        SamplerTrainConfig(data="d", classifier="c", out="o", freeze_backbone=True)
    with pytest.raises(ConfigError, match="unknown sampler architecture"):
        SamplerTrainConfig(data="d", classifier="c", out="o", arch="r2plus1d_18")


def test_clip_targets_of_hand_made_probabilities():
    probs = torch.tensor([[0.6, 0.3, 0.1],
                          [0.1, 0.5, 0.4],
                          [0.2, 0.2, 0.6],
                          [0.1, 0.7, 0.2]])  # mean over the clips: [0.25, 0.425, 0.325] -> dense prediction 1
    assert torch.equal(clip_targets(probs, "label", 2), torch.tensor([0.1, 0.4, 0.6, 0.2]))
    assert torch.equal(clip_targets(probs, "confidence"), torch.tensor([0.6, 0.5, 0.6, 0.7]))
    assert torch.equal(clip_targets(probs, "agreement"), torch.tensor([0.3, 0.5, 0.2, 0.7]))
    # Clip 0 is the most confident one of its own class but disagrees with the video: agreement ranks it third.
    assert oracle_labels(clip_targets(probs, "agreement"), 0.5).tolist() == [0, 1, 0, 1]
    assert oracle_labels(clip_targets(probs, "confidence"), 0.5).tolist() == [1, 0, 0, 1]  # ties: the first clip
    with pytest.raises(ConfigError, match="needs the video's label"):
        clip_targets(probs, "label")
    with pytest.raises(ConfigError, match="unknown sampler target"):
        clip_targets(probs, "entropy")


def test_the_label_target_is_the_true_class_probability_as_before():
    probs = torch.tensor([[0.6, 0.3, 0.1], [0.1, 0.5, 0.4], [0.2, 0.2, 0.6]])
    packed = {"audio": torch.randn(3, 40, 200).half(), "audio_coverage": torch.ones(3), "clip_index": torch.arange(3)}
    config = SamplerTrainConfig(data="d", classifier="c", out="o", modality="audio", loss="sal-cl", k_tr=0.34)
    assert config.target == "label"
    ts = build_trainset(config, "audio", [(packed, probs, 1), (packed, probs, 2)], np.random.default_rng(0))
    assert torch.equal(ts.target, torch.cat([probs[:, 1], probs[:, 2]]))
    assert ts.salient.tolist() == [0, 1, 0, 0, 0, 1] and ts.label.tolist() == [1, 1, 1, 2, 2, 2]
    free = SamplerTrainConfig(data="d", classifier="c", out="o", modality="audio", loss="sal-cl", k_tr=0.34, target="confidence")
    ts = build_trainset(free, "audio", [(packed, probs, None)], np.random.default_rng(0))
    assert torch.equal(ts.target, torch.tensor([0.6, 0.5, 0.6])) and ts.label.tolist() == [-1, -1, -1]


def test_a_run_with_the_default_target_keeps_its_identity(tmp_path):
    # Runs trained before the target option existed are reused, not retrained: no "target" in their identity.
    (tmp_path / "manifest.csv").write_text("path\n")
    (tmp_path / "clf").mkdir()
    (tmp_path / "clf" / "model.safetensors").write_bytes(b"w")
    common = dict(data=str(tmp_path), classifier=str(tmp_path / "clf"), out="o", loss="sal-rank")
    assert "target" not in _identity(SamplerTrainConfig(**common))
    assert _identity(SamplerTrainConfig(**common, target="agreement"))["target"] == "agreement"


def test_ac_with_a_label_free_target_is_a_one_line_error(capsys):
    from scsampler.cli.main import main

    with pytest.raises(ConfigError, match="target confidence needs loss sal-cl or sal-rank"):
        SamplerTrainConfig(data="d", classifier="c", out="o", loss="ac", target="confidence")
    assert main(["train-sampler", "--data", "d", "--classifier", "c", "--out", "o", "--loss", "ac", "--target", "confidence"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "scsampler train-sampler: error: loss ac learns the videos' labels; target confidence needs loss sal-cl or sal-rank"


def _unlabelled(tiny_data, out: Path, split_column: bool) -> Path:
    """The training videos of ``tiny_data`` in a manifest without labels: only a ``path`` column
    (a user's folder of videos), or ``path,label,split`` with every label empty."""
    rows = read_manifest(tiny_data / "manifest.csv")
    out.mkdir()
    with open(out / "manifest.csv", "w", newline="") as f:
        if split_column:
            f.write("path,label,split\n" + "".join(f"{e.path},,{e.split}\n" for e in rows))
        else:
            f.write("path\n" + "".join(f"{e.path}\n" for e in rows if e.split == "train"))
    return out


@pytest.mark.parametrize("target,loss,modality,split_column", [("confidence", "sal-cl", "visual", False),
                                                               ("agreement", "sal-rank", "audio", True)])
def test_label_free_training_reads_no_labels_and_its_sampler_predicts_and_benchmarks(
        tiny_data, tiny_classifier, tmp_path, capsys, target, loss, modality, split_column):
    from scsampler.benchmark.run import BenchmarkConfig, run_benchmark
    from scsampler.cli.main import main
    from scsampler.runtime.sampler import load_sampler

    data = _unlabelled(tiny_data, tmp_path / "data", split_column)
    assert all(e.label is None for e in read_manifest(data / "manifest.csv"))
    cache = str(tmp_path / "cache")
    config = SamplerTrainConfig(data=str(data), classifier=str(tiny_classifier), out=str(tmp_path / "s"), modality=modality,
                                features=("md",), arch="sampler_tiny", loss=loss, target=target, epochs=1, cache=cache)
    run = fit_sampler(config, progress=False)
    saved = json.loads((run / "config.json").read_text())
    n_train = len(read_manifest(tiny_data / "manifest.csv", split="train"))
    assert saved["train"]["target"] == target and saved["identity"]["target"] == target
    assert saved["training_videos"] == n_train and saved["loss"] == loss  # every training video, none of the test ones
    sampler = load_sampler(run)
    assert sampler.loss == loss and sampler.modality == modality

    out = tmp_path / "predict.jsonl"
    flag = "--sampler" if modality == "visual" else "--audio-sampler"
    video = str(tiny_data / read_manifest(tiny_data / "manifest.csv", split="test")[0].video_id)
    assert main(["predict", video, "--classifier", str(tiny_classifier), flag, str(run), "--k", "2", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert len(record["selected"]) == 2 and modality in record["scores"]

    results = run_benchmark(BenchmarkConfig(data=str(tiny_data), classifier=str(tiny_classifier), out=str(tmp_path / "b"),
                                            strategies=("uniform", modality), samplers={modality: str(run)}, ks=(2,),
                                            timing_videos=0, cache=cache), progress=False)
    assert [r["strategy"] for r in results["rows"] if r["strategy"] == modality] == [modality]


def test_joint_sampler_averages_the_visual_and_the_audio_score():
    md_net = create_model("sampler_tiny", feature="md", num_outputs=1).eval()
    audio_net = create_model("sampler_tiny", feature="audio", num_outputs=1).eval()
    joint = Sampler(name="j", modality="audio-visual", loss="sal-rank", nets={"md": md_net, "audio": audio_net})
    packed = {"md": torch.randn(4, 2, 8, 10), "md_clip": torch.tensor([0, 0, 1, 1]), "clip_index": torch.arange(2),
              "audio": torch.randn(2, 40, 200).half(), "audio_coverage": torch.tensor([1.0, 0.0])}
    s = joint.score(packed, 2)
    with torch.inference_mode():
        v = md_net(packed["md"] / 8.0)[:, 0]
        a = audio_net(packed["audio"].float().unsqueeze(1))[:, 0]
    assert torch.isclose(s[0], ((v[0] + v[1]) / 2 + a[0]) / 2, atol=1e-5)
    assert torch.isclose(s[1], (v[2] + v[3]) / 2, atol=1e-5)  # no audio in clip 1: the visual score alone


def test_joint_training_fine_tunes_both_samplers_into_one(tiny_data, tiny_classifier, tmp_path):
    from scsampler.engine.sampler import JointTrainConfig, fit_joint_sampler, fit_sampler
    from scsampler.runtime.sampler import load_sampler

    common = dict(data=str(tiny_data), classifier=str(tiny_classifier), arch="sampler_tiny", epochs=1, loss="sal-rank",
                  cache=str(tmp_path / "cache"))
    visual = fit_sampler(SamplerTrainConfig(out=str(tmp_path / "v"), features=("md",), **common), progress=False)
    audio = fit_sampler(SamplerTrainConfig(out=str(tmp_path / "a"), modality="audio", **common), progress=False)
    run = fit_joint_sampler(JointTrainConfig(data=str(tiny_data), classifier=str(tiny_classifier), visual=str(visual),
                                             audio=str(audio), out=str(tmp_path / "j"), epochs=1, lr=1e-2,
                                             cache=str(tmp_path / "cache")), progress=False)
    joint, v, a = load_sampler(run), load_sampler(visual), load_sampler(audio)
    assert joint.modality == "audio-visual" and set(joint.features) == {"md", "audio"}
    # Both networks were trained (the audio one needs its features loaded along with the visual ones).
    for feature, alone in (("md", v), ("audio", a)):
        before, after = alone.nets[feature].state_dict(), joint.nets[feature].state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point())


# -- videos with several labels -------------------------------------------------------------------
def test_a_two_label_video_ranks_its_clips_by_the_best_of_its_labels_as_the_oracle():
    from scsampler.selectors.ranking import true_class_scores

    probs = torch.tensor([[0.6, 0.3, 0.1],
                          [0.1, 0.5, 0.4],
                          [0.2, 0.2, 0.6],
                          [0.1, 0.7, 0.2]])
    main = clip_targets(probs, "label", 2)
    both = clip_targets(probs, "label", (2, 1))
    assert torch.equal(main, torch.tensor([0.1, 0.4, 0.6, 0.2]))
    assert torch.equal(both, torch.tensor([0.3, 0.5, 0.6, 0.7]))     # clip 3 shows action 1: salient now
    assert torch.equal(both, true_class_scores(probs, [2, 1]))       # the oracle's rule, not a second one
    assert torch.equal(clip_targets(probs, "label", (2,)), main)     # one label: as before
    assert oracle_labels(main, 0.5).tolist() == [0, 1, 1, 0] and oracle_labels(both, 0.5).tolist() == [0, 0, 1, 1]
    config = SamplerTrainConfig(data="d", classifier="c", out="o", modality="audio", loss="sal-cl", k_tr=0.5)
    packed = {"audio": torch.randn(4, 40, 200).half(), "audio_coverage": torch.ones(4), "clip_index": torch.arange(4)}
    ts = build_trainset(config, "audio", [(packed, probs, (2, 1))], np.random.default_rng(0))
    assert torch.equal(ts.target, both) and ts.salient.tolist() == [0, 0, 1, 1]
    assert ts.label.tolist() == [2, 2, 2, 2] and ts.labels is None  # the main label; no multi-hot rows outside AC


def test_ac_on_several_labels_is_binary_cross_entropy_over_the_video_s_labels():
    from scsampler.engine.sampler import _sampler_step

    torch.manual_seed(0)
    probs = torch.full((2, 3), 1 / 3)
    packed = {"audio": torch.randn(2, 40, 200).half(), "audio_coverage": torch.ones(2), "clip_index": torch.arange(2)}
    config = SamplerTrainConfig(data="d", classifier="c", out="o", modality="audio", loss="ac", arch="sampler_tiny")
    videos = [(packed, probs, (2, 0)), (packed, probs, (1,))]
    bce = build_trainset(config, "audio", videos, np.random.default_rng(0), ac_loss="bce")
    ce = build_trainset(config, "audio", videos, np.random.default_rng(0))
    assert bce.labels.tolist() == [[1, 0, 1], [1, 0, 1], [0, 1, 0], [0, 1, 0]] and ce.labels is None
    assert bce.label.tolist() == ce.label.tolist() == [2, 2, 1, 1]
    net = create_model("sampler_tiny", feature="audio", num_outputs=3).eval()
    batch = torch.arange(4)
    with torch.no_grad():
        logits = net(bce.x.float().unsqueeze(1))
        step_bce, step_ce = _sampler_step(config, "audio", net, bce, batch), _sampler_step(config, "audio", net, ce, batch)
    # By hand: the mean over clips and classes of -[y log s(z) + (1 - y) log(1 - s(z))].
    y = torch.tensor([[1.0, 0, 1], [1, 0, 1], [0, 1, 0], [0, 1, 0]])
    expected = -(y * torch.sigmoid(logits).log() + (1 - y) * (1 - torch.sigmoid(logits)).log()).mean()
    assert torch.isclose(step_bce.loss, expected, atol=1e-6)
    assert torch.isclose(step_ce.loss, torch.nn.functional.cross_entropy(logits, torch.tensor([2, 2, 1, 1])), atol=1e-6)
    assert not torch.isclose(step_bce.loss, step_ce.loss)
    top = logits.argmax(1)
    assert step_bce.sums["accuracy"] == int(y[torch.arange(4), top].sum())  # right when the top class is any of its labels


def test_the_ac_loss_is_chosen_as_the_classifier_s(tiny_data, tiny_multilabel_data):
    from scsampler.engine.sampler import training_ac_loss

    def loss(data, **kw):
        return training_ac_loss(SamplerTrainConfig(data=str(data), classifier="c", out="o", loss="ac", **kw))

    assert loss(tiny_multilabel_data) == "bce" and loss(tiny_data) == "ce"
    assert loss(tiny_multilabel_data, ac_loss="ce") == "ce" and loss(tiny_data, ac_loss="bce") == "bce"
    assert training_ac_loss(SamplerTrainConfig(data=str(tiny_data), classifier="c", out="o", loss="sal-rank")) is None
    with pytest.raises(ConfigError, match="ac_loss bce applies to loss ac only"):
        SamplerTrainConfig(data="d", classifier="c", out="o", loss="sal-cl", ac_loss="bce")
    with pytest.raises(ConfigError, match="ac_loss must be one of"):
        SamplerTrainConfig(data="d", classifier="c", out="o", ac_loss="focal")


def test_multi_label_data_trains_samplers_on_all_the_labels(tiny_multilabel_data, tiny_multilabel_classifier, tmp_path):
    from scsampler.engine.sampler import load_training_videos
    from scsampler.runtime.sampler import load_sampler

    common = dict(data=str(tiny_multilabel_data), classifier=str(tiny_multilabel_classifier), arch="sampler_tiny",
                  features=("md",), cache=str(tmp_path / "cache"))
    salcl = SamplerTrainConfig(out=str(tmp_path / "cl"), loss="sal-cl", epochs=1, **common)
    videos, classes, _, _ = load_training_videos(salcl, progress=False)
    index = {c: i for i, c in enumerate(classes)}
    train = read_manifest(tiny_multilabel_data / "manifest.csv", split="train")
    assert [v[2] for v in videos] == [tuple(index[x] for x in e.labels) for e in train]
    assert all(len(v[2]) == 2 for v in videos)
    ts = build_trainset(salcl, "md", videos, np.random.default_rng(0))
    start = 0
    for packed, probs, labels in videos:
        target = ts.target[start : start + len(probs)]
        assert torch.equal(target, probs[:, list(labels)].float().max(dim=1).values)
        start += len(probs)
    # The second label changes what is salient: some clip's target is not the main label's probability.
    assert any(not torch.equal(ts.target[ts.video == v], probs[:, labels[0]].float()) for v, (_, probs, labels) in enumerate(videos))

    ac = SamplerTrainConfig(out=str(tmp_path / "ac"), loss="ac", epochs=4, lr=1e-2, **common)
    run = fit_sampler(ac, progress=False)
    saved = json.loads((run / "config.json").read_text())
    assert saved["ac_loss"] == "bce" and saved["num_outputs"] == len(classes) and "ac_loss" not in saved["identity"]
    curve = json.loads((run / "curve.json").read_text())["md"]
    assert curve[-1]["loss"] < curve[0]["loss"]
    assert load_sampler(run).loss == "ac"


def test_the_same_config_trains_the_same_sampler(tiny_data, tiny_classifier, tmp_path):
    """Sampler training repeats bit for bit from the same features, classifier and seed (the
    features come from one cache, as in a rerun); another seed gives other weights."""
    from safetensors.torch import load_file

    def weights(name, seed=0):
        config = SamplerTrainConfig(data=str(tiny_data), classifier=str(tiny_classifier), out=str(tmp_path / name),
                                    arch="sampler_tiny", features=("md", "rgbr"), loss="ac", epochs=2,
                                    cache=str(tmp_path / "cache"), seed=seed)
        run = fit_sampler(config, progress=False)
        return {f: load_file(run / "nets" / f"{f}.safetensors") for f in ("md", "rgbr")}

    a, b, c = weights("a"), weights("b"), weights("c", seed=1)
    for f in ("md", "rgbr"):
        assert a[f].keys() == b[f].keys() and all(torch.equal(a[f][k], b[f][k]) for k in a[f]), f
        assert not all(torch.equal(a[f][k], c[f][k]) for k in a[f]), f
