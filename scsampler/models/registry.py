"""The model registry: a dict and a decorator (one builder function per named variant)."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_FAMILY: dict[str, str] = {}


def register_model(family: str):
    """Register the decorated builder under its function name, in ``family``
    (``"classifier"``, ``"visual_sampler"``, ``"audio_sampler"``, ...)."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = fn.__name__
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        _MODELS[name] = fn
        _FAMILY[name] = family
        return fn

    return deco


def create_model(name: str, **kwargs) -> nn.Module:
    try:
        builder = _MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(_MODELS))}") from None
    return builder(**kwargs)


def list_models(family: str | None = None) -> list[str]:
    return sorted(n for n in _MODELS if family is None or _FAMILY[n] == family)


def model_family(name: str) -> str:
    return _FAMILY[name]
