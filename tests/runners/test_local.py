"""The local runner's records (:mod:`scsampler.runners.local`): what they say of the video's truth."""

import dataclasses

import torch

from scsampler.data.manifest import read_manifest
from scsampler.runners.local import error_record, predict_one, truth_fields
from scsampler.runtime.classifier import load_classifier
from scsampler.selectors import load_selector


def test_truth_fields_keep_label_and_add_labels_only_for_several(tiny_multilabel_data, tiny_data):
    multi = read_manifest(tiny_multilabel_data / "manifest.csv")[0]
    one = read_manifest(tiny_data / "manifest.csv")[0]
    assert truth_fields(multi) == {"label": multi.label, "labels": list(multi.labels)} and multi.labels[0] == multi.label
    assert truth_fields(one) == {"label": one.label}
    assert error_record(multi, "x: no such file") == {"video": multi.video_id, "error": "x: no such file", **truth_fields(multi)}


def test_the_oracle_of_predict_ranks_by_the_best_of_the_video_s_labels(tiny_multilabel_data, tiny_multilabel_classifier):
    clf = load_classifier(tiny_multilabel_classifier)
    entry = read_manifest(tiny_multilabel_data / "manifest.csv", split="test")[0]
    main, other = entry.labels
    oracle = load_selector("oracle")
    both = predict_one(entry, clf, oracle, 2)
    alone = {x: predict_one(dataclasses.replace(entry, label=x, labels=(x,)), clf, oracle, 2) for x in entry.labels}
    assert both["labels"] == [main, other] and "labels" not in alone[main]
    scores = {x: torch.tensor(r["scores"]["oracle"]) for x, r in alone.items()}
    assert torch.allclose(torch.tensor(both["scores"]["oracle"]), torch.maximum(scores[main], scores[other]))
    assert not torch.equal(scores[main], torch.maximum(scores[main], scores[other]))  # the second label counts
    assert {c["index"] for c in both["selected"]} == set(torch.topk(torch.tensor(both["scores"]["oracle"]), 2).indices.tolist())
