"""Models: a registry of builders (clip classifiers now; samplers later)."""

from scsampler.models import classifier  # noqa: F401  (registers the classifier builders)
from scsampler.models.registry import create_model, list_models, model_family, register_model

__all__ = ["create_model", "list_models", "model_family", "register_model"]
