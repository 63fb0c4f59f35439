"""The selector registry: every selector by name, and :func:`load_selector`, the one way to get one.

A selector module registers a builder with :func:`register_selector`; the CLI builds its choices and
help from :func:`list_selectors` and :func:`selector_help`. No other list of selector names exists.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from scsampler.errors import ConfigError
from scsampler.models.weights import read_run_config
from scsampler.runtime.sampler import Sampler, load_sampler
from scsampler.selectors.base import ClipSelector

SAMPLER_ROLES = ("visual", "audio", "audio-visual")   # a trained sampler's modality


@dataclass(frozen=True)
class SelectorSpec:
    name: str
    help: str
    build: Callable[..., ClipSelector]
    samplers: tuple[str, ...] = ()     # trained samplers it is built from, by modality
    options: tuple[str, ...] = ()      # keyword settings its builder takes (stride, k_prime, alpha, ...)
    predict: bool = True               # usable on a user's videos (not: needs labels or training data)
    run_kind: str | None = None        # a run directory whose config.json has this "kind" loads as it


SELECTORS: dict[str, SelectorSpec] = {}


def register_selector(name: str, *, help: str, samplers: tuple[str, ...] = (), options: tuple[str, ...] = (),
                      predict: bool = True, run_kind: str | None = None):
    """``@register_selector("name", help=...)`` over a builder ``(*, samplers, **options) -> ClipSelector``."""

    def deco(build: Callable[..., ClipSelector]) -> Callable[..., ClipSelector]:
        if name in SELECTORS:
            raise ValueError(f"selector {name!r} is already registered")
        SELECTORS[name] = SelectorSpec(name, help, build, tuple(samplers), tuple(options), predict, run_kind)
        return build

    return deco


def list_selectors(*, predict: bool = False) -> list[str]:
    """Registered names in registration order; ``predict=True``: only those usable on unlabelled videos."""
    return [n for n, s in SELECTORS.items() if s.predict or not predict]


def get_spec(name: str) -> SelectorSpec:
    try:
        return SELECTORS[name]
    except KeyError:
        raise ConfigError(f"unknown selector {name!r}; known: {', '.join(SELECTORS)}, or a run directory") from None


def selector_help(*, predict: bool = False) -> str:
    """One phrase per selector, for the CLI's help."""
    return "; ".join(f"{n}: {SELECTORS[n].help}" for n in list_selectors(predict=predict))


def load_selector(spec: str | os.PathLike, *, samplers: Mapping[str, str | os.PathLike | Sampler] | None = None,
                  name: str | None = None, **options) -> ClipSelector:
    """A selector from a registered name (``"uniform"``, ``"av-union-list"``, ``"motion-energy"``)
    or from a run directory (a trained sampler: top-K by its scores). ``samplers`` gives the trained
    samplers a named selector is built from, by modality (run directories or loaded samplers);
    ``options`` its settings (``stride``, ``k_prime``, ``alpha``, ...; ``None`` = the default, and
    the ones it does not take are ignored); ``name`` renames it (a benchmark row)."""
    spec_s = os.fspath(spec)
    if spec_s not in SELECTORS and Path(spec_s).is_dir():
        return _from_run(Path(spec_s), name=name, **options)
    entry = get_spec(spec_s)
    given = dict(samplers or {})
    missing = [role for role in entry.samplers if role not in given]
    if missing:
        raise ConfigError(f"the {entry.name} selector needs {' and '.join(f'a {m} sampler' for m in missing)}")
    loaded = {}
    for role in entry.samplers:
        s = given[role] if isinstance(given[role], Sampler) else load_sampler(given[role])
        if role in SAMPLER_ROLES and s.modality != role:
            raise ConfigError(f"the {entry.name} selector needs a {role} sampler, and {s.name} is a {s.modality} one")
        loaded[role] = s
    selector = entry.build(samplers=loaded, **{k: v for k, v in options.items() if k in entry.options and v is not None})
    if name:
        selector.name = name
    return selector


def trained_selector(run: str | os.PathLike) -> str | None:
    """The registered selector that run directory ``run`` loads as when it holds a trained selector
    (its config.json's "kind" is a selector's ``run_kind``, e.g. train-epitoma's run); None for a
    sampler run, another run, or a path that is not a run directory."""
    try:
        kind = json.loads((Path(run) / "config.json").read_text()).get("kind")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    return next((n for n, s in SELECTORS.items() if s.run_kind is not None and s.run_kind == kind), None)


def _from_run(run: Path, *, name: str | None, **options) -> ClipSelector:
    kind = read_run_config(run, what="selector or sampler run").get("kind")
    if kind == "sampler":
        sampler = load_sampler(run)
        return load_selector(sampler.modality, samplers={sampler.modality: sampler}, name=name, **options)
    for entry in SELECTORS.values():
        if entry.run_kind is not None and entry.run_kind == kind:
            selector = entry.build(run=run, **{k: v for k, v in options.items() if k in entry.options and v is not None})
            if name:
                selector.name = name
            return selector
    raise ConfigError(f"{run}: a {kind or 'unknown'} run, not a selector (train one with train-sampler)")
