import json

import pytest

from scsampler.data.segments import action_intervals, read_segments_file
from scsampler.errors import ConfigError


def test_generated_entries_give_the_video_s_own_actions_by_class():
    entry = {"label": "a", "labels": ["a", "b"], "segments": [
        {"start_s": 0.0, "end_s": 2.0, "kind": "salient", "class": "a"},
        {"start_s": 2.0, "end_s": 3.0, "kind": "masked", "class": "a"},     # the action under a burst
        {"start_s": 4.0, "end_s": 5.0, "kind": "glimpse", "class": "c"},    # another class: not its action
        {"start_s": 6.0, "end_s": 7.0, "kind": "sound_only", "class": "c"},
        {"start_s": 8.0, "end_s": 9.5, "kind": "salient", "class": "b"},
    ]}
    assert action_intervals(entry) == {"a": [(0.0, 2.0), (2.0, 3.0)], "b": [(8.0, 9.5)]}


def test_imported_entries_give_the_annotated_intervals():
    entry = {"label": "x", "labels": ["x", "y"],
             "segments": [{"start_s": 0.0, "end_s": 1.0, "kind": "salient", "label": "x", "labels": ["x"]},
                          {"start_s": 1.0, "end_s": 2.0, "kind": "salient", "label": "x", "labels": ["x", "y"]}],
             "annotations": [{"start_s": 0.0, "end_s": 2.0, "label": "x"}, {"start_s": 1.0, "end_s": 2.0, "label": "y"}]}
    assert action_intervals(entry) == {"x": [(0.0, 2.0)], "y": [(1.0, 2.0)]}
    del entry["annotations"]  # cut pieces only: each under every label it shows
    assert action_intervals(entry) == {"x": [(0.0, 1.0), (1.0, 2.0)], "y": [(1.0, 2.0)]}


def test_reading_a_segments_file(tmp_path):
    assert read_segments_file(tmp_path / "none.json") == {}
    (tmp_path / "s.json").write_text(json.dumps({"v.mp4": {"segments": []}}))
    assert read_segments_file(tmp_path / "s.json") == {"v.mp4": {"segments": []}}
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="bad.json: not a segments file"):
        read_segments_file(tmp_path / "bad.json")
