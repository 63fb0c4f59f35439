"""scsampler: fast and accurate action recognition in long videos by classifying only the clips a
cheap selector picks.

The Python API in five lines::

    from scsampler import load_classifier, load_selector, run_video
    classifier = load_classifier("runs/clf")            # or classifier_from_weights(arch, weights, classes)
    selector = load_selector("runs/sampler-audio")      # or "uniform", "motion-energy", "av-union-list", ...
    result = run_video("match.mp4", classifier, selector, k=10)
    print(result.top5, [(c["start_s"], c["end_s"]) for c in result.selected], result.seconds)

and over a list of videos, resumable: :func:`predict_many`. Imported lazily, so that importing the
package (the command line's ``--help``) does not import torch.
"""

_API = {
    "load_classifier": "scsampler.runtime.classifier",
    "classifier_from_weights": "scsampler.runtime.classifier",
    "load_selector": "scsampler.selectors",
    "list_selectors": "scsampler.selectors",
    "run_video": "scsampler.pipeline.video",
    "predict_many": "scsampler.runners.local",
    "read_manifest": "scsampler.data.manifest",
}

__all__ = list(_API)


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'scsampler' has no attribute {name!r}")
