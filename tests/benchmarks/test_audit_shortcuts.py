"""benchmarks/audit_shortcuts.py: what each cheap cue's top clips show, exact on hand-made cues, and
no loudness shortcut on tiny data."""

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def audit_module(benchmark_script):
    return benchmark_script("audit_shortcuts")


@pytest.fixture(scope="module")
def tiny_audit(audit_module, tiny_data):
    return audit_module.audit(tiny_data, split=None, k=3)


def test_kind_cover_splits_each_clip_between_the_kinds_and_none(audit_module):
    segments = [{"kind": "salient", "start_s": 0.5, "end_s": 1.5}, {"kind": "masked", "start_s": 1.5, "end_s": 2.0},
                {"kind": "glimpse", "start_s": 2.25, "end_s": 2.5}]
    cover = audit_module.kind_cover(3, 1.0, segments)
    assert audit_module.KINDS == ("salient", "masked", "glimpse", "sound_only", "none")
    np.testing.assert_allclose(cover, [[0.5, 0, 0, 0, 0.5], [0.5, 0.5, 0, 0, 0], [0, 0, 0.25, 0, 0.75]])


def test_tally_counts_the_top_k_of_each_video_against_its_share(audit_module):
    kinds = audit_module.KINDS
    salient, none = (np.eye(len(kinds))[kinds.index(k)] for k in ("salient", "none"))
    # Video 1: 4 clips, the first salient; video 2: 2 clips, no action (k = 2 picks both).
    cover1, cover2 = np.stack([salient, none, none, none]), np.stack([none, none])
    cues1 = {c: np.array([0.0, 1.0, 2.0, 3.0]) for c in audit_module.CUES}
    cues1["loudness"] = np.array([9.0, 1.0, 1.0, 0.0])  # the salient clip, then the earlier tie
    cues2 = {c: np.array([1.0, 0.0]) for c in audit_module.CUES}
    r = audit_module.tally([(cues1, cover1), (cues2, cover2)], k=2)
    assert r["picks"] == 4
    assert r["base"]["salient"] == pytest.approx(2 * 0.25 / 4)  # video 1 weighs its 2 picks
    loud = r["cues"]["loudness"]
    assert loud["top_k"]["salient"] == pytest.approx(0.25) and loud["top_k"]["none"] == pytest.approx(0.75)
    assert loud["ratio"]["salient"] == pytest.approx(2.0) and loud["ratio"]["action visible"] == pytest.approx(2.0)
    assert r["cues"]["motion"]["top_k"]["salient"] == 0 and r["cues"]["motion"]["ratio"]["masked"] is None
    assert list(audit_module.top_k(np.array([1.0, 3.0, 3.0]), 5)) == [1, 2, 0]


def test_audit_of_tiny_data_adds_up_and_loudness_does_not_find_the_action(audit_module, tiny_audit):
    r = tiny_audit
    assert r["videos"] == 9 and r["errors"] == {}
    assert r["picks"] == 9 * 3 and r["clips"] > r["picks"]
    assert set(r["cues"]) == set(audit_module.CUES)
    kinds = audit_module.KINDS
    assert sum(r["base"][k] for k in kinds) == pytest.approx(1)
    for cue, v in r["cues"].items():
        assert sum(v["top_k"][k] for k in kinds) == pytest.approx(1), cue
        assert v["top_k"]["action visible"] == pytest.approx(v["top_k"]["salient"] + v["top_k"]["masked"])
        for k, ratio in v["ratio"].items():
            assert ratio == pytest.approx(v["top_k"][k] / r["base"][k]), (cue, k)
    # Version 5 of the generator (noise bursts over masked segments only) gave 2.6x here.
    assert r["cues"]["loudness"]["ratio"]["action visible"] < 2


def test_main_writes_json_and_a_docs_table_and_reports_bad_input_in_one_line(audit_module, tiny_data, tmp_path, capsys):
    out, docs = tmp_path / "audit.json", tmp_path / "doc.md"
    docs.write_text("# Doc\n\ntext\n")
    assert audit_module.main(["--data", str(tiny_data), "--k", "2", "--out", str(out), "--docs", str(docs), "--tag", "audit"]) == 0
    r = json.loads(out.read_text())
    assert r["split"] == "test" and r["videos"] == 3 and r["k"] == 2
    text = docs.read_text()
    assert text.startswith("# Doc\n\ntext\n") and "### audit" in text
    table = text.split("<!-- audit:begin -->\n", 1)[1].split("\n<!-- audit:end -->", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + 1 + len(audit_module.CUES)  # header, rule, all clips, one row per cue
    assert all(row.count("|") == 2 + len(audit_module.KINDS) + 1 for row in rows)
    capsys.readouterr()
    assert audit_module.main(["--data", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"audit_shortcuts: error: {tmp_path / 'missing'}: manifest not found"]
