"""Models: a registry of builders (clip classifiers and samplers)."""

from scsampler.models import classifier, epitoma, listen_to_look, samplers  # noqa: F401  (register the builders)
from scsampler.models.registry import create_model, list_models, model_family, register_model

__all__ = ["create_model", "list_models", "model_family", "register_model"]
