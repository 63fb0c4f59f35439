"""Loading and saving weights without ever unpickling a file a user hands us.

- Our run directories (:func:`save_run`): safetensors weights files + ``config.json``, written last.
  A classifier's: ``<dir>/model.safetensors`` + ``<dir>/config.json`` (the builder's name and its
  keyword arguments, plus whatever else the trainer records); a sampler's: ``<dir>/nets/<feature>.safetensors``
  + ``<dir>/config.json``.
- Foreign state dicts (e.g. a user's Kinetics-400 torchvision weights): ``.safetensors`` files, or
  ``torch.save`` files read with ``torch.load(weights_only=True)``, which refuses pickled code.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import platform
import shutil
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

from scsampler.errors import ConfigError
from scsampler.files import atomic_path, atomic_write_json
from scsampler.models.registry import create_model

log = logging.getLogger(__name__)


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a weights file, safely: safetensors, or ``torch.load(weights_only=True)``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: weights file not found")
    if path.suffix == ".safetensors":
        try:
            return load_file(path)
        except Exception as err:  # safetensors raises its own error types
            raise ConfigError(f"{path}: not a readable safetensors file ({err})") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "unsupported content"
        raise ConfigError(f"{path}: refused to load: the file holds pickled objects other than tensors ({first})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise ConfigError(f"{path}: not a readable weights file ({' '.join(str(err).split())[:200]})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConfigError(f"{path}: expected a state dict (a mapping of names to tensors)")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_weights(model: nn.Module, path: str | os.PathLike, *, skip_mismatched_head: bool = True) -> list[str]:
    """Load a state-dict file into ``model``. With ``skip_mismatched_head``, tensors whose shape
    differs from the model's (the classification layer of a 400-class Kinetics model loaded into a
    10-class one) are left as initialised. Returns the names of the tensors not loaded."""
    state = read_state_dict(path)
    own = model.state_dict()
    unknown = sorted(set(state) - set(own))
    if unknown:
        raise ConfigError(f"{path}: {len(unknown)} tensors do not belong to this model (first: {unknown[0]}): is it the right architecture?")
    skipped = [k for k, v in state.items() if own[k].shape != v.shape]
    if skipped and not skip_mismatched_head:
        raise ConfigError(f"{path}: shape mismatch for {skipped[0]}")
    for k in skipped:
        del state[k]
    missing = sorted(set(own) - set(state))
    model.load_state_dict(state, strict=False)
    if missing:
        why = "not in the file or of another shape (a new head)" if skipped else "not in the file"
        log.info("%s: %d tensors %s kept their initial values (%s...)", path, len(missing), why, missing[0])
    return missing


def read_run_config(run: str | os.PathLike, kind: str | None = None, what: str = "run") -> dict:
    """A run directory's ``config.json`` (the one :func:`save_run` writes), checked to be of ``kind``
    when given; a one-line :class:`ConfigError` naming the run otherwise (``what``: how to call it)."""
    run = Path(run)
    try:
        config = json.loads((run / "config.json").read_text())
    except FileNotFoundError:
        raise ConfigError(f"{run}: not a {what} (no config.json)") from None
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{run}/config.json: unreadable ({err})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{run}/config.json: unreadable (not a JSON object)")
    if kind is not None and config.get("kind") != kind:
        raise ConfigError(f"{run}: not a {what} (config.json has no \"kind\": \"{kind}\")")
    return config


def save_run(directory: str | os.PathLike, weights: Mapping[str, nn.Module | Mapping[str, torch.Tensor] | os.PathLike], config: dict) -> Path:
    """Write a run directory: the safetensors files of ``weights``, then ``config.json``; every file atomically.

    ``weights`` maps a file name relative to ``directory`` (``model.safetensors``,
    ``nets/md.safetensors``) to a module (its state dict is saved), a state dict, or the path of a
    safetensors file to copy as it is. ``config.json`` (``config`` with sorted keys) is removed first
    and written last: its presence means every weights file of the run is complete, so a run killed
    while saving is never taken for a finished one.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").unlink(missing_ok=True)
    config = {**config, "trained_on": config.get("trained_on") or trained_on(weights.values())}
    for name, w in weights.items():
        with atomic_path(directory / name) as tmp:
            if isinstance(w, (str, os.PathLike)):
                shutil.copyfile(w, tmp)
                continue
            state = w.state_dict() if isinstance(w, nn.Module) else w
            save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(tmp))
    atomic_write_json(directory / "config.json", config)
    return directory


def trained_on(weights=()) -> dict:
    """Where a run was trained, as its ``config.json`` records it: training repeats bit for bit
    with the same data, settings and seed only on the same kind of machine, torch version, device
    and number of torch threads (float sums run in another order on another number of threads,
    and the runs drift apart from the first step). ``device`` is that of the first module of
    ``weights`` (absent when none is one)."""
    env = {"torch": torch.__version__, "torch_threads": torch.get_num_threads(), "machine": platform.machine()}
    for w in weights:
        if isinstance(w, nn.Module):
            param = next(iter(w.parameters()), None)
            if param is not None:
                env["device"] = str(param.device)
                break
    return env


def save_checkpoint(directory: str | os.PathLike, model: nn.Module, config: dict) -> Path:
    """A classifier's run directory: ``model.safetensors`` + ``config.json`` (see :func:`save_run`).
    ``config["model"]`` must name the registered builder and ``config["model_kwargs"]`` its
    arguments, so the model can be rebuilt."""
    if "model" not in config:
        raise ValueError("config needs 'model' (a registered builder name)")
    return save_run(directory, {"model.safetensors": model}, config)


def load_checkpoint(directory: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Rebuild a model saved by :func:`save_checkpoint`; returns ``(model, config)`` in eval mode."""
    directory = Path(directory)
    cfg_path = directory / "config.json"
    if not cfg_path.is_file():
        raise ConfigError(f"{directory}: not a scsampler checkpoint (no config.json)")
    try:
        config = json.loads(cfg_path.read_text())
        model = create_model(config["model"], **config.get("model_kwargs", {}))
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ConfigError(f"{cfg_path}: unusable checkpoint config ({err})") from None
    state = load_file(directory / "model.safetensors")
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ConfigError(f"{directory}: weights do not match the config ({str(err).splitlines()[0]})") from None
    return model.eval(), config
