"""A registry of plugins by name, imported lazily so an unused backend is never loaded."""

from __future__ import annotations

import importlib
from typing import Generic, TypeVar

from schemas.errors import UnknownPlugin
from schemas.spelling import did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, entries: dict[str, str]) -> None:
        self.kind = kind
        self._entries = dict(entries)
        self._loaded: dict[str, type[T]] = {}

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def load(self, name: str) -> type[T]:
        """The plugin class registered as `name`; UnknownPlugin (with a suggestion) if none."""
        if name not in self._entries:
            hint = did_you_mean(name, self._entries, f"known: {', '.join(self.names())}")
            raise UnknownPlugin(f"no {self.kind} {name!r}; {hint}")
        if name not in self._loaded:
            module_name, _, attr = self._entries[name].partition(":")
            self._loaded[name] = getattr(importlib.import_module(module_name), attr)
        return self._loaded[name]

    def get(self, name: str, *args: object, **kwargs: object) -> T:
        """An instance of the plugin registered as `name`."""
        return self.load(name)(*args, **kwargs)
