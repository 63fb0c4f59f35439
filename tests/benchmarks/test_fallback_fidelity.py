"""benchmarks/fallback_fidelity.py: the fallback's MD against the bitstream's on the same frames of
the tiny data's H.264 test videos."""

import json

import pytest


def test_both_motions_measured_on_the_same_p_frames(benchmark_script, tiny_data, tmp_path, capsys):
    fidelity = benchmark_script("fallback_fidelity")
    out = tmp_path / "fidelity.json"
    assert fidelity.main(["--data", str(tiny_data), "--videos", "2", "--frames", "40", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["videos"] == 2 and 0 < r["p_frames"] <= 2 * 39 and r["cells"] % r["p_frames"] == 0
    assert r["bitstream_mean_md_px"] > 0 and set(r["matchings"]) == {"refined", "quarter", "half"}
    for m in r["matchings"].values():
        assert m["mean_md_px"] > 0  # the tiny videos move
        assert -1 <= m["correlation"] <= 1 and m["correlation"] > 0.2  # the same motion, seen two ways
        assert m["over_bitstream"] == pytest.approx(m["mean_md_px"] / r["bitstream_mean_md_px"])
        assert m["ms_per_frame"] > 0
    refined = r["matchings"]["refined"]
    assert (refined["cell"], refined["search"], refined["refine"]) == (4, 2, True)  # the extractor's
    assert "correlation with the bitstream's MD" in capsys.readouterr().out


def test_files_instead_of_a_data_directory(benchmark_script, tiny_data, tmp_path):
    fidelity = benchmark_script("fallback_fidelity")
    from scsampler.data.manifest import read_manifest

    video = read_manifest(tiny_data / "manifest.csv", split="test")[0].path
    out = tmp_path / "fidelity.json"
    assert fidelity.main(["--file", str(video), "--frames", "30", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["videos"] == 1 and r["data"] == str(video) and 0 < r["p_frames"] <= 29
    with pytest.raises(SystemExit):
        fidelity.main(["--file", str(video), "--data", str(tiny_data)])  # one or the other
