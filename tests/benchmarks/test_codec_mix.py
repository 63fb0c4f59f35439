"""benchmarks/codec_mix.py: which training videos are re-encoded, and the manifest it writes (the
re-encoding itself needs the FFmpeg command line, which tests do not use: a copy stands in for it)."""

import shutil

import pytest

from scsampler.data.manifest import read_manifest


@pytest.fixture(scope="module")
def codec_mix(benchmark_script):
    return benchmark_script("codec_mix")


def test_a_seeded_share_of_the_training_videos_in_turn_over_the_variants(codec_mix, tiny_data):
    train = read_manifest(tiny_data / "manifest.csv", split="train")
    plan = codec_mix.assign(train, ["hevc", "vp9"], 0.5, seed=0)
    assert len(plan) == round(0.5 * len(train)) and set(plan) <= {e.video_id for e in train}
    assert abs(list(plan.values()).count("hevc") - list(plan.values()).count("vp9")) <= 1
    assert codec_mix.assign(train, ["hevc", "vp9"], 0.5, seed=0) == plan          # the seed decides
    assert codec_mix.assign(list(reversed(train)), ["hevc", "vp9"], 0.5, seed=0) == plan  # not the manifest's order
    assert codec_mix.assign(train, ["hevc", "vp9"], 0.5, seed=1) != plan
    assert len(codec_mix.assign(train, ["hevc"], 1.0, seed=0)) == len(train)


def test_the_manifest_swaps_the_chosen_training_videos_and_keeps_the_rest(codec_mix, tiny_data, tmp_path, monkeypatch):
    calls = []

    copies = []

    def fake_encode(src, dst, options):  # as codec_transfer.encode: a file that exists is kept
        calls.append((dst.parent.name, options))
        if len(calls) == 1:
            return "Unknown encoder 'libx265'"  # the first fails: that video stays in its codec
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            copies.append(dst)
        return None

    monkeypatch.setattr(codec_mix, "encode", fake_encode)
    summary = codec_mix.mix(tiny_data, tmp_path / "mix", ["hevc", "vp9"], 0.5, seed=0, workers=1)
    original = read_manifest(tiny_data / "manifest.csv")
    mixed = read_manifest(tmp_path / "mix" / "manifest.csv")
    assert (tmp_path / "mix" / "classes.txt").read_text() == (tiny_data / "classes.txt").read_text()
    assert len(mixed) == len(original) and len(summary["failed"]) == 1
    swapped = 0
    for a, b in zip(original, mixed):
        assert (a.label, a.split, a.labels, a.duration_s) == (b.label, b.split, b.labels, b.duration_s)
        if b.path != a.path:
            swapped += 1
            variant = summary["assignment"][a.video_id]
            assert a.split == "train" and b.path.parent.name == variant and b.path.suffix == ".mkv"
    assert swapped == len(summary["assignment"]) == sum(summary["re_encoded"].values()) == len(calls) - 1
    assert all(options == codec_mix.VARIANTS[variant][1] for variant, options in calls)  # each variant's own FFmpeg options
    # A rerun makes the same set from the files already there; the one that failed is tried again.
    again = codec_mix.mix(tiny_data, tmp_path / "mix", ["hevc", "vp9"], 0.5, seed=0, workers=1)
    assert len(copies) == len(summary["assignment"]) + 1 and not again["failed"]
    assert summary["assignment"].items() <= again["assignment"].items()
