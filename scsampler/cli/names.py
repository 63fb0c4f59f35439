"""Choices and help drawn from a registry when first needed, so that ``scsampler --help`` does not
import torch (the registries live in modules that do)."""

from __future__ import annotations

from collections.abc import Callable


class RegistryNames:
    """An argparse ``choices`` container filled by ``load()`` on first use."""

    def __init__(self, load: Callable[[], list[str]]):
        self._load = load
        self._names: list[str] | None = None

    def _get(self) -> list[str]:
        if self._names is None:
            self._names = list(self._load())
        return self._names

    def __iter__(self):
        return iter(self._get())

    def __contains__(self, name) -> bool:
        return name in self._get()

    def __len__(self) -> int:
        return len(self._get())


class RegistryHelp:
    """An argparse ``help`` text made by ``make()`` when the help is shown (argparse applies ``%``)."""

    def __init__(self, make: Callable[[], str]):
        self._make = make

    def __mod__(self, params) -> str:
        return self._make().replace("%", "%%") % params

    def strip(self) -> str:
        return self._make().strip()

    def __bool__(self) -> bool:
        return True


def selector_names(*, predict: bool = False) -> RegistryNames:
    def load():
        from scsampler.selectors import list_selectors

        return list_selectors(predict=predict)

    return RegistryNames(load)


def selector_help(prefix: str, *, predict: bool = False) -> RegistryHelp:
    def make():
        from scsampler.selectors import selector_help as phrases

        return f"{prefix} {phrases(predict=predict)}"

    return RegistryHelp(make)
