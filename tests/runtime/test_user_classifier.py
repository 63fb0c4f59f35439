import pytest
import torch

from scsampler.errors import ConfigError
from scsampler.runtime.classifier import classifier_from_weights
from scsampler.models import create_model
from scsampler.models.classifier import ClipTransform


def test_a_users_own_weights_and_class_file(tmp_path, media):
    names = ["jump", "run", "swim"]
    (tmp_path / "classes.txt").write_text("\n".join(names) + "\n")
    torch.save(create_model("classifier_tiny", num_classes=3).state_dict(), tmp_path / "mine.pth")
    clf = classifier_from_weights(
        "classifier_tiny", tmp_path / "mine.pth", tmp_path / "classes.txt", transform=ClipTransform(frames=4, resize=(32, 40), crop=(32, 32))
    )
    assert clf.classes == names
    probs = clf.classify_clips(media["blob_right"], [0, 2])
    assert probs.shape == (2, 3) and torch.allclose(probs.sum(1), torch.ones(2))


def test_weights_for_another_number_of_classes_are_refused(tmp_path):
    (tmp_path / "classes.txt").write_text("a\nb\n")
    torch.save(create_model("classifier_tiny", num_classes=5).state_dict(), tmp_path / "five.pth")
    with pytest.raises(ConfigError, match="fc"):
        classifier_from_weights("classifier_tiny", tmp_path / "five.pth", tmp_path / "classes.txt")
