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


def check_device(device: str) -> str:
    """``device`` if torch can run models there ("cpu", "cuda", "cuda:1", "mps"), else a
    :class:`ConfigError` that says why (no GPU here, or a name torch does not know)."""
    import torch

    from scsampler.errors import ConfigError

    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ConfigError(f"--device {device!r}: not a device name torch knows ({err})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {device}: this torch build or machine has no CUDA GPU (use --device cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError(f"--device {device}: MPS is not available here")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"--device {device}: only cpu, cuda[:N] and mps are supported")
    return str(dev)
