"""The benchmark's mAP (video-level mean average precision over classes), against hand-checked values."""

import numpy as np
import pytest
import torch

from scsampler.benchmark.metrics import mean_average_precision


def test_map_by_hand():
    scores = torch.tensor([
        [0.9, 0.1, 0.0],   # video 0: labels {0}
        [0.6, 0.3, 0.1],   # video 1: labels {1}
        [0.2, 0.7, 0.1],   # video 2: labels {0, 1}
        [0.4, 0.5, 0.1],   # video 3: labels {1}
    ])
    labels = [{0}, {1}, {0, 1}, {1}]
    # Class 0, videos by score: v0 (0.9, positive), v1 (0.6), v3 (0.4), v2 (0.2, positive).
    #   Precision at the positives: 1/1 at rank 1, 2/4 at rank 4 -> AP = (1 + 0.5) / 2 = 0.75.
    # Class 1: v2 (0.7, +), v3 (0.5, +), v1 (0.3, +), v0 (0.1) -> precisions 1, 1, 1 -> AP = 1.
    # Class 2 has no positive video: skipped (ActivityNet and Charades evaluation do the same).
    # mAP = (0.75 + 1) / 2 = 0.875
    assert mean_average_precision(scores, labels) == pytest.approx(0.875)
    # Single-label videos may be given as one index each, scores as a NumPy array. Labels 1, 1, 0:
    # class 0 ranks v0 (0.8), v2 (0.6, +), v1 (0.3): precision 1/2 -> AP = 0.5;
    # class 1 ranks v1 (0.7, +), v2 (0.4), v0 (0.2, +): precisions 1/1, 2/3 -> AP = 5/6. mAP = 2/3.
    assert mean_average_precision(np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]), [1, 1, 0]) == pytest.approx(2 / 3)


def test_map_ties_do_not_depend_on_order():
    # Two videos tied at 0.5 for the class, one positive: one threshold holding both, precision 1/2,
    # whichever comes first -> AP = 0.5.
    assert mean_average_precision([[0.5], [0.5]], [[0], []]) == pytest.approx(0.5)
    assert mean_average_precision([[0.5], [0.5]], [[], [0]]) == pytest.approx(0.5)
    # A positive above a tie of (positive, negative): precisions 1/1, then 2/3 at the tie's end;
    # recall steps 1/2 each -> AP = (1 + 2/3) / 2.
    assert mean_average_precision([[0.9], [0.4], [0.4]], [[0], [0], []]) == pytest.approx((1 + 2 / 3) / 2)


def test_map_rejects_bad_input():
    with pytest.raises(ValueError, match="no class has a positive video"):
        mean_average_precision([[0.1, 0.9]], [[]])
    with pytest.raises(ValueError, match="class index 2 outside 0..1"):
        mean_average_precision([[0.1, 0.9]], [[2]])
    with pytest.raises(ValueError, match="2 score rows but 1 label sets"):
        mean_average_precision([[0.1, 0.9], [0.2, 0.8]], [[0]])


def test_top1_of_a_video_with_several_labels_is_right_when_the_top_class_is_any_of_them():
    from scsampler.benchmark.metrics import topk_correct

    p = torch.tensor([0.1, 0.5, 0.3, 0.1])                # top class 1, then 2
    assert topk_correct(p, 1, 1) and not topk_correct(p, 2, 1)   # one label: as before
    assert topk_correct(p, (2, 1), 1) and topk_correct(p, [3, 1], 1)
    assert not topk_correct(p, (2, 3), 1) and topk_correct(p, (2, 3), 2)
    assert topk_correct(p, torch.tensor(1), 1)
